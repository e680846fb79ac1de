"""Re-ranking between brackets: the meta-model's prior, corrected by what this task has shown.

The meta-model ranks configs for a task it has never seen; after a bracket of successive halving
the task itself has answered for a handful of them. :func:`refine_scores` folds those answers
back in, the way transfer-learning Bayesian optimisation does (a Gaussian process whose prior mean
comes from earlier tasks): the meta-model's scores are mapped onto the observed metric by a
least-squares line (slope clipped at 0, so a meta-model that this task contradicts is ignored
rather than followed backwards), and a Gaussian process on the residuals, over unit-scaled
configs *and* the fidelity each value was seen at, corrects that line near what was observed.
The fidelity enters the kernel because a short run can misjudge a config (a small learning rate
looks bad after 20 steps and is best after 180): its length-scale, like the others, is chosen by
marginal likelihood, and an infinite one means every fidelity tells the same story. Candidates
are then ordered by expected improvement at the deepest fidelity over the best value seen there,
the acquisition Bayesian optimisation usually uses (Optuna's GP sampler among them).

numpy only: this runs on the device beside onnxruntime.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np

MIN_OBSERVATIONS = 3                      # below this the line and the residual scale are guesses
DIVERGED_IQR = 3.0                        # Tukey's "far out" fence (see :func:`diverged`)
LENGTHSCALES = (0.15, 0.3, 0.6, 1.2)      # unit-scaled encoding; the one-hot of a category spans sqrt(2)
NOISE_FRACTIONS = (0.01, 0.1, 0.5)        # observation noise as a fraction of the residual variance
LEVEL_LENGTHSCALES = (np.inf, 2.0, 1.0)   # in fidelity indices; inf: every fidelity says the same
ACQUISITIONS = ("ei", "ucb", "mean")      # expected improvement; mean + 1 std; the posterior mean alone


@dataclass
class Posterior:
    """Mean and standard deviation of the corrected prediction at each candidate."""

    mean: np.ndarray
    std: np.ndarray
    slope: float          # metric units per meta-model score unit (0: the prior was ignored)
    lengthscale: float
    noise_fraction: float
    level_lengthscale: float = np.inf  # how far apart two fidelities' residuals still agree


def diverged(values: np.ndarray) -> np.ndarray:
    """Which finite ``values`` (higher = better) lie past Tukey's far-out fence on the bad side:
    more than :data:`DIVERGED_IQR` interquartile ranges below the lower quartile, such as a
    validation MSE of 90 among MSEs near 1. Such a run says "avoid this", not "how bad": kept as a
    value it would dominate a least-squares fit or a regret range. With no spread between the
    quartiles (most values tied) nothing is flagged."""
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    if ok.sum() < 2:
        return np.zeros(len(v), dtype=bool)
    q1, q3 = np.percentile(v[ok], [25, 75])
    return ok & (v < q1 - DIVERGED_IQR * (q3 - q1)) if q3 > q1 else np.zeros(len(v), dtype=bool)


def calibrate(prior: np.ndarray, y: np.ndarray, level: Optional[np.ndarray] = None) -> Tuple[np.ndarray, float]:
    """Least-squares ``y ≈ a[level] + b * prior`` with ``b >= 0``; returns ``(a, b)``.

    ``level`` (ints, e.g. the fidelity each value was observed at) gives every level its own
    intercept: values after 20 and after 180 steps sit at different heights, while the meta-model's
    score is the same config's. Without ``level`` there is one intercept, ``a`` of length 1.
    """
    prior, y = np.asarray(prior, dtype=np.float64), np.asarray(y, dtype=np.float64)
    level = np.zeros(len(y), dtype=int) if level is None else np.asarray(level, dtype=int)
    levels = np.unique(level)
    centred_p, centred_y = prior.copy(), y.copy()
    for lv in levels:  # within-level centring: the slope is what the levels share
        m = level == lv
        centred_p[m] -= prior[m].mean()
        centred_y[m] -= y[m].mean()
    denom = float(centred_p @ centred_p)
    b = max(0.0, float(centred_p @ centred_y) / denom) if denom > 0 else 0.0
    a = np.zeros(int(level.max()) + 1)
    for lv in levels:
        m = level == lv
        a[lv] = y[m].mean() - b * prior[m].mean()
    return a, b


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


def _kernel(d: np.ndarray, d_level: np.ndarray, lengthscale: float, level_lengthscale: float) -> np.ndarray:
    """RBF over the configs times RBF over the fidelity levels (1 everywhere at an infinite scale)."""
    return np.exp(-0.5 * d / lengthscale ** 2 - 0.5 * d_level / level_lengthscale ** 2)


def _log_marginal(d_obs: np.ndarray, d_level: np.ndarray, r: np.ndarray, lengthscale: float,
                  level_lengthscale: float, noise: float) -> float:
    """Log marginal likelihood of unit-variance residuals ``r`` under the kernel plus noise."""
    k = _kernel(d_obs, d_level, lengthscale, level_lengthscale) + noise * np.eye(len(r))
    try:
        chol = np.linalg.cholesky(k)
    except np.linalg.LinAlgError:
        return -np.inf
    alpha = np.linalg.solve(chol.T, np.linalg.solve(chol, r))
    return float(-0.5 * r @ alpha - np.log(np.diag(chol)).sum())


def posterior(x_obs: np.ndarray, prior_obs: np.ndarray, y_obs: np.ndarray,
              x_cand: np.ndarray, prior_cand: np.ndarray, level: Optional[np.ndarray] = None,
              level_lengthscales: Sequence[float] = LEVEL_LENGTHSCALES) -> Posterior:
    """The calibrated prior plus a GP on its residuals, at ``x_cand`` (larger ``y`` is better),
    predicted at the deepest ``level`` observed (the intercept does not change the order).

    Kernel length-scale and noise are chosen by marginal likelihood over small fixed grids
    (:data:`LENGTHSCALES`, :data:`NOISE_FRACTIONS`), which is robust with a dozen points.
    """
    x_obs, x_cand = np.asarray(x_obs, dtype=np.float64), np.asarray(x_cand, dtype=np.float64)
    y_obs = np.asarray(y_obs, dtype=np.float64)
    level = np.zeros(len(y_obs), dtype=int) if level is None else np.asarray(level, dtype=int)
    a, b = calibrate(prior_obs, y_obs, level)
    resid = y_obs - (a[level] + b * np.asarray(prior_obs, dtype=np.float64))
    scale = float(resid.std()) or max(1e-6, 1e-3 * float(np.abs(y_obs).mean()))
    r = resid / scale
    d_obs = _sq_dists(x_obs, x_obs)
    lv = level.astype(np.float64)
    d_level = (lv[:, None] - lv[None, :]) ** 2
    levels = tuple(level_lengthscales) if len(np.unique(level)) > 1 else (np.inf,)
    ls, lls, nf = max(((ls, lls, nf) for ls in LENGTHSCALES for lls in levels for nf in NOISE_FRACTIONS),
                      key=lambda h: _log_marginal(d_obs, d_level, r, *h))
    chol = np.linalg.cholesky(_kernel(d_obs, d_level, ls, lls) + nf * np.eye(len(r)))
    k_star = _kernel(_sq_dists(x_cand, x_obs), ((lv.max() - lv) ** 2)[None, :], ls, lls)  # (n_cand, n_obs)
    alpha = np.linalg.solve(chol.T, np.linalg.solve(chol, r))
    v = np.linalg.solve(chol, k_star.T)                                   # (n_obs, n_cand)
    var = np.maximum(1.0 - (v * v).sum(0), 0.0)
    mean = a[level.max()] + b * np.asarray(prior_cand, dtype=np.float64) + scale * (k_star @ alpha)
    return Posterior(mean, scale * np.sqrt(var), b, ls, nf, lls)


_ERF = np.vectorize(math.erf, otypes=[np.float64])


def expected_improvement(mean: np.ndarray, std: np.ndarray, best: float) -> np.ndarray:
    """``E[max(0, f - best)]`` for ``f ~ N(mean, std²)`` (larger is better); ``mean - best``
    clipped at 0 where ``std`` is 0."""
    mean, std = np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)
    gap = mean - best
    safe = np.where(std > 0, std, 1.0)
    z = gap / safe
    ei = gap * 0.5 * (1.0 + _ERF(z / math.sqrt(2.0))) + safe * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return np.where(std > 0, ei, np.maximum(gap, 0.0))


def refine_scores(x_obs: np.ndarray, prior_obs: Sequence[float], y_obs: Sequence[float],
                  x_cand: np.ndarray, prior_cand: Sequence[float], acquisition: str = "ei",
                  direction: str = "max", level: Optional[Sequence[int]] = None,
                  level_lengthscales: Sequence[float] = LEVEL_LENGTHSCALES) -> Optional[np.ndarray]:
    """Acquisition scores for the candidates (higher = try sooner), or None when fewer than
    :data:`MIN_OBSERVATIONS` finite observations exist or they all tie (keep the meta-model's
    order then). ``acquisition`` (:data:`ACQUISITIONS`): ``"ei"``, the expected improvement at the
    deepest observed fidelity over the best value seen there; ``"ucb"``, the posterior mean plus
    one standard deviation; ``"mean"``, the posterior mean alone. ``level_lengthscales``: the
    fidelity length-scales the kernel may choose from (``(inf,)``: a kernel blind to fidelity).

    ``x_*`` are unit-scaled encodings (:func:`hpo_agent.agent.candidates.unit_scaled`), ``prior_*``
    the meta-model's scores, ``y_obs`` the observed metric, ``level`` the fidelity index of each
    observation (None: one common fidelity). A failed trial (NaN) counts as the worst value
    observed, so its neighbourhood is avoided; so does a diverged one (:func:`diverged`).
    """
    if acquisition not in ACQUISITIONS:
        raise ValueError(f"acquisition is '{acquisition}'; known: {', '.join(ACQUISITIONS)}")
    y = np.asarray(y_obs, dtype=np.float64)
    if direction == "min":
        y = -y
    ok = np.isfinite(y) & ~diverged(y)
    if ok.sum() < MIN_OBSERVATIONS:
        return None
    if np.ptp(y[ok]) == 0:  # every result tied (a task the configs all solve): nothing to correct
        return None
    y = np.where(ok, y, y[ok].min())
    lv = np.zeros(len(y), dtype=int) if level is None else np.asarray(level, dtype=int)
    post = posterior(np.asarray(x_obs), np.asarray(prior_obs, dtype=np.float64), y,
                     np.asarray(x_cand), np.asarray(prior_cand, dtype=np.float64), lv, level_lengthscales)
    if acquisition == "mean":
        return post.mean
    if acquisition == "ucb":
        return post.mean + post.std
    deepest = lv == lv.max()  # where the posterior predicts; a failure there counts as the worst seen
    return expected_improvement(post.mean, post.std, float(y[deepest].max()))


def refine_order(x_obs: np.ndarray, prior_obs: Sequence[float], y_obs: Sequence[float],
                 x_pool: np.ndarray, prior_pool: Sequence[float], direction: str = "max",
                 level: Optional[Sequence[int]] = None, **options) -> np.ndarray:
    """A new order for the untried pool: indices by descending :func:`refine_scores`, or the
    pool's own order (the identity) where refinement has nothing to go on. ``options``
    (``acquisition``, ``level_lengthscales``) go to :func:`refine_scores`.

    The whole pool is re-ranked, not only the meta-model's favourites: on the digits grid the best
    configs are deep networks that the meta-model ranks in the middle of the pool, and it is the
    residual model that finds them.
    """
    n = len(prior_pool)
    scores = refine_scores(x_obs, prior_obs, y_obs, x_pool, prior_pool, direction=direction,
                           level=level, **options) if n else None
    return np.arange(n) if scores is None else np.argsort(-scores, kind="stable")
