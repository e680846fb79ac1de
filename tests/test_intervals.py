"""The bootstrap over data sets behind evaluate's intervals (pure numpy, milliseconds)."""

import numpy as np
import pytest

from hpo_agent.trainer.intervals import (_draw_counts, _group_matrix, _resampled_means, bootstrap_interval,
                                         paired_lower_share)


def test_variants_of_a_data_set_are_drawn_together():
    # a1, a2 are variants of data set A (value 1), b is data set B (value 0). Drawing data sets,
    # a resample holds A twice (mean 1), B twice (0) or one of each (both A tasks + b: 2/3);
    # drawing tasks one by one would also give 1/3.
    values = {"a1": 1.0, "a2": 1.0, "b": 0.0}
    groups = {"a1": "A", "a2": "A", "b": "B"}
    tasks = sorted(values)
    _, member = _group_matrix(tasks, groups)
    means = _resampled_means(np.array([values[t] for t in tasks]), member,
                             _draw_counts(2, 500, np.random.default_rng(0)))
    assert set(np.round(means, 6)) == {0.0, round(2 / 3, 6), 1.0}


def test_interval_brackets_the_mean_and_collapses_without_spread():
    per_task = {f"t{i}": v for i, v in enumerate([0.0, 0.1, 0.2, 0.5, 0.9, 0.0, 0.05])}
    groups = {t: t for t in per_task}
    lo, hi = bootstrap_interval(per_task, groups, seed=1)
    assert lo < np.mean(list(per_task.values())) < hi
    assert 0.0 <= lo and hi <= 0.9
    assert bootstrap_interval({"a": 0.3, "b": 0.3}, {"a": "a", "b": "b"}) == pytest.approx((0.3, 0.3))
    assert bootstrap_interval(per_task, groups, seed=1) == bootstrap_interval(per_task, groups, seed=1)


def test_nan_tasks_are_left_out_and_all_nan_gives_nan():
    groups = {"a": "a", "b": "b", "c": "c"}
    assert bootstrap_interval({"a": 0.2, "b": np.nan, "c": 0.2}, groups) == pytest.approx((0.2, 0.2))
    lo, hi = bootstrap_interval({"a": np.nan}, {"a": "a"})
    assert np.isnan(lo) and np.isnan(hi)


def test_level_outside_0_1_names_the_value():
    with pytest.raises(ValueError, match="level is 1.5"):
        bootstrap_interval({"a": 0.1}, {"a": "a"}, level=1.5)


def test_paired_share_counts_draws_on_the_same_data_sets():
    groups = {t: t for t in "abcd"}
    better = {"a": 0.0, "b": 0.1, "c": 0.0, "d": 0.2}
    worse = {t: v + 0.05 for t, v in better.items()}
    assert paired_lower_share(better, worse, groups) == {"lower": 1.0, "tied": 0.0, "tasks": 4}
    assert paired_lower_share(worse, better, groups)["lower"] == 0.0
    assert paired_lower_share(better, better, groups)["tied"] == 1.0
    # Mixed: a wins big on one data set and loses a little on the other three.
    mixed = {"a": 0.0, "b": 0.15, "c": 0.05, "d": 0.25}
    share = paired_lower_share(mixed, {"a": 0.5, "b": 0.1, "c": 0.0, "d": 0.2}, groups)["lower"]
    assert 0.5 < share < 1.0
