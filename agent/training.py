"""The short training loop that every trial uses: build, train for a time or step budget,
evaluate, checkpoint and resume.

Randomness is explicit: the trial seed drives model initialisation, data order (a
``torch.Generator``) and dropout, each inside ``torch.random.fork_rng`` so that the process's
global generators are left as they were.
"""

from __future__ import annotations

import math
import time
from typing import Any, Dict, Optional

import torch

from .tasks.base import Task

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")

# Diverging configs drift into denormal floats, which are 10-100x slower on x86 CPUs and would
# make a bad trial cost minutes; flushing them to zero changes no result that matters here.
torch.set_flush_denormal(True)
SGD_MOMENTUM = 0.9  # plain SGD without momentum is rarely what anyone tunes


def make_optimizer(name: str, params, learning_rate: float, weight_decay: float) -> torch.optim.Optimizer:
    """Adam / AdamW / SGD (momentum 0.9) / RMSprop with *decoupled* weight decay.

    ``weight_decay`` means what it means in transformers' ``TrainingArguments`` (AdamW): weights
    shrink by ``lr * weight_decay`` per step, outside the gradient, whatever the optimizer. Coupled
    L2 (torch's ``weight_decay=`` on Adam/RMSprop) is divided by the adaptive denominator and, at
    the plan's 0.01–0.1, stopped transformers learning at all in our runs. Biases and
    normalisation weights (tensors with fewer than two dimensions) are not decayed, as in
    transformers. ``params`` may be a module's ``named_parameters()`` or plain parameters.
    """
    key = str(name).lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"optimizer '{name}' is not supported; use one of {', '.join(OPTIMIZERS)}")
    decay, no_decay = [], []
    for item in params:
        param = item[1] if isinstance(item, tuple) else item
        if param.requires_grad:
            (decay if param.ndim >= 2 else no_decay).append(param)
    groups = [{"params": group, "decoupled_weight_decay": float(wd)}
              for group, wd in ((decay, weight_decay), (no_decay, 0.0)) if group]
    if key in ("adam", "adamw"):
        return torch.optim.Adam(groups, lr=learning_rate)
    if key == "sgd":
        return torch.optim.SGD(groups, lr=learning_rate, momentum=SGD_MOMENTUM)
    return torch.optim.RMSprop(groups, lr=learning_rate)


@torch.no_grad()
def apply_weight_decay(optimizer: torch.optim.Optimizer) -> None:
    """Shrink decayed weights by ``lr * weight_decay``; call just before ``optimizer.step()``."""
    for group in optimizer.param_groups:
        rate = group.get("decoupled_weight_decay", 0.0) * group["lr"]
        if rate > 0.0:
            torch._foreach_mul_(group["params"], 1.0 - rate)


class TrialRun:
    """One config being trained on one task; resumable across successive-halving rungs."""

    def __init__(self, task: Task, config: Dict[str, Any], seed: int = 0, device: str = "cpu"):
        self.task = task.ensure_loaded()
        self.config = dict(config)
        self.seed = int(seed)
        self.device = device
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.model = task.build_model(self.config).to(device)
        self.optimizer = make_optimizer(config["optimizer"], self.model.parameters(),
                                        float(config["learning_rate"]), float(config.get("weight_decay", 0.0)))
        self.generator = torch.Generator().manual_seed(self.seed)
        self._batches = task.train_batches(int(config["batch_size"]), self.generator)
        self.steps = 0
        self.train_seconds = 0.0
        self.last_loss: Optional[float] = None
        self.diverged = False

    def train(self, seconds: Optional[float] = None, steps: Optional[int] = None,
              deadline: Optional[float] = None) -> None:
        """Train until ``train_seconds`` reaches ``seconds`` or ``self.steps`` reaches ``steps``
        (cumulative targets), or until the monotonic ``deadline``, whichever comes first."""
        if seconds is None and steps is None:
            raise ValueError("train() needs a target: seconds or steps")
        self.model.train()
        with torch.random.fork_rng(devices=[]):
            # Dropout draws from the global generator; seed it per chunk from (seed, steps), so a
            # chunk replays exactly after a resume. The value at a step count therefore depends on
            # where the chunks (validations) fell: 20 + 40 steps is not the trajectory of 60 at once
            # (benchmarks/fidelity_check.py re-runs recorded configs on the recorded schedule).
            torch.manual_seed(self.seed * 1_000_003 + self.steps)
            while not self.diverged:
                if steps is not None and self.steps >= steps:
                    break
                if seconds is not None and self.train_seconds >= seconds:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    break
                t0 = time.perf_counter()
                batch = _to_device(next(self._batches), self.device)
                loss = self.task.loss(self.model, batch)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                apply_weight_decay(self.optimizer)
                self.optimizer.step()
                self.last_loss = float(loss.detach())
                if not math.isfinite(self.last_loss):
                    self.diverged = True  # nothing more to learn; evaluation scores what is left
                self.steps += 1
                self.train_seconds += time.perf_counter() - t0

    def evaluate(self, split: str = "validation") -> Dict[str, float]:
        return self.task.evaluate(self.model, split)

    # -- checkpoints (our own files; loaded with weights_only=True, never arbitrary pickles) ----
    def state_dict(self) -> Dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "steps": self.steps,
            "train_seconds": self.train_seconds,
            "diverged": self.diverged,
        }

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.steps = int(state["steps"])
        self.train_seconds = float(state["train_seconds"])
        self.diverged = bool(state["diverged"])
        self._batches = self.task.train_batches(int(self.config["batch_size"]), self.generator)

    def save(self, path) -> None:
        torch.save(self.state_dict(), str(path))

    def load(self, path) -> None:
        self.load_state_dict(torch.load(str(path), map_location=self.device, weights_only=True))


def _to_device(batch: Any, device: str) -> Any:
    if device == "cpu":
        return batch
    if isinstance(batch, dict):
        return {k: v.to(device) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(v.to(device) for v in batch)
    return batch.to(device)
