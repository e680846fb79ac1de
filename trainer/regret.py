"""Normalised regret: how far a config's result is from the task's best, as a fraction of the
task's range. One definition for ``evaluate``, leave-one-task-out model selection and the replay.

``(best - v) / (best - worst)`` over a task's finished configs, direction-aware: 0 = the best,
1 = the worst. Failed configs (no finite value) count as the worst. So do *diverged* ones: a
value past Tukey's far-out fence on the bad side (more than three interquartile ranges beyond the
quartile; :func:`hpo_agent.agent.refine.diverged`, which the device's re-ranking uses too), such
as a validation MSE of 90 among MSEs near 1. Left in, one such run would stretch the range and
shrink every other config's regret towards 0. On the committed histories only the diabetes
regression has such runs (2 of 769); accuracy, bounded in [0, 1], has none.
"""

from __future__ import annotations

from typing import Union

import numpy as np

from ..agent.refine import diverged


def normalised_regrets(values, direction: str) -> Union[np.ndarray, float]:
    """Per-config regret in [0, 1] (failed and diverged configs: 1), or NaN when fewer than two
    configs finished. When every finished config ties, they all get 0."""
    v = np.asarray(values, dtype=np.float64)
    v = v if direction == "max" else -v
    ok = np.isfinite(v)
    if ok.sum() < 2:
        return float("nan")
    ok &= ~diverged(v)
    best, worst = v[ok].max(), v[ok].min()
    if best == worst:
        return np.where(ok, 0.0, 1.0)
    return np.where(ok, (best - np.where(ok, v, worst)) / (best - worst), 1.0)


def best_of_k_regret(values: np.ndarray, scores: np.ndarray, k: int, direction: str) -> float:
    """Normalised regret of the best of the ``k`` highest-scored configs (failures count as worst;
    among equal scores the earlier config counts as higher). ``k = 1`` is the top pick's regret."""
    regrets = normalised_regrets(values, direction)
    if isinstance(regrets, float):
        return regrets
    picks = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")[:k]
    return float(regrets[picks].min())
