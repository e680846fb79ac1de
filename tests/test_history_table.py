"""Committed history tables (CSV/Parquet) read back like a store."""

import math

import pandas as pd
import pytest

from hpo_agent.trainer.history import (is_table_path, load_histories, load_table, merge_histories, row_config,
                                       save_table)


def test_table_round_trip_parses_list_columns(tmp_path):
    frame = pd.DataFrame([{"task": "a", "value": 0.5, "fidelity_steps": [1, 3], "fidelity_values": [0.1, 0.5],
                           "train_seconds_at_fidelity": [0.2, 0.6]},
                          {"task": "b", "value": float("nan"), "fidelity_steps": [1, 3], "fidelity_values": [],
                           "train_seconds_at_fidelity": []}])
    path = tmp_path / "h.csv"
    save_table(frame, path)
    back = load_table(path)
    assert back.loc[0, "fidelity_values"] == [0.1, 0.5] and back.loc[1, "fidelity_steps"] == [1, 3]
    assert math.isnan(back.loc[1, "value"])
    assert list(load_histories(str(path), tasks=["b"])["task"]) == ["b"]


def test_table_paths_are_told_apart_from_stores():
    assert is_table_path("histories/default.csv") and is_table_path("x.PARQUET")
    assert not is_table_path("histories.db") and not is_table_path("postgresql://h/db.csv")


def test_missing_table_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_table(tmp_path / "nope.csv")


def test_merge_adds_only_the_trials_the_committed_table_lacks():
    base = pd.DataFrame({"study": ["a|mlp|cpu", "a|mlp|cpu"], "number": [0, 1], "design": ["random", "random"],
                         "param.lr": [0.1, 0.01], "param.opt": ["sgd", "adam"], "value": [0.5, 0.7],
                         "fidelity_values": [[0.4, 0.5], [0.6, 0.7]]})
    new = pd.DataFrame({"study": ["a|mlp|cpu", "a|mlp|cpu", "b|mlp|cpu", "a|mlp|cpu"], "number": [0, 2, 0, 3],
                        "design": [None, "random", "grid", "random"], "param.lr": [0.1, 0.001, 0.1, 0.1],
                        "param.opt": ["sgd", "sgd", "sgd", "adam"], "value": [0.5, 0.6, 0.9, 0.2],
                        "fidelity_values": [[0.5], [0.6], [0.9], [0.2]], "working_set_scope": [None, "train", "train", "train"]})
    merged = merge_histories(base, new)
    # the imported copy of base's first trial is not added again; the same config in another study is
    assert list(zip(merged["study"], merged["number"])) == [("a|mlp|cpu", 0), ("a|mlp|cpu", 1), ("a|mlp|cpu", 2),
                                                            ("b|mlp|cpu", 0), ("a|mlp|cpu", 3)]
    assert merged["fidelity_values"][0] == [0.4, 0.5] and merged["design"][0] == "random"  # base rows as they were
    assert merged["working_set_scope"].isna()[:2].all() and merged["working_set_scope"][2] == "train"
    # an empty store (rebuilding from the committed table alone) adds nothing and keeps base as it is
    assert merge_histories(base, pd.DataFrame()) is base


def test_whole_number_columns_with_gaps_are_written_as_integers(tmp_path):
    frame = pd.DataFrame({"task": ["a", "b"], "peak_rss_bytes": [904122368.0, float("nan")], "value": [1.0, 0.5]})
    save_table(frame, tmp_path / "h.csv")
    lines = (tmp_path / "h.csv").read_text().splitlines()
    assert lines[1] == "a,904122368,1.0" and lines[2] == "b,,0.5"
    assert load_table(tmp_path / "h.csv")["peak_rss_bytes"][0] == 904122368


def test_row_config_is_the_param_columns_as_plain_values_without_missing_ones():
    frame = pd.DataFrame({"task": ["a", "a"], "param.learning_rate": [1e-3, 1e-2], "param.batch_size": [32, 64],
                          "param.optimizer": ["adam", "sgd"], "param.momentum": [float("nan"), 0.9]})
    first, second = (row_config(row) for _, row in frame.iterrows())
    assert first == {"learning_rate": 1e-3, "batch_size": 32, "optimizer": "adam"}
    assert type(first["batch_size"]) is int and second["momentum"] == 0.9
