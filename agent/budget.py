"""Parsing wall-clock budgets such as ``90s``, ``30m``, ``1h30m`` or ``1.5h``."""

from __future__ import annotations

import re

_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)([hms])")
ACCEPTED_FORMS = "90s, 30m, 1h30m, 1.5h, 2h15m30s (or plain seconds: 120)"


def parse_duration(text: str) -> float:
    """Return the number of seconds in a duration string.

    Accepts plain seconds (``"120"``) or one or more ``<number><unit>`` parts with units
    ``h``, ``m``, ``s`` in that order, each at most once (``"1h30m"``, ``"1.5h"``, ``"90s"``).
    Raises ``ValueError`` with a one-line message naming the accepted forms otherwise.
    """
    raw = text
    text = text.strip().lower().replace(" ", "")
    if not text:
        raise ValueError(f"budget '{raw}' is empty; use a duration like {ACCEPTED_FORMS}")
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        seconds = float(text)
    else:
        pos, seconds, seen = 0, 0.0, []
        for match in _PART.finditer(text):
            if match.start() != pos:
                break
            unit = match.group(2)
            if seen and "hms".index(unit) <= "hms".index(seen[-1]):
                break  # units out of order or repeated ("30m1h", "1m1m")
            seen.append(unit)
            seconds += float(match.group(1)) * _UNITS[unit]
            pos = match.end()
        if pos != len(text) or not seen:
            raise ValueError(f"budget '{raw}' is not a duration; use one like {ACCEPTED_FORMS}")
    if seconds <= 0:
        raise ValueError(f"budget '{raw}' is {seconds:g} s, but must be > 0")
    return seconds


def format_duration(seconds: float) -> str:
    """Render seconds compactly: ``95.2`` → ``"1m35s"``, ``4.25`` → ``"4.2s"``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + (f"{secs}s" if secs else "")
