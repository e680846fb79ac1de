"""Fitting the performance meta-model: (task meta-features, encoded config) → normalised score.

The target is the config's **percentile rank within its task** (1 = best trial of that task,
0 = worst; failed, out-of-memory and diverged trials count as worst). Ranks, not raw metrics,
because tasks differ in metric and scale (accuracy 0.3 may be excellent on one task and poor on
another), and ranks are untouched by diverged runs that would stretch a min–max scale. What the
device needs is an ordering of configs for a new task, which is exactly what ranks carry.
"""

from __future__ import annotations

import datetime as _dt
import platform
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np

from ..agent import metafeatures
from ..agent.space import SearchSpace, default_space
from .cost import AuxModel, cost_targets, fit_cost_model
from .learners import LEARNERS, fit_learner, one_thread
from .loto import RULE, choose_learner, leave_one_task_out

TARGET = {"name": "task_percentile_rank", "range": [0.0, 1.0], "higher_is_better": True,
          "definition": "percentile rank of the validation metric at the last fidelity among the task's trials; "
                        "failed/OOM/diverged trials rank last"}


def task_percentile_rank(values: np.ndarray, direction: str) -> np.ndarray:
    """Average-tie percentile ranks in [0, 1] (1 = best); NaN values get 0."""
    values = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(values)
    out = np.zeros(len(values))
    if ok.sum() == 0:
        return out
    v = values[ok] if direction == "max" else -values[ok]
    order = np.argsort(v, kind="stable")
    ranks = np.empty(len(v))
    ranks[order] = np.arange(len(v), dtype=np.float64)
    for value in np.unique(v):  # average ties
        tie = v == value
        ranks[tie] = ranks[tie].mean()
    n_total = len(values)
    # Failed trials occupy the bottom ranks; finite ones sit above them.
    n_bad = n_total - ok.sum()
    out[ok] = (ranks + n_bad) / max(1, n_total - 1)
    return out


@dataclass
class Dataset:
    """The meta-learning table: features, targets, and the task of each row."""

    x: np.ndarray
    y: np.ndarray
    tasks: np.ndarray
    values: np.ndarray
    directions: Dict[str, str]
    feature_names: List[str]
    meta_feature_names: List[str]
    space: SearchSpace
    costs: Optional[np.ndarray] = None  # recorded wall seconds per row (NaN where unknown)
    log_cost: Optional[np.ndarray] = None  # log10 training seconds per cost_unit (see .cost)
    cost_unit: str = "step"


def histories_space(frame) -> SearchSpace:
    """The search space recorded with the histories (the studies' ``search_space``), else the default.

    Studies collected at different times may record slightly different bounds or choices of the
    same params: those merge (widest bounds, every choice) so that every recorded config encodes.
    """
    import json

    if "search_space" not in getattr(frame, "columns", ()):
        return default_space()
    recorded = [SearchSpace.from_dict(json.loads(v)) for v in frame["search_space"].dropna().unique()]
    if not recorded:
        return default_space()
    merged = recorded[0]
    for other in recorded[1:]:
        merged = _merge_spaces(merged, other)
    return merged


def _merge_spaces(a: SearchSpace, b: SearchSpace) -> SearchSpace:
    from ..agent.space import Param

    if [(p.name, p.type, p.log) for p in a.params] != [(p.name, p.type, p.log) for p in b.params]:
        raise ValueError(f"the histories hold different search spaces ({a.to_json()} and {b.to_json()}); "
                         "fit tasks with one space at a time")
    params = []
    for p, q in zip(a.params, b.params):
        if p.type == "categorical":
            params.append(Param(p.name, p.type, choices=tuple(dict.fromkeys(p.choices + q.choices))))
        else:
            params.append(Param(p.name, p.type, min(p.low, q.low), max(p.high, q.high), log=p.log,
                                grid=p.grid if p.grid == q.grid else None))
    return SearchSpace(tuple(params))


def _meta_feature_names(frame) -> tuple:
    """Built-in meta-feature names, or, for imported histories with their own (version
    ``"custom"``), the ``mf.*`` columns in order; returns ``(names, version)``."""
    versions = set(frame["meta_feature_version"].dropna()) if "meta_feature_version" in frame.columns else set()
    if "custom" not in versions:
        return metafeatures.feature_names(), metafeatures.META_FEATURE_VERSION
    if versions != {"custom"}:
        builtin = sorted(set(frame.loc[frame["meta_feature_version"] != "custom", "task"]))
        raise ValueError(f"the histories mix built-in meta-features (tasks {builtin}) with imported custom ones; "
                         "fit them separately")
    names = [c[3:] for c in frame.columns if c.startswith("mf.")]
    lacking = {n: sorted(set(frame.loc[frame[f"mf.{n}"].isna(), "task"])) for n in names}
    lacking = {n: t for n, t in lacking.items() if t}
    if lacking:
        raise ValueError(f"imported tasks do not share their meta-features: missing {lacking}; "
                         "import every task with the same meta-feature columns")
    if not names:
        raise ValueError("the imported histories carry no meta-features")
    return names, "custom"


def build_dataset(frame, space: Optional[SearchSpace] = None) -> Dataset:
    """Rows of :func:`history.load_histories` → feature matrix and per-task rank targets.

    Without ``space``, the space recorded with the histories is used (:func:`histories_space`).
    Meta-features are the built-in ones, or an imported table's own (``meta_feature_version``
    ``"custom"``, names in ``Dataset.meta_feature_names``).
    """
    if frame is None or len(frame) == 0:
        raise ValueError("the history store has no finished trials; run `hpo-agent collect` first")
    space = space or histories_space(frame)
    mf_names, _ = _meta_feature_names(frame)
    missing = [f"mf.{n}" for n in mf_names if f"mf.{n}" not in frame.columns]
    missing += [f"param.{n}" for n in space.names if f"param.{n}" not in frame.columns]
    if missing:
        raise ValueError(f"histories lack columns {missing}; were they collected with this search space?")
    frame = frame.dropna(subset=[f"param.{n}" for n in space.names]).reset_index(drop=True)
    configs = [{n: row[f"param.{n}"] for n in space.names} for _, row in frame.iterrows()]
    x_cfg = space.encode(configs)
    x_mf = frame[[f"mf.{n}" for n in mf_names]].to_numpy(dtype=np.float32)
    y = np.zeros(len(frame))
    directions = {}
    for task, idx in frame.groupby("task").groups.items():
        direction = frame.loc[idx[0], "direction"]
        directions[task] = direction
        y[np.asarray(idx)] = task_percentile_rank(frame.loc[idx, "value"].to_numpy(dtype=float), direction)
    costs = (_to_float(frame["wall_time_s"]) if "wall_time_s" in frame.columns
             else np.full(len(frame), np.nan))
    log_cost, cost_unit = cost_targets(frame)
    return Dataset(np.hstack([x_mf, x_cfg]).astype(np.float32), y.astype(np.float32),
                   frame["task"].to_numpy().astype(object), frame["value"].to_numpy(dtype=float), directions,
                   mf_names + space.feature_names(), mf_names, space, costs, log_cost, cost_unit)


def _to_float(column) -> np.ndarray:
    """A column as float64, with anything unparsable as NaN."""
    import pandas as pd

    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)


@dataclass
class FittedMetaModel:
    """A fitted regressor plus everything export needs to make a self-describing file."""

    estimator: Any
    learner: str
    feature_names: List[str]
    meta_feature_names: List[str]
    space: SearchSpace
    provenance: Dict[str, Any]
    validation: Dict[str, Any]
    holdout_x: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    target: Dict[str, Any] = field(default_factory=lambda: dict(TARGET))
    aux: Dict[str, AuxModel] = field(default_factory=dict)  # more outputs over the same input ("cost")


def fit_metamodel(frame, space: Optional[SearchSpace] = None, learner: str = "gbm", seed: int = 0,
                  validate: bool = True, cost: bool = True, memory=None) -> FittedMetaModel:
    """Fit on all histories; validate by leave-one-task-out when there are ≥ 2 tasks.

    With ``cost`` (and enough recorded training times), a cost model is fitted too
    (:mod:`.cost`, gradient boosting) and travels as ``aux['cost']``. With a ``memory`` table of
    measured working sets (:mod:`.memory`), the memory correction travels as ``aux['memory']`` when
    it validates better than the analytic estimate (its scores land in ``validation['memory']``
    either way).

    ``learner='auto'`` fits every learner in :data:`LEARNERS` leave-one-task-out and keeps the
    one the rule :data:`~.loto.RULE` prefers (highest mean Spearman correlation); all their scores
    go into ``validation['compared']``.
    """
    import sklearn

    data = build_dataset(frame, space)
    tasks = sorted(set(data.tasks))
    if learner == "auto":
        if len(tasks) < 2:
            raise ValueError("learner 'auto' chooses by leave-one-task-out and needs at least 2 tasks")
        scores = {name: leave_one_task_out(data, name, seed) for name in LEARNERS}
        learner = choose_learner({n: (s["mean_regret_top1"], s["mean_spearman"]) for n, s in scores.items()})
        validation = dict(scores[learner], rule=RULE,
                          compared={n: {k: v for k, v in s.items() if k != "per_task"} for n, s in scores.items()})
    else:
        validation = leave_one_task_out(data, learner, seed) if validate and len(tasks) >= 2 else {}
    with one_thread():
        estimator = fit_learner(learner, data.x, data.y, data.tasks, seed, feature_names=data.feature_names)
    rng = np.random.default_rng(seed)
    holdout = data.x[rng.choice(len(data.x), size=min(200, len(data.x)), replace=False)]
    provenance = {"tasks": tasks, "rows": int(len(data.x)),
                  "rows_per_task": {t: int((data.tasks == t).sum()) for t in tasks},
                  "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "versions": {"python": platform.python_version(), "scikit-learn": sklearn.__version__,
                               "numpy": np.__version__}}
    aux = {}
    cost_model = fit_cost_model(data, seed, validate) if cost else None
    if cost_model is not None:
        aux[cost_model.name] = cost_model
    if memory is not None and len(memory):
        from .memory import beats_analytic, fit_memory_model

        memory_model = fit_memory_model(memory, data.space, data.meta_feature_names, seed, validate)
        if memory_model is not None:
            shipped = beats_analytic(memory_model) or not validate
            validation = dict(validation, memory={"shipped": shipped, **{
                k: v for k, v in memory_model.validation.items() if k != "per_task"}})
            if shipped:
                aux[memory_model.name] = memory_model
    return FittedMetaModel(estimator, learner, data.feature_names, data.meta_feature_names, data.space,
                           provenance, validation, holdout.astype(np.float32), aux=aux)


def save_fitted(fitted: FittedMetaModel, path) -> None:
    """Save a fitted meta-model for ``hpo-agent export`` (joblib: a workstation-local file that only
    your own ``fit`` writes; the device never reads it, it reads the exported ONNX)."""
    import joblib

    joblib.dump(fitted, str(path))


def load_fitted(path) -> FittedMetaModel:
    """Load what :func:`save_fitted` wrote. Only load files you made: joblib runs pickled code."""
    import joblib

    try:
        obj = joblib.load(str(path))
    except Exception as exc:  # not a joblib file at all: say what the file should be
        raise ValueError(f"{path} is not a fitted meta-model written by `hpo-agent fit --out FILE.joblib` "
                         f"({type(exc).__name__})") from exc
    if not isinstance(obj, FittedMetaModel):
        raise ValueError(f"{path} does not hold a fitted hpo-agent meta-model")
    return obj
