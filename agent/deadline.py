"""When the search must stop training: the run's deadline minus the report reserve, the time the
test evaluation and the report still need.

Before any trial has run the reserve is the planned one (:func:`planned_reserve`: 4 s + 2 % of
the budget, or ``--report-reserve``-style ``TuneOptions.report_reserve_s``). A trial's wall time
outside its training steps (building the model, evaluating validation, writing the checkpoint) is
what the test phase also spends, on a test split of up to twice the validation rows. So once trials
are measured the reserve shrinks to that (:func:`measured_reserve`), and the time it frees goes to
training; it never grows above the plan, so a slow trial cannot take time the search was promised.
Pure bookkeeping: no I/O, the caller passes the clock's readings in.
"""

from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np

DEFAULT_OVERHEAD_S = 0.5  # a trial's wall time outside training steps, until one is measured
# After the test phase: the report, and the process's exit, which the user waits for too but tune's
# clock cannot see (~1 s measured from outside on iris and digits runs).
REPORT_FLOOR_S = 2.0
TEST_EVAL_FACTOR = 2.0    # test splits hold up to twice the validation rows (text, qa, vision tasks)
# When trials ran in a child process, the test phase here builds and runs its first model cold:
# 1.1-1.3 s measured on iris and digits, which the child's (warm, after the memory probes) trials
# do not show.
COLD_TEST_S = 1.5


def planned_reserve(budget_s: float, fixed_s: Optional[float] = None) -> float:
    """Seconds kept back for the test evaluation and the report before anything is measured."""
    return float(fixed_s) if fixed_s is not None else 4.0 + 0.02 * float(budget_s)


def measured_reserve(ceiling_s: float, overheads: Sequence[float], cold_test: bool = False) -> float:
    """The reserve once trials are measured: the floor plus twice the largest overhead of the
    trials after the first (the largest, not the median: the test phase runs once and must not
    overrun; not the first, which pays the process's one-time warm-ups, ~1 s on iris against
    ~0.1 s for the rest, that the test phase does not), capped at ``ceiling_s``; ``ceiling_s``
    itself until two trials are measured.

    ``cold_test``: trials ran in a child process, so the test phase, in this process, pays the
    warm-ups itself: :data:`COLD_TEST_S` is added.
    """
    if len(overheads) < 2:
        return float(ceiling_s)
    need = REPORT_FLOOR_S + TEST_EVAL_FACTOR * max(overheads[1:]) + (COLD_TEST_S if cold_test else 0.0)
    return min(float(ceiling_s), need)


class TrainClock:
    """The search's training deadline, and the overhead to expect from the next trial.

    ``adaptive=False`` keeps the planned reserve whatever is measured (a reserve the caller fixed);
    ``cold_test`` as for :func:`measured_reserve` (trials in a child process).
    """

    def __init__(self, deadline: float, reserve_s: float, adaptive: bool = True, cold_test: bool = False):
        self.deadline = float(deadline)
        self.ceiling_s = float(reserve_s)
        self.adaptive, self.cold_test = adaptive, cold_test
        self.overheads: List[float] = []

    def record(self, overhead_s: float) -> None:
        """A finished trial's wall time outside its training steps."""
        self.overheads.append(max(0.0, float(overhead_s)))

    @property
    def overhead(self) -> float:
        """The overhead to plan the next trial with: the median of those measured so far."""
        return float(np.median(self.overheads)) if self.overheads else DEFAULT_OVERHEAD_S

    @property
    def reserve(self) -> float:
        return measured_reserve(self.ceiling_s, self.overheads, self.cold_test) if self.adaptive else self.ceiling_s

    @property
    def train_deadline(self) -> float:
        """No trial trains past this (monotonic seconds); never earlier than the planned reserve allows."""
        return self.deadline - self.reserve
