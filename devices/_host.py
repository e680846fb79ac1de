"""Facts about the host itself: its CPU's name and the memory its cgroup allows.

psutil reports the machine's memory, but in a container or a systemd slice the kernel kills the
process at the cgroup's limit, which may be far lower; detection takes the smaller of the two.
"""

from __future__ import annotations

import os
import platform
from typing import Optional, Tuple

from hpo_agent.devices._tegra import read_text

# Limits at or above this are "no limit" (cgroup v1 writes 2**63 rounded down to a page).
_NO_LIMIT = 2**60


def cpu_model_name(cpuinfo: Optional[str] = None) -> str:
    """The CPU's name: ``model name`` from ``/proc/cpuinfo`` (x86), else what platform knows.

    ``cpuinfo`` is the text of /proc/cpuinfo (read when None). ARM boards print no model name;
    they get ``platform.processor()`` or the machine type (``aarch64``).
    """
    text = read_text("/proc/cpuinfo") if cpuinfo is None else cpuinfo
    for line in (text or "").splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("model name", "hardware") and value.strip():
            return value.strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def parse_cgroup_limit(text: Optional[str]) -> Optional[int]:
    """A cgroup memory limit file's value in bytes, or None for "max", huge values or junk."""
    if text is None:
        return None
    value = text.strip()
    if not value.isdigit():
        return None  # "max" (cgroup v2 without a limit) or unreadable
    number = int(value)
    return None if number >= _NO_LIMIT else number


def _cgroup_v2_dir(root: str) -> str:
    # /proc/self/cgroup holds "0::/some/path" on a cgroup v2 host; "0::/" inside most containers.
    for line in (read_text(os.path.join(root, "proc/self/cgroup")) or "").splitlines():
        if line.startswith("0::"):
            return os.path.join(root, "sys/fs/cgroup", line[3:].strip().lstrip("/"))
    return os.path.join(root, "sys/fs/cgroup")


def _inactive_file(stat_text: Optional[str]) -> int:
    for line in (stat_text or "").splitlines():
        key, _, value = line.partition(" ")
        if key in ("inactive_file", "total_inactive_file") and value.strip().isdigit():
            return int(value)
    return 0


def read_cgroup_memory(root: str = "/") -> Tuple[Optional[int], Optional[int]]:
    """``(limit_bytes, working_set_bytes)`` of this process's memory cgroup; ``None`` where absent.

    The working set is usage minus inactive page cache (what the kernel cannot simply drop),
    as docker and the kubelet count it; limit - working set is what a trial can still take.
    """
    v2 = _cgroup_v2_dir(root)
    v1 = os.path.join(root, "sys/fs/cgroup/memory")
    candidates = (
        (v2, "memory.max", "memory.current"),
        (os.path.join(root, "sys/fs/cgroup"), "memory.max", "memory.current"),
        (v1, "memory.limit_in_bytes", "memory.usage_in_bytes"),
    )
    for folder, limit_name, usage_name in candidates:
        limit = parse_cgroup_limit(read_text(os.path.join(folder, limit_name)))
        if limit is None:
            continue
        usage = parse_cgroup_limit(read_text(os.path.join(folder, usage_name)))
        if usage is not None:
            usage = max(0, usage - _inactive_file(read_text(os.path.join(folder, "memory.stat"))))
        return limit, usage
    return None, None
