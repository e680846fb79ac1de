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


def test_a_later_bracket_probes_borderline_configs_under_a_cap_and_journals_them(tmp_path):
    """Under a memory cap enforced in a child process, a later bracket probes its borderline
    configs as the first bracket does; an OOM probe drops the config, and the probes are journaled
    with the bracket so that a resumed run reports them without probing again."""
    import numpy as np

    from hpo_agent.agent import search, tune
    from hpo_agent.agent.candidates import rank
    from hpo_agent.agent.metamodel import MetaModel

    model = MetaModel.load(None)
    configs = model.space.sample(np.random.default_rng(0), 30)
    budget = 10**9

    class Runner:  # the capped child: a batch over 75 runs out of memory in its one step
        pid, jobs = -1, []

        def run(self, spec, timeout_s):
            self.jobs.append(spec)
            return {"outcome": "oom" if spec["config"]["batch_size"] > 75 else "complete"}

    def make_state():
        opts = tune.TuneOptions(task="iris", budget_s=60.0, n_candidates=3, min_distance=0.0)
        state = tune.TuneState(opts, tmp_path, isolated=True, memory_budget_bytes=budget)
        state.model, state.ranked = model, rank(configs, np.array([c["batch_size"] for c in configs], dtype=float))
        state.meta_features = {name: 1.0 for name in model.meta_feature_names}  # for the cost prediction
        state.estimate = lambda c: int(budget * (0.9 if c["batch_size"] > 40 else 0.2))  # >40: borderline
        state.candidates, state.brackets = list(state.ranked[:3]), [[0, 1, 2]]  # bracket 0 ran
        return state

    journal = Journal.create(tmp_path / "journal.jsonl", {"task": "iris", "candidates": []})
    state, runner = make_state(), Runner()
    ids = search.open_bracket(state, journal, 1, "max", runner, "cpu", lambda *a, **k: None)
    chosen = [state.candidates[i].config for i in ids]
    # after a bracket of 3, Hyperband's cycle verifies 1 config: the best-ranked untried one that fits
    assert [c["batch_size"] for c in chosen] == [72]
    probed = [j["config"] for j in runner.jobs]
    # at most 2 probes per candidate wanted: 72 goes in unprobed
    assert all(j["probe"] for j in runner.jobs) and [c["batch_size"] for c in probed] == [90, 80]
    assert [p["config"] for p in state.probes] == probed
    assert [s["config"]["batch_size"] for s in state.skipped] == [90, 80]  # ran out of memory in their probe

    back, resumed, again = Journal.open(journal.path), make_state(), Runner()
    again.jobs = []
    assert search.open_bracket(resumed, back, 1, "max", again, "cpu", lambda *a, **k: None) == ids
    assert again.jobs == [] and resumed.probes == state.probes and resumed.skipped == state.skipped
