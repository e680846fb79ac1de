"""Importing others' histories into a history store, and exporting a store as a table.

Two sources, both written in ``collect``'s layout (see :mod:`.storage`: one study per
``task|model_family|device_class``, params = config, user attrs = outcome and costs, study
attrs = metric, meta-features, search space), so that ``fit``, ``evaluate`` and
:func:`.history.load_histories` read them unchanged:

- **a table** (CSV or Parquet), one row per trial: a task column; one column per param of a
  search space that you declare (YAML or JSON file, see :func:`load_space`; a column may also be
  named ``param.<name>``); an objective column and its direction; the task's meta-features as
  columns of any names (constant within a task); optionally a cost column (taken as wall-clock
  seconds) and an ``outcome`` column (complete, failed, oom, pruned). An empty objective is a
  failed trial (it ranks last, as failures do in collected histories). Tables written by
  :func:`export_table` carry everything (``direction``, ``metric``, ``search_space``, ``mf.*``,
  fidelities, costs), so they import back with no options.
- **an Optuna study** from any storage URL, with its task name and meta-features given
  (:func:`import_optuna_study`, in :mod:`.import_optuna`, re-exported here); the search space is
  read from its trials' distributions.

Meta-features other than the built-in ones (:mod:`hpo_agent.agent.metafeatures`) are recorded
with ``meta_feature_version = "custom"`` and their names in ``meta_feature_names``; ``fit`` then
uses those names, and a meta-model fitted on them is queried with the same names.

Importing is idempotent: every imported trial carries an ``import_key`` (a hash of its source
row, or of the source study and trial number) and keys already in the study are skipped
(:mod:`.import_store` writes every source's records).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ..agent import metafeatures
from ..agent.metamodel import CUSTOM_META_FEATURES
from ..agent.space import PARAM_TYPES, SearchSpace, config_key, default_space, plain_value
from .history import read_table
from .import_optuna import import_optuna_study, infer_space
from .import_store import ImportResult, ImportRecord, write_study
from .storage import study_name

__all__ = ["OUTCOMES", "ImportResult", "export_table", "import_optuna_study", "import_table", "infer_space",
           "load_space", "space_from_data"]

OUTCOMES = ("complete", "failed", "oom", "pruned")
# Columns of an exported table that are bookkeeping, never meta-features.
_TABLE_COLUMNS = {"task", "model_family", "device_class", "study", "number", "metric", "direction", "value",
                  "outcome", "wall_time_s", "peak_rss_bytes", "fidelity_steps", "fidelity_values",
                  "train_seconds_at_fidelity", "meta_feature_version", "search_space", "cost"}


# -- search-space files ------------------------------------------------------------------------
def load_space(path) -> SearchSpace:
    """A search space from a YAML or JSON file: a list of params, or ``{"params": [...]}``.

    Each param: ``name``, ``type`` (int, float or categorical), ``low``/``high`` or ``choices``,
    optionally ``log`` (and ``grid``). ``default`` names the built-in space. YAML needs PyYAML.
    """
    if str(path) == "default":
        return default_space()
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"search-space file {path} does not exist")
    text = path.read_text()
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ValueError(f"{path} is YAML, which needs PyYAML (pip install pyyaml); or write it as JSON") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"{path} is not valid YAML: {exc}") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not valid JSON ({exc}); YAML files must end in .yaml or .yml") from None
    return space_from_data(data, str(path))


def space_from_data(data: Any, where: str = "search space") -> SearchSpace:
    """:meth:`SearchSpace.from_dict` with errors that name the offending param and key."""
    params = data.get("params") if isinstance(data, dict) else data
    if not isinstance(params, list) or not params:
        raise ValueError(f"{where}: expected a list of params (or {{'params': [...]}}), each with name and type")
    known = {"name", "type", "low", "high", "log", "choices", "grid"}
    for i, p in enumerate(params):
        if not isinstance(p, dict) or "name" not in p or "type" not in p:
            raise ValueError(f"{where}: param #{i + 1} needs at least 'name' and 'type' ({', '.join(PARAM_TYPES)})")
        unknown = sorted(set(p) - known)
        if unknown:
            raise ValueError(f"{where}: param '{p['name']}' has unknown key(s) {unknown}; known: {sorted(known)}")
    return SearchSpace.from_dict({"params": params})


# -- tables --------------------------------------------------------------------------------------
def export_table(storage: str, path, tasks: Optional[Sequence[str]] = None) -> int:
    """Write every finished trial of ``storage`` as CSV or Parquet (by suffix); returns the row count."""
    from .history import load_histories, save_table

    frame = load_histories(storage, list(tasks) if tasks else None)
    if len(frame) == 0:
        raise ValueError(f"{storage} holds no finished trials" + (f" for tasks {list(tasks)}" if tasks else ""))
    save_table(frame, path)
    return int(len(frame))


def import_table(table, storage: str, space: Optional[SearchSpace] = None, direction: Optional[str] = None, *,
                 task_column: str = "task", objective_column: str = "value", cost_column: Optional[str] = None,
                 meta_columns: Optional[Sequence[str]] = None, metric: Optional[str] = None,
                 model_family: str = "imported", device_class: str = "any", skip_invalid: bool = False,
                 source: Optional[str] = None) -> ImportResult:
    """Write a table of trials (path or DataFrame) into ``storage``; see the module docstring.

    ``space`` and ``direction`` (``max``/``min``) may be left out only for tables that carry
    them (``search_space`` and ``direction`` columns, as :func:`export_table` writes).
    """
    import pandas as pd

    frame = read_table(table) if not isinstance(table, pd.DataFrame) else table
    source = source or (Path(table).name if not isinstance(table, pd.DataFrame) else "table")
    if len(frame) == 0:
        raise ValueError(f"{source} has no rows")
    space = space or _space_from_column(frame, source)
    for column, what in ((task_column, "task"), (objective_column, "objective")):
        if column not in frame.columns:
            raise ValueError(f"{source} has no {what} column '{column}' (columns: {', '.join(map(str, frame.columns))})")
    if cost_column is None and "wall_time_s" in frame.columns:
        cost_column = "wall_time_s"
    if cost_column is not None and cost_column not in frame.columns:
        raise ValueError(f"{source} has no cost column '{cost_column}'")
    param_cols = _param_columns(frame, space, source)
    meta_cols = _meta_columns(frame, meta_columns, {task_column, objective_column, cost_column, *param_cols.values()},
                              task_column, source)
    names = [c[3:] if c.startswith("mf.") else c for c in meta_cols]
    builtin = set(names) == set(metafeatures.feature_names())
    if builtin:  # e.g. a table exported from collected histories: keep it usable on the device
        order = {n: i for i, n in enumerate(metafeatures.feature_names())}
        meta_cols = sorted(meta_cols, key=lambda c: order[c[3:] if c.startswith("mf.") else c])
        names = metafeatures.feature_names()
    version = metafeatures.META_FEATURE_VERSION if builtin else CUSTOM_META_FEATURES
    used = {task_column, objective_column, cost_column, *param_cols.values(), *meta_cols}
    result = ImportResult(meta_feature_names=list(names), meta_feature_version=version, space=space,
                          ignored_columns=[str(c) for c in frame.columns
                                           if c not in used and c not in _TABLE_COLUMNS])

    def column_or(name: str, default: str):  # exported tables name each trial's family and device
        if name in frame.columns:
            return frame[name].fillna(default).astype(str).replace("", default)
        return pd.Series(default, index=frame.index)

    groups = frame.groupby([frame[task_column].astype(str), column_or("model_family", model_family),
                            column_or("device_class", device_class)], sort=True)
    invalid: List[str] = []
    plans = []
    for (task, family, device), rows in groups:
        features = _task_meta_features(rows, meta_cols, names, task, source)
        task_direction = _task_direction(rows, direction, task, source)
        task_metric = metric or _first(rows, "metric") or str(objective_column)
        records, bad = _table_records(rows, space, param_cols, objective_column, cost_column, (task, family, device))
        invalid += bad
        plans.append((study_name(task, family, device), task, task_direction, task_metric, features, records, len(bad)))
    if invalid and not skip_invalid:
        more = f" (and {len(invalid) - 5} more)" if len(invalid) > 5 else ""
        raise ValueError(f"{source}: {len(invalid)} row(s) do not fit the search space: {'; '.join(invalid[:5])}{more}; "
                         "fix them, or pass --skip-invalid to leave them out")
    for name, task, task_direction, task_metric, features, records, n_bad in plans:
        attrs = {"metric": task_metric, "task_description": {"name": task, "source": source},
                 "meta_features": features, "meta_feature_names": list(names), "meta_feature_version": version,
                 "search_space": space.to_dict(),
                 "import": {"kind": "table", "source": source, "objective_column": str(objective_column),
                            "cost_column": cost_column}}
        counts = write_study(storage, name, task_direction, attrs, records, space)
        counts["invalid"] = n_bad
        result.studies[name] = counts
    return result


def _space_from_column(frame, source: str) -> SearchSpace:
    values = frame["search_space"].dropna().unique() if "search_space" in frame.columns else []
    if len(values) == 0:
        raise ValueError(f"{source} carries no search space: give one (--space FILE, YAML or JSON)")
    if len(values) > 1:
        raise ValueError(f"{source} carries {len(values)} different search spaces: import one space at a time "
                         "or give one with --space")
    return space_from_data(json.loads(values[0]), f"{source} (search_space column)")


def _param_columns(frame, space: SearchSpace, source: str) -> Dict[str, str]:
    columns = {}
    for name in space.names:
        for candidate in (name, f"param.{name}"):
            if candidate in frame.columns:
                columns[name] = candidate
                break
        else:
            raise ValueError(f"{source} has no column for param '{name}' (looked for '{name}' and 'param.{name}')")
    return columns


def _meta_columns(frame, meta_columns, used, task_column, source: str) -> List[str]:
    """The named columns; else ``mf.*``; else every other numeric column constant within each task."""
    import pandas as pd

    if meta_columns:
        missing = [c for c in meta_columns if c not in frame.columns]
        if missing:
            raise ValueError(f"{source} has no meta-feature column(s) {missing}")
        chosen = list(meta_columns)
    elif any(str(c).startswith("mf.") for c in frame.columns):
        chosen = [c for c in frame.columns if str(c).startswith("mf.")]
    else:
        numeric = [c for c in frame.columns if c not in used and c not in _TABLE_COLUMNS
                   and not str(c).startswith("param.") and pd.api.types.is_numeric_dtype(frame[c])
                   and not pd.api.types.is_bool_dtype(frame[c])]
        per_task = frame.groupby(frame[task_column].astype(str))
        chosen = [c for c in numeric if (per_task[c].nunique(dropna=False) == 1).all()]
    bad = [c for c in chosen if not pd.api.types.is_numeric_dtype(frame[c])]
    if bad:
        raise ValueError(f"{source}: meta-feature column(s) {bad} are not numeric; encode them as numbers "
                         "(e.g. one 0/1 column per category)")
    if not chosen:
        raise ValueError(f"{source} has no meta-feature columns (numeric, constant within each task): "
                         "name them with --meta-columns")
    return chosen


def _task_meta_features(rows, meta_cols, names, task: str, source: str) -> Dict[str, float]:
    features = {}
    for col, name in zip(meta_cols, names):
        values = rows[col].to_numpy(dtype=np.float64)
        if np.isnan(values).any():
            raise ValueError(f"{source}: meta-feature '{name}' is missing for task '{task}'")
        if np.ptp(values) > 1e-9 * max(1.0, float(np.abs(values).max())):
            raise ValueError(f"{source}: meta-feature '{name}' varies within task '{task}' "
                             f"({values.min():g} to {values.max():g}); a task's meta-features must be constant "
                             "(name the meta-feature columns with --meta-columns)")
        features[name] = float(values[0])
    return features


def _task_direction(rows, direction: Optional[str], task: str, source: str) -> str:
    if direction is None:
        found = set(rows["direction"].dropna()) if "direction" in rows.columns else set()
        if len(found) != 1:
            raise ValueError(f"{source}: give the objective's direction (--direction max or min)"
                             + (f"; task '{task}' has directions {sorted(found)}" if found else ""))
        direction = found.pop()
    if direction not in ("max", "min"):
        raise ValueError(f"direction is '{direction}', but must be max or min")
    return direction


def _first(rows, column: str):
    if column not in rows.columns:
        return None
    values = rows[column].dropna()
    return str(values.iloc[0]) if len(values) else None



def _table_records(rows, space: SearchSpace, param_cols, objective_column, cost_column, group) -> tuple:
    records, bad = [], []
    seen: Counter = Counter()
    for index, row in rows.iterrows():
        raw = {name: plain_value(row[col]) for name, col in param_cols.items()}
        try:
            missing = [n for n, v in raw.items() if v is None or (isinstance(v, float) and math.isnan(v))]
            if missing:
                raise ValueError(f"no value for {missing}")
            config = {k: plain_value(v) for k, v in space.validate(raw).items()}
        except ValueError as exc:
            line = index + 2 if isinstance(index, (int, np.integer)) else index  # CSV line: header, 1-based
            bad.append(f"line {line}: {exc}")
            continue
        value = _number(row[objective_column])
        outcome = str(row["outcome"]) if "outcome" in rows.columns and isinstance(row["outcome"], str) else None
        if outcome not in OUTCOMES:
            outcome = "complete" if math.isfinite(value) else "failed"
        if outcome == "complete" and not math.isfinite(value):
            outcome = "failed"
        key = config_key(config, space.names)
        content = json.dumps([*group, key, repr(value), outcome], default=str)
        seen[content] += 1
        records.append(ImportRecord(
            config=config, value=value, outcome=outcome,
            import_key=hashlib.sha256(f"{content}#{seen[content]}".encode()).hexdigest()[:24],
            cost=_number(row[cost_column]) if cost_column else None,
            peak_rss_bytes=_number(row["peak_rss_bytes"]) if "peak_rss_bytes" in rows.columns else None,
            intermediate=_fidelities(row)))
    return records, bad


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _fidelities(row) -> Dict[int, float]:
    """Intermediate values from an exported table's ``fidelity_steps``/``fidelity_values`` (JSON text)."""
    if "fidelity_steps" not in row.index or "fidelity_values" not in row.index:
        return {}
    try:
        steps = row["fidelity_steps"]
        values = row["fidelity_values"]
        steps = json.loads(steps) if isinstance(steps, str) else steps
        values = json.loads(values) if isinstance(values, str) else values
        pairs = zip(list(steps or []), list(values or []))
        return {int(s): float(v) for s, v in pairs if v is not None and math.isfinite(float(v))}
    except (TypeError, ValueError):
        return {}
