"""Deepening histories (trainer/deepen.py): which trials are short, the journal, the table update."""

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from hpo_agent.trainer import deepen
from hpo_agent.trainer.history import load_table, save_table

ROOT = Path(__file__).resolve().parents[1]


def _table(steps_per_row, outcomes=None):
    n = len(steps_per_row)
    return pd.DataFrame({
        "task": ["t"] * n, "study": ["t|mlp|cpu"] * n, "number": list(range(n)),
        "outcome": outcomes or ["complete"] * n, "value": [0.5] * n,
        "fidelity_steps": steps_per_row, "fidelity_values": [[0.1] * len(s) for s in steps_per_row],
        "train_seconds_at_fidelity": [[1.0] * len(s) for s in steps_per_row],
        "wall_time_s": [2.0] * n, "peak_rss_bytes": [100] * n,
        "param.learning_rate": [0.01 * (i + 1) for i in range(n)], "param.optimizer": ["adam"] * n,
    })


def test_short_trials_are_the_finished_ones_recorded_at_a_strict_prefix():
    table = _table([[8, 24], [8, 24, 96], [8], [24, 96], [8, 24]], outcomes=["complete"] * 4 + ["oom"])
    got = deepen.pending(table, "t", [8, 24, 96])
    assert [i for i, _ in got] == [0, 2]  # done already, other schedule and OOM are left alone
    assert got[0][1] == {"learning_rate": 0.01, "optimizer": "adam"}
    assert deepen.pending(table, "other", [8, 24, 96]) == []


def test_prefix_diff_and_strict_prefix():
    assert deepen.is_strict_prefix([8, 24], [8, 24, 96])
    assert not deepen.is_strict_prefix([8, 24, 96], [8, 24, 96])
    assert not deepen.is_strict_prefix([8, 30], [8, 24, 96])
    assert deepen.prefix_diff([0.5, 0.6], [0.5, 0.65, 0.7]) == pytest.approx(0.05)
    assert deepen.prefix_diff([0.5, 0.6], [0.5]) is None


def test_apply_run_replaces_the_row_and_a_partial_run_has_no_value():
    table = _table([[8, 24], [8, 24]])
    run = {"outcome": "complete", "values": [0.1, 0.2, 0.7], "train_seconds_at_fidelity": [1, 3, 12],
           "wall_time_s": 15.0, "peak_rss_bytes": 300}
    deepen.apply_run(table, 0, [8, 24, 96], run)
    assert table.loc[0, "value"] == 0.7 and table.loc[0, "fidelity_steps"] == [8, 24, 96]
    assert table.loc[0, "wall_time_s"] == 15.0 and table.loc[0, "peak_rss_bytes"] == 300
    deepen.apply_run(table, 1, [8, 24, 96], dict(run, outcome="oom", values=[0.1, 0.2]))
    assert math.isnan(table.loc[1, "value"]) and table.loc[1, "outcome"] == "oom"
    assert table.loc[1, "fidelity_steps"] == [8, 24]


def test_the_journal_keeps_runs_to_these_steps_and_skips_a_torn_line(tmp_path):
    path = tmp_path / "j.jsonl"
    good = {"schema": deepen.JOURNAL_SCHEMA, "study": "s", "number": 3, "steps": [8, 24, 96], "values": [1, 2, 3]}
    path.write_text(json.dumps(good) + "\n" + json.dumps(dict(good, number=4, steps=[8, 24, 48])) + "\n"
                    + '{"schema": 1, "stu')
    assert list(deepen.read_journal(path, [8, 24, 96])) == [("s", 3)]


def test_deepen_journals_each_run_and_updates_the_table_once_all_are_done(tmp_path):
    committed = load_table(ROOT / "histories" / "default.parquet")
    rows = committed[committed["task"] == "wine@n60"].head(2).reset_index(drop=True)
    path = tmp_path / "h.parquet"
    save_table(rows, path)
    # First recompute the rows here, so that the check below compares runs of this machine.
    assert deepen.deepen(str(path), "wine@n60", [20, 60, 180, 200], log=lambda line: None)["table_updated"]
    steps = [20, 60, 180, 200, 220]
    first = deepen.deepen(str(path), "wine@n60", steps, limit=1, log=lambda line: None)
    assert (first["trained"], first["table_updated"]) == (1, False)
    assert load_table(path)["fidelity_steps"].map(len).tolist() == [4, 4]  # not yet: one is still short
    assert len(deepen.journal_path(path, "wine@n60").read_text().splitlines()) == 1
    second = deepen.deepen(str(path), "wine@n60", steps, log=lambda line: None)
    assert (second["journaled"], second["trained"], second["table_updated"]) == (1, 1, True)
    assert second["largest_prefix_diff"] == 0.0  # the re-run retraces the recorded schedule exactly
    after = load_table(path)
    assert after["fidelity_steps"].tolist() == [steps, steps]
    assert after["value"].tolist() == [v[-1] for v in after["fidelity_values"]]
    assert not deepen.journal_path(path, "wine@n60").exists()
    assert deepen.deepen(str(path), "wine@n60", steps, log=lambda line: None)["short"] == 0


def test_cli_rejects_an_unknown_variant_and_bad_steps(tmp_path, capsys):
    path = tmp_path / "h.parquet"
    save_table(_table([[8, 24]]), path)
    assert deepen.main(["--task", "nope", "--steps", "8,24,96", "--table", str(path)]) == 2
    assert "not a variant of the default suite" in capsys.readouterr().err
    assert deepen.main(["--task", "wine@n60", "--steps", "24,8", "--table", str(path)]) == 2
    with pytest.raises(SystemExit) as exc:
        deepen.main(["--task", "wine@n60", "--steps", "8,x", "--table", str(path)])
    assert exc.value.code == 2
