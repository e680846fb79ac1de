"""Task meta-features: one function, the same on the workstation and on the device (versioned).

The meta-model predicts how a config does on a task from these numbers, so a new task is
described by what can be computed cheaply from its data and its model before any training.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence

META_FEATURE_VERSION = 1
MODALITIES = ("image", "text", "tabular")
TASK_TYPES = ("classification", "regression", "qa")


@dataclass
class TaskDescription:
    """What is known about a task before training: its data and its model (at default size)."""

    name: str
    modality: str                      # one of MODALITIES
    task_type: str                     # one of TASK_TYPES
    n_train: int                       # training examples actually used
    n_classes: int                     # 1 for regression, 2 (start/end) is not used for QA: use 1
    class_counts: Sequence[int] = ()   # per-class training counts (classification)
    input_size: float = 1.0            # pixels × channels, mean tokens per example, or n features
    model_family: str = ""
    model_params: int = 0              # parameters of the model at its default size
    pretrained: bool = False
    extra: Dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise ValueError(f"modality is '{self.modality}', but must be one of {', '.join(MODALITIES)}")
        if self.task_type not in TASK_TYPES:
            raise ValueError(f"task_type is '{self.task_type}', but must be one of {', '.join(TASK_TYPES)}")
        if self.n_train < 1:
            raise ValueError(f"task '{self.name}' has {self.n_train} training examples; it needs at least 1")

    def to_dict(self) -> dict:
        out = asdict(self)
        out["class_counts"] = list(self.class_counts)
        return out


def class_balance(counts: Sequence[int]) -> float:
    """Normalised entropy of the class distribution: 1.0 balanced, towards 0 very skewed."""
    counts = [c for c in counts if c > 0]
    if len(counts) < 2:
        return 1.0
    total = float(sum(counts))
    entropy = -sum((c / total) * math.log(c / total) for c in counts)
    return entropy / math.log(len(counts))


def feature_names() -> List[str]:
    return (
        [f"modality={m}" for m in MODALITIES]
        + [f"task_type={t}" for t in TASK_TYPES]
        + ["log10_n_train", "log10_n_classes", "class_balance", "log10_input_size",
           "log10_model_params", "pretrained", "log10_examples_per_class"]
    )


def compute(desc: TaskDescription) -> Dict[str, float]:
    """The meta-feature vector of a task, as an ordered ``{name: value}`` dict."""
    n_classes = max(1, int(desc.n_classes))
    values = (
        [1.0 if desc.modality == m else 0.0 for m in MODALITIES]
        + [1.0 if desc.task_type == t else 0.0 for t in TASK_TYPES]
        + [
            math.log10(max(1, desc.n_train)),
            math.log10(n_classes),
            class_balance(desc.class_counts) if desc.class_counts else 1.0,
            math.log10(max(1.0, float(desc.input_size))),
            math.log10(max(1, int(desc.model_params))),
            1.0 if desc.pretrained else 0.0,
            math.log10(max(1.0, desc.n_train / n_classes)),
        ]
    )
    return dict(zip(feature_names(), values))


def vector(features: Dict[str, float], names: Optional[Sequence[str]] = None) -> List[float]:
    """Order a meta-feature dict by ``names`` (default: this version's order); missing → error."""
    names = list(names or feature_names())
    missing = [n for n in names if n not in features]
    if missing:
        raise ValueError(f"meta-features missing: {missing}; computed with version {META_FEATURE_VERSION}")
    return [float(features[n]) for n in names]
