"""The errors raised on purpose; the CLI turns each into one line and an exit code.

The task errors subclass ``ValueError`` so that library callers who catch ``ValueError`` keep
working; the CLI tells them apart to choose the exit code.
"""

from __future__ import annotations


class TuneError(RuntimeError):
    """A tune run that cannot go on; the message says why (exit code 1)."""


class BudgetError(ValueError):
    """The budget cannot hold even one short trial (a usage error: exit code 2)."""


class TaskOptionError(ValueError):
    """A task name or task option the task does not accept (a usage error: exit code 2)."""


class DataError(ValueError):
    """A task's data cannot be used as given: a missing, empty, unreadable or malformed file, too
    few rows, or an unreachable hub. The message names the file and what is accepted (exit code 1)."""


class StorageError(ValueError):
    """A history store that cannot be opened: a database URL whose dialect or driver is not
    installed, or a server that refuses the connection (exit code 1)."""
