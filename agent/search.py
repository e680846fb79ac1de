"""The search phase of a tune run: synchronous successive halving over the journaled candidates,
in one or more brackets (:mod:`.brackets`), each trial run by the runner and journaled before the
next starts. A resumed run replays the journal's results instead of retraining them.

Rung slices are planned from the time left (:func:`.scheduler.plan_unit_seconds`), so a slow start does not
push the last rung past the deadline.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

import numpy as np

from .brackets import auto_brackets, best_winner, bracket_plan, next_candidates
from .candidates import Candidate
from .deadline import DEFAULT_OVERHEAD_S, TrainClock, planned_reserve, test_eval_factor
from .errors import BudgetError
from .journal import Journal
from .probe import probe_spec, select_with_probes
from .records import Outcome, TrialResult
from .scheduler import SuccessiveHalving, n_rungs, plan_unit_seconds

if TYPE_CHECKING:  # the state is tune's; only its fields are used here
    from .tune import TuneState

Progress = Callable[..., None]
__all__ = ["DEFAULT_OVERHEAD_S", "choose_brackets", "predict_cost", "report_reserve", "run_search"]


def report_reserve(opts) -> float:
    """Seconds kept back from the search for the test evaluation and the report, before any trial
    is measured (:mod:`.deadline` replaces it with what measured trials need)."""
    return planned_reserve(opts.budget_s, opts.report_reserve_s)


def choose_brackets(state: TuneState) -> int:
    """``--brackets auto``: :func:`.brackets.auto_brackets` on the training time left now and the
    median predicted seconds per step of bracket 0's candidates (the meta-model's cost output)."""
    opts = state.options
    train_s = opts.started_at + opts.budget_s - report_reserve(opts) - time.monotonic()
    costs = [c.predicted_s_per_step for c in state.candidates if c.predicted_s_per_step]
    return auto_brackets(train_s, len(state.candidates), opts.eta, float(np.median(costs)) if costs else None,
                         DEFAULT_OVERHEAD_S, unit_s=opts.min_budget_s)


def predict_cost(state: TuneState, candidates: List[Candidate]) -> None:
    """Set each candidate's predicted training seconds per step (the meta-model's cost output)."""
    costs = state.model.predict_cost(state.meta_features, [c.config for c in candidates]) if candidates else None
    for cand, cost in zip(candidates, costs if costs is not None else []):
        cand.predicted_s_per_step = float(cost)


def run_search(state: TuneState, task, journal: Journal, runner, device: str, deadline: float,
               progress: Progress) -> None:
    """Run the journal's brackets until they finish or ``deadline`` minus the report reserve; sets
    ``state.brackets``, ``state.results``, ``state.best_trial``, ``state.finished_search`` and
    ``state.report_reserve_s`` (the reserve as measured trials left it, :class:`.deadline.TrainClock`)."""
    opts = state.options
    head = journal.header
    eta = int(head.get("eta", opts.eta))
    n_brackets = int(head.get("brackets", 1))
    opts.eta, opts.brackets = eta, n_brackets  # a resumed run keeps its own; the report shows these
    # A reserve the caller fixed stays fixed; the planned one becomes what measured trials need.
    clock = TrainClock(deadline, report_reserve(opts), adaptive=opts.report_reserve_s is None,
                       test_factor=test_eval_factor(state.task_description))
    t_search = time.monotonic()
    ckpt_dir = state.run_dir / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    winners: List[int] = []
    finished = []
    n_first = len(head["candidates"])
    state.candidates = state.candidates[:n_first]
    try:
        for b in range(n_brackets):
            if b == 0:
                ids = list(range(n_first))
            else:
                ids = open_bracket(state, journal, b, task.metric.direction, runner, device, progress)
                if not ids:
                    break
            state.brackets.append(ids)
            now = time.monotonic()
            # Each bracket is planned on its share of what is left; any time it saves goes to the next.
            plan_deadline = now + (clock.train_deadline - now) / (n_brackets - b)
            scheduler = SuccessiveHalving(ids, eta=eta, mode=task.metric.direction)
            _loop(state, task, journal, scheduler, runner, device, len(ids), eta, plan_deadline, clock,
                  ckpt_dir, progress)
            finished.append(scheduler.finished)
            if scheduler.best() is not None:
                winners.append(scheduler.best())
            if time.monotonic() >= clock.train_deadline:
                break
    finally:  # the runner stays open: the test phase runs in it too (tune closes it)
        state.report_reserve_s = clock.reserve
    state.phases["search"] = time.monotonic() - t_search
    state.finished_search = len(finished) == n_brackets and all(finished)
    state.best_trial = best_winner(state.results, winners, task.metric.direction, bracket_offsets(state))


def bracket_offsets(state: TuneState) -> Dict[int, int]:
    """Each trial's bracket offset (:func:`.brackets.bracket_plan`): its rungs' level above bracket 0's.
    The cycle is sized on bracket 0 as it ran (the journal's candidates), so a resumed run repeats it."""
    base = len(state.brackets[0]) if state.brackets else state.options.n_candidates
    return {t: bracket_plan(b, base, state.options.eta)[1] for b, ids in enumerate(state.brackets) for t in ids}


def probing_chooser(state: TuneState, runner, torch_device: str, progress: Progress,
                    probes: List[Dict[str, Any]]) -> Optional[Callable]:
    """Where trials run capped in a child process, a ``choose(pool, n) -> (chosen, skipped)`` that
    tries borderline configs for one step there (:func:`.probe.select_with_probes`), appending
    each probe to ``probes``; None where no cap is enforced (the estimate alone decides)."""
    opts = state.options
    if not (state.isolated and state.memory_budget_bytes):
        return None

    def run_probe(cand: Candidate) -> Dict[str, Any]:
        progress("probe", config=cand.config, estimated_bytes=cand.estimated_bytes)
        return runner.run(probe_spec(cand.config, opts.seed, torch_device), timeout_s=300.0)

    def choose(pool: List[Candidate], n: int):
        chosen, skipped, done = select_with_probes(pool, n, state.estimate, state.memory_budget_bytes, run_probe,
                                                   space=state.model.space, min_distance=opts.min_distance)
        probes.extend(done)
        return chosen, skipped

    return choose


def open_bracket(state: TuneState, journal: Journal, b: int, direction: str, runner, device: str,
                 progress: Progress) -> List[int]:
    """Candidates of bracket ``b`` (≥ 1): read back when resuming, else chosen and journaled."""
    opts = state.options
    if b - 1 < len(journal.brackets):
        chosen = [Candidate.from_dict(c) for c in journal.brackets[b - 1]]
        state.skipped += journal.bracket_extras[b - 1]["skipped"]
        state.probes += journal.bracket_extras[b - 1]["probes"]
    else:
        probes: List[Dict[str, Any]] = []
        size, _ = bracket_plan(b, len(state.brackets[0]), opts.eta)
        chosen, skipped = next_candidates(state.ranked, state.candidates, state.results, size,
                                          direction, state.model.space, state.estimate,
                                          state.memory_budget_bytes, opts.headroom, opts.min_distance,
                                          choose=probing_chooser(state, runner, device, progress, probes),
                                          offsets=bracket_offsets(state))
        state.skipped += skipped
        state.probes += probes
        if not chosen:
            return []
        predict_cost(state, chosen)
        journal.append_bracket(b, [vars(c) for c in chosen], skipped, probes)
    start = len(state.candidates)
    state.candidates += chosen
    progress("bracket", bracket=b, brackets=opts.brackets, candidates=chosen)
    return list(range(start, start + len(chosen)))


def _loop(state, task, journal, scheduler, runner, device, n, eta, plan_deadline, clock: TrainClock, ckpt_dir,
          progress) -> None:
    """One bracket: rungs are planned to end by ``plan_deadline``; trials end by the clock's
    training deadline.

    A trial's training stops early enough for its validation and checkpoint to finish by then:
    the trial is given the training deadline minus the median overhead (wall time outside training
    steps) of the trials measured so far, and none starts that could not train at all.
    """
    opts = state.options
    done = journal.finished()
    unit, unit_rung = None, -1
    while True:
        job = scheduler.suggest()
        if job is None:
            break
        if (job.trial_id, job.rung) in done:  # resuming: replay, do not retrain
            result = done[(job.trial_id, job.rung)]
            state.results.append(result)
            scheduler.on_trial_result(job.trial_id, result.score)
            continue
        now = time.monotonic()
        overhead, train_deadline = clock.overhead, clock.train_deadline
        if job.rung != unit_rung:
            if opts.min_budget_s is not None:
                unit = opts.min_budget_s
                left = plan_deadline - now
                if job.rung == 0 and not state.results and n * unit > left:
                    # One trial would eat the budget and successive halving would compare nothing.
                    several = isinstance(opts.brackets, int) and opts.brackets > 1
                    share = f" (the first of {opts.brackets} brackets)" if several else ""
                    raise BudgetError(
                        f"--min-budget {unit:g}s for each of {n} first-rung trials needs {n * unit:.0f}s of training, "
                        f"but the budget {opts.budget_s:g}s leaves {max(0.0, left):.1f}s{share}; give a larger --budget, "
                        "a smaller --min-budget or fewer --candidates")
            else:
                unit = plan_unit_seconds(plan_deadline - now, n, eta, job.rung, overhead)
            unit_rung = job.rung
            if unit <= 0.2 and not state.results:
                share = "" if opts.brackets <= 1 else f" (the first of {opts.brackets} brackets)"
                raise BudgetError(
                    f"budget {opts.budget_s:g}s leaves {max(0.0, plan_deadline - now):.1f}s for training{share} "
                    f"after setup ({now - opts.started_at:.1f}s), too little for {n} trials; give a larger "
                    "--budget or fewer --candidates" + (" or --brackets" if opts.brackets > 1 else ""))
            progress("rung", rung=job.rung, trials=scheduler.sizes[job.rung], unit_seconds=unit,
                     rungs=n_rungs(n, eta))
        if now + overhead >= train_deadline:
            progress("deadline", rung=job.rung)
            break
        inc = unit * (eta ** job.rung - (eta ** (job.rung - 1) if job.rung else 0))
        cand = state.candidates[job.trial_id]
        progress("trial_start", trial_id=job.trial_id, rung=job.rung, config=cand.config, seconds=inc)
        # Training stops early enough for the evaluation to end by the deadline (a slow validation,
        # as on squad_v2, otherwise carried the last trial past it).
        result = _run_job(runner, job, cand, inc, train_deadline - overhead, ckpt_dir, opts.seed, device,
                          task.metric.name)
        clock.record(result.wall_seconds - (result.resources.get("train_increment_s") or 0.0))
        journal.append(result)  # journaled before the next trial starts
        state.results.append(result)
        scheduler.on_trial_result(job.trial_id, result.score)
        progress("trial_end", result=result, metric=task.metric)


def _run_job(runner, job, cand: Candidate, seconds: float, deadline: float, ckpt_dir: Path, seed: int,
             device: str, metric: str) -> TrialResult:
    from .. import devices

    t0 = time.monotonic()
    spec = {"trial_id": job.trial_id, "rung": job.rung, "config": cand.config, "seconds": seconds,
            "deadline": deadline, "seed": seed * 10_007 + job.trial_id, "device": device,
            "checkpoint": str(ckpt_dir / f"trial-{job.trial_id}.pt")}
    # A hung trial is killed well after its slice and the run's deadline (child processes only).
    timeout = max(deadline - time.monotonic(), seconds) + 120.0
    with devices.ResourceMonitor(interval_s=1.0, pid=runner.pid) as monitor:
        out = runner.run(spec, timeout_s=timeout)
    result = TrialResult(trial_id=job.trial_id, rung=job.rung, config=cand.config, outcome=out["outcome"],
                         predicted=cand.predicted, error=out.get("error"))
    result.resources = dict(monitor.summary())
    if out["outcome"] == Outcome.COMPLETE.value:
        result.metrics = out["metrics"]
        result.score = out["metrics"].get(metric)
        result.steps, result.train_seconds = out["steps"], out["train_seconds"]
        result.resources["train_increment_s"] = out["train_increment_s"]
        if "cuda_max_allocated_bytes" in out:
            result.resources["cuda_max_allocated_bytes"] = out["cuda_max_allocated_bytes"]
    result.wall_seconds = time.monotonic() - t0
    result.peak_rss_bytes = result.resources.get("rss_bytes_max")
    return result
