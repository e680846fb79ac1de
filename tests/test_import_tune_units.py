"""Tune journals → history records: rung-0 values, failures, and journals that cannot import."""

import pytest

from hpo_agent.agent.journal import Journal
from hpo_agent.agent.records import TrialResult
from hpo_agent.agent.space import default_space
from hpo_agent.trainer.journals import _by_trial, _record, import_tune_run

CONFIG = {"learning_rate": 1e-3, "batch_size": 16, "num_layers": 2, "dropout": 0.1, "optimizer": "adam",
          "weight_decay": 0.0}


def result(trial_id, rung, outcome="pruned", score=0.5, steps=10, seconds=1.0):
    return TrialResult(trial_id=trial_id, rung=rung, config=CONFIG, outcome=outcome, score=score, steps=steps,
                       train_seconds=seconds, peak_rss_bytes=100 + rung)


def test_value_is_the_rung_zero_score_and_later_rungs_are_intermediate():
    rungs = _by_trial([result(0, 0, score=0.4, steps=10), result(1, 0, score=0.6),
                       result(0, 1, "complete", score=0.9, steps=40, seconds=4.0)])[0]
    rec = _record(0, rungs, default_space(), "run")
    assert rec.value == 0.4 and rec.outcome == "complete" and rec.cost == 1.0
    assert rec.intermediate == {10: 0.4, 40: 0.9} and rec.peak_rss_bytes == 101
    assert rec.import_key == "run:0"


def test_out_of_memory_and_failed_first_rungs_import_as_failures():
    oom = _record(3, [result(3, 0, "oom", score=None, steps=0)], default_space(), "run")
    failed = _record(4, [result(4, 0, "failed", score=float("nan"))], default_space(), "run")
    assert oom.outcome == "oom" and failed.outcome == "failed"
    assert oom.value != oom.value and oom.cost is None  # NaN: ranks last when fitted


def test_a_journal_without_meta_features_says_why(tmp_path):
    Journal.create(tmp_path / "journal.jsonl", {"task": "iris", "metric": "accuracy"})
    with pytest.raises(ValueError, match="older hpo-agent"):
        import_tune_run(tmp_path, str(tmp_path / "h.db"))


def test_not_a_journal_is_one_line(tmp_path):
    (tmp_path / "journal.jsonl").write_text("hello\n")
    with pytest.raises(ValueError, match="not valid JSON"):
        import_tune_run(tmp_path, str(tmp_path / "h.db"))
