"""The device-side tune run: describe the task, score candidates with the ONNX meta-model, drop
what will not fit, verify the best few with synchronous successive halving under a wall-clock
budget, and report. Phases are timed; every finished rung is journaled before the next starts.

The search itself (brackets of successive halving, each trial journaled) is :mod:`.search`; with
``brackets`` > 1 the budget is shared by brackets run one after another (:mod:`.brackets`); by
default their number is chosen from the time left and the predicted step time
(:func:`.brackets.auto_brackets`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from . import metafeatures
from .brackets import AUTO_MAX_BRACKETS, MIN_RUNG0_STEPS
from .candidates import MIN_DISTANCE, Candidate, clip_depth, propose, rank, select
from .errors import BudgetError, TuneError
from .journal import JOURNAL_NAME, Journal
from .metamodel import MetaModel
from .records import Outcome, TrialResult
from .scheduler import plan_unit_seconds
from .search import Progress, choose_brackets, predict_cost, probing_chooser, run_search

__all__ = ["BudgetError", "TuneError", "TuneOptions", "TuneState", "plan_unit_seconds", "run_tune", "make_runner",
           "memory_estimate"]


@dataclass
class TuneOptions:
    task: str
    budget_s: float                          # wall-clock budget for the whole command
    out_dir: Path = Path("hpo-runs")         # the run's journal, checkpoints and report go in out_dir/<task>
    model_path: Optional[Path] = None        # ONNX meta-model; None → the packaged default
    n_candidates: int = 9                    # configs in successive halving's first rung
    eta: int = 3                             # reduction factor: keep the top 1/eta each rung
    min_budget_s: Optional[float] = None     # training seconds per trial in rung 0; None → fit the budget
    n_proposals: int = 2000                  # random configs scored besides the space's grid
    seed: int = 0
    resume: bool = False
    memory_limit_bytes: Optional[int] = None  # cap on the memory budget (else the device's free memory)
    device_profile: Optional[str] = None      # emulate this device profile's memory
    headroom: float = 0.15                    # fraction of the memory budget kept free
    isolate: Optional[bool] = None            # trials in a child process; None → auto (Jetson, memory caps)
    task_options: Dict[str, Any] = field(default_factory=dict)  # max_train, data_dir, ... for the task
    started_at: float = field(default_factory=time.monotonic)   # when the command started (budget origin)
    report_reserve_s: Optional[float] = None  # fixed test/report reserve; None → deadline.py's (4 s + 2 %, then measured)
    min_distance: float = MIN_DISTANCE        # candidates closer than this (unit-scaled) count as duplicates
    brackets: Optional[int] = None            # successive-halving brackets sharing the budget; None → auto


@dataclass
class TuneState:
    """What a run has learned so far; the report is built from it."""

    options: TuneOptions
    run_dir: Path
    phases: Dict[str, float] = field(default_factory=dict)
    device: Dict[str, Any] = field(default_factory=dict)
    meta_features: Dict[str, float] = field(default_factory=dict)
    task_description: Dict[str, Any] = field(default_factory=dict)
    metamodel: Dict[str, Any] = field(default_factory=dict)
    candidates: List[Candidate] = field(default_factory=list)
    skipped: List[Dict[str, Any]] = field(default_factory=list)
    probes: List[Dict[str, Any]] = field(default_factory=list)  # one-step memory probes (agent/probe.py)
    results: List[TrialResult] = field(default_factory=list)
    best_trial: Optional[int] = None
    best_test: Dict[str, float] = field(default_factory=dict)
    resources: Dict[str, Any] = field(default_factory=dict)
    memory_budget_bytes: Optional[int] = None
    metric: Dict[str, str] = field(default_factory=dict)
    finished_search: bool = False
    resumed_trials: int = 0
    isolated: bool = False
    brackets: List[List[int]] = field(default_factory=list)  # trial ids of each bracket run
    brackets_auto: bool = False  # their number was chosen by --brackets auto
    report_reserve_s: Optional[float] = None  # kept back for the test phase, as measured trials left it
    # for later brackets (not reported): every scored config, the memory estimator, the model
    ranked: List[Candidate] = field(default_factory=list, repr=False)
    estimate: Optional[Callable[[Dict[str, Any]], int]] = field(default=None, repr=False)
    model: Optional[MetaModel] = field(default=None, repr=False)


def _noop(*_args, **_kwargs) -> None:
    pass


def run_tune(opts: TuneOptions, progress: Progress = _noop) -> TuneState:
    """Run one tune; returns the state (``report.build_report`` renders it)."""
    from .. import devices
    from .tasks import get_task

    deadline = opts.started_at + opts.budget_s
    from .tasks import task_slug

    run_dir = Path(opts.out_dir) / task_slug(opts.task)
    state = TuneState(opts, run_dir)
    monitor = devices.ResourceMonitor(interval_s=1.0)
    monitor.start()
    try:
        with _phase(state, "detect", progress):
            host = devices.detect()
            info = devices.emulate(opts.device_profile, host) if opts.device_profile else host
            state.device = info.to_dict()
            budget = info.free_memory_bytes
            if opts.memory_limit_bytes is not None:
                budget = min(budget, opts.memory_limit_bytes) if budget else opts.memory_limit_bytes
            state.memory_budget_bytes = int(budget) if budget else None
        with _phase(state, "describe", progress):
            task = get_task(opts.task, seed=opts.seed, **opts.task_options)
            desc = task.describe()
            state.task_description = desc.to_dict()
            state.meta_features = metafeatures.compute(desc)
            state.metric = {"name": task.metric.name, "direction": task.metric.direction}
        runner = make_runner(opts, task, info, state.memory_budget_bytes)
        state.isolated = runner.pid != os.getpid()
        try:
            journal = _prepare(state, task, info, runner, progress)
            run_search(state, task, journal, runner, info.torch_device, deadline, progress)
            with _phase(state, "test", progress):
                try:
                    _evaluate_best(state, task, runner, info.torch_device)
                except TuneError as exc:
                    exc.state = state  # the caller still writes the report: the trials are worth reading
                    raise
        finally:
            runner.close()
    finally:
        monitor.stop()
        state.resources = monitor.summary()
    return state


def _prepare(state: TuneState, task, info, runner, progress: Progress) -> Journal:
    """Score and select candidates (or read them back from the journal when resuming)."""
    opts = state.options
    path = state.run_dir / JOURNAL_NAME
    if opts.resume:
        journal = Journal.open(path)
        head = journal.header
        if head.get("task") != opts.task:
            raise TuneError(f"{path} is a run of task '{head.get('task')}', not '{opts.task}'")
        state.candidates = [Candidate.from_dict(c) for c in head["candidates"]]
        state.skipped = head.get("skipped", [])
        state.probes = head.get("probes", [])
        state.metamodel = head.get("metamodel", {})
        state.resumed_trials = len(journal.results)
        state.brackets_auto = bool(head.get("brackets_auto", False))
        progress("resume", path=str(path), finished=len(journal.results),
                 settings={"candidates": len(head["candidates"]), "eta": head.get("eta", opts.eta),
                           "brackets": head.get("brackets", 1), "seed": head.get("seed", opts.seed)})
        if int(head.get("brackets", 1)) > 1:  # brackets not yet chosen are chosen from a fresh scoring
            _score(state, task, info)
        return journal
    with _phase(state, "score", progress):
        ranked = _score(state, task, info)
        model, estimate = state.model, state.estimate
    with _phase(state, "memory", progress):
        choose = probing_chooser(state, runner, info.torch_device, progress, state.probes)
        if choose is not None:
            state.candidates, state.skipped = choose(ranked, opts.n_candidates)
        else:
            state.candidates, state.skipped = select(ranked, opts.n_candidates, estimate,
                                                     state.memory_budget_bytes, opts.headroom,
                                                     space=model.space, min_distance=opts.min_distance)
    predict_cost(state, state.candidates)
    if not state.candidates:
        raise TuneError(f"no candidate config fits the memory budget of {state.memory_budget_bytes / 2**20:.0f} MiB "
                        f"(estimates start at ~{_overhead_mib(info.kind)} MiB of runtime alone); "
                        "raise --memory-limit or use a smaller task (--max-train)")
    progress("candidates", candidates=state.candidates, skipped=state.skipped, scored=len(ranked))
    state.brackets_auto = opts.brackets is None
    if state.brackets_auto:
        opts.brackets = choose_brackets(state)
    progress("brackets", brackets=opts.brackets, auto=state.brackets_auto, max_brackets=AUTO_MAX_BRACKETS,
             min_steps=MIN_RUNG0_STEPS)
    header = {"task": opts.task, "seed": opts.seed, "eta": opts.eta, "brackets": opts.brackets,
              "brackets_auto": state.brackets_auto, "metric": state.metric,
              "candidates": [vars(c) for c in state.candidates], "skipped": state.skipped,
              "probes": state.probes,
              "metamodel": state.metamodel, "meta_features": state.meta_features,
              # what `hpo-agent import --from-tune-run` needs to turn the run into histories
              "meta_feature_version": metafeatures.META_FEATURE_VERSION, "search_space": model.space.to_dict(),
              "task_description": state.task_description, "device": state.device}
    return Journal.create(path, header)


def _score(state: TuneState, task, info) -> List[Candidate]:
    """Score the space's grid plus random proposals (deterministic for a seed); keeps the ranking,
    the model and the memory estimator on ``state`` for later brackets."""
    opts = state.options
    model = MetaModel.load(opts.model_path)
    if not state.metamodel:
        state.metamodel = model.describe()
    rng = np.random.default_rng(opts.seed)
    configs = clip_depth(propose(model.space, opts.n_proposals, rng), model.space, task.max_num_layers())
    state.ranked = rank(configs, model.predict(state.meta_features, configs))
    # the learned correction to the analytic working set, where the file has one (trainer/memory.py)
    correction = ((lambda config: float(model.predict_memory_ratio(state.meta_features, [config])[0]))
                  if model.has_output("memory") else None)
    state.model, state.estimate = model, _memory_estimator(task, info.kind, correction)
    return state.ranked


def _overhead_mib(kind: str) -> int:
    from .. import devices

    return int(devices.default_overhead_bytes(kind) / 2**20)


def memory_estimate(task, config: Dict[str, Any], overhead_bytes: int, params_cache: Optional[Dict] = None):
    """The analytic :class:`~hpo_agent.devices.MemoryEstimate` of training ``config`` on ``task``."""
    from .. import devices

    cache = params_cache if params_cache is not None else {}
    key = config.get("num_layers")
    if key not in cache:  # parameters depend on the depth, not on the other knobs
        cache[key] = task.count_params(config)
    return devices.estimate_training_memory(
        n_params=cache[key], optimizer=str(config["optimizer"]),
        batch_size=int(config["batch_size"]),
        activation_bytes_per_sample=devices.calibrated_activation_bytes(
            task.activation_bytes_per_sample(config), getattr(task, "activation_model", "leaf")),
        overhead_bytes=overhead_bytes,
        momentum=0.9 if str(config["optimizer"]).lower() == "sgd" else 0.0)


def _memory_estimator(task, kind: str, correction: Optional[Callable[[Dict[str, Any]], float]] = None
                      ) -> Callable[[Dict[str, Any]], int]:
    """Bytes to train a config: runtime overhead plus the analytic working set, scaled by
    ``correction(config)`` (the meta-model's learned ratio, :mod:`hpo_agent.trainer.memory`) when given."""
    from .. import devices

    overhead = devices.default_overhead_bytes(kind)
    cache: Dict[Any, int] = {}

    def estimate(config: Dict[str, Any]) -> int:
        working = memory_estimate(task, config, 0, cache).total_bytes
        return int(overhead + working * (correction(config) if correction is not None else 1.0))

    return estimate


def make_runner(opts: TuneOptions, task, info, budget_bytes: Optional[int]):
    """In-process trials by default; a started child process when an OS kill is the likely OOM
    (Jetson) or when a memory limit or an emulated device must be enforced on this machine."""
    from .worker import ChildProcessRunner, InProcessRunner

    capped = opts.memory_limit_bytes is not None or opts.device_profile is not None
    isolate = opts.isolate if opts.isolate is not None else (info.kind == "jetson" or capped)
    if info.torch_device.startswith("cuda") and capped and budget_bytes:
        # A smaller card on a bigger one: PyTorch's caching allocator enforces the fraction.
        _cap_cuda(budget_bytes)
    if isolate:
        limit = budget_bytes if capped and info.torch_device == "cpu" else None
        runner = ChildProcessRunner(opts.task, opts.task_options, opts.seed, limit)
        runner.start()
        return runner
    return InProcessRunner(task)


def _cap_cuda(budget_bytes: int) -> None:
    import torch

    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(min(1.0, budget_bytes / total), 0)


def _evaluate_best(state: TuneState, task, runner, device: str) -> None:
    """The winner's test metrics, evaluated by ``runner`` where the trials ran: a child process is
    warm there (the reserve counts no cold start) and the test phase stays under its memory cap.
    A child retired after an out-of-memory is not restarted for this (a cold start costs seconds
    the reserve does not hold): the winner is evaluated in this process instead."""
    from .worker import InProcessRunner

    if state.best_trial is None:
        outcomes = sorted({r.outcome for r in state.results})
        if outcomes == [Outcome.OOM.value]:
            budget = state.memory_budget_bytes
            raise TuneError(f"every trial ran out of memory{'' if not budget else f' under {budget / 2**20:.0f} MiB'}; "
                            "raise --memory-limit or shrink the task (--max-train, --task-option max_length=...)")
        raise TuneError(f"no trial finished with a score (outcomes: {', '.join(outcomes) or 'none'}); "
                        "the report lists each trial's error")
    cand = state.candidates[state.best_trial]
    spec = {"evaluate": "test", "trial_id": state.best_trial, "config": cand.config, "seed": 0, "device": device,
            "checkpoint": str(state.run_dir / "checkpoints" / f"trial-{state.best_trial}.pt")}
    if runner.warm:
        out = runner.run(spec)
    else:
        here = InProcessRunner(task)
        try:
            out = here.run(spec)
        finally:
            here.close()
    if out.get("outcome") != Outcome.COMPLETE.value:
        raise TuneError(f"the test evaluation of the best trial ({state.best_trial}) failed: {out.get('error')}")
    state.best_test = out["metrics"]


class _phase:
    """Times a phase into ``state.phases`` and tells the progress callback."""

    def __init__(self, state: TuneState, name: str, progress: Progress):
        self.state, self.name, self.progress = state, name, progress

    def __enter__(self):
        self.t0 = time.monotonic()
        self.progress("phase", name=self.name)
        return self

    def __exit__(self, *exc):
        self.state.phases[self.name] = time.monotonic() - self.t0
        return False
