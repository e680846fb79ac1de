"""Small models for the embedded tasks: a residual CNN for little images, an MLP for tables.

"Number of layers" means residual conv blocks for :class:`SmallResNet` and hidden layers for
:class:`MLP`; the seed's 6/12/24 are all affordable at these sizes on a CPU.
"""

from __future__ import annotations

import torch
from torch import nn


class _Block(nn.Module):
    def __init__(self, channels: int, dropout: float):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(channels)
        self.drop = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop(torch.relu(self.bn(self.conv(x))))


class SmallResNet(nn.Module):
    """Stem conv, ``num_layers`` residual 3×3 blocks, global average pool, dropout, linear head."""

    def __init__(self, in_channels: int, n_classes: int, num_layers: int, dropout: float, width: int = 16):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU())
        self.blocks = nn.Sequential(*[_Block(width, dropout) for _ in range(int(num_layers))])
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(width, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))


def small_resnet_activation_values(height: int, width_px: int, num_layers: int, width: int = 16) -> int:
    """Activation values kept for backward per sample: ~4 tensors per block (conv, bn, relu, sum)."""
    return height * width_px * width * (3 + 4 * int(num_layers))


class MLP(nn.Module):
    """``num_layers`` hidden layers of ``hidden`` units with ReLU and dropout."""

    def __init__(self, in_features: int, n_classes: int, num_layers: int, dropout: float, hidden: int = 64):
        super().__init__()
        layers, width = [], in_features
        for _ in range(int(num_layers)):
            layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden
        layers.append(nn.Linear(width, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
