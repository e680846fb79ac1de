"""Importing an existing Optuna study (any storage URL) into a history store as one task.

The search space is read from the trials' distributions unless one is given; the task's
meta-features come from the caller or from the study's own ``meta_features`` attribute.
"""

from __future__ import annotations

import hashlib
import math
from typing import Dict, Mapping, Optional, Sequence

import optuna

from ..agent import metafeatures
from ..agent.metamodel import CUSTOM_META_FEATURES
from ..agent.space import Param, SearchSpace, plain_value
from .import_store import TS, ImportResult, ImportRecord, write_study
from .storage import storage_url, study_name


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
            config = {k: plain_value(v) for k, v in space.validate({n: t.params[n] for n in space.names}).items()}
        except ValueError as exc:
            bad.append(f"trial {t.number}: {exc}")
            continue
        outcome = {TS.COMPLETE: "complete", TS.PRUNED: "pruned"}.get(t.state, "failed")
        value = float(t.value) if t.state == TS.COMPLETE and t.value is not None else float("nan")
        if outcome == "complete" and not math.isfinite(value):
            outcome = "failed"
        seconds = (t.datetime_complete - t.datetime_start).total_seconds() \
            if t.datetime_complete and t.datetime_start else None
        records.append(ImportRecord(config=config, value=value, outcome=outcome, cost=seconds,
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
    counts = write_study(storage, name, direction, attrs, records, space)
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
