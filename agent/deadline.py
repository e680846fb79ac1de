"""When the search must stop training: the run's deadline minus the report reserve, the time the
test evaluation and the report still need.

Before any trial has run the reserve is the planned one (:func:`planned_reserve`: 4 s + 2 % of
the budget, or ``--report-reserve``-style ``TuneOptions.report_reserve_s``). A trial's wall time
outside its training steps (building the model, evaluating validation, writing the checkpoint) is
what the test phase also spends, on a test split that may hold more rows than validation (twice
as many by default; as many times more as the task describes, :func:`test_eval_factor`). So once
trials are measured the reserve becomes that (:func:`measured_reserve`): smaller than the plan on
small tabular tasks, where the time it frees goes to training; larger where evaluation is slow, so
the run still ends within its budget. (Capped at the plan, as it once was, 300 s text runs with a
12.6 s test phase against a 10 s plan ended up to 5.8 s late.)
Pure bookkeeping: no I/O, the caller passes the clock's readings in.
"""

from __future__ import annotations

from typing import Any, List, Mapping, Optional, Sequence

import numpy as np

DEFAULT_OVERHEAD_S = 0.5  # a trial's wall time outside training steps, until one is measured
# After the test phase: the report, and the process's exit, which the user waits for too but tune's
# clock cannot see (~1 s measured from outside on iris and digits runs).
REPORT_FLOOR_S = 2.0
TEST_EVAL_FACTOR = 2.0    # test splits of the built-in tasks hold up to twice the validation rows


def planned_reserve(budget_s: float, fixed_s: Optional[float] = None) -> float:
    """Seconds kept back for the test evaluation and the report before anything is measured."""
    return float(fixed_s) if fixed_s is not None else 4.0 + 0.02 * float(budget_s)


def test_eval_factor(description: Optional[Mapping[str, Any]] = None) -> float:
    """How many validation passes the test phase costs: test rows / validation rows where the task
    description says (``extra.n_test``, ``extra.n_validation``: text, vision, QA and custom tasks),
    never below :data:`TEST_EVAL_FACTOR`. ``--task-option max_validation=300`` with the text tasks'
    1,000 test rows makes it 3.3 (a 12.6 s test phase on ag_news after trials of ~4.5 s overhead)."""
    extra = (description or {}).get("extra") or {}
    n_test, n_val = extra.get("n_test"), extra.get("n_validation")
    if not n_test or not n_val:
        return TEST_EVAL_FACTOR
    return max(TEST_EVAL_FACTOR, float(n_test) / float(n_val))


def measured_reserve(plan_s: float, overheads: Sequence[float], test_factor: float = TEST_EVAL_FACTOR) -> float:
    """The reserve once trials are measured: the floor plus ``test_factor`` (twice, by default)
    the largest overhead of the trials after the first (the largest, not the median: the test
    phase runs once and must not overrun; not the first, which pays the process's one-time
    warm-ups, ~1 s on iris against ~0.1 s for the rest, that the test phase does not); ``plan_s``
    until two trials are measured. It may exceed the plan: the budget is the user's limit.

    The test phase runs where the trials ran (a child process included: ``tune`` sends it there as
    one more job), so it is as warm as the trials measured here.
    """
    if len(overheads) < 2:
        return float(plan_s)
    return REPORT_FLOOR_S + test_factor * max(overheads[1:])


class TrainClock:
    """The search's training deadline, and the overhead to expect from the next trial.

    ``adaptive=False`` keeps the planned reserve whatever is measured (a reserve the caller fixed);
    ``test_factor`` as for :func:`measured_reserve`.
    """

    def __init__(self, deadline: float, reserve_s: float, adaptive: bool = True,
                 test_factor: float = TEST_EVAL_FACTOR):
        self.deadline = float(deadline)
        self.plan_s = float(reserve_s)
        self.adaptive, self.test_factor = adaptive, float(test_factor)
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
        if not self.adaptive:
            return self.plan_s
        return measured_reserve(self.plan_s, self.overheads, self.test_factor)

    @property
    def train_deadline(self) -> float:
        """No trial trains past this (monotonic seconds): the run's deadline minus the reserve."""
        return self.deadline - self.reserve
