"""The default-histories builder: suite entries, --only, --no-fit."""

from pathlib import Path

import pytest

from hpo_agent.trainer import build_default
from hpo_agent.trainer.history import load_table, read_table

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.integration


def test_suite_entries_are_unique_variants():
    keys = [(e.task, e.max_train, e.design) for e in build_default.DEFAULT_SUITE]
    assert len(keys) == len(set(keys))


def test_suite_task_is_built_with_the_entry_options_and_unknown_variants_are_named():
    task = build_default.suite_task("imdb@n4000")  # built lazily: no data is read here
    assert task.max_train == 4000 and task.max_length == 64 and task.max_validation == 300
    with pytest.raises(ValueError, match="sst2_minilm@n4000"):
        build_default.suite_task("imdb@n5")


def test_each_suite_entry_has_the_fidelities_the_committed_table_records_for_it():
    # A changed schedule without the histories to match (trainer/deepen.py) would fit on one schedule
    # and collect new configs on another.
    table = load_table(ROOT / "histories" / "default.parquet")
    table = table[table["outcome"] == "complete"]
    for entry in build_default.DEFAULT_SUITE:
        recorded = {tuple(s) for s in table.loc[table["task"] == build_default.variant_id(entry), "fidelity_steps"]}
        assert recorded == {tuple(entry.fidelity_steps)}, build_default.variant_id(entry)


def test_only_one_task_collects_that_task_and_writes_the_table(tmp_path):
    csv = tmp_path / "h.csv"
    code = build_default.main(["--quick", "--only", "iris", "--no-fit", "--storage", str(tmp_path / "h.db"),
                               "--csv", str(csv)])
    assert code == 0
    table = read_table(csv)
    assert set(table["task"]) == {"iris"} and set(table["design"]) == {"random", "grid"}
    assert len(table) == 10  # --quick: 5 configs per suite entry


def test_a_fresh_store_is_seeded_from_the_committed_table_and_nothing_runs_twice(tmp_path, capsys):
    csv = tmp_path / "h.csv"
    first = ["--quick", "--only", "iris", "--no-fit", "--storage", str(tmp_path / "a.db"), "--csv", str(csv)]
    assert build_default.main(first) == 0
    committed = read_table(csv)
    capsys.readouterr()
    # a fresh clone: the table is committed, the store is not
    assert build_default.main(["--quick", "--only", "iris", "--no-fit", "--storage", str(tmp_path / "b.db"),
                               "--csv", str(csv)]) == 0
    out = capsys.readouterr().out
    assert out.count("with 10 committed trial(s) of iris") == 1 and out.count("collected {'iris': 0}") == 2  # both designs: nothing new
    again = read_table(csv)
    assert len(again) == len(committed) == 10
    assert list(again["design"]) == list(committed["design"])  # the committed rows, as they were


def test_memory_probes_measure_recorded_configs_resumably(tmp_path):
    from hpo_agent import devices

    if not devices.peak_tracking_available():
        pytest.skip("measuring working sets needs Linux's /proc/self/clear_refs")
    db, mem = str(tmp_path / "h.db"), tmp_path / "m.csv"
    args = ["--quick", "--only", "iris", "--no-fit", "--storage", db, "--csv", str(tmp_path / "h.csv"),
            "--memory", "--memory-csv", str(mem)]
    assert build_default.main(args) == 0
    table = read_table(mem)
    assert set(table["task"]) == {"iris"} and len(table) == 3  # --quick: 3 probes per variant
    assert (table["estimated_working_set_bytes"] > 0).all() and (table["working_set_bytes"] > 0).all()
    assert build_default.main(args) == 0  # a rerun measures nothing new
    assert len(read_table(mem)) == 3
