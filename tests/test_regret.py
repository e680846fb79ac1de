"""The one normalised-regret definition (trainer/regret.py): range, failures, divergence, ties."""

import math

import numpy as np

from hpo_agent.trainer.regret import normalised_regrets


def test_regret_spans_best_to_worst_in_either_direction():
    assert np.allclose(normalised_regrets([0.9, 0.5, 0.7], "max"), [0.0, 1.0, 0.5])
    assert np.allclose(normalised_regrets([0.2, 0.6, 0.4], "min"), [0.0, 1.0, 0.5])


def test_failures_count_as_worst_and_too_few_results_are_undefined():
    assert np.allclose(normalised_regrets([0.9, np.nan, 0.5], "max"), [0.0, 1.0, 1.0])
    assert math.isnan(normalised_regrets([0.9, np.nan], "max"))
    assert np.allclose(normalised_regrets([0.7, 0.7, np.nan], "max"), [0.0, 0.0, 1.0])  # all finished tie


def test_a_diverged_run_counts_as_worst_without_stretching_the_range():
    mse = np.array([0.45, 0.5, 0.6, 0.8, 1.0, 1.05, 1.05, 1.05, 93.0])
    r = normalised_regrets(mse, "min")
    assert r[-1] == 1.0
    assert np.isclose(r[4], (1.0 - 0.45) / (1.05 - 0.45))  # the range ends at the worst non-diverged run
    with_outlier_as_range = (1.0 - 0.45) / (93.0 - 0.45)
    assert r[4] > 50 * with_outlier_as_range


def test_bounded_metrics_with_a_wide_spread_are_left_alone():
    acc = np.array([0.1, 0.1, 0.12, 0.3, 0.5, 0.7, 0.9])  # chance-level runs are not "diverged"
    assert np.allclose(normalised_regrets(acc, "max"), (0.9 - acc) / 0.8)
    mostly_tied = np.array([0.5] * 8 + [0.49, 0.8])  # no spread between the quartiles: no fence
    assert np.isclose(normalised_regrets(mostly_tied, "max")[8], 1.0)
    assert np.isclose(normalised_regrets(mostly_tied, "max")[0], 0.3 / 0.31)
