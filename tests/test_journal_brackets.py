"""Journal records for later brackets: written before they train, read back in order."""

import json

import pytest

from hpo_agent.agent.journal import Journal, JournalError
from hpo_agent.agent.records import TrialResult


def test_bracket_records_round_trip(tmp_path):
    path = tmp_path / "journal.jsonl"
    journal = Journal.create(path, {"task": "iris", "candidates": [{"config": {"a": 1}, "predicted": 0.5}]})
    journal.append(TrialResult(0, 0, {"a": 1}, "complete", score=0.9))
    journal.append_bracket(1, [{"config": {"a": 2}, "predicted": 0.4}])
    journal.append(TrialResult(1, 0, {"a": 2}, "complete", score=0.8))
    back = Journal.open(path)
    assert back.brackets == [[{"config": {"a": 2}, "predicted": 0.4}]]
    assert [r.trial_id for r in back.results] == [0, 1]


def test_a_version_1_journal_still_resumes(tmp_path):
    path = tmp_path / "journal.jsonl"
    path.write_text(json.dumps({"type": "header", "schema_version": 1, "task": "iris", "candidates": []}) + "\n")
    assert Journal.open(path).header["task"] == "iris"


def test_brackets_out_of_order_are_refused(tmp_path):
    path = tmp_path / "journal.jsonl"
    journal = Journal.create(path, {"task": "iris", "candidates": []})
    journal._append({"type": "bracket", "bracket": 2, "candidates": []})
    with pytest.raises(JournalError, match="bracket 2, expected 1"):
        Journal.open(path)
