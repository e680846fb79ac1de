"""``--brackets auto``: how many brackets a budget holds (pure arithmetic, milliseconds)."""

import pytest

from hpo_agent.agent.brackets import MIN_UNIT_S, auto_brackets
from hpo_agent.agent.scheduler import plan_unit_seconds

# 9 candidates, eta 3: bracket 0 is 21 units (9×1 + 3×2 + 1×6, promoted trials resume) in 13 jobs
N, ETA, OVERHEAD = 9, 3, 0.5


def test_plenty_of_time_gives_the_maximum():
    assert auto_brackets(3600.0, N, ETA, s_per_step=0.01, overhead_s=OVERHEAD) == 3


def test_the_step_floor_decides_between_one_two_and_three():
    # bracket 0 planned on train_s / k: unit = (train_s / k - 13 * 0.5) / 21; 20 steps at 0.05 s = 1 s
    assert plan_unit_seconds(82.5 / 3, N, ETA, 0, OVERHEAD) == pytest.approx(1.0)
    assert auto_brackets(82.5, N, ETA, s_per_step=0.05, overhead_s=OVERHEAD) == 3
    assert auto_brackets(82.0, N, ETA, s_per_step=0.05, overhead_s=OVERHEAD) == 2
    assert auto_brackets(55.0, N, ETA, s_per_step=0.05, overhead_s=OVERHEAD) == 2
    assert auto_brackets(54.5, N, ETA, s_per_step=0.05, overhead_s=OVERHEAD) == 1


def test_slow_steps_keep_one_bracket_even_on_a_long_budget():
    # a text model at ~1.7 s per step: 20 steps per first-rung trial need 34 s units (720.5 s a bracket)
    assert auto_brackets(280.0, N, ETA, s_per_step=1.7, overhead_s=OVERHEAD) == 1
    assert auto_brackets(1400.0, N, ETA, s_per_step=1.7, overhead_s=OVERHEAD) == 1
    assert auto_brackets(1800.0, N, ETA, s_per_step=1.7, overhead_s=OVERHEAD) == 2
    assert auto_brackets(2200.0, N, ETA, s_per_step=1.7, overhead_s=OVERHEAD) == 3


def test_fast_steps_are_still_held_to_the_seconds_floor():
    # iris-like 4 ms steps: 20 steps are 0.08 s, so the 0.5 s floor decides
    train_s = 3 * (21 * MIN_UNIT_S + 13 * OVERHEAD)
    assert auto_brackets(train_s, N, ETA, s_per_step=0.004, overhead_s=OVERHEAD) == 3
    assert auto_brackets(train_s - 1.0, N, ETA, s_per_step=0.004, overhead_s=OVERHEAD) == 2
    assert auto_brackets(train_s, N, ETA, s_per_step=None, overhead_s=OVERHEAD) == 3


def test_a_fixed_first_slice_must_fit_k_times():
    need = 21 * 2.0 + 13 * OVERHEAD  # bracket 0 with --min-budget 2s
    assert auto_brackets(3 * need, N, ETA, s_per_step=10.0, overhead_s=OVERHEAD, unit_s=2.0) == 3
    assert auto_brackets(3 * need - 1, N, ETA, s_per_step=10.0, overhead_s=OVERHEAD, unit_s=2.0) == 2


@pytest.mark.parametrize("train_s", [-5.0, 0.0, 1.0])
def test_never_less_than_one(train_s):
    assert auto_brackets(train_s, N, ETA, s_per_step=0.01, overhead_s=OVERHEAD) == 1


def test_the_maximum_is_a_parameter():
    assert auto_brackets(3600.0, N, ETA, s_per_step=0.01, overhead_s=OVERHEAD, max_brackets=1) == 1
    assert auto_brackets(3600.0, N, ETA, s_per_step=0.01, overhead_s=OVERHEAD, max_brackets=5) == 5


def test_tune_chooses_from_the_time_left_and_the_candidates_predicted_step_time():
    """``search.choose_brackets``: the training time is what is left of the budget now, less the
    report reserve; the step time is the candidates' median prediction."""
    import time
    from types import SimpleNamespace

    from hpo_agent.agent.candidates import Candidate
    from hpo_agent.agent.search import choose_brackets

    def state(budget_s, costs, **extra):
        opts = SimpleNamespace(started_at=time.monotonic(), budget_s=budget_s, report_reserve_s=0.0, eta=ETA,
                               min_budget_s=None, **extra)
        cands = [Candidate({}, 0.0, predicted_s_per_step=c) for c in costs]
        return SimpleNamespace(options=opts, candidates=cands)

    fast, slow = [0.004] * 8 + [5.0], [0.2] * 5 + [0.001] * 4  # medians 0.004 and 0.2
    assert choose_brackets(state(600.0, fast)) == 3
    # 20 steps × 0.2 s = 4 s units: bracket 0 needs 21 × 4 + 13 × 0.5 = 90.5 s
    assert choose_brackets(state(280.0, slow)) == 3
    assert choose_brackets(state(250.0, slow)) == 2
    assert choose_brackets(state(120.0, slow)) == 1
    assert choose_brackets(state(600.0, [None] * 9)) == 3  # no cost output: the seconds floor alone
