"""A block's own peak resident memory, measured inside a long-lived process (Linux).

``ru_maxrss`` is the peak over the process's whole life, so in a collector that trains hundreds of
configs one after another it only grows. Linux (4.0+) lets a process reset its high-water mark:
writing ``5`` to ``/proc/self/clear_refs`` sets ``VmHWM`` back to the current ``VmRSS``. Before the
block, freed heap memory is handed back to the OS (``malloc_trim``), so that memory an earlier
block freed is not silently reused and missed; the block's *working set* is then
``VmHWM - VmRSS`` at its start: what the block itself needed on top of what the process held.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from pathlib import Path
from typing import Dict, Optional

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib() -> Dict[str, int]:
    out = {}
    for line in _STATUS.read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(rest.split()[0])
    return out


def _trim_heap() -> None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        pass


def peak_tracking_available() -> bool:
    """True where the high-water mark can be reset (Linux with a writable ``clear_refs``)."""
    try:
        with _CLEAR_REFS.open("w") as fh:
            fh.write("5")
        return "VmHWM" in _status_kib()
    except OSError:
        return False


class PeakTracker:
    """``with PeakTracker() as p: ...`` then ``p.working_set_bytes`` (None where unsupported).

    Also ``p.rss_before_bytes`` and ``p.peak_rss_bytes`` (the process's peak during the block).
    Not thread-safe with respect to other threads allocating meanwhile: their memory counts too.
    """

    def __init__(self) -> None:
        self.rss_before_bytes: Optional[int] = None
        self.peak_rss_bytes: Optional[int] = None
        self.working_set_bytes: Optional[int] = None

    def __enter__(self) -> "PeakTracker":
        gc.collect()
        _trim_heap()
        try:
            self.rss_before_bytes = _status_kib()["VmRSS"] * 1024
            with _CLEAR_REFS.open("w") as fh:
                fh.write("5")
        except (OSError, KeyError):
            self.rss_before_bytes = None
        return self

    def __exit__(self, *exc) -> None:
        if self.rss_before_bytes is None:
            return
        try:
            self.peak_rss_bytes = _status_kib()["VmHWM"] * 1024
        except (OSError, KeyError):
            return
        self.working_set_bytes = max(0, self.peak_rss_bytes - self.rss_before_bytes)
