"""Image classification tasks: cifar10 (hub or mirror), and the base for custom image data.

Images are decoded once at ``load()`` into uint8 tensors (N, C, H, W), resized to ``image_size``
when it differs from the stored size, and normalised per batch with the training split's channel
mean and standard deviation. Training batches get random horizontal flips (``augment``).

Options: ``model`` (resnet18 | resnet34 | resnet50 | efficientnet_b0 … b7, see
:mod:`hpo_agent.agent.models.vision`), ``weights_path`` (a local torchvision state dict),
``image_size`` (pixels per side; default the data's own, 32 for CIFAR-10), ``augment``,
``max_validation`` / ``max_test`` (row caps; defaults 1000 and 2000: seconds on a CPU).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import numpy as np

from ..errors import TaskOptionError
from ..metafeatures import TaskDescription
from .base import Task
from .hub import HubSource, load_splits, plan_splits

MAX_VALIDATION = 1000
MAX_TEST = 2000
EVAL_BATCH = 256


def decode_images(blobs: List[Any], image_size: Optional[int] = None, mode: str = "RGB") -> np.ndarray:
    """Encoded images (bytes, or ``{"bytes": ...}`` / PIL images) → uint8 array (N, C, H, W).

    Images of differing sizes are resized to ``image_size`` (or the first image's size) with PIL.
    """
    from PIL import Image

    arrays = []
    target = None
    for blob in blobs:
        if isinstance(blob, dict):
            blob = blob.get("bytes") or Path(blob["path"]).read_bytes()
        img = blob if isinstance(blob, Image.Image) else Image.open(io.BytesIO(blob))
        img = img.convert(mode)
        if target is None:
            target = (int(image_size), int(image_size)) if image_size else img.size
        if img.size != target:
            img = img.resize(target, Image.BILINEAR)
        arr = np.asarray(img, dtype=np.uint8)
        arrays.append(arr[:, :, None] if arr.ndim == 2 else arr)
    if not arrays:
        return np.zeros((0, 3 if mode == "RGB" else 1, image_size or 1, image_size or 1), dtype=np.uint8)
    return np.stack(arrays).transpose(0, 3, 1, 2).copy()


class ImageClassificationTask(Task):
    """Images in memory (uint8) → class, with a torchvision classifier."""

    model_family = "resnet18"
    n_classes = 10
    default_augment = True

    def __init__(self, seed: int = 0, max_train: Optional[int] = None, data_dir: Optional[str] = None,
                 model: str = "resnet18", weights_path: Optional[str] = None, image_size: Optional[int] = None,
                 augment: Optional[bool] = None, max_validation: Optional[int] = MAX_VALIDATION,
                 max_test: Optional[int] = MAX_TEST, name: Optional[str] = None):
        from ..models.vision import check_arch

        super().__init__(seed, max_train, data_dir)
        if name:
            self.name = name
        self.arch = check_arch(model)
        self.model_family = self.arch
        self.weights_path = weights_path
        self.image_size = int(image_size) if image_size else None
        if self.image_size is not None and self.image_size < 8:
            raise TaskOptionError(f"image_size is {self.image_size}, but must be >= 8 pixels")
        self.augment = self.default_augment if augment is None else bool(augment)
        self.max_validation = max_validation
        self.max_test = max_test
        self.label_names: Optional[List[str]] = None
        self.x: Dict[str, Any] = {}
        self.y: Dict[str, Any] = {}

    # -- data ------------------------------------------------------------------------------------
    def set_arrays(self, images: Dict[str, np.ndarray], labels: Dict[str, np.ndarray]) -> None:
        """Install uint8 (N, C, H, W) arrays per split; resizes to ``image_size`` and sets statistics."""
        import torch

        for split in ("train", "validation", "test"):
            x = torch.from_numpy(np.ascontiguousarray(images[split]))
            if self.image_size and tuple(x.shape[-2:]) != (self.image_size, self.image_size) and len(x):
                x = torch.nn.functional.interpolate(x.float(), size=(self.image_size, self.image_size),
                                                    mode="bilinear", antialias=True, align_corners=False)
                x = x.round().clamp(0, 255).to(torch.uint8)
            self.x[split] = x
            self.y[split] = torch.from_numpy(np.asarray(labels[split], dtype=np.int64))
        self.image_size = int(self.x["train"].shape[-1])
        self.channels = int(self.x["train"].shape[1])
        if self.label_names is not None:
            self.n_classes = len(self.label_names)
        else:
            self.n_classes = int(max(int(y.max()) for y in self.y.values() if len(y))) + 1
        train = self.x["train"].float() / 255.0
        self.mean = train.mean(dim=(0, 2, 3)).view(1, -1, 1, 1)
        self.std = train.std(dim=(0, 2, 3)).clamp_min(1e-3).view(1, -1, 1, 1)

    def _normalise(self, x: Any) -> Any:
        return (x.float() / 255.0 - self.mean.to(x.device)) / self.std.to(x.device)

    def class_counts(self) -> List[int]:
        return np.bincount(self.y["train"].numpy(), minlength=self.n_classes).tolist()

    def describe(self) -> TaskDescription:
        self.ensure_loaded()
        return TaskDescription(
            name=self.name, modality="image", task_type="classification",
            n_train=len(self.y["train"]), n_classes=self.n_classes, class_counts=self.class_counts(),
            input_size=float(self.image_size ** 2 * self.channels), model_family=self.model_family,
            model_params=self.count_params({"num_layers": self.default_num_layers(), "dropout": 0.1}),
            pretrained=bool(self.weights_path),
            extra={"image_size": float(self.image_size), "channels": float(self.channels),
                   "n_validation": float(len(self.y["validation"])), "n_test": float(len(self.y["test"]))})

    def default_num_layers(self) -> int:
        """The full depth of the architecture (its block count)."""
        from ..models.vision import total_blocks

        return total_blocks(self.arch)

    def max_num_layers(self) -> Optional[int]:
        return self.default_num_layers()  # blocks past the architecture's own are not built

    # -- model -----------------------------------------------------------------------------------
    def build_model(self, config: Dict[str, Any]) -> Any:
        from ..models.vision import build_vision_model

        self.ensure_loaded()
        return build_vision_model(self.arch, self.n_classes, int(config["num_layers"]),
                                  float(config.get("dropout", 0.0)), self.channels, self.weights_path)

    def count_params(self, config: Dict[str, Any]) -> int:
        from ..models.vision import vision_stats

        self.ensure_loaded()
        return vision_stats(self.arch, self.n_classes, int(config["num_layers"]), self.image_size, self.channels)[0]

    def activation_bytes_per_sample(self, config: Dict[str, Any]) -> float:
        from ..models.vision import vision_stats

        self.ensure_loaded()
        values = vision_stats(self.arch, self.n_classes, int(config["num_layers"]), self.image_size, self.channels)[1]
        return 4.0 * values

    # -- training --------------------------------------------------------------------------------
    def train_batches(self, batch_size: int, generator: Any) -> Iterator[Any]:
        import torch

        from ._tensor import shuffled_batches

        self.ensure_loaded()
        for idx in shuffled_batches(len(self.y["train"]), batch_size, generator):
            x = self.x["train"][idx]
            if self.augment:
                flip = torch.rand(len(idx), generator=generator) < 0.5
                x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            yield x, self.y["train"][idx]

    def loss(self, model: Any, batch: Any) -> Any:
        import torch.nn.functional as F

        x, y = batch
        return F.cross_entropy(model(self._normalise(x)), y)

    def evaluate(self, model: Any, split: str) -> Dict[str, float]:
        import torch

        from ._tensor import classification_metrics

        self.ensure_loaded()
        if split not in self.x:
            raise ValueError(f"task '{self.name}' has no split '{split}' (has: {', '.join(self.x)})")
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        x = self.x[split]
        with torch.no_grad():
            logits = torch.cat([model(self._normalise(x[i:i + EVAL_BATCH].to(device))).float().cpu()
                                for i in range(0, len(x), EVAL_BATCH)])
        model.train(was_training)
        out = classification_metrics(logits, self.y[split], self.n_classes)
        out["n_rows"] = float(len(x))
        return out


class Cifar10Task(ImageClassificationTask):
    """CIFAR-10 (32×32 RGB, 10 classes) from ``uoft-cs/cifar10`` or its mirror (``cifar10/``)."""

    name = "cifar10"
    source = HubSource("uoft-cs/cifar10", None, "cifar10", ("train", "test"))
    image_column = "img"
    label_column = "label"

    def load(self) -> None:
        import datasets

        loaded = load_splits(self.source, self.data_dir)
        labels = {s: np.asarray(list(ds[self.label_column]), dtype=np.int64) for s, ds in loaded.items()}
        feature = next(iter(loaded.values())).features.get(self.label_column)
        if getattr(feature, "names", None):
            self.label_names = list(feature.names)
        plan = plan_splits(labels, self.seed, self.max_train, self.max_validation, self.max_test)
        images, ys = {}, {}
        for split, (src, idx) in plan.items():
            ds = loaded[src].cast_column(self.image_column, datasets.Image(decode=False)).select(idx.tolist())
            images[split] = decode_images(list(ds[self.image_column]), None)
            ys[split] = labels[src][idx]
        self.set_arrays(images, ys)
