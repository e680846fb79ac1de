"""The cost meta-model: (task meta-features, encoded config) → log10 training seconds per unit of fidelity.

Where the histories record fidelities (``train_seconds_at_fidelity`` at ``fidelity_steps``), a
unit is one training step; imported tables with only a per-trial cost column use one trial.
The figure is in seconds on the machines that made the histories (one torch thread on a 2-core
CPU for the shipped ones), so on another device it is a *relative* cost: which configs are slow
and by how much. Validation reports both the raw log error and the error left after one
per-task offset (what a single measured trial on the device would calibrate away), and the
within-task rank correlation, which is what ordering configs by cost needs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

import numpy as np

MIN_ROWS = 20  # fewer recorded costs than this: no cost model (the score model does not need one)


@dataclass
class AuxModel:
    """A second regressor over the same input as the score model, exported as another output."""

    name: str                    # the ONNX output's name, e.g. "cost"
    estimator: Any
    target: Dict[str, Any]
    validation: Dict[str, Any] = field(default_factory=dict)
    learner: str = "gbm"


def cost_targets(frame) -> Tuple[np.ndarray, str]:
    """Per row, log10 seconds per fidelity unit, and the unit (``"step"`` or ``"trial"``); NaN unknown.

    Per step where any row records fidelities (rows without them are NaN); else the per-trial
    wall time; all NaN when the histories have neither.
    """
    n = len(frame)
    if "train_seconds_at_fidelity" in frame.columns and "fidelity_steps" in frame.columns:
        per_step = np.array([_per_step(s, f) for s, f in zip(frame["train_seconds_at_fidelity"],
                                                                frame["fidelity_steps"])], dtype=np.float64)
        if np.isfinite(per_step).any():
            return _log10(per_step), "step"
    if "wall_time_s" in frame.columns:
        import pandas as pd

        return _log10(pd.to_numeric(frame["wall_time_s"], errors="coerce").to_numpy(dtype=np.float64)), "trial"
    return np.full(n, np.nan), "step"


def _per_step(seconds, steps) -> float:
    seconds, steps = _as_list(seconds), _as_list(steps)
    if not seconds or not steps:
        return float("nan")
    k = min(len(seconds), len(steps)) - 1  # the last fidelity the trial reached
    try:
        s, n = float(seconds[k]), float(steps[k])
    except (TypeError, ValueError):
        return float("nan")
    return s / n if n > 0 and s > 0 else float("nan")


def _as_list(value):
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return []
    return list(value) if isinstance(value, (list, tuple, np.ndarray)) else []


def _log10(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(values > 0, np.log10(values), np.nan)


def cost_target_doc(unit: str) -> Dict[str, Any]:
    return {"name": f"log10_train_seconds_per_{unit}", "unit": unit,
            "definition": f"log10 of training seconds per {unit} on the machines that recorded the histories; "
                          "relative across configs on another device"}


def make_cost_learner(seed: int = 0):
    """Gradient boosting a quarter the size of the score model's: log time is close to additive in
    log batch size, depth and model size, so 50 trees of 7 leaves validate as well as 100 of 15
    (leave-one-task-out here), and the cost output adds little to every query's time."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(max_iter=50, learning_rate=0.1, max_leaf_nodes=7, min_samples_leaf=5,
                                         l2_regularization=1.0, random_state=seed)


def validate_cost(x: np.ndarray, y: np.ndarray, tasks: np.ndarray, groups: np.ndarray, seed: int) -> Dict[str, Any]:
    """Leave-one-task-group-out: median |log10 error|, the same after one per-task offset, Spearman."""
    from scipy.stats import spearmanr

    from .learners import one_thread

    per_task: Dict[str, Dict[str, float]] = {}
    with one_thread():
        for task in sorted(set(tasks)):
            test = tasks == task
            train = groups != groups[test][0]
            if not train.any() or test.sum() < 2:
                continue
            pred = make_cost_learner(seed).fit(x[train], y[train]).predict(x[test])
            err = pred - y[test]
            rho = spearmanr(pred, y[test]).statistic if np.ptp(pred) > 0 and np.ptp(y[test]) > 0 else np.nan
            per_task[str(task)] = {"median_abs_log10_error": float(np.median(np.abs(err))),
                                   "median_abs_log10_error_calibrated": float(np.median(np.abs(err - np.median(err)))),
                                   "spearman": float(rho), "n": int(test.sum())}
    keys = ("median_abs_log10_error", "median_abs_log10_error_calibrated", "spearman")
    summary = {f"mean_{k}": float(np.nanmean([v[k] for v in per_task.values()])) if per_task else None for k in keys}
    return dict(summary, method="leave-one-task-out", learner="gbm", per_task=per_task)


def fit_cost_model(data, seed: int = 0, validate: bool = True) -> Optional[AuxModel]:
    """The cost model on a :class:`.fit.Dataset`'s rows with a recorded cost, or None with fewer
    than :data:`MIN_ROWS` of them."""
    from .learners import one_thread, task_group

    y = data.log_cost
    ok = np.isfinite(y) if y is not None else np.zeros(len(data.x), dtype=bool)
    if ok.sum() < MIN_ROWS:
        return None
    groups = np.array([task_group(t) for t in data.tasks])
    validation = {}
    if validate and len(set(groups[ok])) >= 2:
        validation = validate_cost(data.x[ok], y[ok], data.tasks[ok], groups[ok], seed)
    with one_thread():
        estimator = make_cost_learner(seed).fit(data.x[ok], y[ok])
    return AuxModel("cost", estimator, cost_target_doc(data.cost_unit), validation)
