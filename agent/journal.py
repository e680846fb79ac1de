"""The tune journal: an append-only JSON-lines file, one line per finished rung of a trial.

Records: one ``header`` (task, options, the first bracket's candidates), a ``trial`` line per
finished rung, and, for ``--brackets`` > 1, a ``bracket`` line with each later bracket's
candidates (and the configs it skipped or probed for memory), written before any of them trains
(their trial ids continue the header's).

Each line is flushed and fsync'ed before the next trial starts, so a run killed at any moment
keeps every finished trial; ``--resume`` replays the journal instead of re-training. A torn last
line (killed mid-write) is ignored.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from .records import TrialResult

JOURNAL_SCHEMA_VERSION = 2
READABLE_SCHEMAS = (1, 2)  # 2 added ``bracket`` records; a version-1 journal is a one-bracket run
JOURNAL_NAME = "journal.jsonl"


class JournalError(ValueError):
    pass


class Journal:
    """Append-only record of one tune run: a header line, then one line per trial rung."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.header: Optional[Dict[str, Any]] = None
        self.results: List[TrialResult] = []
        self.brackets: List[List[Dict[str, Any]]] = []  # candidates of brackets 1, 2, ... (not 0)
        self.bracket_extras: List[Dict[str, Any]] = []  # their memory skips and probes, for the report

    @classmethod
    def create(cls, path: Path, header: Dict[str, Any]) -> "Journal":
        """Start a new journal; an existing one is moved aside (``journal-<time>.jsonl``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            path.rename(path.with_name(f"journal-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"))
        journal = cls(path)
        journal.header = dict(header, type="header", schema_version=JOURNAL_SCHEMA_VERSION)
        journal._append(journal.header)
        return journal

    @classmethod
    def open(cls, path: Path) -> "Journal":
        """Read an existing journal for resuming."""
        path = Path(path)
        if not path.exists():
            raise JournalError(f"no journal at {path}; run without --resume to start one")
        journal = cls(path)
        raw = path.read_bytes()
        lines = raw.split(b"\n")
        good = len(raw)
        if not raw.endswith(b"\n"):
            good = len(raw) - len(lines[-1])  # the process died while writing the last line
            lines = lines[:-1]
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise JournalError(f"{path}:{number} is not valid JSON") from None
            if record.get("type") == "header":
                if record.get("schema_version") not in READABLE_SCHEMAS:
                    raise JournalError(f"{path} has journal schema {record.get('schema_version')}, "
                                       f"this hpo-agent reads {', '.join(map(str, READABLE_SCHEMAS))}")
                journal.header = record
            elif record.get("type") == "trial":
                record.pop("type")
                journal.results.append(TrialResult.from_dict(record))
            elif record.get("type") == "bracket":
                if record.get("bracket") != len(journal.brackets) + 1:
                    raise JournalError(f"{path}:{number} is bracket {record.get('bracket')}, "
                                       f"expected {len(journal.brackets) + 1}")
                journal.brackets.append(record["candidates"])
                journal.bracket_extras.append({"skipped": record.get("skipped", []),
                                               "probes": record.get("probes", [])})
        if journal.header is None:
            raise JournalError(f"{path} has no header line; it is not an hpo-agent journal")
        if good < len(raw):
            with open(path, "r+b") as fh:  # drop the torn line so appends start on a fresh line
                fh.truncate(good)
        return journal

    def append(self, result: TrialResult) -> None:
        self.results.append(result)
        self._append(dict(result.to_dict(), type="trial"))

    def append_bracket(self, bracket: int, candidates: List[Dict[str, Any]],
                       skipped: Optional[List[Dict[str, Any]]] = None,
                       probes: Optional[List[Dict[str, Any]]] = None) -> None:
        """Record a later bracket's candidates (``bracket`` counts from 1) before they train, with
        the better-ranked configs it skipped for memory and its one-step probes (optional fields)."""
        extras = {"skipped": list(skipped or []), "probes": list(probes or [])}
        self._append({"type": "bracket", "bracket": bracket, "candidates": candidates, **extras})
        self.brackets.append(candidates)
        self.bracket_extras.append(extras)

    def finished(self) -> Dict[Tuple[int, int], TrialResult]:
        """Finished rungs by ``(trial_id, rung)``."""
        return {(r.trial_id, r.rung): r for r in self.results}

    def _append(self, record: Dict[str, Any]) -> None:
        line = json.dumps(record, sort_keys=True, default=_jsonable) + "\n"
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "value"):
        return value.value
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
