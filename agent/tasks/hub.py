"""Hub datasets with a local-mirror fallback, and the one way tasks arrange their splits.

One loading path serves a machine with hub access and one without: a task names its hub dataset
(:class:`HubSource`: id, config, mirror folder, splits). With a mirror folder (the task's
``data_dir`` option, else the ``HPO_AGENT_DATA_DIR`` environment variable) the splits are read
with ``datasets.load_dataset("parquet", data_files={split: f"{data_dir}/{folder}/{split}.parquet"})``;
without one, or when the mirror lacks the folder, with ``datasets.load_dataset(hub_id, config)``.
When neither works the error says which option or environment variable to set.

:func:`plan_splits` turns whatever splits exist into train / validation / test: splits without
labels (GLUE's hub test splits carry -1) are dropped, a missing test split is replaced by the
validation split, missing validation (and test) splits are carved out of train, stratified, with
the task seed, and every split is capped (``max_train``, ``max_validation``, ``max_test``).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Sequence, Tuple

import numpy as np

from ..errors import DataError

DATA_DIR_ENV = "HPO_AGENT_DATA_DIR"
SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class HubSource:
    """Where a task's data lives: on the hub (``hub_id``, ``config``) and in a mirror (``folder``)."""

    hub_id: str
    config: Optional[str] = None
    folder: str = ""
    splits: Tuple[str, ...] = SPLITS


def resolve_data_dir(data_dir: Optional[str] = None) -> Optional[str]:
    """The mirror root: the task option, else ``$HPO_AGENT_DATA_DIR``, else None (use the hub)."""
    root = data_dir or os.environ.get(DATA_DIR_ENV) or None
    return str(root) if root else None


def mirror_files(source: HubSource, data_dir: str) -> Dict[str, str]:
    """``{split: path}`` of the source's splits present under ``data_dir/folder``."""
    folder = Path(data_dir).expanduser() / source.folder
    return {s: str(folder / f"{s}.parquet") for s in source.splits if (folder / f"{s}.parquet").is_file()}


@contextlib.contextmanager
def quiet_datasets() -> Iterator[None]:
    """No progress bars or log lines while ``datasets`` reads files (restored afterwards): its
    callers turn a failure into one line of their own (:class:`DataError`)."""
    try:
        import datasets
        from datasets.utils import logging as ds_logging
    except ImportError:  # pragma: no cover - datasets missing: the caller fails clearly
        yield
        return
    was_enabled = not datasets.are_progress_bars_disabled()
    level = ds_logging.get_verbosity()
    datasets.disable_progress_bars()
    ds_logging.set_verbosity(ds_logging.CRITICAL)
    try:
        yield
    finally:
        ds_logging.set_verbosity(level)
        if was_enabled:
            datasets.enable_progress_bars()


def load_files(builder: str, data_files: Dict[str, str], **options: Any) -> Dict[str, Any]:
    """``datasets.load_dataset(builder, data_files=..., **options)`` as a ``{split: Dataset}``
    dict. A file that cannot be read raises :class:`DataError` naming it; a text file with no data
    rows says so (``datasets`` only says that an "instruction corresponds to no data")."""
    import datasets

    for path in data_files.values():
        if builder in ("csv", "json", "text") and _data_lines(path, 2) < (2 if builder == "csv" else 1):
            raise DataError(f"{path} has no data rows")
    try:
        with quiet_datasets():
            loaded = datasets.load_dataset(builder, data_files=dict(data_files), **options)
    except Exception as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise DataError(f"cannot read {', '.join(sorted(set(data_files.values())))} as {builder}: {reason}") from exc
    return {split: loaded[split] for split in loaded}


def _data_lines(path: str, enough: int) -> int:
    """How many non-blank lines ``path`` has, counting no further than ``enough``."""
    count = 0
    with open(path, "rb") as handle:
        for line in handle:
            count += bool(line.strip())
            if count >= enough:
                break
    return count


def load_splits(source: HubSource, data_dir: Optional[str] = None) -> Dict[str, Any]:
    """The source's splits as ``{split: datasets.Dataset}``: from the mirror, else from the hub."""
    import datasets

    root = resolve_data_dir(data_dir)
    mirror_note = ""
    if root:
        files = mirror_files(source, root)
        if files:
            return load_files("parquet", files)
        mirror_note = (f"the mirror {root} has no {source.folder}/<split>.parquet "
                       f"(looked for {', '.join(source.splits)}), and ")
    try:
        with quiet_datasets():
            loaded = datasets.load_dataset(source.hub_id, source.config)
    except Exception as exc:  # offline, unknown id, no network: one clear line
        what = source.hub_id + (f" (config {source.config})" if source.config else "")
        raise DataError(
            f"cannot load {what}: {mirror_note}the hub is unreachable ({type(exc).__name__}); set "
            f"{DATA_DIR_ENV} or pass --data-dir / data_dir= to a local mirror holding "
            f"{source.folder}/<split>.parquet") from exc
    return {split: loaded[split] for split in loaded}


# -- split arrangement ---------------------------------------------------------------------------
def is_labelled(labels: np.ndarray) -> bool:
    """False for a split whose labels are all missing: all -1 (GLUE's hub test splits) or NaN."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        return False
    if np.issubdtype(labels.dtype, np.floating) and bool(np.all(np.isnan(labels))):
        return False
    return not bool(np.all(labels == -1))


def stratified_sample(labels: np.ndarray, k: int, rng: np.random.Generator,
                      stratify: bool = True) -> np.ndarray:
    """Exactly ``k`` sorted row indices, per class in proportion (largest remainder), or at random."""
    labels = np.asarray(labels)
    n = len(labels)
    k = int(min(max(k, 0), n))
    if k >= n:
        return np.arange(n, dtype=np.int64)
    if not stratify:
        return np.sort(rng.choice(n, size=k, replace=False)).astype(np.int64)
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * (k / n)
    take = np.floor(exact).astype(int)
    short = k - int(take.sum())
    if short > 0:  # largest remainders first; ties broken at random
        order = np.lexsort((rng.random(len(classes)), -(exact - take)))
        take[order[:short]] += 1
    chosen = []
    for label, m in zip(classes, take):
        idx = np.flatnonzero(labels == label)
        chosen.append(rng.choice(idx, size=int(m), replace=False))
    return np.sort(np.concatenate(chosen)).astype(np.int64) if chosen else np.zeros(0, dtype=np.int64)


def plan_splits(labels: Dict[str, np.ndarray], seed: int, max_train: Optional[int] = None,
                max_validation: Optional[int] = None, max_test: Optional[int] = None,
                stratify: bool = True, carve_fraction: float = 0.1) -> Dict[str, Tuple[str, np.ndarray]]:
    """``{"train"|"validation"|"test": (source split, row indices)}`` from the labels of each split.

    Validation (and, where no labelled test or validation exists, test) is carved out of train
    before ``max_train`` applies, so the evaluation rows do not change with the training subset.
    A carved split takes ``carve_fraction`` of train (at least 1 row), capped by its maximum.
    """
    usable = {s: np.asarray(y) for s, y in labels.items() if is_labelled(y)}
    if "train" not in usable:
        raise DataError(f"no labelled training split among {sorted(labels)}; a task needs labelled train rows")
    rng = np.random.default_rng(seed)
    y_train = usable["train"]
    remaining = np.arange(len(y_train), dtype=np.int64)
    plan: Dict[str, Tuple[str, np.ndarray]] = {}

    def carve(cap: Optional[int]) -> np.ndarray:
        nonlocal remaining
        k = max(1, int(round(carve_fraction * len(y_train))))
        if cap is not None:
            k = min(k, int(cap))
        if k >= len(remaining):
            raise DataError(f"the training split has {len(y_train)} rows, too few to carve validation and test splits from; "
                            "give more rows, or validation and test files beside it")
        pick = stratified_sample(y_train[remaining], k, rng, stratify)
        taken = remaining[pick]
        remaining = np.setdiff1d(remaining, taken)
        return taken

    test_src = "test" if "test" in usable else ("validation" if "validation" in usable else None)
    if test_src is None:
        plan["test"] = ("train", carve(max_test))
    else:
        plan["test"] = (test_src, np.arange(len(usable[test_src]), dtype=np.int64))
    if "validation" in usable and test_src != "validation":
        plan["validation"] = ("validation", np.arange(len(usable["validation"]), dtype=np.int64))
    else:
        plan["validation"] = ("train", carve(max_validation))
    plan["train"] = ("train", remaining)

    for split, cap in (("train", max_train), ("validation", max_validation), ("test", max_test)):
        src, idx = plan[split]
        if cap is not None and len(idx) > cap:
            keep = stratified_sample(usable[src][idx], int(cap), rng, stratify)
            plan[split] = (src, idx[keep])
    return plan


def group_split(groups: Sequence[Any], fractions: Sequence[float], seed: int) -> Sequence[np.ndarray]:
    """Row indices per fraction, assigning whole groups (articles, paragraphs) in a seeded order.

    Groups are taken in a seeded random order and filled into the parts in turn so that each part
    gets about its fraction of the rows; a group never straddles two parts.
    """
    groups = list(groups)
    names = sorted(set(groups))
    rng = np.random.default_rng(seed)
    order = [names[i] for i in rng.permutation(len(names))]
    rows_of: Dict[Any, list] = {}
    for i, g in enumerate(groups):
        rows_of.setdefault(g, []).append(i)
    total = len(groups)
    targets = np.cumsum(fractions) / np.sum(fractions) * total
    parts = [[] for _ in fractions]
    filled, part = 0, 0
    n_left = len(order)
    for g in order:
        # Move on once this part has its share, keeping at least one group for each later part.
        while part < len(parts) - 1 and (filled >= targets[part] - 1e-9 or n_left <= len(parts) - 1 - part) \
                and parts[part]:
            part += 1
        parts[part].extend(rows_of[g])
        filled += len(rows_of[g])
        n_left -= 1
    return [np.sort(np.asarray(p, dtype=np.int64)) for p in parts]
