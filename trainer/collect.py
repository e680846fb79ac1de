"""Collecting training histories: run a design of configs on tasks, record each trial.

Each config is trained once, evaluated on validation at several fidelities (training steps,
geometric), and stored through Optuna (see :mod:`.storage`). The design is enqueued once per
study, and workers pull trials from Optuna's queue, so several ``hpo-agent collect`` processes
on one store share the work, and a rerun only runs what is missing (resumable).
"""

from __future__ import annotations

import os
import platform
import socket
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import optuna

from ..agent import metafeatures
from ..agent.records import Outcome
from ..agent.space import SearchSpace, config_key, default_space
from .storage import open_storage, study_name, suggest

DESIGNS = ("grid", "random", "sobol")


@dataclass
class CollectOptions:
    tasks: Sequence[str]
    storage: str = "histories.db"            # SQLite path or SQLAlchemy URL
    design: str = "random"                   # grid (the space's grid), random, sobol
    n_configs: int = 20                      # configs per task (ignored by 'grid' unless smaller)
    fidelity_steps: Sequence[int] = (20, 60, 180)  # evaluate after these cumulative training steps
    seed: int = 0
    device_class: str = "cpu"
    max_train: Optional[int] = None
    task_options: Dict[str, Any] = field(default_factory=dict)
    space: SearchSpace = field(default_factory=default_space)
    max_trials: Optional[int] = None         # stop this worker after so many trials (all tasks)


def design_configs(space: SearchSpace, design: str, n: int, seed: int) -> List[Dict[str, Any]]:
    """``n`` configs of a design: the grid (subsampled evenly when larger than ``n``), random, or Sobol."""
    if design not in DESIGNS:
        raise ValueError(f"design '{design}' is not known; use one of {', '.join(DESIGNS)}")
    rng = np.random.default_rng(seed)
    if design == "grid":
        grid = space.grid()
        if n >= len(grid):
            return grid
        return [grid[i] for i in sorted(rng.choice(len(grid), size=n, replace=False))]
    if design == "random":
        return space.sample(rng, n)
    from scipy.stats import qmc

    with warnings.catch_warnings():  # balance is best at powers of two; any n is still space-filling
        warnings.simplefilter("ignore", UserWarning)
        points = qmc.Sobol(d=len(space.params), scramble=True, seed=rng).random(n)
    return [_from_unit(space, row) for row in points]


def _from_unit(space: SearchSpace, row) -> Dict[str, Any]:
    config = {}
    for p, u in zip(space.params, row):
        if p.type == "categorical":
            config[p.name] = p.choices[min(int(u * len(p.choices)), len(p.choices) - 1)]
            continue
        lo, hi = (np.log(p.low), np.log(p.high)) if p.log else (p.low, p.high)
        value = lo + u * (hi - lo)
        value = float(np.exp(value)) if p.log else float(value)
        config[p.name] = int(min(max(round(value), p.low), p.high)) if p.type == "int" else value
    return config


STALE_AFTER_S = 6 * 3600  # a trial RUNNING this long was left by a killed worker


def _abandoned(trial: optuna.trial.FrozenTrial, now, stale_after_s: float) -> bool:
    """A RUNNING trial whose worker is gone: a dead process on this host, or silent for too long."""
    worker = trial.user_attrs.get("worker") or {}
    if worker.get("host") == socket.gethostname() and worker.get("pid"):
        import psutil

        if not psutil.pid_exists(int(worker["pid"])) or worker.get("pid") == os.getpid():
            return True
    started = trial.datetime_start
    return started is not None and (now - started).total_seconds() > stale_after_s


def enqueue_design(study: optuna.Study, configs: Sequence[Dict[str, Any]], space: SearchSpace, design: str,
                   stale_after_s: float = STALE_AFTER_S) -> int:
    """Enqueue configs not already in the study; returns how many were added.

    A config counts as present in any state except a trial that has been RUNNING for longer
    than ``stale_after_s`` (its worker was killed): that one is marked failed and re-queued.
    """
    import datetime as dt

    now = dt.datetime.now()
    existing = set()
    for t in study.get_trials(deepcopy=False):
        if t.state == optuna.trial.TrialState.RUNNING and _abandoned(t, now, stale_after_s):
            study._storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)
            continue
        if t.state == optuna.trial.TrialState.FAIL and "outcome" not in t.user_attrs:
            continue  # never ran (the queue emptied under a worker)
        existing.add(t.user_attrs.get("config_key"))
    added = 0
    for config in configs:
        key = config_key(config, space.names)
        if key in existing:
            continue
        study.enqueue_trial(config, user_attrs={"config_key": key, "design": design})
        existing.add(key)
        added += 1
    return added


def run_trial(task, config: Dict[str, Any], fidelity_steps: Sequence[int], seed: int,
              report: Callable[[float, int], None]) -> Dict[str, Any]:
    """Train ``config`` on ``task``, calling ``report(value, step)`` at each fidelity; returns attrs."""
    from .. import devices
    from ..agent.training import TrialRun

    t0 = time.monotonic()
    times: List[float] = []
    values: List[Optional[float]] = []
    outcome, error = Outcome.COMPLETE, None
    monitor = devices.ResourceMonitor(interval_s=0.5)
    try:
        with monitor:
            run = TrialRun(task, config, seed=seed)
            for steps in fidelity_steps:
                run.train(steps=steps)
                value = run.evaluate("validation")[task.metric.name]
                report(value, steps)
                values.append(value)
                times.append(run.train_seconds)
    except Exception as exc:
        outcome = Outcome.OOM if devices.is_oom(exc) else Outcome.FAILED
        error = f"{type(exc).__name__}: {exc}"[:500]
    summary = monitor.summary()
    return {"outcome": outcome.value, "error": error, "values": values, "train_seconds_at_fidelity": times,
            "wall_time_s": time.monotonic() - t0, "peak_rss_bytes": summary.get("rss_bytes_max"),
            "resources": summary}


def collect(opts: CollectOptions, progress: Callable[..., None] = lambda *a, **k: None) -> Dict[str, int]:
    """Run the design on every task; returns trials run per task."""
    from ..agent.tasks import get_task

    storage = open_storage(opts.storage)
    counts: Dict[str, int] = {}
    budget = opts.max_trials
    for task_name in opts.tasks:
        task = get_task(task_name, seed=opts.seed, max_train=opts.max_train, **opts.task_options)
        desc = task.describe()
        features = metafeatures.compute(desc)
        direction = "maximize" if task.metric.direction == "max" else "minimize"
        # A training-set cap makes a different task variant, so it gets its own study.
        task_id = task_name if opts.max_train is None else f"{task_name}@n{opts.max_train}"
        study = optuna.create_study(storage=storage, study_name=study_name(task_id, task.model_family, opts.device_class),
                                    direction=direction, load_if_exists=True)
        study.set_user_attr("metric", task.metric.name)
        study.set_user_attr("task_description", desc.to_dict())
        study.set_user_attr("meta_features", features)
        study.set_user_attr("meta_feature_version", metafeatures.META_FEATURE_VERSION)
        study.set_user_attr("search_space", opts.space.to_dict())
        added = enqueue_design(study, design_configs(opts.space, opts.design, opts.n_configs, opts.seed),
                               opts.space, opts.design)
        progress("task", task=task_name, enqueued=added, study=study.study_name)
        counts[task_id] = 0
        while budget is None or budget > 0:
            if not study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,)):
                break
            trial = study.ask()
            if "config_key" not in trial.user_attrs:  # the queue emptied under us (another worker)
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                break
            trial.set_user_attr("worker", {"host": socket.gethostname(), "pid": os.getpid()})
            config = suggest(trial, opts.space)
            attrs = run_trial(task, config, opts.fidelity_steps, opts.seed, trial.report)
            for key, value in _trial_attrs(attrs, task, opts).items():
                trial.set_user_attr(key, value)
            final = attrs["values"][-1] if len(attrs["values"]) == len(opts.fidelity_steps) else None
            if final is None or not np.isfinite(final):
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(trial, float(final))
            counts[task_id] += 1
            if budget is not None:
                budget -= 1
            progress("trial", task=task_id, number=trial.number, config=config, value=final,
                     outcome=attrs["outcome"], seconds=attrs["wall_time_s"])
    return counts


def _trial_attrs(attrs: Dict[str, Any], task, opts: CollectOptions) -> Dict[str, Any]:
    import torch

    return {
        "outcome": attrs["outcome"], "error": attrs["error"],
        "fidelity_steps": list(opts.fidelity_steps)[:len(attrs["values"])],
        "train_seconds_at_fidelity": attrs["train_seconds_at_fidelity"],
        "wall_time_s": attrs["wall_time_s"], "peak_rss_bytes": attrs["peak_rss_bytes"],
        "device_class": opts.device_class, "metric": task.metric.name,
        "versions": {"python": platform.python_version(), "torch": torch.__version__},
        "seed": opts.seed,
    }
