"""The task interface: data, model, loss and metrics for one training workload.

A task owns everything that differs between workloads, so that the training loop
(:mod:`hpo_agent.agent.training`), the scheduler and the collector stay generic.
Tasks import torch lazily: constructing one, or listing the registry, is cheap.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Dict, Iterator, Optional

from ..metafeatures import TaskDescription


@dataclass(frozen=True)
class Metric:
    """The metric a task optimises: its name in ``evaluate()``'s output and its direction."""

    name: str
    direction: str = "max"  # "max" or "min"

    def better(self, a: Optional[float], b: Optional[float]) -> bool:
        if a is None:
            return False
        if b is None:
            return True
        return a > b if self.direction == "max" else a < b


class Task(abc.ABC):
    """One workload. Subclasses set ``name``, ``metric``, ``description`` fields and implement
    data loading (``load``), ``build_model``, ``train_batches``, ``loss`` and ``evaluate``."""

    name: str = "task"
    metric: Metric = Metric("accuracy", "max")
    model_family: str = ""

    def __init__(self, seed: int = 0, max_train: Optional[int] = None, data_dir: Optional[str] = None):
        self.seed = seed
        self.max_train = max_train
        self.data_dir = data_dir  # local mirror of hub datasets; ignored by embedded tasks
        self._loaded = False

    # -- data ------------------------------------------------------------------------------
    def ensure_loaded(self) -> "Task":
        if not self._loaded:
            self.load()
            self._loaded = True
        return self

    @abc.abstractmethod
    def load(self) -> None:
        """Read the data into memory (train/validation/test)."""

    @abc.abstractmethod
    def describe(self) -> TaskDescription:
        """Meta-feature inputs (needs the data loaded)."""

    # -- training --------------------------------------------------------------------------
    @abc.abstractmethod
    def build_model(self, config: Dict[str, Any]) -> Any:
        """A freshly initialised ``torch.nn.Module`` for ``config`` (seeded by the caller)."""

    @abc.abstractmethod
    def train_batches(self, batch_size: int, generator: Any) -> Iterator[Any]:
        """An endless iterator of training batches, shuffled by the torch ``generator``."""

    @abc.abstractmethod
    def loss(self, model: Any, batch: Any) -> Any:
        """The scalar training loss of ``model`` on ``batch``."""

    @abc.abstractmethod
    def evaluate(self, model: Any, split: str) -> Dict[str, float]:
        """Metrics on ``split`` ("validation" or "test"); must include ``self.metric.name``."""

    # -- memory ----------------------------------------------------------------------------
    # Which analytic activation figure this task reports, so the estimate applies the matching
    # measured calibration (``devices.ACTIVATION_CALIBRATION``): "transformer" or "leaf".
    activation_model = "leaf"

    def activation_bytes_per_sample(self, config: Dict[str, Any]) -> float:
        """Rough activation memory per training example (for memory feasibility)."""
        return 0.0

    def count_params(self, config: Dict[str, Any]) -> int:
        """Parameters of the model built for ``config``; default builds it (cheap models only)."""
        model = self.build_model(config)
        return int(sum(p.numel() for p in model.parameters()))

    def max_num_layers(self) -> Optional[int]:
        """The most ``num_layers`` that change the model (a pretrained checkpoint's depth, an
        architecture's block count); None where every value builds a different model."""
        return None
