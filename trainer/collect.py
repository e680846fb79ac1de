"""Collecting training histories: run a design of configs on tasks, record each trial.

Each config is trained once, evaluated on validation at several fidelities (training steps,
geometric), and stored through Optuna (see :mod:`.storage`). The design is enqueued once per
study, and workers pull trials from Optuna's queue, so several ``hpo-agent collect`` processes
on one store share the work, and a rerun only runs what is missing (resumable).

Many workers on one store, and why no config is lost or run twice:

- *Popping* a queued trial is atomic in Optuna: ``study.ask()`` moves a WAITING trial to RUNNING
  with a compare-and-set under a row lock, so each queued trial goes to exactly one worker.
- *Enqueueing* is not: two workers that read the study at once both find a config missing and
  both enqueue it. Two layers deal with that.
  1. The set-up of a study (its attributes, re-queueing abandoned trials, enqueueing the design)
     runs under :func:`.storage.study_lock` (an ``flock`` beside a SQLite file, an advisory lock
     on PostgreSQL/MySQL), so in practice the queue holds each config once. The lock is only an
     optimisation: where it is unavailable or times out, workers go on without it.
  2. The rule that makes it correct regardless, with no lock: **a config is run only by its
     oldest live trial** — the trial with the smallest ``trial_id`` among those with its
     ``config_key`` that are not *discarded* (FAIL without an ``outcome``: never ran). After
     popping a trial, a worker looks for an older live trial with the same key; if there is one
     the popped trial is told FAIL with ``duplicate_of`` and the worker pulls again
     (:func:`next_trial`). This holds because Optuna creates a study's trials one at a time
     under a lock on the study row (and SQLite serialises all writes), so trial ids are committed
     in increasing order: when a worker checks its trial, every older trial already exists and is
     visible. The oldest live trial is never discarded by this rule, so a config is never lost;
     any younger copy sees it, so a config never runs twice. Should the oldest one die with its
     worker (left RUNNING), the next ``collect`` re-queues it as below.
- *Resuming*: a trial left RUNNING by a dead worker on this host (or silent for
  :data:`STALE_AFTER_S`) is marked FAIL (discarded) and its config enqueued again.
"""

from __future__ import annotations

import json
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
from .storage import open_storage, study_lock, study_name, suggest

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
    threads: Optional[int] = 1               # torch threads; 1 keeps costs comparable and avoids
                                             # OpenMP thrashing beside other jobs (10x seen here)


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
    The study ends up holding at most ``len(configs)`` configs of ``design``: a rerun with a
    larger ``n`` *tops the design up* to ``n``. (A random design of 60 is not a superset of the
    one of 40, since each param draws its own column; without the cap a top-up would run 60 more.)
    """
    import datetime as dt

    now = dt.datetime.now()
    existing, of_design = set(), set()
    for t in study.get_trials(deepcopy=False):
        if t.state == optuna.trial.TrialState.RUNNING and _abandoned(t, now, stale_after_s):
            try:
                study._storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)
            except optuna.exceptions.UpdateFinishedTrialError:  # another worker got there first
                pass
            continue
        if _discarded(t):
            continue  # never ran (the queue emptied under a worker, a duplicate, or abandoned)
        existing.add(t.user_attrs.get("config_key"))
        if t.user_attrs.get("design") == design:
            of_design.add(t.user_attrs.get("config_key"))
    added = 0
    for config in configs:
        key = config_key(config, space.names)
        if key in existing or len(of_design) >= len(configs):
            continue
        study.enqueue_trial(config, user_attrs={"config_key": key, "design": design})
        existing.add(key)
        of_design.add(key)
        added += 1
    return added


def _discarded(trial: optuna.trial.FrozenTrial) -> bool:
    """A trial that never ran and never will: FAIL without an outcome (see the module docstring)."""
    return trial.state == optuna.trial.TrialState.FAIL and "outcome" not in trial.user_attrs


def _older_live_copy(study: optuna.Study, trial_id: int, key: str) -> Optional[optuna.trial.FrozenTrial]:
    """The oldest live trial with config ``key`` older than ``trial_id``, if any."""
    older = [t for t in study.get_trials(deepcopy=False)
             if t._trial_id < trial_id and t.user_attrs.get("config_key") == key and not _discarded(t)]
    return min(older, key=lambda t: t._trial_id) if older else None


def next_trial(study: optuna.Study) -> Optional[optuna.Trial]:
    """Pop the next queued trial that this worker should run; None once the queue is empty.

    Popped trials that duplicate an older live trial of the same config are told FAIL with a
    ``duplicate_of`` attribute (never run), which is what makes concurrent enqueueing safe.
    """
    while True:
        if not study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,)):
            return None
        trial = study.ask()
        key = trial.user_attrs.get("config_key")
        if key is None:  # the queue emptied under us (another worker): a fresh, unwanted trial
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            return None
        older = _older_live_copy(study, trial._trial_id, key)
        if older is None:
            return trial
        trial.set_user_attr("duplicate_of", older.number)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)


def prepare_study(storage_path: str, name: str, direction: str, attrs: Dict[str, Any],
                  configs: Sequence[Dict[str, Any]], space: SearchSpace, design: str,
                  storage: Optional[optuna.storages.BaseStorage] = None) -> "tuple[optuna.Study, int]":
    """Create or load a study, set its attributes and enqueue the configs it lacks, under
    :func:`.storage.study_lock`; returns the study and how many configs were enqueued."""
    storage = storage if storage is not None else open_storage(storage_path)
    with study_lock(storage_path, name):
        study = optuna.create_study(storage=storage, study_name=name, direction=direction, load_if_exists=True)
        current = study.user_attrs
        for key, value in json.loads(json.dumps(attrs)).items():  # JSON: tuples compare as stored
            if current.get(key) != value:  # many workers start at once: write only what changed
                study.set_user_attr(key, value)
        return study, enqueue_design(study, configs, space, design)


_WARM = False  # whether this process has trained before (see run_trial's working set)
# What a trial's ``working_set_bytes`` covers: "train" = model build + the first fidelity's training.
# Trials collected before this attribute existed (no scope) also covered their validation passes.
WORKING_SET_SCOPE = "train"


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
    peak = devices.PeakTracker()  # this trial's own peak, not the collector's lifetime (trainer/memory.py)
    try:
        with monitor:
            # The working set covers the build and the first fidelity's training only: the analytic
            # estimate (and a probe) models training, and validation passes would add their own floor.
            with peak:
                run = TrialRun(task, config, seed=seed)
                run.train(steps=fidelity_steps[0])
            for steps in fidelity_steps:
                run.train(steps=steps)  # a no-op for the first fidelity, trained above
                value = run.evaluate("validation")[task.metric.name]
                report(value, steps)
                values.append(value)
                times.append(run.train_seconds)
    except Exception as exc:
        outcome = Outcome.OOM if devices.is_oom(exc) else Outcome.FAILED
        error = f"{type(exc).__name__}: {exc}"[:500]
    summary = monitor.summary()
    global _WARM
    # The first trial in a process also pays for torch's runtime (~170 MiB here): not its own.
    working_set, _WARM = (peak.working_set_bytes if _WARM else None), True
    return {"outcome": outcome.value, "error": error, "values": values, "train_seconds_at_fidelity": times,
            "wall_time_s": time.monotonic() - t0, "peak_rss_bytes": summary.get("rss_bytes_max"),
            "working_set_bytes": working_set, "working_set_scope": WORKING_SET_SCOPE,
            "estimated_working_set_bytes": _analytic_working_set(task, config),
            "resources": summary}


def _analytic_working_set(task, config: Dict[str, Any]) -> Optional[int]:
    from .memory import analytic_working_set

    try:
        return analytic_working_set(task, config)
    except (AttributeError, NotImplementedError, ValueError, KeyError):  # a task without a memory model
        return None


def collect(opts: CollectOptions, progress: Callable[..., None] = lambda *a, **k: None) -> Dict[str, int]:
    """Run the design on every task; returns trials run per task."""
    from ..agent.tasks import get_task

    if opts.threads:
        import torch

        torch.set_num_threads(int(opts.threads))
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
        study, added = prepare_study(
            opts.storage, study_name(task_id, task.model_family, opts.device_class), direction,
            {"metric": task.metric.name, "task_description": desc.to_dict(), "meta_features": features,
             "meta_feature_version": metafeatures.META_FEATURE_VERSION, "search_space": opts.space.to_dict()},
            design_configs(opts.space, opts.design, opts.n_configs, opts.seed), opts.space, opts.design,
            storage=storage)
        progress("task", task=task_name, enqueued=added, study=study.study_name)
        counts[task_id] = 0
        while budget is None or budget > 0:
            trial = next_trial(study)
            if trial is None:
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
        "working_set_bytes": attrs.get("working_set_bytes"),
        "working_set_scope": attrs.get("working_set_scope"),
        "estimated_working_set_bytes": attrs.get("estimated_working_set_bytes"),
        "device_class": opts.device_class, "metric": task.metric.name,
        "versions": {"python": platform.python_version(), "torch": torch.__version__},
        "seed": opts.seed,
    }
