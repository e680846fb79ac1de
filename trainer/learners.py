"""The meta-model learners and what every leave-one-task-out loop shares: which rows belong to
one data set (:func:`task_group`), task-balanced row weights, and single-threaded fitting.

Kept apart from :mod:`.fit` so that :mod:`.loto`, :mod:`.cost` and :mod:`.memory` use them
without importing the whole fitting pipeline.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

import numpy as np

# ``_balanced``: every task weighs the same in the fit (rows weighted 1 / the task's row count),
# so three tabular tasks with full grids (769 rows each) do not drown 60-row text tasks.
LEARNERS = ("gbm", "gbm_balanced", "forest")


# Built-in tasks made from another task's data (``digits_x2`` is digits upscaled to 16×16).
DERIVED_TASKS = {"digits_x2": "digits"}


def task_group(task: str) -> str:
    """The data set a task variant belongs to: ``digits@n300`` and ``digits_x2`` → ``digits``.
    Leave-one-task-out holds out a whole group, so a variant never validates a model trained on
    its sibling."""
    base = str(task).split("@")[0]
    return DERIVED_TASKS.get(base, base)


def one_thread():
    """Run scikit-learn's OpenMP code on one thread. Meta-learning tables are small, and
    HistGradientBoosting's OpenMP workers spin-wait: beside a training job on a 2-core box one
    fit took 59 s with threads and 0.9 s without."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="openmp")


def task_balanced_weights(tasks: np.ndarray) -> np.ndarray:
    """Row weights 1 / (rows of the row's task), scaled to mean 1."""
    _, inverse, counts = np.unique(np.asarray(tasks, dtype=str), return_inverse=True, return_counts=True)
    w = 1.0 / counts[inverse]
    return w * (len(w) / w.sum())


def fit_learner(name: str, x: np.ndarray, y: np.ndarray, tasks: np.ndarray, seed: int = 0,
                params: Optional[Dict[str, Any]] = None, feature_names: Optional[Sequence[str]] = None):
    """Fit the learner ``name`` (one of :data:`LEARNERS`) on rows of ``tasks``; ``params`` override
    its settings (:func:`make_learner`). With ``feature_names`` that support derived features
    (:mod:`.derived`), the learner is the last step of a pipeline that appends them, so its
    ``predict`` takes the same columns as ``x``."""
    base, balanced = (name[:-len("_balanced")], True) if name.endswith("_balanced") else (name, False)
    weights = task_balanced_weights(tasks) if balanced else None
    model = make_learner(base, seed, params)
    from sklearn.pipeline import Pipeline

    from .derived import DerivedFeatures, derived_weights

    derived, names = derived_weights(feature_names or ())
    if not names:
        return model.fit(x, y, sample_weight=weights)
    pipeline = Pipeline([("derive", DerivedFeatures(derived, tuple(names))), ("model", model)])
    return pipeline.fit(x, y, model__sample_weight=weights)


def make_learner(name: str = "gbm", seed: int = 0, params: Optional[Dict[str, Any]] = None):
    """A fresh scikit-learn regressor: ``gbm`` (histogram gradient boosting) or ``forest``, with the
    shipped settings updated by ``params`` (``benchmarks/evaluate_sensitivity.py`` varies them)."""
    if name == "gbm":
        from sklearn.ensemble import HistGradientBoostingRegressor

        # Sizes keep the exported model small and fast on the device: 10,000 candidates score in
        # well under 50 ms (benchmarks/results/overhead.json).
        settings = dict(max_iter=100, learning_rate=0.1, max_leaf_nodes=15, min_samples_leaf=5, l2_regularization=1.0)
        return HistGradientBoostingRegressor(**{**settings, **(params or {})}, random_state=seed)
    if name == "forest":
        from sklearn.ensemble import RandomForestRegressor

        settings = dict(n_estimators=64, max_depth=12, min_samples_leaf=5, n_jobs=1)
        return RandomForestRegressor(**{**settings, **(params or {})}, random_state=seed)
    raise ValueError(f"learner '{name}' is not known; use one of {', '.join(LEARNERS)}")
