"""Borderline configs get a one-step probe; out-of-memory ones are replaced from the ranking."""

from hpo_agent.agent.candidates import Candidate
from hpo_agent.agent.probe import is_borderline, probe_spec, select_with_probes

MIB = 2 ** 20


def _ranked(sizes):
    return [Candidate({"batch_size": b}, predicted=1.0 - i / 10) for i, b in enumerate(sizes)]


def _estimate(config):
    return config["batch_size"] * MIB


def test_borderline_band():
    assert is_borderline(80 * MIB, 100 * MIB)
    assert is_borderline(100 * MIB, 100 * MIB)
    assert not is_borderline(69 * MIB, 100 * MIB)
    assert not is_borderline(101 * MIB, 100 * MIB)
    assert not is_borderline(80 * MIB, None)


def test_clear_fits_are_not_probed_and_over_budget_is_skipped():
    calls = []
    chosen, skipped, probes = select_with_probes(_ranked([120, 10, 20]), 2, _estimate, 100 * MIB,
                                                 lambda c: calls.append(c) or {"outcome": "complete"})
    assert [c.config["batch_size"] for c in chosen] == [10, 20]
    assert calls == [] and probes == []
    assert [s["config"]["batch_size"] for s in skipped] == [120]


def test_probe_oom_is_dropped_and_replaced_and_a_pass_is_kept_above_the_headroom_line():
    answers = {95: {"outcome": "oom", "error": "MemoryError"}, 90: {"outcome": "complete"}}
    seen = []

    def probe(cand):
        seen.append(cand.config["batch_size"])
        return answers[cand.config["batch_size"]]

    chosen, skipped, probes = select_with_probes(_ranked([95, 90, 10, 5]), 2, _estimate, 100 * MIB, probe)
    assert [c.config["batch_size"] for c in chosen] == [90, 10]   # 90 passed its probe: kept
    assert seen == [95, 90]                                       # each probed once
    assert [(p["config"]["batch_size"], p["outcome"]) for p in probes] == [(95, "oom"), (90, "complete")]
    assert skipped == [{"config": {"batch_size": 95}, "predicted": 1.0, "estimated_bytes": 95 * MIB,
                        "limit_bytes": 100 * MIB, "reason": "ran out of memory in a one-step probe"}]


def test_probes_are_bounded():
    chosen, skipped, probes = select_with_probes(_ranked([99, 98, 97, 96, 10]), 2, _estimate, 100 * MIB,
                                                 lambda c: {"outcome": "oom"}, max_probes=2)
    assert len(probes) == 2
    assert [c.config["batch_size"] for c in chosen] == [97, 96]  # unprobed once the limit is hit


def test_probe_spec_is_one_step_and_keeps_nothing():
    spec = probe_spec({"batch_size": 8}, seed=3, device="cpu")
    assert spec["probe"] is True and "checkpoint" not in spec and spec["seed"] == 3


def test_a_probe_job_trains_one_step_in_the_runner():
    from hpo_agent.agent.tasks import get_task
    from hpo_agent.agent.worker import InProcessRunner

    task = get_task("iris", seed=0)
    config = {"learning_rate": 1e-3, "batch_size": 16, "num_layers": 2, "dropout": 0.1,
              "optimizer": "adam", "weight_decay": 0.0}
    out = InProcessRunner(task).run(probe_spec(config, seed=0, device="cpu"))
    assert out["outcome"] == "complete" and out["probe"] is True and out["steps"] == 1


def test_tune_under_a_small_memory_limit_probes_and_finishes(tmp_path):
    """The issue's run, shortened: digits under a cap that puts every candidate near the budget.
    (At 900 MiB every probe here runs out of memory: this process alone is ~800 MiB.)"""
    from hpo_agent.agent.report import build_report
    from hpo_agent.agent.tune import TuneOptions, run_tune

    opts = TuneOptions(task="digits", budget_s=50.0, out_dir=tmp_path, n_candidates=3,
                       memory_limit_bytes=1100 * MIB, task_options={"max_train": 300})
    state = run_tune(opts)
    report = build_report(state)
    assert report["memory_budget_bytes"] == 1100 * MIB
    assert report["memory_probes"], "digits estimates (~850-950 MiB) are all within 30 % of a 1100 MiB budget"
    for probe in report["memory_probes"]:
        assert probe["outcome"] in ("complete", "oom") and probe["estimated_bytes"] <= 1100 * MIB
    assert all(s["reason"] for s in report["skipped"])
    assert {t["outcome"] for t in report["trials"]} <= {"complete", "pruned", "oom", "failed"}
    assert report["best"] is not None


def test_cli_when_nothing_fits_says_so_in_one_line_and_keeps_the_report(tmp_path):
    from click.testing import CliRunner

    from hpo_agent.agent.cli import cli

    result = CliRunner().invoke(cli, ["tune", "--task", "iris", "--budget", "40s", "--candidates", "2",
                                       "--memory-limit", "700MB", "--out", str(tmp_path)])
    assert result.exit_code == 1, result.output
    line = result.output.strip().splitlines()[-1]
    assert "ran out of memory under" in line or "no candidate config fits" in line, line
    if "report:" in line:
        assert (tmp_path / "iris" / "report.json").is_file()
