"""Image classifiers from torchvision (ResNet-18/34/50, EfficientNet-B0…B7), depth set by ``num_layers``.

``num_layers`` counts residual blocks (ResNet: BasicBlock / Bottleneck; EfficientNet: MBConv
blocks) in network order: the model keeps the stem and the first ``min(num_layers, total)`` blocks,
then global average pooling, dropout and a linear head on the last kept block's channels. At full
depth the architecture is torchvision's own (EfficientNet keeps its final 1×1 conv to 1280
channels). Totals: ResNet-18 8 blocks, ResNet-34 16, ResNet-50 16, EfficientNet-B0 16 (B1 23,
B2 23, B3 26, ...). So the search space's 6/12/24 mean 6 blocks / all / all for ResNet-18.

Weights start random, or come from a local checkpoint (``weights_path``: a torchvision state dict
of the full model, e.g. ImageNet weights saved with ``torch.save(model.state_dict(), path)``);
the classifier head is always new. Dropout is the classifier dropout before the head. Inputs with
other than 3 channels get a new first conv (initialised from the RGB mean of loaded weights).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

RESNETS = ("resnet18", "resnet34", "resnet50")
EFFICIENTNETS = tuple(f"efficientnet_b{i}" for i in range(8))
ARCHS = RESNETS + EFFICIENTNETS


def check_arch(arch: str) -> str:
    key = str(arch).lower().replace("-", "_")
    if key not in ARCHS:
        raise ValueError(f"image model '{arch}' is not known; use one of {', '.join(ARCHS)}")
    return key


def _torchvision_model(arch: str):
    import torchvision

    return getattr(torchvision.models, arch)()


def _split(arch: str, net) -> Tuple[Any, List[Any], Optional[Any]]:
    """(stem, blocks in order, top layer kept only at full depth) of a torchvision model."""
    import torch.nn as nn

    if arch in RESNETS:
        stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        blocks = [b for layer in (net.layer1, net.layer2, net.layer3, net.layer4) for b in layer]
        return stem, blocks, None
    features = list(net.features)
    blocks = [b for stage in features[1:-1] for b in stage]
    return features[0], blocks, features[-1]


def total_blocks(arch: str) -> int:
    import torch

    arch = check_arch(arch)
    with torch.device("meta"):
        return len(_split(arch, _torchvision_model(arch))[1])


def _out_channels(module) -> int:
    import torch.nn as nn

    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    return int(convs[-1].out_channels)


def _make_net(stem, blocks, top, n_classes: int, dropout: float):
    """stem → blocks → [top] → pool → dropout → linear (the class is made here: torch is imported lazily)."""
    import torch
    import torch.nn as nn

    class TruncatedNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = stem
            self.blocks = nn.Sequential(*blocks)
            self.top = top if top is not None else nn.Identity()
            channels = _out_channels(top) if top is not None else _out_channels(blocks[-1]) if blocks \
                else _out_channels(stem)
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(float(dropout)),
                                      nn.Linear(channels, n_classes))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.top(self.blocks(self.stem(x))))

    return TruncatedNet()


def load_weights(net, path: str) -> int:
    """Load a (full-model) state dict into ``net``, skipping keys whose shapes differ; returns keys loaded."""
    import torch

    state = torch.load(str(path), map_location="cpu", weights_only=True)
    if isinstance(state, dict):
        for key in ("state_dict", "model"):
            if key in state and isinstance(state[key], dict):
                state = state[key]
    own = net.state_dict()
    usable = {k: v for k, v in state.items() if k in own and tuple(own[k].shape) == tuple(v.shape)}
    if not usable:
        raise ValueError(f"no tensor in {path} matches the model's parameters; is it a state dict of this architecture?")
    net.load_state_dict(usable, strict=False)
    return len(usable)


def _adapt_channels(arch: str, net, in_channels: int) -> None:
    import torch
    import torch.nn as nn

    old = net.conv1 if arch in RESNETS else net.features[0][0]
    new = nn.Conv2d(in_channels, old.out_channels, old.kernel_size, old.stride, old.padding, bias=old.bias is not None)
    with torch.no_grad():
        new.weight.copy_(old.weight.mean(dim=1, keepdim=True).repeat(1, in_channels, 1, 1))
    if arch in RESNETS:
        net.conv1 = new
    else:
        net.features[0][0] = new


def build_vision_model(arch: str, n_classes: int, num_layers: int, dropout: float, in_channels: int = 3,
                       weights_path: Optional[str] = None):
    """A torchvision model cut to ``num_layers`` blocks with a fresh head (the caller seeds torch)."""
    arch = check_arch(arch)
    net = _torchvision_model(arch)
    if weights_path:
        load_weights(net, weights_path)
    if in_channels != 3:
        _adapt_channels(arch, net, in_channels)
    stem, blocks, top = _split(arch, net)
    keep = max(1, min(int(num_layers), len(blocks)))
    return _make_net(stem, blocks[:keep], top if keep == len(blocks) else None, int(n_classes), dropout)


_STATS: Dict[Any, Tuple[int, float]] = {}


def vision_stats(arch: str, n_classes: int, num_layers: int, image_size: int, in_channels: int = 3) -> Tuple[int, float]:
    """(parameters, activation values per sample) of the model, measured on the meta device.

    Activation values are the outputs of every leaf module in one forward pass at ``image_size``
    (what autograd keeps, roughly); no memory is allocated and it takes milliseconds.
    """
    import torch

    arch = check_arch(arch)
    keep = max(1, min(int(num_layers), total_blocks(arch)))
    key = (arch, int(n_classes), keep, int(image_size), int(in_channels))
    if key not in _STATS:
        with torch.device("meta"):
            model = build_vision_model(arch, n_classes, keep, 0.0, in_channels)
            model.eval()
            values = [0]

            def hook(_module, _inp, out):
                if isinstance(out, torch.Tensor):
                    values[0] += out.numel()

            handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
            model(torch.zeros(1, in_channels, int(image_size), int(image_size)))
            for h in handles:
                h.remove()
        _STATS[key] = (int(sum(p.numel() for p in model.parameters())), float(values[0]))
    return _STATS[key]
