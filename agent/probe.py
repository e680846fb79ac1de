"""One-step memory probes for configs whose estimate is too close to the memory budget to trust.

The estimate (``devices.estimate_training_memory``, calibrated in benchmarks/memory.py) is a
filter, not a verdict: its error is a few percent on the machine it was calibrated on and more
elsewhere. So when trials run in an isolated, memory-capped child process, a candidate whose
estimate lands in the band ``[(1 - PROBE_BAND) * budget, budget]`` gets one training step in
that child before the search starts. One that runs out of memory is dropped (and listed in the
report with the probe's answer); one that passes is kept even above the usual headroom line,
because the probe measured what the estimate guessed. Dropped places are refilled from the
ranking, and probed again if borderline, for at most ``max_probes`` probes.

We drop rather than shrink the batch and accumulate gradients: the batch size is one of the
tuned hyperparameters, and a config silently trained at another batch would be a different
config from the one the meta-model scored and the histories record.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .candidates import Candidate, select
from .records import Outcome
from .space import SearchSpace, config_key

PROBE_BAND = 0.30  # estimates within 30 % under the budget are probed


def is_borderline(estimated_bytes: Optional[int], budget_bytes: Optional[int], band: float = PROBE_BAND) -> bool:
    """True when ``estimated_bytes`` is in ``[(1 - band) * budget, budget]``."""
    if estimated_bytes is None or not budget_bytes:
        return False
    return (1.0 - band) * budget_bytes <= estimated_bytes <= budget_bytes


def select_with_probes(ranked: Sequence[Candidate], n: int, estimate: Callable[[Dict[str, Any]], int],
                       budget_bytes: int, run_probe: Callable[[Candidate], Dict[str, Any]],
                       space: Optional[SearchSpace] = None, min_distance: float = 0.0,
                       max_probes: Optional[int] = None, band: float = PROBE_BAND,
                       ) -> Tuple[List[Candidate], List[Dict[str, Any]], List[Dict[str, Any]]]:
    """Choose ``n`` candidates that fit ``budget_bytes``, probing borderline ones.

    ``run_probe(candidate)`` trains one step in the capped trial process and returns the
    runner's answer (``outcome`` ``complete`` / ``oom`` / ``failed``). Returns ``(chosen,
    skipped, probes)``: ``skipped`` holds configs over the budget (by estimate) or that ran out
    of memory in their probe; ``probes`` records every probe (config, estimate, outcome, seconds).
    """
    max_probes = 2 * n if max_probes is None else max_probes
    names = space.names if space is not None else None
    excluded: set = set()
    verdict: Dict[str, str] = {}
    skipped: List[Dict[str, Any]] = []
    probes: List[Dict[str, Any]] = []
    while True:
        pool = [c for c in ranked if config_key(c.config, names) not in excluded]
        # headroom 0: the probe, not a fixed margin, decides the configs near the budget
        chosen, over = select(pool, n, estimate, budget_bytes, 0.0, space=space, min_distance=min_distance)
        for entry in over:
            key = config_key(entry["config"], names)
            if key not in excluded:
                excluded.add(key)
                skipped.append(entry)
        failed = []
        for cand in chosen:
            key = config_key(cand.config, names)
            if key in verdict or not is_borderline(cand.estimated_bytes, budget_bytes, band):
                continue
            if len(probes) >= max_probes:
                verdict[key] = "unprobed"
                continue
            t0 = time.monotonic()
            out = run_probe(cand)
            verdict[key] = out.get("outcome", Outcome.FAILED.value)
            probes.append({"config": cand.config, "estimated_bytes": cand.estimated_bytes,
                           "budget_bytes": budget_bytes, "outcome": verdict[key],
                           "seconds": round(time.monotonic() - t0, 3), "error": out.get("error")})
            if verdict[key] == Outcome.OOM.value:
                failed.append(cand)
                excluded.add(key)
                skipped.append({"config": cand.config, "predicted": cand.predicted,
                                "estimated_bytes": cand.estimated_bytes, "limit_bytes": budget_bytes,
                                "reason": "ran out of memory in a one-step probe"})
        if not failed:
            return chosen, skipped, probes


def probe_spec(config: Dict[str, Any], seed: int, device: str) -> Dict[str, Any]:
    """A runner job that builds the model and trains one step (no evaluation, no checkpoint)."""
    return {"probe": True, "trial_id": -1, "rung": 0, "config": dict(config), "seed": seed, "device": device}
