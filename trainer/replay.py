"""Replay benchmark: search methods run on recorded full-grid histories in simulated time.

A task qualifies when its histories hold every config of the search space's grid (``collect
--design grid``). Each method asks for grid configs; the answer is the recorded metric at each
fidelity, and the method *pays* the recorded cost on a simulated clock: the cumulative training
seconds to that fidelity plus a per-evaluation share of the trial's other wall time (model
build, evaluation). Asking for a config twice costs twice, as it would for a real tool.

The anytime score is the normalised regret ``(best - v) / (best - worst)`` (:mod:`.regret`) over
the task's grid of the config the method would return now: the one with the best value at the deepest fidelity
it has reached (a pruned config's full-fidelity value is what a user would get by training it).
No config yet → regret 1.

Methods (see :data:`METHODS`): ``grid`` (the grid in its natural order), ``random`` (without
replacement), Optuna's ``tpe`` and ``gp`` (Bayesian optimisation) samplers, ``tpe_sha`` (TPE with
Optuna's successive-halving pruner at the recorded fidelities), and ``hpo_agent``: the meta-model
fitted *without the task* ranks the grid, then synchronous successive halving (the agent's own
:class:`~hpo_agent.agent.scheduler.SuccessiveHalving`) runs brackets until the budget is spent,
their sizes cycling as Hyperband's do (:func:`~hpo_agent.agent.brackets.bracket_plan`):
``eta**(fidelities-1)`` diverse candidates from the lowest fidelity, then ``1/eta`` as many from the
next one up, ..., one config at full fidelity, again. The first bracket is the meta-model's top; before
each later one, the untried configs are re-ranked by
:func:`~hpo_agent.agent.refine.refine_order` (its scores calibrated to the values seen so far,
each config at the deepest fidelity it reached, plus a Gaussian process on the residuals over
the configs and their fidelity, ordered by expected improvement), as
``hpo-agent tune --brackets`` does; ``refine=False`` keeps the meta-model's order throughout. Numeric params are given to the
Optuna samplers as ordinal integer indices into their grid values (so TPE and the GP see order),
categorical params as categories.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from ..agent.brackets import bracket_plan, next_candidates
from ..agent.candidates import MIN_DISTANCE, Candidate, rank
from ..agent.records import Outcome, TrialResult
from ..agent.scheduler import SuccessiveHalving
from ..agent.space import SearchSpace, config_key
from .intervals import RESAMPLES, paired_lower_share
from .learners import task_group
from .regret import normalised_regrets

METHODS = ("grid", "random", "tpe", "gp", "tpe_sha", "hpo_agent")


@dataclass
class GridTable:
    """A task's recorded results on the full grid: value and cost at every fidelity."""

    task: str
    direction: str
    space: SearchSpace
    configs: List[Dict[str, Any]]     # in the grid's natural order
    values: np.ndarray                # (n_configs, n_fidelities); NaN where the trial failed
    costs: np.ndarray                 # (n_configs, n_fidelities) cumulative seconds
    fidelity_steps: tuple

    @property
    def full_cost(self) -> float:
        """Simulated seconds to run the whole grid at full fidelity."""
        return float(self.costs[:, -1].sum())

    def regrets(self) -> np.ndarray:
        """Normalised regret of every config's full-fidelity value (failed and diverged = 1)."""
        return np.asarray(normalised_regrets(self.values[:, -1], self.direction), dtype=np.float64)


def grid_tables(frame, space: SearchSpace) -> Dict[str, GridTable]:
    """The tasks in ``frame`` whose trials cover every config of ``space.grid()``."""
    grid = space.grid()
    keys = [config_key(c, space.names) for c in grid]
    out = {}
    for task, rows in frame.groupby("task"):
        by_key = {}
        for _, row in rows.iterrows():
            config = {n: row[f"param.{n}"] for n in space.names}
            if any(not isinstance(v, str) and v != v for v in config.values()):
                continue
            config = {p.name: (int(round(config[p.name])) if p.type == "int" else config[p.name])
                      for p in space.params}
            by_key.setdefault(config_key(config, space.names), row)
        if not all(k in by_key for k in keys):
            continue
        n_fid = len(_as_list(by_key[keys[0]]["fidelity_steps"]))
        values = np.full((len(keys), n_fid), np.nan)
        costs = np.zeros((len(keys), n_fid))
        for i, key in enumerate(keys):
            row = by_key[key]
            vals = [float(v) for v in _as_list(row["fidelity_values"])]
            train = [float(s) for s in _as_list(row["train_seconds_at_fidelity"])] or [0.0] * n_fid
            vals, train = (vals + [float("nan")] * n_fid)[:n_fid], (train + [train[-1]] * n_fid)[:n_fid]
            if row["outcome"] == "complete":
                values[i] = vals
            overhead = max(0.0, float(row["wall_time_s"]) - train[-1]) / n_fid
            costs[i] = [t + overhead * (j + 1) for j, t in enumerate(train)]
        out[task] = GridTable(task, rows["direction"].iloc[0], space, grid, values, costs,
                              tuple(int(s) for s in _as_list(by_key[keys[0]]["fidelity_steps"])))
    return out


def _as_list(value) -> list:
    if isinstance(value, str):
        return json.loads(value)
    return list(value) if value is not None and not (isinstance(value, float) and math.isnan(value)) else []


class Clock:
    """The simulated clock and the trace of (seconds, regret of the current recommendation)."""

    def __init__(self, table: GridTable, budget_s: float):
        self.table, self.budget_s = table, budget_s
        self.regret_of = table.regrets()
        self.now = 0.0
        self.deepest: Dict[int, tuple] = {}   # config index -> (fidelity index, value)
        self.trace: List[tuple] = [(0.0, 1.0)]
        self.evaluations = 0

    @property
    def spent(self) -> bool:
        return self.now >= self.budget_s

    def evaluate(self, idx: int, fidelity: int, from_fidelity: int = -1) -> float:
        """Train config ``idx`` from ``from_fidelity`` (-1: scratch) to ``fidelity``; returns its value."""
        t = self.table
        start = t.costs[idx, from_fidelity] if from_fidelity >= 0 else 0.0
        self.now += float(t.costs[idx, fidelity] - start)
        self.evaluations += 1
        value = float(t.values[idx, fidelity])
        if math.isfinite(value) and fidelity >= self.deepest.get(idx, (-1, 0.0))[0]:
            self.deepest[idx] = (fidelity, value if t.direction == "max" else -value)
        if self.deepest:
            best = max(self.deepest, key=lambda i: (self.deepest[i], -i))
            self.trace.append((self.now, float(self.regret_of[best])))
        return value


def regret_at(trace: Sequence[tuple], seconds: float) -> float:
    """Regret of the recommendation at simulated time ``seconds`` (trace is time-ordered)."""
    out = 1.0
    for t, r in trace:
        if t > seconds:
            break
        out = r
    return out


def time_to_reach(trace: Sequence[tuple], regret: float) -> float:
    """First simulated time at which the trace's regret is ≤ ``regret`` (inf if never)."""
    for t, r in trace:
        if r <= regret + 1e-12:
            return t
    return float("inf")


# -- methods -----------------------------------------------------------------------------------

def run_grid(table: GridTable, clock: Clock, seed: int, **_) -> None:
    for i in range(len(table.configs)):
        if clock.spent:
            return
        clock.evaluate(i, len(table.fidelity_steps) - 1)


def run_random(table: GridTable, clock: Clock, seed: int, **_) -> None:
    for i in np.random.default_rng(seed).permutation(len(table.configs)):
        if clock.spent:
            return
        clock.evaluate(int(i), len(table.fidelity_steps) - 1)


def _optuna(table: GridTable, clock: Clock, seed: int, sampler: str, prune: bool, **_) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if sampler == "tpe":
        smp = optuna.samplers.TPESampler(seed=seed)
    else:
        smp = optuna.samplers.GPSampler(seed=seed)
    last = len(table.fidelity_steps) - 1
    pruner = (optuna.pruners.SuccessiveHalvingPruner(min_resource=table.fidelity_steps[0], reduction_factor=3)
              if prune else optuna.pruners.NopPruner())
    study = optuna.create_study(direction="maximize" if table.direction == "max" else "minimize",
                                sampler=smp, pruner=pruner)
    index = {config_key(c, table.space.names): i for i, c in enumerate(table.configs)}
    while not clock.spent:
        trial = study.ask()
        config = {}
        for p in table.space.params:
            if p.type == "categorical":
                config[p.name] = trial.suggest_categorical(p.name, list(p.choices))
            else:
                values = list(p.grid_values())
                config[p.name] = values[trial.suggest_int(p.name + "_index", 0, len(values) - 1)]
        idx = index[config_key(config, table.space.names)]
        if not prune:
            value = clock.evaluate(idx, last)
            study.tell(trial, value if math.isfinite(value) else None,
                       state=None if math.isfinite(value) else optuna.trial.TrialState.FAIL)
            continue
        prev, value, pruned = -1, float("nan"), False
        for f, step in enumerate(table.fidelity_steps):
            value = clock.evaluate(idx, f, prev)
            prev = f
            if not math.isfinite(value):
                break
            if f < last:
                trial.report(value, step)
                if trial.should_prune():
                    pruned = True
                    break
        if pruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        elif math.isfinite(value):
            study.tell(trial, value)
        else:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)


def run_hpo_agent(table: GridTable, clock: Clock, seed: int, scores: Optional[np.ndarray] = None,
                  eta: int = 3, refine: bool = True, refine_options: Optional[Dict[str, Any]] = None,
                  **_) -> None:
    if scores is None:
        raise ValueError("hpo_agent needs the meta-model's scores for the task's grid")
    n_fid = len(table.fidelity_steps)
    bracket = eta ** (n_fid - 1)
    index = {config_key(c, table.space.names): i for i, c in enumerate(table.configs)}
    ranked = rank(table.configs, np.asarray(scores, dtype=np.float64))
    # As ``tune --brackets``: trial ids are positions in the list of tried candidates (so successive
    # halving breaks score ties towards the meta-model's favourite), and each bracket's candidates
    # come from the same function, fed the results so far (none with ``refine=False``).
    tried: List[Candidate] = []
    results: List[TrialResult] = []  # rung = the fidelity index reached (the bracket's offset applied)
    b = 0
    while not clock.spent:
        size, offset = bracket_plan(b, bracket, eta)  # Hyperband's cycle: 9 from 20 steps, 3 from 60, 1 at 180
        b += 1
        chosen, _ = next_candidates(ranked, tried, results if refine else [], size, table.direction,
                                    table.space, min_distance=MIN_DISTANCE, refine_options=refine_options)
        if not chosen:
            break
        start = len(tried)
        tried += chosen
        sh = SuccessiveHalving(list(range(start, len(tried))), eta=eta, mode=table.direction)
        reached: Dict[int, int] = {}
        while not clock.spent:
            job = sh.suggest()
            if job is None:
                break
            fid = min(job.rung + offset, n_fid - 1)
            grid_i = index[config_key(tried[job.trial_id].config, table.space.names)]
            value = clock.evaluate(grid_i, fid, reached.get(job.trial_id, -1))
            reached[job.trial_id] = fid
            score = value if math.isfinite(value) else None
            results.append(TrialResult(job.trial_id, fid, tried[job.trial_id].config,
                                       Outcome.COMPLETE.value if score is not None else Outcome.FAILED.value,
                                       score=score, predicted=tried[job.trial_id].predicted))
            sh.on_trial_result(job.trial_id, score)


RUNNERS: Dict[str, Callable[..., None]] = {
    "grid": run_grid,
    "random": run_random,
    "tpe": lambda t, c, s, **kw: _optuna(t, c, s, "tpe", False, **kw),
    "gp": lambda t, c, s, **kw: _optuna(t, c, s, "gp", False, **kw),
    "tpe_sha": lambda t, c, s, **kw: _optuna(t, c, s, "tpe", True, **kw),
    "hpo_agent": run_hpo_agent,
}


def replay(table: GridTable, method: str, seed: int, budget_s: float, **kwargs) -> Clock:
    """Run one method on one task until ``budget_s`` simulated seconds are spent."""
    if method not in RUNNERS:
        raise ValueError(f"unknown method '{method}'; known: {', '.join(METHODS)}")
    clock = Clock(table, budget_s)
    RUNNERS[method](table, clock, seed, **kwargs)
    return clock


# -- scoring a set of runs ---------------------------------------------------------------------

FRACTIONS = (0.01, 0.05, 0.10, 0.25)


def loto_scores(frame, table: GridTable, learner: str = "forest", seed: int = 0) -> np.ndarray:
    """The meta-model's scores for ``table``'s grid, fitted on every *other* task of ``frame``."""
    from .fit import fit_metamodel
    from .learners import one_thread, task_group

    others = frame[frame["task"].map(task_group) != task_group(table.task)]
    fitted = fit_metamodel(others, space=table.space, learner=learner, seed=seed, validate=False)
    mine = frame[frame["task"] == table.task].iloc[0]
    mf = np.array([float(mine[f"mf.{n}"]) for n in fitted.meta_feature_names], dtype=np.float32)
    x = np.hstack([np.repeat(mf[None, :], len(table.configs), axis=0), table.space.encode(table.configs)])
    with one_thread():
        return fitted.estimator.predict(x.astype(np.float32))


def _ranks(values: Sequence[float]) -> List[float]:
    """Rank 1 = lowest regret; ties share the mean rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _rank_shares(ranks: np.ndarray, tasks: Sequence[str], n_seeds: int, methods: Sequence[str],
                 target: str) -> Dict[str, Dict[str, float]]:
    """For each other method, how often ``target``'s average rank is lower than the method's when
    the data sets are drawn with replacement (:mod:`.intervals`; a task's seeds, and the variants of
    one data set, go together). ``ranks`` holds one row per (task, seed) problem, tasks outer."""
    per_task = ranks.reshape(len(tasks), n_seeds, len(methods)).mean(axis=1)
    groups = {t: task_group(t) for t in tasks}
    j = list(methods).index(target)
    mine = {t: float(per_task[i, j]) for i, t in enumerate(tasks)}
    return {m: paired_lower_share(mine, {t: float(per_task[i, k]) for i, t in enumerate(tasks)}, groups)
            for k, m in enumerate(methods) if m != target}


def summarise(runs: Dict[str, Dict[str, Dict[int, Sequence[tuple]]]], full_costs: Dict[str, float],
              fractions: Sequence[float] = FRACTIONS, reference: str = "gp",
              target: str = "hpo_agent") -> Dict[str, Any]:
    """Mean regret and average rank per method at each budget fraction, and speed-up.

    ``runs[task][method][seed]`` is a trace. Every (task, seed) pair is one ranking "problem";
    the speed-up is, per problem, the time ``reference`` takes to reach its own final regret
    divided by the time ``target`` takes to reach the same regret (median over problems; ``inf``
    where ``target`` never gets there counts as 0×). ``target_rank_lower_share`` says, per budget
    and other method, how often ``target``'s average rank is the lower one over redrawn data sets.
    """
    tasks = sorted(runs)
    methods = list(runs[tasks[0]])
    seeds = sorted(runs[tasks[0]][methods[0]])
    out: Dict[str, Any] = {"fractions": list(fractions), "mean_regret": {}, "average_rank": {}}
    for frac in fractions:
        key = f"{frac:g}"
        per_problem = []
        for task in tasks:
            budget = frac * full_costs[task]
            for seed in seeds:
                per_problem.append([regret_at(runs[task][m][seed], budget) for m in methods])
        arr = np.array(per_problem)
        ranks = np.array([_ranks(list(row)) for row in per_problem])
        out["mean_regret"][key] = {m: float(arr[:, j].mean()) for j, m in enumerate(methods)}
        out["average_rank"][key] = {m: float(ranks[:, j].mean()) for j, m in enumerate(methods)}
        if target in methods:
            out.setdefault("target_rank_lower_share", {})[key] = _rank_shares(ranks, tasks, len(seeds), methods, target)
    if target in methods:
        out["rank_draws"] = {"data_sets": len({task_group(t) for t in tasks}), "resamples": RESAMPLES}
    if reference in methods and target in methods:
        ratios = []
        for task in tasks:
            for seed in seeds:
                ref = runs[task][reference][seed]
                final = ref[-1][1]
                t_ref, t_tgt = time_to_reach(ref, final), time_to_reach(runs[task][target][seed], final)
                ratios.append(0.0 if math.isinf(t_tgt) else (t_ref / t_tgt if t_tgt > 0 else float("inf")))
        out["speedup_to_reference_final_regret"] = {"reference": reference, "target": target,
                                                    "median": float(np.median(ratios)),
                                                    "per_problem": [float(r) for r in ratios]}
    return out
