"""Embedded tasks on data that scikit-learn ships (no download): digits images and small tables."""

from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np

from ..errors import TaskOptionError
from ..metafeatures import TaskDescription
from ._tensor import TensorClassificationTask, stratified_split

SPLIT_FRACTIONS = (0.6, 0.2, 0.2)  # train / validation / test, stratified, fixed by the task seed


class DigitsTask(TensorClassificationTask):
    """scikit-learn's 1,797 handwritten digits (8×8 grey, 10 classes) with a small residual CNN.

    ``scale`` > 1 upsamples the images (a task variant with a larger input for the history).
    """

    name = "digits"
    model_family = "small_resnet"
    n_classes = 10

    def __init__(self, seed: int = 0, max_train: Optional[int] = None, scale: int = 1, name: Optional[str] = None,
                 data_dir: Optional[str] = None):
        super().__init__(seed, max_train, data_dir)
        self.scale = int(scale)
        if name:
            self.name = name

    def load(self) -> None:
        import torch
        from sklearn.datasets import load_digits

        data = load_digits()
        x = (data.images.astype(np.float32) / 16.0 - 0.5) / 0.5
        y = data.target.astype(np.int64)
        parts = stratified_split(y, SPLIT_FRACTIONS, np.random.default_rng(self.seed))
        images = torch.from_numpy(x).unsqueeze(1)
        if self.scale > 1:
            images = torch.nn.functional.interpolate(images, scale_factor=self.scale, mode="bilinear", align_corners=False)
        for split, idx in zip(("train", "validation", "test"), parts):
            self.x[split] = images[torch.from_numpy(idx)]
            self.y[split] = torch.from_numpy(y[idx])
        self._cap_train()

    @property
    def image_size(self) -> int:
        return 8 * self.scale

    def describe(self) -> TaskDescription:
        self.ensure_loaded()
        return TaskDescription(
            name=self.name, modality="image", task_type="classification",
            n_train=len(self.y["train"]), n_classes=self.n_classes, class_counts=self.class_counts(),
            input_size=self.image_size ** 2, model_family=self.model_family,
            model_params=self.count_params({"num_layers": 6, "dropout": 0.1}),
        )

    def build_model(self, config: Dict[str, Any]) -> Any:
        from ..models.small import SmallResNet

        return SmallResNet(1, self.n_classes, config["num_layers"], config["dropout"])

    def activation_bytes_per_sample(self, config: Dict[str, Any]) -> float:
        from ..models.small import small_resnet_activation_values

        return 4.0 * small_resnet_activation_values(self.image_size, self.image_size, config["num_layers"])


_TABLES = {"breast_cancer": "load_breast_cancer", "wine": "load_wine", "iris": "load_iris"}


class SklearnTableTask(TensorClassificationTask):
    """A scikit-learn bundled table (breast_cancer, wine, iris), standardised, with an MLP."""

    model_family = "mlp"

    def __init__(self, dataset: str, seed: int = 0, max_train: Optional[int] = None, data_dir: Optional[str] = None):
        if dataset not in _TABLES:
            raise TaskOptionError(f"unknown table '{dataset}'; known: {', '.join(_TABLES)}")
        super().__init__(seed, max_train, data_dir)
        self.dataset = dataset
        self.name = dataset

    def load(self) -> None:
        import sklearn.datasets
        import torch

        data = getattr(sklearn.datasets, _TABLES[self.dataset])()
        x = data.data.astype(np.float32)
        y = data.target.astype(np.int64)
        self.n_classes = int(y.max()) + 1
        parts = stratified_split(y, SPLIT_FRACTIONS, np.random.default_rng(self.seed))
        mean, std = x[parts[0]].mean(0), x[parts[0]].std(0) + 1e-6  # train statistics only
        x = (x - mean) / std
        for split, idx in zip(("train", "validation", "test"), parts):
            self.x[split] = torch.from_numpy(x[idx])
            self.y[split] = torch.from_numpy(y[idx])
        self._cap_train()

    def describe(self) -> TaskDescription:
        self.ensure_loaded()
        return TaskDescription(
            name=self.name, modality="tabular", task_type="classification",
            n_train=len(self.y["train"]), n_classes=self.n_classes, class_counts=self.class_counts(),
            input_size=self.x["train"].shape[1], model_family=self.model_family,
            model_params=self.count_params({"num_layers": 6, "dropout": 0.1}),
        )

    def build_model(self, config: Dict[str, Any]) -> Any:
        from ..models.small import MLP

        return MLP(self.x["train"].shape[1], self.n_classes, config["num_layers"], config["dropout"])

    def activation_bytes_per_sample(self, config: Dict[str, Any]) -> float:
        return 4.0 * 3 * 64 * (int(config["num_layers"]) + 1)


def _regression_table(name: str, source: str, load_xy, seed: int, max_train: Optional[int], data_dir: Optional[str],
                      options: Dict[str, Any]):
    """A regression table with an MLP, optimising validation MSE. The target is standardised (mean 0,
    std 1 over the table) so that MSE reads the same across tasks; splits 60/20/20, shuffled by ``seed``."""
    from .custom import TabularTask

    def arrays() -> Dict[str, Any]:  # read when the task loads: building a task reads no data
        x, y = (np.asarray(a, dtype=np.float32) for a in load_xy())
        y = (y - y.mean()) / y.std()
        order = np.random.default_rng(seed).permutation(len(y))
        cuts = np.cumsum([int(round(f * len(y))) for f in SPLIT_FRACTIONS[:-1]])
        return {split: (x[idx], y[idx]) for split, idx in zip(("train", "validation", "test"), np.split(order, cuts))}

    return TabularTask(source, seed=seed, max_train=max_train, data_dir=data_dir, task_type="regression",
                       name=name, arrays=arrays, **options)


def diabetes_task(seed: int = 0, max_train: Optional[int] = None, data_dir: Optional[str] = None, **options: Any):
    """scikit-learn's diabetes table (442 patients, 10 features → disease progression a year on) as
    a regression with an MLP (see ``_regression_table``)."""

    def load_xy():
        from sklearn.datasets import load_diabetes

        data = load_diabetes()
        return data.data, data.target

    return _regression_table("diabetes", "sklearn:diabetes", load_xy, seed, max_train, data_dir, options)


FRIEDMAN1_ROWS = 1000
FRIEDMAN1_NOISE = 1.0


def friedman1_task(seed: int = 0, max_train: Optional[int] = None, data_dir: Optional[str] = None, **options: Any):
    """Friedman's #1 regression problem, drawn by scikit-learn's ``make_friedman1``: 1,000 rows of 10
    uniform features, of which 5 enter ``10 sin(π x0 x1) + 20 (x2 - 0.5)² + 10 x3 + 5 x4`` plus
    Gaussian noise (σ = 1). The table itself is fixed (generator seed 0) whatever the task seed,
    which only shuffles the splits, as for the other embedded tables; MLP, validation MSE."""

    def load_xy():
        from sklearn.datasets import make_friedman1

        return make_friedman1(n_samples=FRIEDMAN1_ROWS, n_features=10, noise=FRIEDMAN1_NOISE, random_state=0)

    return _regression_table("friedman1", "sklearn:make_friedman1", load_xy, seed, max_train, data_dir, options)
