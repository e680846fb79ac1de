"""Trials in a child process: a real out-of-memory inside the cap, and a child killed by the OS."""

import os
import signal
import threading
import time

import pytest

from hpo_agent.agent.worker import ChildProcessRunner, InProcessRunner

pytestmark = pytest.mark.integration

SMALL = {"learning_rate": 1e-3, "batch_size": 8, "num_layers": 1, "dropout": 0.0, "optimizer": "adam",
         "weight_decay": 0.0}
HUGE = dict(SMALL, batch_size=128, num_layers=24)


def spec(tmp_path, config, trial_id, seconds=0.5):
    return {"trial_id": trial_id, "rung": 0, "config": config, "seconds": seconds, "deadline": None,
            "seed": trial_id, "device": "cpu", "checkpoint": str(tmp_path / f"trial-{trial_id}.pt")}


@pytest.mark.skipif(not os.uname().sysname == "Linux", reason="RLIMIT_AS caps need Linux")
def test_allocation_past_the_cap_is_an_oom_outcome_and_the_worker_goes_on(tmp_path):
    # A limit below the child's resident size → the child gets only the minimum (128 MiB) on top:
    # the huge config needs ~560 MiB more, the tiny one a few MiB.
    runner = ChildProcessRunner("digits_x2", {}, seed=0, memory_limit_bytes=1)  # 16×16 images
    try:
        runner.start()
        huge = runner.run(spec(tmp_path, HUGE, 0), timeout_s=120)
        assert huge["outcome"] == "oom", huge
        assert runner.pid is None  # retired: its address space still holds the failed trial's arenas
        small = runner.run(spec(tmp_path, SMALL, 1), timeout_s=120)
        assert small["outcome"] == "complete", small
        assert 0.0 <= small["metrics"]["accuracy"] <= 1.0 and small["steps"] > 0
    finally:
        runner.close()


def test_child_killed_by_the_os_is_an_oom_and_a_fresh_child_takes_over(tmp_path):
    runner = ChildProcessRunner("iris", {}, seed=0)
    try:
        runner.start()
        pid = runner.pid
        killer = threading.Timer(1.0, lambda: os.kill(pid, signal.SIGKILL))  # what the OOM killer does
        killer.start()
        t0 = time.monotonic()
        killed = runner.run(spec(tmp_path, SMALL, 0, seconds=30), timeout_s=120)
        assert killed["outcome"] == "oom" and "killed" in killed["error"], killed
        assert time.monotonic() - t0 < 20
        again = runner.run(spec(tmp_path, SMALL, 1), timeout_s=120)
        assert again["outcome"] == "complete" and runner.pid != pid
    finally:
        runner.close()


def test_the_test_phase_runs_in_the_warm_child_and_matches_this_process(tmp_path):
    from hpo_agent.agent.tasks import get_task

    runner = ChildProcessRunner("iris", {}, seed=0)
    try:
        assert not runner.warm
        assert runner.run(spec(tmp_path, SMALL, 0))["outcome"] == "complete"
        assert runner.warm
        job = dict(spec(tmp_path, SMALL, 0), evaluate="test", seed=0)
        there = runner.run(job, timeout_s=120)
    finally:
        runner.close()
    assert not runner.warm
    here = InProcessRunner(get_task("iris")).run(job)
    assert there["outcome"] == here["outcome"] == "complete", (there, here)
    assert 0.0 <= there["metrics"]["accuracy"] <= 1.0 and there["metrics"] == here["metrics"]


def test_in_process_failure_is_recorded_not_raised(tmp_path):
    from hpo_agent.agent.tasks import get_task

    runner = InProcessRunner(get_task("iris"))
    out = runner.run(spec(tmp_path, dict(SMALL, optimizer="adagrad"), 0))
    assert out["outcome"] == "failed" and "adagrad" in out["error"]


def test_in_process_runner_freezes_what_precedes_the_first_trial_and_still_collects_trial_garbage(tmp_path):
    import gc
    import weakref

    from hpo_agent.agent.tasks import get_task

    class Node:
        pass

    runner = InProcessRunner(get_task("iris"))
    try:
        assert runner.run(spec(tmp_path, SMALL, 0, seconds=0.05))["outcome"] == "complete"
        assert gc.get_freeze_count() > 0  # the long-lived objects no longer rescanned after each trial
        cycle = Node()
        cycle.self = cycle  # garbage only a collection frees, made after the freeze, as a trial's would be
        ref = weakref.ref(cycle)
        del cycle
        gc.disable()  # no automatic collection: only the runner's may free it
        try:
            assert runner.run(spec(tmp_path, SMALL, 1, seconds=0.05))["outcome"] == "complete"
            assert ref() is None
        finally:
            gc.enable()
    finally:
        runner.close()
    assert gc.get_freeze_count() == 0  # closed: the run's objects are the collector's again
