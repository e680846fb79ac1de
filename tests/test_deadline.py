"""The report reserve becomes what measured trials say the test phase needs (agent/deadline.py)."""

import pytest

from hpo_agent.agent.deadline import (DEFAULT_OVERHEAD_S, REPORT_FLOOR_S, TEST_EVAL_FACTOR, TrainClock,
                                      measured_reserve, planned_reserve)
# Aliased: under its own name pytest would collect the library function as a test.
from hpo_agent.agent.deadline import test_eval_factor as eval_factor


def test_planned_reserve_is_4s_plus_2_percent_unless_fixed():
    assert planned_reserve(90.0) == pytest.approx(5.8)
    assert planned_reserve(1800.0) == pytest.approx(40.0)
    assert planned_reserve(1800.0, fixed_s=0.0) == 0.0


def test_measured_reserve_is_the_floor_plus_twice_the_largest_overhead():
    assert measured_reserve(5.8, []) == 5.8  # nothing measured: the plan
    assert measured_reserve(5.8, [0.2]) == 5.8  # only the first trial, which pays the warm-ups
    assert measured_reserve(5.8, [1.2, 0.2, 0.4, 0.3]) == pytest.approx(REPORT_FLOOR_S + TEST_EVAL_FACTOR * 0.4)
    # a slow evaluation takes more than planned: the run must still end within its budget
    assert measured_reserve(5.8, [0.2, 4.5]) == pytest.approx(REPORT_FLOOR_S + TEST_EVAL_FACTOR * 4.5)
    assert measured_reserve(10.0, [1.0, 4.5], test_factor=1000 / 300) == pytest.approx(REPORT_FLOOR_S + 15.0)


def test_clock_moves_the_training_deadline_as_trials_are_measured():
    clock = TrainClock(deadline=100.0, reserve_s=5.8)
    assert clock.train_deadline == pytest.approx(94.2) and clock.overhead == DEFAULT_OVERHEAD_S
    for overhead in (1.2, 0.3, 0.1, -0.5):  # a negative reading (clock noise) counts as none
        clock.record(overhead)
    assert clock.overhead == pytest.approx(0.2)  # the median plans the next trial
    assert clock.reserve == pytest.approx(REPORT_FLOOR_S + TEST_EVAL_FACTOR * 0.3)
    assert clock.train_deadline == pytest.approx(100.0 - clock.reserve)


def test_a_fixed_reserve_stays_fixed():
    clock = TrainClock(deadline=100.0, reserve_s=5.8, adaptive=False)
    clock.record(0.1)
    assert clock.reserve == 5.8 and clock.train_deadline == pytest.approx(94.2)


def test_test_eval_factor_follows_the_described_split_sizes():
    assert eval_factor(None) == TEST_EVAL_FACTOR
    assert eval_factor({"extra": {}}) == TEST_EVAL_FACTOR  # tabular tasks describe no split sizes
    assert eval_factor({"extra": {"n_test": 1000.0, "n_validation": 300.0}}) == pytest.approx(1000 / 300)
    assert eval_factor({"extra": {"n_test": 500.0, "n_validation": 500.0}}) == TEST_EVAL_FACTOR  # never below
    assert eval_factor({"extra": {"n_test": 100.0, "n_validation": 0.0}}) == TEST_EVAL_FACTOR
