"""The errors a tune run raises on purpose; the CLI turns each into one line and an exit code."""

from __future__ import annotations


class TuneError(RuntimeError):
    """A tune run that cannot go on; the message says why (exit code 1)."""


class BudgetError(ValueError):
    """The budget cannot hold even one short trial (a usage error: exit code 2)."""
