"""Bring your own data: a text table, an image folder, or ``.npz`` arrays, tuned like any task.

``get_task`` accepts these as ``scheme:path`` names (options as keyword arguments):

* ``csv:/path/data.csv`` (also ``.tsv``, ``.parquet``, ``.jsonl``/``.json``; the schemes ``tsv:``,
  ``parquet:``, ``jsonl:``, ``json:`` and ``text:`` are aliases): text classification or
  regression. Options ``text_column`` ("text"), ``text_pair_column`` (none), ``label_column``
  ("label"), ``task_type`` ("classification" | "regression"; default: regression when the labels
  are non-integer numbers), plus every text-task option (``model``, ``max_length``, ...). The path
  may also be a folder holding ``train.<ext>`` and optionally ``validation.<ext>`` / ``test.<ext>``.
* ``imagefolder:/path``: one sub-folder per class (``root/<class>/*.png``), or ``root/train/<class>``
  with optional ``root/validation|val/<class>`` and ``root/test/<class>``. Options of the image
  tasks (``model``, ``image_size`` — default the first image's larger side, at most 64 —,
  ``augment``, ``weights_path``).
* ``npz:/path/data.npz`` with arrays ``x`` and ``y`` (or ``x_train``/``y_train`` and optionally
  ``x_val``/``y_val``, ``x_test``/``y_test``). ``x`` of shape (N, F) is a table (standardised, an MLP
  with ``num_layers`` hidden layers; float labels make it a regression); (N, H, W), (N, H, W, C)
  or (N, C, H, W) are images (uint8, or floats in [0, 1]).

Missing validation and test splits are carved out of train (10 % each, stratified, task seed),
exactly as for the hub tasks; ``max_train``, ``max_validation`` and ``max_test`` cap the splits.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import numpy as np

from ..errors import DataError, TaskOptionError
from ..metafeatures import TaskDescription
from .base import Metric, Task
from .hub import load_files, plan_splits
from .text import TextData, TextTask, regression_metrics
from .vision import MAX_TEST as IMAGE_MAX_TEST
from .vision import MAX_VALIDATION as IMAGE_MAX_VALIDATION
from .vision import ImageClassificationTask, decode_images

TABLE_SCHEMES = ("csv", "tsv", "parquet", "jsonl", "json", "text")
SCHEMES = TABLE_SCHEMES + ("imagefolder", "npz")
_BUILDERS = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".jsonl": "json", ".json": "json"}
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
DEFAULT_MAX_IMAGE_SIZE = 64


def _slug(path: str) -> str:
    stem = Path(path).name
    for ext in list(_BUILDERS) + [".npz"]:
        if stem.lower().endswith(ext):
            stem = stem[: -len(ext)]
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in stem) or "data"


def _labels_to_ints(values: List[Any], names: Optional[List[str]] = None):
    """Class labels (strings, bools or ints) → int64 codes and class names (sorted)."""
    if names is None:
        uniques = sorted({v for v in values if v is not None}, key=lambda v: (str(type(v)), v))
        ints = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in uniques)
        if ints and uniques and min(uniques) >= 0 and max(uniques) < 2 * len(uniques) + 10:
            names = [str(i) for i in range(int(max(uniques)) + 1)]
        else:
            names = [str(v) for v in uniques]
    index = {n: i for i, n in enumerate(names)}
    codes = np.asarray([index.get(str(v), -1) for v in values], dtype=np.int64)
    return codes, names


def _is_regression(values: List[Any]) -> bool:
    numbers = [v for v in values if v is not None]
    if not numbers or not all(isinstance(v, (float, np.floating)) for v in numbers):
        return False
    return not all(float(v).is_integer() for v in numbers)


class CustomTextTask(TextTask):
    """Text (or text-pair) → label rows from a CSV / TSV / Parquet / JSON-lines file."""

    def __init__(self, path: str, text_column: str = "text", label_column: str = "label",
                 text_pair_column: Optional[str] = None, task_type: Optional[str] = None,
                 name: Optional[str] = None, **kwargs):
        self.path = os.path.expanduser(str(path))
        self.text_column, self.pair_column, self.label_column = text_column, text_pair_column, label_column
        if task_type is not None and task_type not in ("classification", "regression"):
            raise TaskOptionError(f"task_type is '{task_type}', but must be 'classification' or 'regression'")
        self._task_type_option = task_type
        self.task_type = task_type or "classification"
        super().__init__(name=name or f"csv_{_slug(self.path)}", **kwargs)

    def _files(self) -> Dict[str, str]:
        p = Path(self.path)
        if p.is_dir():
            files = {}
            for split, stems in (("train", ("train",)), ("validation", ("validation", "val", "dev")), ("test", ("test",))):
                for stem in stems:
                    found = [f for f in sorted(p.glob(stem + ".*")) if f.suffix.lower() in _BUILDERS]
                    if found:
                        files[split] = str(found[0])
                        break
            if "train" not in files:
                raise DataError(f"folder {p} has no train.csv / train.parquet / train.jsonl file")
            return files
        if not p.is_file():
            raise DataError(f"data file {p} does not exist")
        if p.suffix.lower() not in _BUILDERS:
            raise DataError(f"cannot read {p.name}: use a .csv, .tsv, .parquet, .jsonl or .json file")
        return {"train": str(p)}

    def read_splits(self) -> Dict[str, TextData]:
        files = self._files()
        suffixes = {Path(f).suffix.lower() for f in files.values()}
        if len(suffixes) > 1:
            raise DataError(f"split files mix formats {sorted(suffixes)}; use one format")
        suffix = suffixes.pop()
        if suffix == ".tsv":
            loaded = load_files("csv", files, delimiter="\t")
        else:
            loaded = load_files(_BUILDERS[suffix], files)
        raw_labels: Dict[str, List[Any]] = {}
        texts: Dict[str, Any] = {}
        for split, ds in loaded.items():
            for col in (self.text_column, self.pair_column, self.label_column):
                if col and col not in ds.column_names:
                    raise DataError(f"{files[split]} has no column '{col}' (columns: {', '.join(ds.column_names)}); "
                                    "name yours with text_column= / label_column=")
            raw_labels[split] = list(ds[self.label_column])
            texts[split] = ([("" if t is None else str(t)) for t in ds[self.text_column]],
                            [("" if t is None else str(t)) for t in ds[self.pair_column]] if self.pair_column else None)
        every = [v for values in raw_labels.values() for v in values]
        if self._task_type_option is None:
            self.task_type = "regression" if _is_regression(every) else "classification"
            self.metric = Metric("mse", "min") if self.task_type == "regression" else Metric("accuracy", "max")
        out = {}
        if self.task_type == "regression":
            for split, values in raw_labels.items():
                y = np.asarray([np.nan if v is None else float(v) for v in values], dtype=np.float32)
                keep = ~np.isnan(y)  # rows without a label are dropped
                t, pairs = texts[split]
                out[split] = TextData([x for x, k in zip(t, keep) if k],
                                      None if pairs is None else [x for x, k in zip(pairs, keep) if k], y[keep])
            return out
        _, names = _labels_to_ints(every)
        self.label_names = names
        for split, values in raw_labels.items():
            codes, _ = _labels_to_ints(values, names)
            keep = codes >= 0  # rows without a label are dropped
            t, pairs = texts[split]
            out[split] = TextData([x for x, k in zip(t, keep) if k],
                                  None if pairs is None else [x for x, k in zip(pairs, keep) if k], codes[keep])
        return out


def _list_images(root: Path):
    """(paths, class names per path) of ``root/<class>/*``."""
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    paths, labels = [], []
    for c in classes:
        for f in sorted((root / c).rglob("*")):
            if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS:
                paths.append(str(f))
                labels.append(c)
    return paths, labels


class ImageFolderTask(ImageClassificationTask):
    """Images in one sub-folder per class (optionally under train/, validation/ or val/, test/)."""

    default_augment = True

    def __init__(self, path: str, name: Optional[str] = None, **kwargs):
        self.path = os.path.expanduser(str(path))
        super().__init__(name=name or f"imagefolder_{_slug(self.path.rstrip('/'))}", **kwargs)

    def load(self) -> None:
        root = Path(self.path)
        if not root.is_dir():
            raise DataError(f"image folder {root} does not exist")
        split_dirs = {"train": root / "train"}
        for split, names in (("validation", ("validation", "val")), ("test", ("test",))):
            for n in names:
                if (root / n).is_dir():
                    split_dirs[split] = root / n
                    break
        if not split_dirs["train"].is_dir():
            split_dirs = {"train": root}
        listed = {split: _list_images(d) for split, d in split_dirs.items()}
        if not listed["train"][0]:
            raise DataError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in class sub-folders of {split_dirs['train']}")
        self.label_names = sorted({c for _, labels in listed.values() for c in labels})
        index = {c: i for i, c in enumerate(self.label_names)}
        labels = {s: np.asarray([index[c] for c in cs], dtype=np.int64) for s, (_, cs) in listed.items()}
        plan = plan_splits(labels, self.seed, self.max_train, self.max_validation, self.max_test)
        if self.image_size is None:
            from PIL import Image

            with Image.open(listed["train"][0][0]) as first:
                self.image_size = min(DEFAULT_MAX_IMAGE_SIZE, max(first.size))
        images, ys = {}, {}
        for split, (src, idx) in plan.items():
            paths = [listed[src][0][i] for i in idx]
            images[split] = decode_images([{"bytes": None, "path": p} for p in paths], self.image_size)
            ys[split] = labels[src][idx]
        self.set_arrays(images, ys)


def _read_npz(path: str) -> Dict[str, Any]:
    p = Path(os.path.expanduser(path))
    if not p.is_file():
        raise DataError(f"array file {p} does not exist")
    with open(p, "rb") as handle:
        magic = handle.read(4)
    if magic != b"PK\x03\x04":  # an .npz file is a zip archive
        raise DataError(f"{p} is not a NumPy .npz file; save arrays x and y with numpy.savez(path, x=..., y=...)")
    try:
        with np.load(str(p), allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:  # a damaged archive; object arrays (never unpickled)
        raise DataError(f"cannot read {p}: {' '.join(str(exc).split())}") from exc
    pairs = {}
    for split, keys in (("train", ("train", "")), ("validation", ("val", "validation", "valid")), ("test", ("test",))):
        for k in keys:
            xk, yk = ("x", "y") if not k else (f"x_{k}", f"y_{k}")
            if xk in arrays and yk in arrays:
                if len(arrays[xk]) != len(arrays[yk]):
                    raise DataError(f"{p.name}: {xk} has {len(arrays[xk])} rows but {yk} has {len(arrays[yk])}")
                pairs[split] = (arrays[xk], arrays[yk])
                break
    if "train" not in pairs:
        raise DataError(f"{p.name} needs arrays x and y (or x_train and y_train); it has {', '.join(arrays) or 'none'}")
    return pairs


def _to_nchw_uint8(x: np.ndarray) -> np.ndarray:
    if x.ndim == 3:
        x = x[:, None]
    elif x.shape[-1] in (1, 3, 4) and x.shape[1] not in (1, 3, 4):
        x = x.transpose(0, 3, 1, 2)
    if x.dtype != np.uint8:
        x = x.astype(np.float64)
        if x.max(initial=0) <= 1.0:
            x = x * 255.0
        x = np.clip(np.round(x), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(x)


class NpzImageTask(ImageClassificationTask):
    """Image arrays from an ``.npz`` file."""

    default_augment = False  # flips are wrong for digits and text-like images; pass augment=True to enable

    def __init__(self, path: str, name: Optional[str] = None, arrays: Optional[Dict[str, Any]] = None, **kwargs):
        self.path = str(path)
        self._arrays = arrays
        super().__init__(name=name or f"npz_{_slug(self.path)}", **kwargs)

    def load(self) -> None:
        # ``arrays``: the splits themselves, or a function that returns them (read on first load)
        pairs = (self._arrays() if callable(self._arrays) else self._arrays) or _read_npz(self.path)
        self._arrays = None
        labels = {s: np.asarray(y).astype(np.int64) for s, (_, y) in pairs.items()}
        plan = plan_splits(labels, self.seed, self.max_train, self.max_validation, self.max_test)
        images = {split: _to_nchw_uint8(pairs[src][0][idx]) for split, (src, idx) in plan.items()}
        ys = {split: labels[src][idx] for split, (src, idx) in plan.items()}
        self.set_arrays(images, ys)


class TabularTask(Task):
    """Rows of numeric features (standardised with train statistics) → class or value, with an MLP."""

    model_family = "mlp"
    eval_batch_size = 1024

    def __init__(self, path: str, seed: int = 0, max_train: Optional[int] = None, data_dir: Optional[str] = None,
                 task_type: Optional[str] = None, hidden: int = 64, max_validation: Optional[int] = None,
                 max_test: Optional[int] = None, name: Optional[str] = None, arrays: Optional[Dict[str, Any]] = None):
        super().__init__(seed, max_train, data_dir)
        self.path = str(path)
        self.name = name or f"npz_{_slug(self.path)}"
        if task_type is not None and task_type not in ("classification", "regression"):
            raise TaskOptionError(f"task_type is '{task_type}', but must be 'classification' or 'regression'")
        self.task_type = task_type
        self.hidden = int(hidden)
        self.max_validation, self.max_test = max_validation, max_test
        self._arrays = arrays
        self.n_classes = 1
        self.metric = Metric("mse", "min") if task_type == "regression" else Metric("accuracy", "max")
        self.x: Dict[str, Any] = {}
        self.y: Dict[str, Any] = {}

    def load(self) -> None:
        import torch

        # ``arrays``: the splits themselves, or a function that returns them (read on first load)
        pairs = (self._arrays() if callable(self._arrays) else self._arrays) or _read_npz(self.path)
        self._arrays = None
        every = np.concatenate([np.asarray(y).ravel() for _, y in pairs.values()])
        if self.task_type is None:
            floats = np.issubdtype(every.dtype, np.floating)
            self.task_type = "regression" if floats and not np.all(np.mod(every, 1) == 0) else "classification"
            self.metric = Metric("mse", "min") if self.task_type == "regression" else Metric("accuracy", "max")
        classification = self.task_type == "classification"
        labels = {s: (np.asarray(y).astype(np.int64) if classification else np.asarray(y, dtype=np.float32))
                  for s, (_, y) in pairs.items()}
        plan = plan_splits(labels, self.seed, self.max_train, self.max_validation, self.max_test,
                           stratify=classification)
        xs = {split: np.asarray(pairs[src][0][idx], dtype=np.float32).reshape(len(idx), -1)
              for split, (src, idx) in plan.items()}
        mean, std = xs["train"].mean(0), xs["train"].std(0) + 1e-6
        for split, (src, idx) in plan.items():
            self.x[split] = torch.from_numpy((xs[split] - mean) / std)
            self.y[split] = torch.from_numpy(labels[src][idx])
        if classification:
            self.n_classes = int(max(int(y.max()) for y in self.y.values() if len(y))) + 1

    def describe(self) -> TaskDescription:
        self.ensure_loaded()
        counts = np.bincount(self.y["train"].numpy(), minlength=self.n_classes).tolist() \
            if self.task_type == "classification" else []
        return TaskDescription(
            name=self.name, modality="tabular", task_type=self.task_type, n_train=len(self.y["train"]),
            n_classes=self.n_classes, class_counts=counts, input_size=float(self.x["train"].shape[1]),
            model_family=self.model_family, model_params=self.count_params({"num_layers": 6, "dropout": 0.1}),
            extra={"n_validation": float(len(self.y["validation"])), "n_test": float(len(self.y["test"]))})

    def build_model(self, config: Dict[str, Any]) -> Any:
        from ..models.small import MLP

        self.ensure_loaded()
        return MLP(self.x["train"].shape[1], self.n_classes, int(config["num_layers"]),
                   float(config.get("dropout", 0.0)), hidden=self.hidden)

    def count_params(self, config: Dict[str, Any]) -> int:
        self.ensure_loaded()
        f, h, n = self.x["train"].shape[1], self.hidden, int(config["num_layers"])
        if n <= 0:
            return f * self.n_classes + self.n_classes
        return (f * h + h) + (n - 1) * (h * h + h) + (h * self.n_classes + self.n_classes)

    def activation_bytes_per_sample(self, config: Dict[str, Any]) -> float:
        return 4.0 * 3 * self.hidden * (int(config["num_layers"]) + 1)

    def train_batches(self, batch_size: int, generator: Any) -> Iterator[Any]:
        from ._tensor import shuffled_batches

        self.ensure_loaded()
        for idx in shuffled_batches(len(self.y["train"]), batch_size, generator):
            yield self.x["train"][idx], self.y["train"][idx]

    def loss(self, model: Any, batch: Any) -> Any:
        import torch.nn.functional as F

        x, y = batch
        out = model(x)
        if self.task_type == "regression":
            return F.mse_loss(out[:, 0], y)
        return F.cross_entropy(out, y)

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
            out = torch.cat([model(x[i:i + self.eval_batch_size].to(device)).float().cpu()
                             for i in range(0, len(x), self.eval_batch_size)])
        model.train(was_training)
        if self.task_type == "regression":
            metrics = regression_metrics(out[:, 0].numpy(), self.y[split].numpy())
        else:
            metrics = classification_metrics(out, self.y[split], self.n_classes)
        metrics["n_rows"] = float(len(x))
        return metrics


def npz_task(path: str, **options) -> Task:
    """An image or a tabular task, by the shape of the file's ``x`` array."""
    pairs = _read_npz(path)
    x = pairs["train"][0]
    if x.ndim == 2:
        image_only = [k for k in ("model", "image_size", "augment", "weights_path") if k in options]
        if image_only:
            raise TaskOptionError(f"{path} holds a table (x of shape {x.shape}); options {image_only} apply to images")
        return TabularTask(path, arrays=pairs, **options)
    if x.ndim not in (3, 4):
        raise DataError(f"{path}: x has shape {x.shape}; use (N, features) for a table or (N, H, W[, C]) for images")
    if options.get("task_type") not in (None, "classification"):
        raise TaskOptionError("image arrays support classification only")
    options.pop("task_type", None)
    options.setdefault("max_validation", IMAGE_MAX_VALIDATION)
    options.setdefault("max_test", IMAGE_MAX_TEST)
    return NpzImageTask(path, arrays=pairs, **options)


def custom_task(scheme: str, path: str, **options) -> Task:
    """The task for a ``scheme:path`` name (see the module docstring)."""
    scheme = scheme.lower()
    if not path:
        raise TaskOptionError(f"task '{scheme}:' needs a path after the colon, e.g. {scheme}:/data/mine")
    if scheme in TABLE_SCHEMES:
        return CustomTextTask(path, **options)
    if scheme == "imagefolder":
        return ImageFolderTask(path, **options)
    if scheme == "npz":
        return npz_task(path, **options)
    raise TaskOptionError(f"unknown data scheme '{scheme}:'; use one of {', '.join(s + ':' for s in SCHEMES)}")
