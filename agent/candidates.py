"""Candidate configs for a tune run: propose from the space, score with the meta-model, keep what fits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .space import Config, SearchSpace, config_key

# Candidates closer than this (Euclidean, unit-scaled encoding) count as near-duplicates: ``tune``'s
# default, and what ``evaluate`` and the replay assume tune does.
MIN_DISTANCE = 0.25


@dataclass
class Candidate:
    config: Config
    predicted: float
    estimated_bytes: Optional[int] = None
    predicted_s_per_step: Optional[float] = None  # the meta-model's cost output, where it has one

    @classmethod
    def from_dict(cls, record: Dict[str, Any]) -> "Candidate":
        """A candidate as journaled (``vars(candidate)``); optional fields may be absent."""
        return cls(record["config"], record["predicted"], record.get("estimated_bytes"),
                   record.get("predicted_s_per_step"))


def propose(space: SearchSpace, n_random: int, rng: np.random.Generator) -> List[Config]:
    """The space's grid plus ``n_random`` random configs, de-duplicated, grid first."""
    seen, out = set(), []
    for config in space.grid() + space.sample(rng, n_random):
        key = config_key(config, space.names)
        if key not in seen:
            seen.add(key)
            out.append(config)
    return out


def clip_depth(configs: Sequence[Config], space: SearchSpace, max_num_layers: Optional[int]) -> List[Config]:
    """Configs with ``num_layers`` clipped to what the model can build, de-duplicated in order.

    A pretrained MiniLM has 6 layers and ResNet-18 8 blocks: asking for 12 or 24 builds the same
    model as the maximum, so such configs would be near-duplicates that take verification slots.
    """
    if max_num_layers is None or "num_layers" not in space.names:
        return list(configs)
    cap = max(int(space["num_layers"].low or 1), int(max_num_layers))
    seen, out = set(), []
    for config in configs:
        config = dict(config, num_layers=min(int(config["num_layers"]), cap))
        key = config_key(config, space.names)
        if key not in seen:
            seen.add(key)
            out.append(config)
    return out


def rank(configs: Sequence[Config], scores: np.ndarray) -> List[Candidate]:
    """Candidates by descending predicted score (stable, so ties keep proposal order)."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    return [Candidate(dict(configs[i]), float(scores[i])) for i in order]


def unit_scaled(space: SearchSpace, configs: Sequence[Config]) -> np.ndarray:
    """Encoded configs scaled to [0, 1] per column (by the space's bounds), for distances."""
    return scale_encoded(space, space.encode(configs))


def scale_encoded(space: SearchSpace, encoded: np.ndarray) -> np.ndarray:
    """Scale an encoded matrix by the space's bounds (one-hot columns stay 0/1 apart)."""
    lo, hi = space.encode([_corner(space, "low")])[0], space.encode([_corner(space, "high")])[0]
    span = np.where(hi > lo, hi - lo, 1.0)
    return (np.asarray(encoded, dtype=np.float64) - np.minimum(lo, hi)) / span


def _corner(space: SearchSpace, side: str) -> Config:
    return {p.name: (p.choices[0] if p.type == "categorical" else getattr(p, side)) for p in space.params}


def select(ranked: Sequence[Candidate], n: int, estimate: Optional[Callable[[Config], int]] = None,
           budget_bytes: Optional[int] = None, headroom: float = 0.15,
           space: Optional[SearchSpace] = None, min_distance: float = 0.0,
           ) -> Tuple[List[Candidate], List[Dict[str, Any]]]:
    """The ``n`` best candidates predicted to fit in ``budget_bytes`` (minus ``headroom``).

    With ``space`` and ``min_distance`` > 0, a candidate closer than ``min_distance`` (Euclidean,
    unit-scaled encoding) to one already chosen is passed over: near-duplicates would spend the
    verification budget on one guess, and the meta-model's top is where it is least certain.
    Returns ``(chosen, skipped)``; ``skipped`` lists the better-ranked configs dropped for memory,
    each with its estimate and the budget, so the report can say which and why.
    """
    chosen: List[Candidate] = []
    chosen_x: List[np.ndarray] = []
    skipped: List[Dict[str, Any]] = []
    limit = None if budget_bytes is None else int(budget_bytes * (1.0 - headroom))
    for cand in ranked:
        if len(chosen) >= n:
            break
        if space is not None and min_distance > 0:
            x = unit_scaled(space, [cand.config])[0]
            if _near(x, chosen_x, min_distance):
                continue
        if estimate is not None:
            cand.estimated_bytes = int(estimate(cand.config))
            if limit is not None and cand.estimated_bytes > limit:
                skipped.append({"config": cand.config, "predicted": cand.predicted,
                                "estimated_bytes": cand.estimated_bytes, "limit_bytes": limit,
                                "reason": "estimated peak memory over the memory budget minus headroom"})
                continue
        chosen.append(cand)
        if space is not None and min_distance > 0:
            chosen_x.append(x)
    return chosen, skipped


def spread_picks(x_unit: np.ndarray, scores: Sequence[float], k: int, min_distance: float = MIN_DISTANCE) -> np.ndarray:
    """Indices of the ``k`` configs :func:`select` would choose by ``scores`` (no memory limit):
    best first, a config within ``min_distance`` of one already picked passed over. ``x_unit`` holds
    the configs unit-scaled (:func:`unit_scaled`). Fewer than ``k`` when the rest are all too close."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    picked: List[int] = []
    for i in order:
        if len(picked) >= k:
            break
        if min_distance > 0 and _near(x_unit[i], [x_unit[j] for j in picked], min_distance):
            continue
        picked.append(int(i))
    return np.array(picked, dtype=int)


def _near(x: np.ndarray, chosen: Sequence[np.ndarray], min_distance: float) -> bool:
    return any(np.linalg.norm(x - y) < min_distance for y in chosen)


def speed_check(candidates: Sequence[Candidate], measured: Dict[str, float]) -> Optional[Dict[str, Any]]:
    """Predicted vs measured training seconds per step for the candidates that ran.

    ``measured`` maps ``config_key`` → measured seconds per step. The ratio tells how much faster
    this device trains than the machines that recorded the histories (the cost model's unit);
    Spearman says whether the cost model ordered the configs right. None without predictions.
    """
    rows = []
    for cand in candidates:
        key = config_key(cand.config)
        if cand.predicted_s_per_step and measured.get(key):
            rows.append({"config": cand.config, "predicted_s_per_step": cand.predicted_s_per_step,
                         "measured_s_per_step": measured[key]})
    if not rows:
        return None
    pred = np.array([r["predicted_s_per_step"] for r in rows])
    meas = np.array([r["measured_s_per_step"] for r in rows])
    out: Dict[str, Any] = {"candidates": rows, "speed_vs_histories": float(np.median(pred / meas))}
    if len(rows) >= 3 and np.ptp(pred) > 0 and np.ptp(meas) > 0:
        out["spearman"] = float(np.corrcoef(_ranks(pred), _ranks(meas))[0, 1])
    return out


def _ranks(values: np.ndarray) -> np.ndarray:
    """Average-tie ranks (numpy only: the device does not import scipy)."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values), dtype=np.float64)
    for v in np.unique(values):
        ranks[values == v] = ranks[values == v].mean()
    return ranks
