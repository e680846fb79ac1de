import pytest

from hpo_agent.agent.scheduler import (Decision, SuccessiveHalving, n_rungs, rung_sizes, top_k,
                                       total_units)


def run_all(sh, scores):
    """Drive a scheduler with fixed scores per trial; return the jobs in order."""
    jobs = []
    while (job := sh.suggest()) is not None:
        jobs.append(job)
        sh.on_trial_result(job.trial_id, scores[job.trial_id])
    return jobs


def test_rung_arithmetic():
    assert n_rungs(9, 3) == 3 and rung_sizes(9, 3) == [9, 3, 1]
    assert rung_sizes(10, 3) == [10, 3, 1]
    assert rung_sizes(1, 3) == [1]
    assert rung_sizes(8, 2) == [8, 4, 2, 1]
    # 9×1 + 3×(3-1) + 1×(9-3) units
    assert total_units(9, 3) == 21
    assert total_units(9, 3, from_rung=1) == 12


def test_reduction_factor_error_names_value_and_rule():
    with pytest.raises(ValueError, match="reduction factor is 1, but must be >= 2"):
        SuccessiveHalving(range(9), eta=1)


def test_synchronous_halving_promotes_top_third_of_each_rung():
    scores = {i: s for i, s in enumerate([0.1, 0.9, 0.5, 0.3, 0.8, 0.2, 0.7, 0.4, 0.6])}
    sh = SuccessiveHalving(list(range(9)), eta=3, min_resource=2.0)
    jobs = run_all(sh, scores)
    rung0 = [j.trial_id for j in jobs if j.rung == 0]
    rung1 = [j.trial_id for j in jobs if j.rung == 1]
    rung2 = [j.trial_id for j in jobs if j.rung == 2]
    assert rung0 == list(range(9))          # every candidate runs before any promotion
    assert rung1 == [1, 4, 6]               # the top three, best first
    assert rung2 == [1]
    assert [j.resource for j in jobs if j.trial_id == 1] == [2.0, 6.0, 18.0]
    assert sh.finished and sh.best() == 1


def test_minimise_mode_and_failed_trials_rank_last():
    scores = {0: None, 1: 0.5, 2: 0.1, 3: float("nan")}
    sh = SuccessiveHalving([0, 1, 2, 3], eta=2, mode="min")
    jobs = run_all(sh, scores)
    assert [j.trial_id for j in jobs if j.rung == 1] == [2, 1]
    assert sh.best() == 2


def test_decisions_wait_until_rung_closes():
    sh = SuccessiveHalving([0, 1, 2], eta=3)
    decisions = []
    for _ in range(3):
        job = sh.suggest()
        decisions.append(sh.on_trial_result(job.trial_id, {0: 0.2, 1: 0.9, 2: 0.5}[job.trial_id]))
    assert decisions[:2] == [Decision.WAIT, Decision.WAIT]
    assert decisions[2] == Decision.STOP     # trial 2 was not the best
    assert sh.suggest().trial_id == 1


def test_all_failed_finishes_without_winner():
    sh = SuccessiveHalving([0, 1, 2], eta=3)
    run_all(sh, {0: None, 1: None, 2: None})
    assert sh.finished and sh.best() is None


def test_result_for_unknown_job_is_an_error():
    sh = SuccessiveHalving([0, 1])
    with pytest.raises(ValueError, match="no job running"):
        sh.on_trial_result(5, 0.1)


def test_best_prefers_deepest_rung_evidence_when_cut_short():
    sh = SuccessiveHalving(list(range(3)), eta=3)
    for tid, s in [(0, 0.1), (1, 0.3), (2, 0.2)]:
        assert sh.suggest().trial_id == tid
        sh.on_trial_result(tid, s)
    # budget ran out before rung 1 finished: best is still known
    assert sh.best() == 1


def test_top_k_ties_break_by_trial_id():
    assert top_k({3: 0.5, 1: 0.5, 2: 0.1}, 2) == [1, 3]
