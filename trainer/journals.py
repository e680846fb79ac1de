"""Device runs flow back into the histories: a `tune` journal → a study in a history store.

A tune run journals one line per finished rung of each trial (``agent/journal.py``). Every
candidate trains its first rung for the same wall-clock slice, so the **rung-0 score** is the one
measurement all of a run's trials share: it is the imported trial's objective, which is what the
meta-model's per-task percentile-rank target needs (ranks within a task must compare like with
like). Later rungs of the survivors go in as intermediate values (keyed by cumulative training
steps); out-of-memory and failed trials import as failed, ranking last, as collect's do.

The study is named like collect's (``task|model family|device class``), so runs on a Jetson form
their own device class. Importing the same journal twice adds nothing (each trial carries an
``import_key`` hashed from the run's header and its trial id).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Dict, List

from ..agent import metafeatures
from ..agent.journal import JOURNAL_NAME, Journal
from ..agent.records import Outcome, TrialResult
from ..agent.space import SearchSpace, default_space
from .import_store import ImportResult, ImportRecord, write_study
from .storage import study_name


def import_tune_run(run: Path, storage: str) -> ImportResult:
    """Import the journal of a tune run (its directory, or the ``journal.jsonl`` itself)."""
    path = Path(run)
    if path.is_dir():
        path = path / JOURNAL_NAME
    if not path.is_file():
        raise ValueError(f"{run} is not a tune run: it has no {JOURNAL_NAME}; pass the run's folder, "
                         "OUT/<task> of `hpo-agent tune --out OUT` (hpo-runs/<task> by default)")
    journal = Journal.open(path)  # raises JournalError (a ValueError) with a one-line reason
    head = journal.header
    features = head.get("meta_features") or {}
    metric = head.get("metric") or {}
    if not features or not isinstance(metric, dict) or metric.get("direction") not in ("max", "min"):
        raise ValueError(f"{path} lacks the meta-features or the metric's direction in its header; "
                         "it was written by an older hpo-agent and cannot be imported")
    space = SearchSpace.from_dict(head["search_space"]) if head.get("search_space") else default_space()
    names = metafeatures.feature_names()
    if set(features) != set(names):
        raise ValueError(f"{path} has meta-features {sorted(features)}, this hpo-agent computes {names}")
    describe = head.get("task_description") or {}
    device = head.get("device") or {}
    task = str(head["task"])
    name = study_name(task, str(describe.get("model_family") or "unknown"), str(device.get("kind") or "unknown"))
    run_key = hashlib.sha256(json.dumps(head, sort_keys=True, default=str).encode()).hexdigest()[:16]
    records = [_record(trial_id, rungs, space, run_key) for trial_id, rungs in _by_trial(journal.results).items()]
    attrs = {"metric": metric["name"],
             "task_description": dict(describe, name=task, source=f"tune:{path}"),
             "meta_features": {n: float(features[n]) for n in names}, "meta_feature_names": names,
             "meta_feature_version": head.get("meta_feature_version", metafeatures.META_FEATURE_VERSION),
             "search_space": space.to_dict(),
             "import": {"kind": "tune", "value": "rung-0 score (equal wall-clock slice for every trial)"}}
    counts = dict(write_study(storage, name, metric["direction"], attrs, records, space), invalid=0)
    return ImportResult(studies={name: counts}, meta_feature_names=names,
                        meta_feature_version=attrs["meta_feature_version"], space=space)


def _by_trial(results: List[TrialResult]) -> Dict[int, List[TrialResult]]:
    trials: Dict[int, Dict[int, TrialResult]] = {}
    for r in results:
        trials.setdefault(r.trial_id, {})[r.rung] = r  # a resumed rung replaces its earlier copy
    return {t: [rungs[k] for k in sorted(rungs)] for t, rungs in sorted(trials.items())}


def _record(trial_id: int, rungs: List[TrialResult], space: SearchSpace, run_key: str) -> ImportRecord:
    first = rungs[0]
    config = space.validate(first.config)
    ok = first.score is not None and math.isfinite(first.score) and first.outcome in (
        Outcome.COMPLETE.value, Outcome.PRUNED.value)
    outcome = "complete" if ok else ("oom" if first.outcome == Outcome.OOM.value else "failed")
    intermediate = {int(r.steps): float(r.score) for r in rungs
                    if r.score is not None and math.isfinite(r.score) and r.steps > 0}
    peaks = [r.peak_rss_bytes for r in rungs if r.peak_rss_bytes]
    return ImportRecord(config=config, value=float(first.score) if ok else float("nan"), outcome=outcome,
                   import_key=f"{run_key}:{trial_id}", cost=float(first.train_seconds) if ok else None,
                   peak_rss_bytes=float(max(peaks)) if peaks else None, intermediate=intermediate,
                   extra={"source_trial": trial_id, "rungs": len(rungs), "design": "tune",
                          "train_seconds_at_fidelity": [float(r.train_seconds) for r in rungs]})
