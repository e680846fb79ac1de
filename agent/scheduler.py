"""Synchronous successive halving as a pure state machine (no I/O, no clocks).

Trials on one device run one at a time, so asynchronous ASHA would promote early trials
unopposed. Here every candidate of a rung runs before the top ``1/eta`` are promoted, and a
promoted trial resumes from its checkpoint. Resources are abstract units (``min_resource *
eta**rung``); the caller maps units to seconds or steps and may re-plan that scale between rungs.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence


class Decision(str, enum.Enum):
    WAIT = "wait"          # rung not finished yet: no verdict for this trial
    PROMOTE = "promote"    # the rung finished and this trial goes on
    STOP = "stop"          # the rung finished and this trial is pruned (or it was the last rung)


@dataclass(frozen=True)
class Job:
    trial_id: int
    rung: int
    resource: float  # cumulative resource the trial must have reached at the end of this job


def n_rungs(n_trials: int, eta: int) -> int:
    """Number of rungs so that the last one holds a single trial: ``floor(log_eta(n)) + 1``."""
    if eta < 2:
        raise ValueError(f"reduction factor is {eta}, but must be >= 2")
    if n_trials < 1:
        raise ValueError(f"number of candidates is {n_trials}, but must be >= 1")
    k = 0
    while eta ** (k + 1) <= n_trials:
        k += 1
    return k + 1


def rung_sizes(n_trials: int, eta: int) -> List[int]:
    """How many trials run in each rung: n, n//eta, ..., 1."""
    return [max(1, n_trials // eta ** k) for k in range(n_rungs(n_trials, eta))]


def total_units(n_trials: int, eta: int, from_rung: int = 0) -> float:
    """Resource units still to spend from ``from_rung`` on, with promoted trials resuming.

    Rung k costs ``size_k * (eta**k - eta**(k-1))`` units (``size_0 * 1`` for rung 0).
    """
    sizes = rung_sizes(n_trials, eta)
    total = 0.0
    for k in range(from_rung, len(sizes)):
        prev = eta ** (k - 1) if k else 0.0
        total += sizes[k] * (eta ** k - prev)
    return total


def plan_unit_seconds(remaining_s: float, n_trials: int, eta: int, rung: int, overhead_s: float) -> float:
    """Training seconds per resource unit so that rungs ``rung..`` fit in ``remaining_s``, each job
    also costing ``overhead_s`` outside training."""
    jobs = sum(rung_sizes(n_trials, eta)[rung:])
    return (remaining_s - jobs * overhead_s) / total_units(n_trials, eta, rung)


def top_k(scores: Dict[int, Optional[float]], k: int, mode: str = "max") -> List[int]:
    """The ``k`` best trial ids; ``None`` scores (failed, OOM) rank last; ties go to the lower id."""
    if mode not in ("max", "min"):
        raise ValueError(f"mode is '{mode}', but must be 'max' or 'min'")
    sign = -1.0 if mode == "max" else 1.0

    def key(tid: int):
        bad = _bad(scores[tid])
        return (bad, 0.0 if bad else sign * scores[tid], tid)

    return sorted(scores, key=key)[:k]


def _bad(score: Optional[float]) -> bool:
    return score is None or (isinstance(score, float) and math.isnan(score))


class SuccessiveHalving:
    """Synchronous successive halving over ``trial_ids`` (in the order given: best-predicted first).

    ``suggest()`` returns the next :class:`Job` or ``None`` when the search is finished;
    ``on_trial_result(trial_id, score)`` records the result of the job last suggested for that
    trial and returns a :class:`Decision`.
    """

    def __init__(self, trial_ids: Sequence[int], eta: int = 3, min_resource: float = 1.0, mode: str = "max"):
        if min_resource <= 0:
            raise ValueError(f"min_resource is {min_resource}, but must be > 0")
        self.eta = int(eta)
        self.sizes = rung_sizes(len(trial_ids), self.eta)
        self.min_resource = float(min_resource)
        self.mode = mode
        self.rung = 0
        self._queue: List[int] = list(trial_ids)
        self._pending: set = set()
        self._scores: List[Dict[int, Optional[float]]] = [{} for _ in self.sizes]
        self.finished = False

    def resource(self, rung: int) -> float:
        return self.min_resource * self.eta ** rung

    def suggest(self) -> Optional[Job]:
        if self.finished or not self._queue:
            return None
        tid = self._queue.pop(0)
        self._pending.add(tid)
        return Job(tid, self.rung, self.resource(self.rung))

    def on_trial_result(self, trial_id: int, score: Optional[float]) -> Decision:
        if trial_id not in self._pending:
            raise ValueError(f"trial {trial_id} has no job running in rung {self.rung}")
        self._pending.discard(trial_id)
        self._scores[self.rung][trial_id] = score
        if self._queue or self._pending:
            return Decision.WAIT
        return self._close_rung(trial_id)

    def _close_rung(self, last_trial: int) -> Decision:
        scores = self._scores[self.rung]
        if self.rung + 1 >= len(self.sizes):
            self.finished = True
            return Decision.STOP
        promoted = [t for t in top_k(scores, self.sizes[self.rung + 1], self.mode) if not _bad(scores[t])]
        if not promoted:
            self.finished = True
            return Decision.STOP
        self.rung += 1
        self._queue = promoted
        return Decision.PROMOTE if last_trial in promoted else Decision.STOP

    def best(self) -> Optional[int]:
        """Best trial at the highest rung that has results (the deepest evidence wins)."""
        for rung in range(len(self.sizes) - 1, -1, -1):
            done = {t: s for t, s in self._scores[rung].items() if not _bad(s)}
            if done:
                return top_k(done, 1, self.mode)[0]
        return None
