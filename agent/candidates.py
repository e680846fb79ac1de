"""Candidate configs for a tune run: propose from the space, score with the meta-model, keep what fits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .space import Config, SearchSpace, config_key


@dataclass
class Candidate:
    config: Config
    predicted: float
    estimated_bytes: Optional[int] = None


def propose(space: SearchSpace, n_random: int, rng: np.random.Generator) -> List[Config]:
    """The space's grid plus ``n_random`` random configs, de-duplicated, grid first."""
    seen, out = set(), []
    for config in space.grid() + space.sample(rng, n_random):
        key = config_key(config, space.names)
        if key not in seen:
            seen.add(key)
            out.append(config)
    return out


def rank(configs: Sequence[Config], scores: np.ndarray) -> List[Candidate]:
    """Candidates by descending predicted score (stable, so ties keep proposal order)."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    return [Candidate(dict(configs[i]), float(scores[i])) for i in order]


def select(ranked: Sequence[Candidate], n: int, estimate: Optional[Callable[[Config], int]] = None,
           budget_bytes: Optional[int] = None, headroom: float = 0.15,
           ) -> Tuple[List[Candidate], List[Dict[str, Any]]]:
    """The ``n`` best candidates predicted to fit in ``budget_bytes`` (minus ``headroom``).

    Returns ``(chosen, skipped)``; ``skipped`` lists the better-ranked configs dropped for memory,
    each with its estimate and the budget, so the report can say which and why.
    """
    chosen: List[Candidate] = []
    skipped: List[Dict[str, Any]] = []
    limit = None if budget_bytes is None else int(budget_bytes * (1.0 - headroom))
    for cand in ranked:
        if len(chosen) >= n:
            break
        if estimate is not None:
            cand.estimated_bytes = int(estimate(cand.config))
            if limit is not None and cand.estimated_bytes > limit:
                skipped.append({"config": cand.config, "predicted": cand.predicted,
                                "estimated_bytes": cand.estimated_bytes, "limit_bytes": limit,
                                "reason": "estimated peak memory over the memory budget minus headroom"})
                continue
        chosen.append(cand)
    return chosen, skipped
