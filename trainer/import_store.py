"""Writing imported trials into a history store: the one place that creates or extends a study
for ``hpo-agent import`` (tables, Optuna studies, tune journals).

Every record carries an ``import_key`` (a hash of its source); keys already in the study are
skipped, so importing twice adds nothing. A study that exists with another search space, other
meta-features or the other direction is refused rather than mixed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

import optuna

from ..agent.space import SearchSpace, config_key
from .storage import distributions, open_storage, study_lock

TS = optuna.trial.TrialState


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
class ImportRecord:
    """One trial to write: its config, objective (NaN unless complete), outcome and source key."""

    config: Dict[str, Any]
    value: float
    outcome: str
    import_key: str
    cost: Optional[float] = None
    peak_rss_bytes: Optional[float] = None
    intermediate: Dict[int, float] = field(default_factory=dict)
    extra: Dict[str, Any] = field(default_factory=dict)


_CHECKED = ("search_space", "meta_feature_names", "meta_feature_version", "meta_features")


def write_study(storage: str, name: str, direction: str, attrs: Dict[str, Any], records: Sequence[ImportRecord],
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
