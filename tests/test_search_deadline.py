"""The search loop leaves each trial time to evaluate before the training deadline (agent/search.py)."""

import os
import time
from types import SimpleNamespace

import pytest

from hpo_agent.agent import search
from hpo_agent.agent.candidates import Candidate
from hpo_agent.agent.deadline import TrainClock
from hpo_agent.agent.errors import BudgetError
from hpo_agent.agent.journal import Journal
from hpo_agent.agent.scheduler import SuccessiveHalving
from hpo_agent.agent.tune import TuneOptions, TuneState

EVAL_S = 0.3  # each fake trial spends this long "evaluating", outside its training steps


class SlowEvalRunner:
    """Returns at once from training, then sleeps as a slow validation would."""

    pid = os.getpid()  # the resource monitor samples this process

    def __init__(self):
        self.specs = []

    def run(self, spec, timeout_s):
        self.specs.append(spec)
        time.sleep(EVAL_S)
        return {"outcome": "complete", "metrics": {"accuracy": 0.5 + 0.01 * spec["trial_id"]}, "steps": 1,
                "train_seconds": 0.0, "train_increment_s": 0.0}


def _run(tmp_path, train_deadline, n=3, plan_deadline=None):
    opts = TuneOptions(task="iris", budget_s=60.0, n_candidates=n, min_budget_s=0.5)  # above the "too little" floor; nothing trains here
    state = TuneState(opts, tmp_path)
    state.candidates = [Candidate({"i": i}, 0.0) for i in range(n)]
    journal = Journal.create(tmp_path / "journal.jsonl", {"task": "iris", "candidates": []})
    task = SimpleNamespace(metric=SimpleNamespace(name="accuracy", direction="max"))
    runner = SlowEvalRunner()
    search._loop(state, task, journal, SuccessiveHalving(list(range(n)), eta=3), runner, "cpu", n, 3,
                 plan_deadline or train_deadline, TrainClock(train_deadline, 0.0, adaptive=False), tmp_path,
                 lambda *a, **k: None)
    return state, runner


def test_trials_stop_training_early_enough_to_evaluate_by_the_deadline(tmp_path):
    deadline = time.monotonic() + 60.0
    state, runner = _run(tmp_path, deadline)
    assert len(runner.specs) == 4  # 3 at rung 0, the best one at rung 1
    # before any trial is measured the default overhead is kept back, then the measured one
    assert runner.specs[0]["deadline"] == deadline - search.DEFAULT_OVERHEAD_S
    assert all(s["deadline"] <= deadline - EVAL_S for s in runner.specs[1:])


def test_no_trial_starts_that_could_only_evaluate(tmp_path):
    # 0.2 s to the training deadline, less than a trial's expected overhead: starting one would end
    # past it (the rung was planned on a longer horizon, as when the report reserve grew meanwhile)
    state, runner = _run(tmp_path, time.monotonic() + 0.2, plan_deadline=time.monotonic() + 60.0)
    assert runner.specs == [] and state.results == []


def test_the_test_phase_is_one_more_job_for_the_runner_the_trials_used(tmp_path, monkeypatch):
    import pytest

    from hpo_agent.agent import tune, worker
    from hpo_agent.agent.errors import TuneError

    state = TuneState(TuneOptions(task="iris", budget_s=60.0), tmp_path, isolated=True)
    state.candidates = [Candidate({"learning_rate": 0.01}, 0.5), Candidate({"learning_rate": 0.1}, 0.4)]
    state.best_trial = 1

    class Runner:
        def __init__(self, warm, out):
            self.warm, self.out, self.specs = warm, out, []

        def run(self, spec, timeout_s=None):
            self.specs.append(spec)
            return self.out

        def close(self):
            pass

    child = Runner(True, {"outcome": "complete", "metrics": {"accuracy": 0.9}})
    tune._evaluate_best(state, None, child, "cpu")
    (job,) = child.specs
    assert job["evaluate"] == "test" and job["config"] == {"learning_rate": 0.1}
    assert job["checkpoint"].endswith("trial-1.pt") and state.best_test == {"accuracy": 0.9}

    # a child retired after an out-of-memory is not restarted cold for this: this process evaluates
    here = Runner(True, {"outcome": "complete", "metrics": {"accuracy": 0.8}})
    monkeypatch.setattr(worker, "InProcessRunner", lambda task: here)
    retired = Runner(False, None)
    tune._evaluate_best(state, None, retired, "cpu")
    assert retired.specs == [] and len(here.specs) == 1 and state.best_test == {"accuracy": 0.8}

    broken = Runner(True, {"outcome": "oom", "error": "trial process killed (exit -9)"})
    with pytest.raises(TuneError, match=r"test evaluation of the best trial \(1\) failed: trial process killed"):
        tune._evaluate_best(state, None, broken, "cpu")


def test_a_min_budget_the_first_rung_cannot_hold_is_a_budget_error(tmp_path):
    n = 3
    opts = TuneOptions(task="iris", budget_s=60.0, n_candidates=n, min_budget_s=100.0)
    state = TuneState(opts, tmp_path)
    state.candidates = [Candidate({"i": i}, 0.0) for i in range(n)]
    journal = Journal.create(tmp_path / "journal.jsonl", {"task": "iris", "candidates": []})
    task = SimpleNamespace(metric=SimpleNamespace(name="accuracy", direction="max"))
    runner = SlowEvalRunner()
    deadline = time.monotonic() + 60.0
    with pytest.raises(BudgetError, match="--min-budget 100s for each of 3 first-rung trials needs 300s"):
        search._loop(state, task, journal, SuccessiveHalving(list(range(n)), eta=3), runner, "cpu", n, 3,
                     deadline, TrainClock(deadline, 0.0, adaptive=False), tmp_path, lambda *a, **k: None)
    assert runner.specs == []  # nothing trained
