"""The whole loop for real on tiny data: collect → fit → export → tune (and resume)."""

import json

import pytest
from click.testing import CliRunner

from hpo_agent.agent.cli import cli

pytest.importorskip("optuna")
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A meta-model made by the project's own CLI on two embedded tables (a few seconds)."""
    d = tmp_path_factory.mktemp("pipeline")
    db = str(d / "h.db")
    runner = CliRunner()
    for task in ("iris", "wine"):
        result = runner.invoke(cli, ["collect", "--task", task, "--storage", db, "--n-configs", "10",
                                     "--fidelities", "5,15", "--design", "sobol"])
        assert result.exit_code == 0, result.output
        assert f"ran 10 trial(s): {task} 10" in result.output
    # a rerun finds nothing missing (resumable, no duplicates)
    result = runner.invoke(cli, ["collect", "--task", "iris", "--storage", db, "--n-configs", "10",
                                 "--fidelities", "5,15", "--design", "sobol"])
    assert "ran 0 trial(s)" in result.output
    result = runner.invoke(cli, ["fit", "--storage", db, "--out", str(d / "m.joblib")])
    assert result.exit_code == 0, result.output
    assert "leave-one-task-out" in result.output
    assert "cost model: log10_train_seconds_per_step; leave-one-task-out" in result.output
    from hpo_agent.trainer.history import load_histories
    from hpo_agent.trainer.memory import MIN_ROWS, memory_rows, memory_targets
    # the trials' recorded working sets make a memory model once there are enough of them (a
    # trial on a loaded machine can record none: see test_histories_record_fidelities_costs_and_outcomes)
    import numpy as np

    rows = memory_rows(load_histories(db))
    measured = 0 if rows is None else int(np.isfinite(memory_targets(rows)).sum())
    assert ("memory model (" in result.output) == (measured >= MIN_ROWS), (measured, result.output)
    if measured >= MIN_ROWS:
        assert "% for the analytic estimate alone" in result.output
    result = runner.invoke(cli, ["export", str(d / "m.joblib"), "-o", str(d / "m.onnx")])
    assert result.exit_code == 0, result.output
    assert "parity: max abs difference" in result.output
    return d / "m.onnx"


def test_histories_record_fidelities_costs_and_outcomes(tiny_model):
    from hpo_agent.trainer.history import load_histories

    frame = load_histories(str(tiny_model.parent / "h.db"))
    assert set(frame["task"]) == {"iris", "wine"} and len(frame) == 20
    row = frame.iloc[0]
    assert row["fidelity_steps"] == [5, 15] and len(row["fidelity_values"]) == 2
    assert row["wall_time_s"] > 0 and row["peak_rss_bytes"] > 0
    # each trial's own working set (what the memory model learns from) and the analytic figure
    assert (frame["estimated_working_set_bytes"] > 0).all()
    assert set(frame["working_set_scope"]) == {"train"}  # build + first fidelity's training, no validation
    from hpo_agent import devices
    if devices.peak_tracking_available():
        measured = frame["working_set_bytes"].dropna()  # not the first trial of a process (warm-up)
        assert len(measured) >= len(frame) - 2 and (measured >= 0).all() and measured.max() > 0
    assert set(frame["outcome"]) <= {"complete", "failed", "oom"}
    assert "mf.log10_n_train" in frame.columns and "param.learning_rate" in frame.columns


def test_tune_reports_best_config_journals_every_trial_and_imports_back(tiny_model, tmp_path):
    result = CliRunner().invoke(cli, ["tune", "--task", "iris", "--budget", "25s", "--model", str(tiny_model),
                                      "--candidates", "3", "--brackets", "1", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "best: trial" in result.output
    report = json.loads((tmp_path / "iris" / "report.json").read_text())
    assert report["best"]["config"]["optimizer"] in ("adam", "sgd", "rmsprop")
    assert 0.0 <= report["best"]["test_accuracy"] <= 1.0
    assert report["training_arguments"]["per_device_train_batch_size"] == report["best"]["config"]["batch_size"]
    assert set(report["phases_s"]) >= {"detect", "describe", "score", "search", "test"}
    # the exported cost output's predictions sit beside the measured seconds per step
    speed = report["speed_check"]
    assert len(speed["candidates"]) == 3 and speed["speed_vs_histories"] > 0
    assert "cost model: this device trains" in result.output
    assert report["elapsed_s"] <= 25 + 5
    # the test phase's reserve, measured on the trials: on iris (~0.1 s per trial outside training)
    # below the planned 4 s + 2 %, and never below the report's own floor
    assert 2.0 <= report["options"]["report_reserve_s"] <= 4.0 + 0.02 * 25
    for trial in report["trials"]:
        assert trial["predicted"] is not None and trial["outcome"] in ("complete", "pruned", "failed", "oom")
    lines = (tmp_path / "iris" / "journal.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["type"] == "header"
    assert len(lines) - 1 == sum(len(t["rungs"]) for t in report["trials"]) == 3 + 1

    # The run flows back into the histories: one trial per candidate, valued at its rung-0 score.
    from hpo_agent.trainer.history import load_histories

    store = str(tmp_path / "from-device.db")
    result = CliRunner().invoke(cli, ["import", "--from-tune-run", str(tmp_path / "iris"), "--storage", store])
    assert result.exit_code == 0, result.output
    assert "3 trial(s) added" in result.output and "iris|" in result.output
    again = CliRunner().invoke(cli, ["import", "--from-tune-run", str(tmp_path / "iris" / "journal.jsonl"),
                                     "--storage", store])
    assert "0 trial(s) added, 3 already present" in again.output
    frame = load_histories(store)
    rung0 = {t["trial_id"]: t["rungs"][0]["score"] for t in report["trials"]}
    assert sorted(frame["value"]) == pytest.approx(sorted(rung0.values()))
    assert set(frame["design"]) == {"tune"} and frame["mf.log10_n_train"].notna().all()


def test_resume_replays_finished_trials_without_retraining(tiny_model, tmp_path):
    runner = CliRunner()
    args = ["tune", "--task", "iris", "--budget", "20s", "--model", str(tiny_model), "--candidates", "3",
            "--out", str(tmp_path)]
    assert runner.invoke(cli, args).exit_code == 0
    journal = tmp_path / "iris" / "journal.jsonl"
    before = journal.read_text().splitlines()
    # simulate a kill after the first rung result: keep header + one line, plus a torn line
    journal.write_text("\n".join(before[:2]) + "\n" + before[2][:20])
    result = runner.invoke(cli, args + ["--resume", "--eta", "2"])
    assert result.exit_code == 0, result.output
    # the resumed run keeps the journal's settings and says which typed option it did not take
    assert "the run keeps its own candidates 3, eta 3" in result.output and "(ignored: --eta 2)" in result.output
    after = journal.read_text().splitlines()
    assert after[:2] == before[:2]  # the finished trial is kept as it was
    report = json.loads((tmp_path / "iris" / "report.json").read_text())
    assert report["resumed_trials"] == 1
    # the default --brackets auto chose a number once, journaled it, and the resumed run kept it
    assert report["options"]["brackets_auto"] is True
    assert report["options"]["brackets"] == json.loads(before[0])["brackets"] >= len(report["brackets"]) >= 1
    assert report["trials"][0]["rungs"][0]["score"] == json.loads(before[1])["score"]


def test_sigkill_mid_run_then_resume_keeps_every_finished_trial(tiny_model, tmp_path):
    """A real process killed with SIGKILL mid-search; --resume keeps its journaled trials."""
    import os
    import shutil
    import signal
    import subprocess
    import sys
    import time

    exe = shutil.which("hpo-agent") or os.path.join(os.path.dirname(sys.executable), "hpo-agent")
    args = [exe, "tune", "--task", "iris", "--budget", "40s", "--model", str(tiny_model), "--candidates", "3",
            "--out", str(tmp_path), "--quiet"]
    journal = tmp_path / "iris" / "journal.jsonl"
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if journal.exists() and len(journal.read_text().splitlines()) >= 3:  # header + 2 trials
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    kept = [json.loads(l) for l in journal.read_text().splitlines()[1:] if l.strip().endswith("}")]
    assert len(kept) >= 2
    result = subprocess.run(args + ["--resume"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "iris" / "report.json").read_text())
    assert report["resumed_trials"] >= len(kept)
    rungs = {(t["trial_id"], r["rung"]): r for t in report["trials"] for r in t["rungs"]}
    for line in kept:  # every finished trial survives, unchanged
        assert rungs[(line["trial_id"], line["rung"])]["score"] == line["score"]


def test_brackets_choose_new_configs_journal_them_and_resume(tiny_model, tmp_path):
    runner = CliRunner()
    args = ["tune", "--task", "wine", "--budget", "30s", "--model", str(tiny_model), "--candidates", "3",
            "--brackets", "2", "--out", str(tmp_path)]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    # Hyperband's cycle: after a bracket of 3 from the bottom rung, one config trained for the whole share
    assert "bracket 2/2: verifying 1 untried config," in result.output
    report = json.loads((tmp_path / "wine" / "report.json").read_text())
    assert report["brackets"] == [[0, 1, 2], [3]] and report["options"]["brackets"] == 2
    configs = [json.dumps(t["config"], sort_keys=True) for t in report["trials"]]
    assert len(set(configs)) == 4  # the second bracket tries a config the first did not
    assert [t["bracket"] for t in report["trials"]] == [0, 0, 0, 1]
    assert report["best"]["trial_id"] in (0, 1, 2, 3) and report["elapsed_s"] <= 30 + 5
    journal = tmp_path / "wine" / "journal.jsonl"
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    kinds = [line["type"] for line in lines]
    first_of_second = next(i for i, line in enumerate(lines) if line.get("trial_id") == 3)
    assert kinds.count("bracket") == 1 and kinds.index("bracket") < first_of_second  # chosen before training

    # killed after the second bracket was journaled, before its config trained: the resumed run
    # trains that config, not a freshly chosen one
    journal.write_text("".join(json.dumps(line) + "\n" for line in lines[:first_of_second]))
    at = args.index("--brackets")
    resume = args[:at] + args[at + 2:] + ["--resume"]  # no --brackets: the journal knows
    result = runner.invoke(cli, resume)
    assert result.exit_code == 0, result.output
    again = json.loads((tmp_path / "wine" / "report.json").read_text())
    assert again["options"]["brackets"] == 2 and again["brackets"] == report["brackets"]
    assert [t["config"] for t in again["trials"]] == [t["config"] for t in report["trials"]]
    assert again["resumed_trials"] == sum(line["type"] == "trial" for line in lines[:first_of_second])
