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
  (:func:`import_optuna_study`); the search space is read from its trials' distributions.

Meta-features other than the built-in ones (:mod:`hpo_agent.agent.metafeatures`) are recorded
with ``meta_feature_version = "custom"`` and their names in ``meta_feature_names``; ``fit`` then
uses those names, and a meta-model fitted on them is queried with the same names.

Importing is idempotent: every imported trial carries an ``import_key`` (a hash of its source
row, or of the source study and trial number) and keys already in the study are skipped.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np
import optuna

from ..agent import metafeatures
from ..agent.metamodel import CUSTOM_META_FEATURES
from ..agent.space import PARAM_TYPES, Param, SearchSpace, config_key, default_space
from .history import read_table
from .storage import distributions, open_storage, storage_url, study_lock, study_name

OUTCOMES = ("complete", "failed", "oom", "pruned")
# Columns of an exported table that are bookkeeping, never meta-features.
_TABLE_COLUMNS = {"task", "model_family", "device_class", "study", "number", "metric", "direction", "value",
                  "outcome", "wall_time_s", "peak_rss_bytes", "fidelity_steps", "fidelity_values",
                  "train_seconds_at_fidelity", "meta_feature_version", "search_space", "cost"}
TS = optuna.trial.TrialState


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


@dataclass
class ImportResult:
    """Per study: trials added, already present, failed (no objective), invalid rows skipped."""

    studies: Dict[str, Dict[str, int]] = field(default_factory=dict)
    meta_feature_names: List[str] = field(default_factory=list)
    meta_feature_version: Any = None
    space: Optional[SearchSpace] = None
    ignored_columns: List[str] = field(default_factory=list)

    @property
    def added(self) -> int:
        return sum(s["added"] for s in self.studies.values())


@dataclass
class _Record:
    config: Dict[str, Any]
    value: float
    outcome: str
    import_key: str
    cost: Optional[float] = None
    peak_rss_bytes: Optional[float] = None
    intermediate: Dict[int, float] = field(default_factory=dict)
    extra: Dict[str, Any] = field(default_factory=dict)


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
        counts = _write_study(storage, name, task_direction, attrs, records, space)
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


def _plain(value):
    """numpy scalars → Python scalars (JSON, Optuna distributions)."""
    return value.item() if isinstance(value, np.generic) else value


def _table_records(rows, space: SearchSpace, param_cols, objective_column, cost_column, group) -> tuple:
    records, bad = [], []
    seen: Counter = Counter()
    for index, row in rows.iterrows():
        raw = {name: _plain(row[col]) for name, col in param_cols.items()}
        try:
            missing = [n for n, v in raw.items() if v is None or (isinstance(v, float) and math.isnan(v))]
            if missing:
                raise ValueError(f"no value for {missing}")
            config = {k: _plain(v) for k, v in space.validate(raw).items()}
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
        records.append(_Record(
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


# -- Optuna studies --------------------------------------------------------------------------------
def import_optuna_study(source: str, study: str, storage: str, task: Optional[str] = None,
                        meta: Optional[Mapping[str, float]] = None, space: Optional[SearchSpace] = None, *,
                        model_family: str = "imported", device_class: str = "any", metric: Optional[str] = None,
                        skip_invalid: bool = False) -> ImportResult:
    """Copy the finished trials of Optuna study ``study`` in ``source`` (a storage URL or SQLite
    path) into ``storage`` as task ``task`` (default: the study's name) with meta-features
    ``meta`` (default: the study's own ``meta_features`` attribute, when it has one)."""
    try:
        src = optuna.load_study(study_name=study, storage=storage_url(source))
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage_url(source), include_best_trial=False)]
        raise ValueError(f"no study '{study}' in {source} (studies: {', '.join(names) or 'none'})") from None
    if len(src.directions) != 1:
        raise ValueError(f"study '{study}' has {len(src.directions)} objectives; only single-objective studies import")
    trials = [t for t in src.get_trials(deepcopy=False) if t.state in (TS.COMPLETE, TS.FAIL, TS.PRUNED)]
    if not trials:
        raise ValueError(f"study '{study}' has no finished trials")
    space = space or infer_space(trials)
    features = dict(meta) if meta else dict(src.user_attrs.get("meta_features") or {})
    if not features:
        raise ValueError(f"give task '{task or study}' its meta-features (--meta name=value, repeated); "
                         "the meta-model predicts from them")
    names = list(features)
    builtin = set(names) == set(metafeatures.feature_names())
    if builtin:
        names = metafeatures.feature_names()
        features = {n: float(features[n]) for n in names}
    version = metafeatures.META_FEATURE_VERSION if builtin else CUSTOM_META_FEATURES
    records, bad = [], []
    for t in trials:
        try:
            missing = [n for n in space.names if n not in t.params]
            if missing:
                raise ValueError(f"no value for {missing} (conditional params are not supported)")
            config = {k: _plain(v) for k, v in space.validate({n: t.params[n] for n in space.names}).items()}
        except ValueError as exc:
            bad.append(f"trial {t.number}: {exc}")
            continue
        outcome = {TS.COMPLETE: "complete", TS.PRUNED: "pruned"}.get(t.state, "failed")
        value = float(t.value) if t.state == TS.COMPLETE and t.value is not None else float("nan")
        if outcome == "complete" and not math.isfinite(value):
            outcome = "failed"
        seconds = (t.datetime_complete - t.datetime_start).total_seconds() \
            if t.datetime_complete and t.datetime_start else None
        records.append(_Record(config=config, value=value, outcome=outcome, cost=seconds,
                               import_key=hashlib.sha256(f"{source}|{study}|{t.number}".encode()).hexdigest()[:24],
                               intermediate={int(k): float(v) for k, v in t.intermediate_values.items()
                                             if v is not None and math.isfinite(v)},
                               extra={"source_trial": t.number}))
    if bad and not skip_invalid:
        more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
        raise ValueError(f"study '{study}': {len(bad)} trial(s) do not fit the search space: {'; '.join(bad[:5])}{more}; "
                         "give a wider --space, or pass --skip-invalid to leave them out")
    task = task or study
    direction = "max" if src.direction == optuna.study.StudyDirection.MAXIMIZE else "min"
    name = study_name(task, model_family, device_class)
    attrs = {"metric": metric or src.user_attrs.get("metric") or "objective",
             "task_description": {"name": task, "source": f"optuna:{study}"},
             "meta_features": features, "meta_feature_names": names, "meta_feature_version": version,
             "search_space": space.to_dict(), "import": {"kind": "optuna", "study": study}}
    counts = _write_study(storage, name, direction, attrs, records, space)
    counts["invalid"] = len(bad)
    return ImportResult(studies={name: counts}, meta_feature_names=names, meta_feature_version=version, space=space)


def infer_space(trials: Sequence[optuna.trial.FrozenTrial]) -> SearchSpace:
    """The union of the trials' Optuna distributions as a :class:`SearchSpace` (widest bounds)."""
    found: Dict[str, Param] = {}
    for t in trials:
        for name, dist in t.distributions.items():
            param = _param_of(name, dist)
            old = found.get(name)
            if old is None:
                found[name] = param
            elif old.type != param.type or old.log != param.log:
                raise ValueError(f"param '{name}' changes type or scale between trials; give a --space")
            elif param.type == "categorical":
                found[name] = Param(name, "categorical", choices=tuple(dict.fromkeys(old.choices + param.choices)))
            else:
                found[name] = Param(name, param.type, min(old.low, param.low), max(old.high, param.high), log=param.log)
    if not found:
        raise ValueError("the study's trials have no params")
    return SearchSpace(tuple(found.values()))


def _param_of(name: str, dist) -> Param:
    d = optuna.distributions
    if isinstance(dist, d.CategoricalDistribution):
        return Param(name, "categorical", choices=tuple(dist.choices))
    if isinstance(dist, d.IntDistribution):
        return Param(name, "int", dist.low, dist.high, log=dist.log)
    if isinstance(dist, d.FloatDistribution):
        return Param(name, "float", dist.low, dist.high, log=dist.log)
    raise ValueError(f"param '{name}' has an unsupported distribution {type(dist).__name__}")


# -- writing -----------------------------------------------------------------------------------------
_CHECKED = ("search_space", "meta_feature_names", "meta_feature_version", "meta_features")


def _write_study(storage: str, name: str, direction: str, attrs: Dict[str, Any], records: Sequence[_Record],
                 space: SearchSpace) -> Dict[str, int]:
    """Create or extend one study; refuse to mix spaces or meta-features; skip known import keys."""
    store = open_storage(storage)
    attrs = json.loads(json.dumps(attrs))
    with study_lock(storage, name):
        study = optuna.create_study(storage=store, study_name=name, load_if_exists=True,
                                    direction="maximize" if direction == "max" else "minimize")
        if study.direction != (optuna.study.StudyDirection.MAXIMIZE if direction == "max"
                               else optuna.study.StudyDirection.MINIMIZE):
            raise ValueError(f"study '{name}' exists in {storage} with the other direction")
        current = study.user_attrs
        for key in _CHECKED:
            if key in current and current[key] != attrs[key]:
                raise ValueError(f"study '{name}' exists in {storage} with another {key} "
                                 f"({json.dumps(current[key])[:200]}); import into a new store or fix the table")
        for key, value in attrs.items():
            if current.get(key) != value:
                study.set_user_attr(key, value)
        present = {t.user_attrs.get("import_key") for t in study.get_trials(deepcopy=False)}
        dists = distributions(space)
        new, failed = [], 0
        for r in records:
            if r.import_key in present:
                continue
            present.add(r.import_key)
            state = {"complete": TS.COMPLETE, "pruned": TS.PRUNED}.get(r.outcome, TS.FAIL)
            failed += state != TS.COMPLETE
            # Optuna writes each attribute with its own queries: keep only what readers use.
            user_attrs = {"config_key": config_key(r.config, space.names), "outcome": r.outcome,
                          "import_key": r.import_key, "wall_time_s": _finite_or_none(r.cost),
                          "peak_rss_bytes": _finite_or_none(r.peak_rss_bytes),
                          "fidelity_steps": sorted(r.intermediate) or None, **r.extra}
            user_attrs = {k: v for k, v in user_attrs.items() if v is not None}
            new.append(optuna.trial.create_trial(
                state=state, value=r.value if state == TS.COMPLETE else None, params=r.config,
                distributions=dists, user_attrs=user_attrs, intermediate_values=dict(r.intermediate)))
        study.add_trials(new)
    return {"added": len(new), "present": len(records) - len(new), "failed": failed}


def _finite_or_none(value) -> Optional[float]:
    return float(value) if value is not None and math.isfinite(float(value)) else None
