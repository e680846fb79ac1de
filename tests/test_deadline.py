"""The report reserve shrinks to what measured trials need, never above the plan (agent/deadline.py)."""

import pytest

from hpo_agent.agent.deadline import (COLD_TEST_S, DEFAULT_OVERHEAD_S, REPORT_FLOOR_S, TEST_EVAL_FACTOR, TrainClock,
                                      measured_reserve, planned_reserve)


def test_planned_reserve_is_4s_plus_2_percent_unless_fixed():
    assert planned_reserve(90.0) == pytest.approx(5.8)
    assert planned_reserve(1800.0) == pytest.approx(40.0)
    assert planned_reserve(1800.0, fixed_s=0.0) == 0.0


def test_measured_reserve_is_the_floor_plus_twice_the_largest_overhead_capped_at_the_plan():
    assert measured_reserve(5.8, []) == 5.8  # nothing measured: the plan
    assert measured_reserve(5.8, [0.2]) == 5.8  # only the first trial, which pays the warm-ups
    assert measured_reserve(5.8, [1.2, 0.2, 0.4, 0.3]) == pytest.approx(REPORT_FLOOR_S + TEST_EVAL_FACTOR * 0.4)
    assert measured_reserve(5.8, [0.2, 9.0]) == 5.8  # a slow evaluation never takes more than planned
    # trials in a child process: the test phase here pays its own warm-ups
    assert measured_reserve(9.0, [1.2, 0.2, 0.4], cold_test=True) == pytest.approx(
        REPORT_FLOOR_S + TEST_EVAL_FACTOR * 0.4 + COLD_TEST_S)


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
