"""Brackets after the first: how many configs, which untried ones, and which bracket's winner wins.

``hpo-agent tune --brackets K`` shares its wall-clock budget among K synchronous successive-halving
brackets run one after another. The first verifies the meta-model's top; each later one takes the
untried configs that the meta-model, corrected by every result so far (:mod:`.refine`), now ranks
first. Bracket sizes cycle as Hyperband's do (:func:`bracket_plan`): fewer configs, each trained
longer, so a config that starts slowly is not always cut at the first rung. How many brackets a
run gets by default is :func:`auto_brackets`. Pure functions: no I/O, no clocks (the replay
benchmark runs the same brackets).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .candidates import Candidate, select, unit_scaled
from .records import TrialResult
from .refine import refine_order
from .scheduler import n_rungs, rung_sizes, total_units
from .space import Config, SearchSpace, config_key

Chooser = Callable[[List[Candidate], int], Tuple[List[Candidate], List[Dict[str, Any]]]]

AUTO_MAX_BRACKETS = 3    # the most `--brackets auto` runs; live runs compared 1 against 3 only
MIN_RUNG0_STEPS = 20     # the histories' lowest fidelity: shorter first slices rank configs unseen
MIN_UNIT_S = 0.5         # and never a first slice shorter than this (set-up noise dominates below)


def auto_brackets(train_s: float, n_candidates: int, eta: int, s_per_step: Optional[float],
                  overhead_s: float, unit_s: Optional[float] = None, max_brackets: int = AUTO_MAX_BRACKETS,
                  min_steps: int = MIN_RUNG0_STEPS, min_unit_s: float = MIN_UNIT_S) -> int:
    """How many brackets ``train_s`` seconds of training time hold: the most, up to ``max_brackets``,
    that still give each of bracket 0's first-rung trials at least ``min_steps`` steps (at the
    predicted ``s_per_step``; unknown → the seconds floor alone) and ``min_unit_s`` seconds, or
    exactly ``unit_s`` seconds when it is fixed (``--min-budget``).

    Bracket 0 is planned on ``1/K`` of the time with ``overhead_s`` per trial outside training, as
    :func:`~.scheduler.plan_unit_seconds` plans it, so K brackets fit when
    ``K × (units × slice + trials × overhead_s) ≤ train_s``. Never less than 1: a budget too
    small for one bracket is the search's error to report.
    """
    slice_s = unit_s if unit_s is not None else max(
        min_unit_s, min_steps * s_per_step if s_per_step and s_per_step > 0 else 0.0)
    need = total_units(n_candidates, eta) * slice_s + sum(rung_sizes(n_candidates, eta)) * overhead_s
    return int(max(1, min(max_brackets, train_s // need)))


def bracket_plan(bracket: int, n_candidates: int, eta: int) -> Tuple[int, int]:
    """``(size, offset)`` of bracket ``bracket`` (from 0): Hyperband's cycle over starting rungs.

    Bracket 0 verifies ``n_candidates`` from the bottom rung; bracket 1 ``n_candidates // eta``
    starting one rung up (each config gets the resource a survivor of bracket 0's first cut gets),
    and so on up to a single config at the top rung; then the cycle repeats. ``offset`` is how many
    rungs up the bracket starts: its rung ``r`` compares with rung ``r + offset`` of bracket 0.
    """
    offset = bracket % n_rungs(n_candidates, eta)
    return max(1, n_candidates // eta ** offset), offset


def deepest_results(results: Sequence[TrialResult]) -> Dict[int, TrialResult]:
    """Each trial's result at the deepest rung it reached."""
    deepest: Dict[int, TrialResult] = {}
    for r in results:
        if r.trial_id not in deepest or r.rung >= deepest[r.trial_id].rung:
            deepest[r.trial_id] = r
    return deepest


def next_candidates(ranked: Sequence[Candidate], tried: Sequence[Candidate], results: Sequence[TrialResult],
                    n: int, direction: str, space: SearchSpace,
                    estimate: Optional[Callable[[Config], int]] = None, budget_bytes: Optional[int] = None,
                    headroom: float = 0.15, min_distance: float = 0.0,
                    choose: Optional[Chooser] = None, offsets: Optional[Dict[int, int]] = None,
                    refine_options: Optional[Dict[str, Any]] = None,
                    ) -> Tuple[List[Candidate], List[Dict[str, Any]]]:
    """The next bracket's ``n`` candidates and the better-ranked ones skipped for memory.

    ``ranked`` is every scored config in the meta-model's order, ``tried`` the candidates so far
    (indexed by trial id), ``results`` their journaled rung results. The untried configs are
    re-ranked by :func:`~.refine.refine_order` on each trial's deepest result (one intercept per
    rung, shifted by its bracket's ``offsets[trial_id]`` from :func:`bracket_plan`), then chosen as
    the first bracket was: by ``choose(pool, n) -> (chosen, skipped)`` when
    given (``tune`` passes one that probes borderline configs under a memory cap), else by
    :func:`~.candidates.select` with the memory arguments. Fewer than 3 results, or results that
    all tie, keep the meta-model's order. ``refine_options`` go to :func:`~.refine.refine_order`
    (the replay's variants; ``tune`` uses the defaults).
    """
    seen_keys = {config_key(c.config, space.names) for c in tried}
    pool = [c for c in ranked if config_key(c.config, space.names) not in seen_keys]
    deepest = deepest_results(results)
    if pool and deepest:
        ids = sorted(deepest)
        y = [deepest[t].score if deepest[t].score is not None else float("nan") for t in ids]
        order = refine_order(unit_scaled(space, [tried[t].config for t in ids]), [tried[t].predicted for t in ids],
                             y, unit_scaled(space, [c.config for c in pool]), [c.predicted for c in pool],
                             direction=direction, level=[_level(deepest[t], offsets) for t in ids],
                             **(refine_options or {}))
        pool = [pool[i] for i in order]
    if choose is not None:
        return choose(pool, n)
    return select(pool, n, estimate, budget_bytes, headroom, space=space, min_distance=min_distance)


def best_winner(results: Sequence[TrialResult], winners: Sequence[int], direction: str,
                offsets: Optional[Dict[int, int]] = None) -> Optional[int]:
    """Among the brackets' winners, the one with the best score at the deepest level reached (its
    rung plus its bracket's offset): a deeper level wins first, since a winner cut short by the
    deadline has less evidence."""
    deepest = {t: r for t, r in deepest_results([r for r in results if r.score is not None]).items()
               if t in set(winners)}
    if not deepest:
        return None
    sign = 1.0 if direction == "max" else -1.0
    return max(deepest, key=lambda t: (_level(deepest[t], offsets), sign * float(deepest[t].score), -t))


def _level(result: TrialResult, offsets: Optional[Dict[int, int]]) -> int:
    return result.rung + (offsets or {}).get(result.trial_id, 0)

