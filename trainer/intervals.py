"""How far a mean over held-out tasks can be trusted: a bootstrap over data sets.

``evaluate`` reports means over about fifteen held-out tasks that come from about ten data sets,
and one task whose top pick misses moves such a mean by 0.07. Its figures therefore carry an
interval: the data sets (:func:`~.learners.task_group`; the variants of one data set are not
independent evidence, so they are resampled together) are drawn with replacement, the mean over
the drawn data sets' tasks is recomputed, and the percentile interval of those means is reported.
Two methods are compared *paired*, on the same draws: the share of draws in which one method's
mean regret is lower than the other's says how much a difference between two means is worth.

With ten data sets this is a rough guide, not a guarantee: a percentile interval from so few
independent units is known to be too narrow. It is meant to keep a reader from reading a 0.01
difference between two means as a finding.
"""

from __future__ import annotations

from typing import Dict, Mapping, Sequence, Tuple

import numpy as np

RESAMPLES = 2000
LEVEL = 0.9


def _group_matrix(tasks: Sequence[str], groups: Mapping[str, str]) -> Tuple[list, np.ndarray]:
    """The data sets in sorted order, and a (data sets × tasks) 0/1 membership matrix."""
    names = sorted({groups[t] for t in tasks})
    member = np.array([[1.0 if groups[t] == g else 0.0 for t in tasks] for g in names])
    return names, member


def _draw_counts(n_groups: int, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(resamples × data sets): how often each data set was drawn in each resample."""
    draws = rng.integers(0, n_groups, size=(resamples, n_groups))
    return np.stack([np.bincount(row, minlength=n_groups) for row in draws]).astype(np.float64)


def _resampled_means(values: np.ndarray, member: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The task mean in each resample: every task weighs as often as its data set was drawn.
    Tasks with no finite value count in no resample."""
    ok = np.isfinite(values)
    weights = counts @ (member * ok)                    # resamples × tasks
    total = weights.sum(axis=1)
    sums = weights @ np.where(ok, values, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, sums / np.where(total > 0, total, 1.0), np.nan)


def bootstrap_interval(per_task: Mapping[str, float], groups: Mapping[str, str], resamples: int = RESAMPLES,
                       level: float = LEVEL, seed: int = 0) -> Tuple[float, float]:
    """The ``level`` percentile interval of the mean of ``per_task`` values over data sets drawn
    with replacement (``groups``: task → data set). NaN values are left out; with no finite
    value, ``(nan, nan)``."""
    if not 0 < level < 1:
        raise ValueError(f"level is {level}, but must lie strictly between 0 and 1")
    tasks = sorted(per_task)
    values = np.array([per_task[t] for t in tasks], dtype=np.float64)
    if not np.isfinite(values).any():
        return float("nan"), float("nan")
    names, member = _group_matrix(tasks, groups)
    means = _resampled_means(values, member, _draw_counts(len(names), resamples, np.random.default_rng(seed)))
    means = means[np.isfinite(means)]
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return float(lo), float(hi)


def paired_lower_share(a: Mapping[str, float], b: Mapping[str, float], groups: Mapping[str, str],
                       resamples: int = RESAMPLES, seed: int = 0) -> Dict[str, float]:
    """On the same draws of data sets, the share of draws in which the mean of ``a`` is lower
    than the mean of ``b`` (``lower``), and in which they tie (``tied``); over the tasks both
    score with a finite value."""
    tasks = sorted(t for t in set(a) & set(b) if np.isfinite(a[t]) and np.isfinite(b[t]))
    if not tasks:
        return {"lower": float("nan"), "tied": float("nan"), "tasks": 0}
    names, member = _group_matrix(tasks, groups)
    counts = _draw_counts(len(names), resamples, np.random.default_rng(seed))
    mean_a = _resampled_means(np.array([a[t] for t in tasks]), member, counts)
    mean_b = _resampled_means(np.array([b[t] for t in tasks]), member, counts)
    tied = np.isclose(mean_a, mean_b, rtol=0.0, atol=1e-12)
    return {"lower": float(np.mean((mean_a < mean_b) & ~tied)), "tied": float(np.mean(tied)), "tasks": len(tasks)}
