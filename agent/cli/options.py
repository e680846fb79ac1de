"""Shared option parsing for the commands (light: no heavy imports)."""

from __future__ import annotations

import click

from ..budget import parse_duration


class Duration(click.ParamType):
    """A duration such as 90s, 30m, 1h30m or 1.5h, converted to seconds."""

    name = "duration"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)):
            return float(value)
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class MemorySize(click.ParamType):
    """A memory size such as 3.5GB or 512MiB, converted to bytes."""

    name = "size"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        from ... import devices

        try:
            return devices.parse_memory(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class Brackets(click.ParamType):
    """``auto`` (→ None: the agent chooses) or a number of brackets from 1 to 20."""

    name = "auto|1-20"

    def convert(self, value, param, ctx):
        if value is None or isinstance(value, int) and 1 <= value <= 20:
            return value
        text = str(value).strip().lower()
        if text == "auto":
            return None
        if text.isdigit() and 1 <= int(text) <= 20:
            return int(text)
        self.fail(f"'{value}' is neither 'auto' nor a whole number of brackets from 1 to 20", param, ctx)


BRACKETS = Brackets()
DURATION = Duration()
MEMORY = MemorySize()
