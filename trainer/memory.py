"""The peak-memory meta-model: a learned correction to the analytic training-memory estimate.

The device estimates a config's training memory before allocating anything
(:func:`hpo_agent.devices.estimate_training_memory`): runtime overhead (a per-device constant) plus
a *working set* of weights, gradients, optimizer state and activations computed from the model's
own layers. What that arithmetic misses (allocator slack, buffers autograd keeps, framework
temporaries) differs between model families and grows with batch and depth. This module measures
the real working set of short training runs (:class:`hpo_agent.devices.PeakTracker`: the peak
resident memory of the block above what the process held before it) and learns

    target = log10(measured working set / analytic working set)

from (task meta-features, config), so the device corrects its estimate by ``10 ** prediction``.
It is shipped only when, leave-one-task-group-out, the corrected *total* (overhead + working
set, on the CPU that measured it) is closer than the analytic one: see :func:`beats_analytic`.
A ratio, not bytes, because the analytic part already knows each model's size exactly; what is left
to learn is its bias, which transfers between tasks far better than absolute bytes do. Validation
is leave-one-task-group-out, against the analytic estimate alone (a prediction of 0).
"""

from __future__ import annotations

import platform
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ..agent.space import plain_value
from .cost import AuxModel

MIN_ROWS = 20
PROBE_STEPS = 2  # step 2's backward holds activations, gradients and optimizer state at once
TARGET = {"name": "log10_working_set_ratio",
          "definition": "log10 of the measured training working set (peak resident memory of build + "
                        f"{PROBE_STEPS} training steps above the process's memory before them) over the analytic "
                        "working set (weights + gradients + optimizer state + calibrated activations); "
                        "multiply the analytic figure by 10**prediction"}
COLUMNS = ("working_set_bytes", "estimated_working_set_bytes")


def analytic_working_set(task, config: Dict[str, Any]) -> int:
    """The device's estimate for ``config`` on ``task`` without the runtime overhead."""
    from ..agent.tune import memory_estimate

    est = memory_estimate(task.ensure_loaded(), config, overhead_bytes=0)
    return int(est.total_bytes)


def probe_configs(frame, task_id: str, n: int) -> List[Dict[str, Any]]:
    """Up to ``n`` configs the histories hold for ``task_id``, random-design ones first (they spread)."""
    rows = frame[frame["task"] == task_id]
    if "design" in rows.columns:
        rows = rows.assign(_grid=(rows["design"] == "grid")).sort_values(["_grid", "number"], kind="stable")
    params = [c for c in frame.columns if c.startswith("param.")]
    configs = []
    for _, row in rows.head(n).iterrows():
        configs.append({c[len("param."):]: plain_value(row[c]) for c in params})
    return configs


def probe_memory(task, task_id: str, configs: Sequence[Dict[str, Any]], steps: int = PROBE_STEPS,
                 seed: int = 0) -> List[Dict[str, Any]]:
    """Train each config for ``steps`` steps in this process and record its working set.

    Returns rows with the task's meta-features (``mf.*``), the config (``param.*``), the measured
    and the analytic working set. Configs that fail (out of memory included) are left out.
    """
    import torch

    from .. import devices
    from ..agent import metafeatures
    from ..agent.training import TrialRun

    if not devices.peak_tracking_available():
        raise RuntimeError("measuring a working set needs Linux's /proc/self/clear_refs (Linux 4.0+)")
    task.ensure_loaded()
    features = metafeatures.compute(task.describe())
    if configs:  # torch's first training step in a process allocates its own runtime (~170 MiB here)
        _train_quietly(TrialRun, task, configs[0], steps, seed)
    rows = []
    for config in configs:
        try:
            with devices.PeakTracker() as peak:
                run = TrialRun(task, config, seed=seed)
                run.train(steps=steps)
                del run
        except Exception:  # noqa: BLE001 - a config that fails (out of memory too) just has no row
            continue
        rows.append(dict(
            {"task": task_id, "model_family": task.model_family, "steps": steps,
             "working_set_bytes": peak.working_set_bytes,
             "estimated_working_set_bytes": analytic_working_set(task, config),
             "torch": torch.__version__, "machine": platform.machine()},
            **{f"param.{k}": v for k, v in config.items()},
            **{f"mf.{k}": v for k, v in features.items()}))
    return rows


def _train_quietly(trial_run, task, config, steps: int, seed: int) -> None:
    try:
        trial_run(task, config, seed=seed).train(steps=steps)
    except Exception:  # noqa: BLE001 - only a warm-up
        pass


def memory_targets(table) -> np.ndarray:
    """Per row, log10(measured / analytic working set); NaN where either is missing or not positive."""
    import pandas as pd

    if table is None or not all(c in table.columns for c in COLUMNS):
        return np.full(0 if table is None else len(table), np.nan)
    measured = pd.to_numeric(table["working_set_bytes"], errors="coerce").to_numpy(dtype=np.float64)
    analytic = pd.to_numeric(table["estimated_working_set_bytes"], errors="coerce").to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((measured > 0) & (analytic > 0), np.log10(measured / analytic), np.nan)


def memory_rows(frame=None, table=None):
    """The rows to fit the memory model on: the probe table (:func:`probe_memory`) when one is
    given, else the history trials whose working set covers training only (``working_set_scope``
    ``"train"``, what ``collect`` records now); None when there are none.

    Trials collected before the scope was recorded also covered their validation passes, which add
    a floor of about 9 MiB on the digits CNN (measured/analytic median x2.3 against x1.3 for
    probes of the same task): they are left out. Probes and trials are not mixed either: the
    hundreds of collected rows of one full-grid task would outweigh the probes of every other."""
    for source, scoped in ((table, False), (frame, True)):
        if source is None or not len(source) or not all(c in source.columns for c in COLUMNS):
            continue
        ok = source["working_set_bytes"].notna() & source["estimated_working_set_bytes"].notna()
        if scoped:
            ok &= (source["working_set_scope"] == "train") if "working_set_scope" in source.columns else False
        rows = source[ok]
        if len(rows):
            return rows.reset_index(drop=True)
    return None


def make_memory_learner(seed: int = 0):
    """Small gradient boosting: the ratio varies smoothly with family, batch and depth, and a third
    output must stay cheap for every query (see :mod:`.cost`)."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(max_iter=40, learning_rate=0.1, max_leaf_nodes=7, min_samples_leaf=5,
                                         l2_regularization=1.0, random_state=seed)


def validate_memory(x: np.ndarray, y: np.ndarray, tasks: np.ndarray, groups: np.ndarray, analytic: np.ndarray,
                    seed: int, overhead_bytes: float) -> Dict[str, Any]:
    """Leave-one-task-group-out, for the corrected and for the analytic estimate: the median
    |log10 error| of the working set, and the median relative error of the *total* (runtime
    overhead + working set), the figure ``tune`` drops configs by."""
    from .learners import one_thread

    measured = analytic * np.power(10.0, y)
    per_task: Dict[str, Dict[str, float]] = {}
    with one_thread():
        for task in sorted(set(tasks)):
            test = tasks == task
            train = groups != groups[test][0]
            if not train.any():
                continue
            pred = make_memory_learner(seed).fit(x[train], y[train]).predict(x[test])
            total = overhead_bytes + measured[test]
            per_task[str(task)] = {
                "median_abs_log10_error": float(np.median(np.abs(pred - y[test]))),
                "median_abs_log10_error_analytic": float(np.median(np.abs(y[test]))),
                "median_total_error": float(np.median(np.abs(overhead_bytes + analytic[test] * 10 ** pred - total) / total)),
                "median_total_error_analytic": float(np.median(np.abs(overhead_bytes + analytic[test] - total) / total)),
                "n": int(test.sum())}
    keys = ("median_abs_log10_error", "median_abs_log10_error_analytic", "median_total_error",
            "median_total_error_analytic")
    summary = {f"mean_{k}": float(np.mean([v[k] for v in per_task.values()])) if per_task else None for k in keys}
    return dict(summary, method="leave-one-task-out", learner="gbm", overhead_bytes=int(overhead_bytes),
                per_task=per_task)


def beats_analytic(aux: AuxModel) -> bool:
    """Whether the correction validated better than the analytic estimate alone on the total that
    ``tune`` decides by (no validation: False). A 10 % better guess of a 1 MiB working set is worth
    nothing beside a 10 % worse guess of a 900 MiB one, so the working-set error does not decide."""
    v = aux.validation or {}
    mine, base = v.get("mean_median_total_error"), v.get("mean_median_total_error_analytic")
    return mine is not None and base is not None and mine < base


def fit_memory_model(table, space, meta_feature_names: Sequence[str], seed: int = 0,
                     validate: bool = True) -> Optional[AuxModel]:
    """The memory correction on ``table``'s measured rows (same input as the score model), or None
    with fewer than :data:`MIN_ROWS` of them; see :func:`beats_analytic` before shipping it."""
    import pandas as pd

    from .learners import one_thread, task_group

    y = memory_targets(table)
    ok = np.isfinite(y)
    if ok.sum() < MIN_ROWS:
        return None
    table = table[ok].reset_index(drop=True)
    y = y[ok]
    lacking = [f"mf.{n}" for n in meta_feature_names if f"mf.{n}" not in table.columns]
    lacking += [f"param.{n}" for n in space.names if f"param.{n}" not in table.columns]
    if lacking:
        raise ValueError(f"the memory table lacks columns {lacking}")
    configs = [{n: plain_value(row[f"param.{n}"]) for n in space.names} for _, row in table.iterrows()]
    x = np.hstack([table[[f"mf.{n}" for n in meta_feature_names]].to_numpy(dtype=np.float32),
                   space.encode(configs)]).astype(np.float32)
    tasks = table["task"].to_numpy().astype(object)
    groups = np.array([task_group(t) for t in tasks])
    validation: Dict[str, Any] = {}
    if validate and len(set(groups)) >= 2:
        from ..devices import default_overhead_bytes

        analytic = pd.to_numeric(table["estimated_working_set_bytes"]).to_numpy(dtype=np.float64)
        validation = validate_memory(x, y, tasks, groups, analytic, seed, default_overhead_bytes("cpu"))
    with one_thread():
        estimator = make_memory_learner(seed).fit(x, y)
    return AuxModel("memory", estimator, dict(TARGET, rows=int(len(y)), tasks=sorted(set(tasks))), validation)
