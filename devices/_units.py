"""Memory sizes as people write them ("3.5GB", "512MiB") and back."""

from __future__ import annotations

import math
import re

# Decimal units follow SI (what datasheets and `--budget-memory 3.5GB` mean); binary units are
# spelled with an "i". Single letters ("3.5G") are read as decimal, as Docker and Kubernetes do.
_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "m": 10**6,
    "mb": 10**6,
    "g": 10**9,
    "gb": 10**9,
    "t": 10**12,
    "tb": 10**12,
    "ki": 2**10,
    "kib": 2**10,
    "mi": 2**20,
    "mib": 2**20,
    "gi": 2**30,
    "gib": 2**30,
    "ti": 2**40,
    "tib": 2**40,
}

_PATTERN = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)(?:e([+-]?\d+))?\s*([a-z]*)\s*$", re.IGNORECASE)

ACCEPTED_FORMS = "use a number with B, KB, MB, GB, KiB, MiB or GiB (e.g. 3.5GB, 512MiB)"


def parse_memory(text: str) -> int:
    """Parse a memory size into bytes.

    Accepts a number followed by an optional unit, case-insensitively and with optional spaces:
    ``"1024"`` (bytes), ``"3.5GB"``/``"3.5G"`` (10**9), ``"512MiB"`` (2**20), ``"2GiB"`` (2**30);
    also KB/MB/TB and KiB/TiB, and the Kubernetes spellings ``"Gi"``/``"Mi"``.
    Fractions of a byte are rounded to the nearest byte.

    Raises:
        ValueError: for anything else (negative numbers, unknown units, empty text), with one
            line naming the accepted forms.
    """
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise ValueError(f"memory size {text!r} not understood; {ACCEPTED_FORMS}")
    if isinstance(text, (int, float)):
        # A bare number from TOML or code: already bytes.
        if not math.isfinite(text) or text < 0:
            raise ValueError(f"memory size {text!r} not understood; {ACCEPTED_FORMS}")
        return int(round(text))
    match = _PATTERN.match(text)
    if match is None or match.group(3).lower() not in _UNITS:
        raise ValueError(f"memory size {text!r} not understood; {ACCEPTED_FORMS}")
    number = float(match.group(1))
    if match.group(2):
        number *= 10 ** int(match.group(2))
    value = number * _UNITS[match.group(3).lower()]
    if not math.isfinite(value):
        raise ValueError(f"memory size {text!r} not understood; {ACCEPTED_FORMS}")
    return int(round(value))


_BINARY_STEPS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def format_bytes(n: float) -> str:
    """Render a byte count with binary units and at most one decimal: ``"1.5 GiB"``, ``"512 MiB"``.

    Binary units because memory is allocated in pages and GiB is what `free -h`, nvidia-smi and
    tegrastats (whose "MB" are MiB) show. ``None`` renders as ``"?"`` so that reports can pass
    missing readings straight through.
    """
    if n is None:
        return "?"
    sign = "-" if n < 0 else ""
    value = float(abs(n))
    step = 0
    while value >= 1024 and step < len(_BINARY_STEPS) - 1:
        value /= 1024
        step += 1
    if step == 0:
        return f"{sign}{int(round(value))} B"
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return f"{sign}{text} {_BINARY_STEPS[step]}"
