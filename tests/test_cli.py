"""CLI behaviour through click's CliRunner and, for start-up cost, a real subprocess."""

import json
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from hpo_agent.agent.cli import cli


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def test_help_lists_every_command():
    result = invoke("--help")
    assert result.exit_code == 0
    for name in ("tune", "collect", "fit", "export", "devices", "tasks", "inspect"):
        assert name in result.output


def test_help_imports_nothing_heavy_and_is_fast():
    code = ("import sys, time; t=time.perf_counter(); from hpo_agent.agent.cli import main\n"
            "try:\n main(['--help'])\nexcept SystemExit: pass\n"
            "heavy=[m for m in ('torch','sklearn','onnxruntime','transformers','datasets','optuna') if m in sys.modules]\n"
            "print('HEAVY', heavy, time.perf_counter()-t)")
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    wall = time.perf_counter() - t0
    line = [l for l in out.splitlines() if l.startswith("HEAVY")][0]
    assert line.startswith("HEAVY []"), line
    assert wall < 5.0  # generous for a loaded CI box; the README's figure comes from a real timing


@pytest.mark.parametrize("budget", ["30x", "abc", "1m1h", "0s"])
def test_bad_budget_is_one_line_exit_2(budget):
    result = invoke("tune", "--task", "digits", "--budget", budget)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "budget" in lines[0] and "Traceback" not in result.output


def test_unknown_task_is_a_usage_error():
    result = invoke("tune", "--task", "nope", "--budget", "1m")
    assert result.exit_code == 2
    assert "unknown task 'nope'" in result.output and "digits" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_unknown_option_is_one_line_exit_2():
    result = invoke("tune", "--budget", "1m", "--bogus")
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1


def test_missing_or_corrupt_model_is_one_line_exit_1(tmp_path):
    result = invoke("tune", "--task", "iris", "--budget", "1m", "--model", str(tmp_path / "none.onnx"),
                    "--out", str(tmp_path))
    assert result.exit_code == 1, result.output
    assert "meta-model file not found" in result.output
    bad = tmp_path / "bad.onnx"
    bad.write_text("garbage")
    result = invoke("tune", "--task", "iris", "--budget", "1m", "--model", str(bad), "--out", str(tmp_path))
    assert result.exit_code == 1 and "not a readable ONNX model" in result.output
    assert "Traceback" not in result.output


def _bad_data_files(tmp_path):
    (tmp_path / "empty.csv").write_text("text,label\n")
    (tmp_path / "bad.parquet").write_text("not parquet")
    (tmp_path / "notes.npz").write_text("not an archive")
    (tmp_path / "cols.csv").write_text("a,b\n1,2\n3,4\n")
    return {"csv:empty.csv": "empty.csv has no data rows", "csv:bad.parquet": "bad.parquet as parquet",
            "npz:notes.npz": "is not a NumPy .npz file", "csv:cols.csv": "has no column 'text'",
            "csv:missing.csv": "missing.csv does not exist"}


def test_unusable_data_is_one_line_exit_1(tmp_path):
    for task, expected in _bad_data_files(tmp_path).items():
        scheme, name = task.split(":")
        result = invoke("tune", "--task", f"{scheme}:{tmp_path / name}", "--budget", "1m", "--out", str(tmp_path / "runs"))
        last = result.output.strip().splitlines()[-1]
        assert result.exit_code == 1, (task, result.output)
        assert last.startswith("hpo-agent: error: ") and expected in last, (task, last)
        assert "Traceback" not in result.output and "Error:" not in last and "--debug" not in last, (task, last)


@pytest.mark.parametrize("option, expected", [("foo=1", "does not take option 'foo'"),
                                              ("task_type=ranking", "must be 'classification' or 'regression'")])
def test_task_option_the_task_does_not_take_is_exit_2(tmp_path, option, expected):
    data = tmp_path / "d.csv"
    data.write_text("text,label\n" + "".join(f"row {i},{i % 2}\n" for i in range(20)))
    result = invoke("tune", "--task", f"csv:{data}", "--task-option", option, "--budget", "1m",
                    "--out", str(tmp_path / "runs"))
    assert result.exit_code == 2, result.output
    assert expected in result.output.strip().splitlines()[-1]


def test_resume_without_journal_says_so(tmp_path):
    result = invoke("tune", "--task", "iris", "--budget", "1m", "--resume", "--out", str(tmp_path))
    assert result.exit_code == 1
    assert "no journal" in result.output


def test_tasks_lists_the_embedded_default():
    result = invoke("tasks")
    assert result.exit_code == 0 and "digits" in result.output


def test_devices_json():
    result = invoke("devices", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["detected"]["kind"] in ("cpu", "cuda", "jetson")
    assert "jetson-orin-nano-8gb" in data["profiles"]


def test_bad_memory_limit_and_device_profile():
    result = invoke("tune", "--budget", "1m", "--memory-limit", "3.5XB")
    assert result.exit_code == 2 and "3.5XB" in result.output
    result = invoke("tune", "--budget", "1m", "--device", "jetson-nope")
    assert result.exit_code == 2 and "unknown device profile" in result.output


def test_brackets_must_be_at_least_one():
    result = invoke("tune", "--budget", "1m", "--brackets", "0")
    assert result.exit_code == 2 and "--brackets" in result.output and "0" in result.output


def test_brackets_rejects_words_other_than_auto():
    result = invoke("tune", "--budget", "1m", "--brackets", "many")
    assert result.exit_code == 2 and "'many' is neither 'auto'" in result.output
    assert "Traceback" not in result.output


def test_tune_says_how_many_brackets_auto_chose(capsys):
    from hpo_agent.agent.cli.tune import _Progress

    _Progress()("brackets", brackets=3, auto=True, max_brackets=3, min_steps=20)
    _Progress()("brackets", brackets=1, auto=False, max_brackets=3, min_steps=20)  # a given single bracket: silent
    err = capsys.readouterr().err.splitlines()
    assert err == ["· 3 brackets of successive halving (--brackets auto: as many as leave each first-rung "
                   "trial ~20 steps, up to 3)"]


def test_export_of_a_file_fit_did_not_write_is_one_line_exit_1(tmp_path):
    other = tmp_path / "table.csv"
    other.write_text("task,value\na,1\n")
    result = invoke("export", str(other), "-o", str(tmp_path / "m.onnx"))
    assert result.exit_code == 1, result.output
    line = result.output.strip().splitlines()[-1]
    assert "is not a fitted meta-model written by `hpo-agent fit" in line and "--debug" not in line


@pytest.mark.parametrize("command", [("fit",), ("evaluate",), ("histories", "export", "-o", "out.csv")])
def test_missing_history_store_is_exit_2_and_not_created(tmp_path, command):
    store = tmp_path / "none.db"
    result = invoke(*command, "--storage", str(store))
    assert result.exit_code == 2, result.output
    assert "does not exist" in result.output.strip().splitlines()[-1]
    assert not store.exists()  # opening an SQLite URL would have made an empty store


def test_import_from_a_folder_that_is_no_tune_run_says_what_to_pass(tmp_path):
    result = invoke("import", "--from-tune-run", str(tmp_path), "--storage", str(tmp_path / "h.db"))
    assert result.exit_code == 1, result.output
    line = result.output.strip().splitlines()[-1]
    assert "is not a tune run: it has no journal.jsonl" in line and "hpo-runs/<task>" in line


def test_tune_out_folder_that_cannot_be_made_fails_before_any_work(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = invoke("tune", "--task", "iris", "--budget", "1m", "--out", str(blocker / "runs"))
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [result.output.strip()]  # one line: nothing ran
    assert "cannot be created" in result.output
