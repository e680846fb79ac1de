"""A task whose splits fit in memory as tensors: batching and classification metrics."""

from __future__ import annotations

from typing import Any, Dict, Iterator, Optional

import numpy as np

from .base import Task


def stratified_split(labels: np.ndarray, fractions, rng: np.random.Generator):
    """Index arrays for each fraction (e.g. ``(0.6, 0.2, 0.2)``), stratified by label."""
    parts = [[] for _ in fractions]
    for label in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == label))
        bounds = np.cumsum([0] + [int(round(f * len(idx))) for f in fractions[:-1]])
        for i in range(len(fractions)):
            end = bounds[i + 1] if i + 1 < len(fractions) else len(idx)
            parts[i].extend(idx[bounds[i]:end].tolist())
    return [np.sort(np.asarray(p, dtype=np.int64)) for p in parts]


def shuffled_batches(n: int, batch_size: int, generator: Any) -> Iterator[Any]:
    """Endless index batches over ``n`` rows: a fresh permutation (from ``generator``) per epoch,
    full batches only (the batch size is capped at ``n``)."""
    import torch

    batch_size = max(1, min(int(batch_size), n))
    while True:
        order = torch.randperm(n, generator=generator)
        for start in range(0, n - batch_size + 1, batch_size):
            yield order[start:start + batch_size]


def classification_metrics(logits: Any, labels: Any, n_classes: int) -> Dict[str, float]:
    """Accuracy, macro-F1 and cross-entropy loss from logits."""
    import torch

    pred = logits.argmax(dim=1)
    acc = float((pred == labels).float().mean()) if len(labels) else float("nan")
    f1s = []
    for c in range(n_classes):
        tp = int(((pred == c) & (labels == c)).sum())
        fp = int(((pred == c) & (labels != c)).sum())
        fn = int(((pred != c) & (labels == c)).sum())
        denom = 2 * tp + fp + fn
        if denom:
            f1s.append(2 * tp / denom)
    loss = float(torch.nn.functional.cross_entropy(logits, labels)) if len(labels) else float("nan")
    return {"accuracy": acc, "macro_f1": float(np.mean(f1s)) if f1s else 0.0, "loss": loss}


class TensorClassificationTask(Task):
    """Classification on in-memory tensors ``self.x[split]`` / ``self.y[split]``."""

    n_classes: int = 2
    eval_batch_size: int = 512

    def __init__(self, seed: int = 0, max_train: Optional[int] = None, data_dir: Optional[str] = None):
        super().__init__(seed, max_train, data_dir)
        self.x: Dict[str, Any] = {}
        self.y: Dict[str, Any] = {}

    def _cap_train(self) -> None:
        """Keep a stratified ``max_train`` subset of the training split (a fidelity knob)."""
        if self.max_train is None or len(self.y["train"]) <= self.max_train:
            return
        y = self.y["train"].numpy()
        frac = self.max_train / len(y)
        keep, _ = stratified_split(y, (frac, 1 - frac), np.random.default_rng(self.seed + 1))
        self.x["train"] = self.x["train"][keep]
        self.y["train"] = self.y["train"][keep]

    def class_counts(self):
        return np.bincount(self.y["train"].numpy(), minlength=self.n_classes).tolist()

    def train_batches(self, batch_size: int, generator: Any) -> Iterator[Any]:
        for idx in shuffled_batches(len(self.y["train"]), batch_size, generator):
            yield self.x["train"][idx], self.y["train"][idx]

    def loss(self, model: Any, batch: Any) -> Any:
        import torch

        x, y = batch
        return torch.nn.functional.cross_entropy(model(x), y)

    def evaluate(self, model: Any, split: str) -> Dict[str, float]:
        import torch

        if split not in self.x:
            raise ValueError(f"task '{self.name}' has no split '{split}' (has: {', '.join(self.x)})")
        model.eval()
        with torch.no_grad():
            x = self.x[split]
            logits = torch.cat([model(x[i:i + self.eval_batch_size]) for i in range(0, len(x), self.eval_batch_size)])
        model.train()
        return classification_metrics(logits, self.y[split], self.n_classes)
