"""Reading a history store into one flat table (pandas), one row per trial."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

import optuna

from .storage import sqlite_path, open_storage, parse_study_name, storage_url


def load_histories(storage: str, tasks: Optional[List[str]] = None) -> "pandas.DataFrame":  # noqa: F821
    """All trials of all studies in ``storage``: task columns, ``param.*``, ``mf.*``, outcome, costs.

    ``value`` is the metric at the last fidelity (NaN for failed/OOM trials); ``direction`` is
    ``max``/``min``; ``fidelity_values`` lists the metric at each fidelity step;
    ``meta_feature_version`` is ``"custom"`` for imported tables with their own meta-features
    (``mf.*`` then follow the study's ``meta_feature_names``); ``search_space`` is the study's
    search space as JSON text (what ``fit`` uses when it is not given one).

    A ``.csv`` or ``.parquet`` path is read as a table written by :func:`save_table` (the
    committed form of histories) instead of a database.
    """
    import json

    import pandas as pd

    if is_table_path(storage):
        frame = load_table(storage)
        return frame[frame["task"].isin(tasks)].reset_index(drop=True) if tasks else frame
    database = sqlite_path(storage_url(storage))
    if database is not None and not Path(database).is_file():  # opening it would create an empty one
        raise FileNotFoundError(f"history store '{storage}' does not exist; fill one with `hpo-agent collect "
                                f"--storage {storage}` or `hpo-agent import`, or pass a .csv/.parquet table")
    store = open_storage(storage)
    rows: List[Dict[str, Any]] = []
    for summary in optuna.get_all_study_summaries(store, include_best_trial=False):
        names = parse_study_name(summary.study_name)
        if tasks and names["task"] not in tasks:
            continue
        study = optuna.load_study(study_name=summary.study_name, storage=store)
        attrs = study.user_attrs
        direction = "max" if study.direction == optuna.study.StudyDirection.MAXIMIZE else "min"
        features = attrs.get("meta_features") or {}
        order = attrs.get("meta_feature_names") or list(features)
        space = attrs.get("search_space")
        space_json = json.dumps(space, sort_keys=True) if space else None
        for t in study.get_trials(deepcopy=False):
            if t.state in (optuna.trial.TrialState.WAITING, optuna.trial.TrialState.RUNNING):
                continue
            if "outcome" not in t.user_attrs:
                continue  # a trial told FAIL because the queue emptied: never ran
            row: Dict[str, Any] = dict(names, study=summary.study_name, number=t.number,
                                       metric=attrs.get("metric"), direction=direction,
                                       value=t.value if t.state == optuna.trial.TrialState.COMPLETE else float("nan"),
                                       outcome=t.user_attrs.get("outcome"),
                                       design=t.user_attrs.get("design"),
                                       wall_time_s=t.user_attrs.get("wall_time_s"),
                                       peak_rss_bytes=t.user_attrs.get("peak_rss_bytes"),
                                       working_set_bytes=t.user_attrs.get("working_set_bytes"),
                                       working_set_scope=t.user_attrs.get("working_set_scope"),
                                       estimated_working_set_bytes=t.user_attrs.get("estimated_working_set_bytes"),
                                       fidelity_steps=t.user_attrs.get("fidelity_steps"),
                                       fidelity_values=[t.intermediate_values[s] for s in sorted(t.intermediate_values)],
                                       train_seconds_at_fidelity=t.user_attrs.get("train_seconds_at_fidelity"),
                                       meta_feature_version=attrs.get("meta_feature_version"),
                                       search_space=space_json)
            row.update({f"param.{k}": v for k, v in t.params.items()})
            row.update({f"mf.{k}": features.get(k) for k in order})
            rows.append(row)
    return pd.DataFrame(rows)


TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
LIST_COLUMNS = ("fidelity_steps", "fidelity_values", "train_seconds_at_fidelity")
# Whole numbers that some rows lack: written as integers, not as floats with a trailing ".0"
INT_COLUMNS = ("number", "peak_rss_bytes", "working_set_bytes", "estimated_working_set_bytes")


def is_table_path(storage: str) -> bool:
    """True for a path to a CSV/Parquet history table rather than a database or URL."""
    return "://" not in str(storage) and str(storage).lower().endswith(TABLE_SUFFIXES)


def read_table(path) -> "pandas.DataFrame":  # noqa: F821
    """A CSV or Parquet file (by suffix) as a DataFrame."""
    import pandas as pd

    path = Path(path)
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    return pd.read_csv(path)


def load_table(path) -> "pandas.DataFrame":  # noqa: F821
    """Histories written by :func:`save_table`, with list columns parsed back from JSON text."""
    import json

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"history table '{path}' does not exist")
    frame = read_table(path)
    for col in LIST_COLUMNS:
        if col in frame.columns:
            frame[col] = frame[col].map(lambda v: json.loads(v) if isinstance(v, str) else v)
    return frame


def save_table(frame, path) -> None:
    """Write histories as CSV or Parquet (by suffix); list columns are stored as JSON text."""
    import json
    import os

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = frame.copy()
    parquet = path.suffix.lower() in (".parquet", ".pq")
    for col in INT_COLUMNS if not parquet else ():  # Parquet keeps the float type; CSV text needs this
        if col in out.columns and out[col].dtype.kind == "f" and (out[col].dropna() % 1 == 0).all():
            out[col] = out[col].astype("Int64")
    for col in out.columns:
        if out[col].map(lambda v: isinstance(v, (list, dict))).any():
            out[col] = out[col].map(lambda v: json.dumps(v) if isinstance(v, (list, dict)) else v)
    # Written aside and renamed: collect workers that finish tasks at once never leave a torn file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if parquet:
        out.to_parquet(tmp, index=False, compression="zstd")
    else:
        out.to_csv(tmp, index=False)
    os.replace(tmp, path)


def row_config(row) -> Dict[str, Any]:
    """A history row's config: its ``param.*`` columns as plain Python values (missing ones, NaN in
    a table that mixes search spaces, left out)."""
    import math

    config = {}
    for col, value in row.items():
        value = value.item() if hasattr(value, "item") else value
        if col.startswith("param.") and not (value is None or (isinstance(value, float) and math.isnan(value))):
            config[col[len("param."):]] = value
    return config


def merge_histories(base, new) -> "pandas.DataFrame":  # noqa: F821
    """``base`` plus the trials of ``new`` that it lacks, keyed by study and config.

    The committed table accumulates what workers collect in their own stores: a store that holds
    a copy of committed trials (imported so that ``collect`` tops a design up instead of rerunning
    it) adds only its new ones. ``base``'s rows are kept as they are (columns it lacks are empty).
    """
    import pandas as pd

    if not len(new):  # an empty store (a rebuild from the committed table alone) has no columns either
        return base
    params = sorted(c for c in set(base.columns) | set(new.columns) if c.startswith("param."))

    def keys(frame):
        cols = [frame[c].astype(str) if c in frame.columns else pd.Series("", index=frame.index) for c in params]
        return frame["study"].astype(str).str.cat(cols, sep="|")

    fresh = new[~keys(new).isin(set(keys(base)))]
    return pd.concat([base, fresh], ignore_index=True, sort=False)
