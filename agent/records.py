"""Records that both sides persist: trial outcomes and trial results (versioned)."""

from __future__ import annotations

import enum
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Optional

TRIAL_SCHEMA_VERSION = 1


class Outcome(str, enum.Enum):
    """How a trial (or one rung of it) ended."""

    COMPLETE = "complete"  # trained to the fidelity asked for
    PRUNED = "pruned"      # stopped by successive halving after this rung
    OOM = "oom"            # out of memory: CUDA OOM, MemoryError, or killed by the OS
    FAILED = "failed"      # any other error (diverged loss counts as complete, with its score)
    SKIPPED = "skipped"    # never started, e.g. predicted not to fit in memory


@dataclass
class TrialResult:
    """One trial's result at one rung (fidelity) of a tune run; one journal line."""

    trial_id: int
    rung: int
    config: Dict[str, Any]
    outcome: str
    score: Optional[float] = None            # the optimised metric on validation, None if none
    metrics: Dict[str, float] = field(default_factory=dict)
    predicted: Optional[float] = None        # meta-model's predicted normalised score
    steps: int = 0                           # cumulative training steps reached
    train_seconds: float = 0.0               # cumulative training time (excludes evaluation)
    wall_seconds: float = 0.0                # wall time of this rung's work, evaluation included
    peak_rss_bytes: Optional[int] = None
    resources: Dict[str, Any] = field(default_factory=dict)
    error: Optional[str] = None
    finished_at: float = field(default_factory=time.time)
    schema_version: int = TRIAL_SCHEMA_VERSION

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "TrialResult":
        version = data.get("schema_version", TRIAL_SCHEMA_VERSION)
        if version != TRIAL_SCHEMA_VERSION:
            raise ValueError(f"trial record has schema_version {version}, this hpo-agent reads {TRIAL_SCHEMA_VERSION}")
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)
