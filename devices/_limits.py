"""A hard memory cap on the current process, for rehearsing a smaller device on a CPU.

Meant to be called first thing inside a trial's child process: past the cap, allocations fail
with ``MemoryError`` (numpy) or a torch "can't allocate memory" ``RuntimeError``, which
:func:`is_oom` recognises, instead of the whole machine swapping.

The cap is ``RLIMIT_AS``, which counts *virtual* address space, not resident memory: ``import
torch`` alone reserves ~3 GiB of address space here while touching ~0.5 GiB, and every thread
reserves stack and a malloc arena (up to 64 MiB each). So a cap must sit on top of what the
process already maps: use :func:`apply_memory_limit_relative` (or ``current_vm_bytes() +
extra``) after the heavy imports and after starting worker threads. CUDA reserves huge
address ranges at initialisation, so do not cap a process that will use a GPU: there
``torch.cuda.set_per_process_memory_fraction`` is the tool.
"""

from __future__ import annotations

import sys
from typing import Optional

import psutil

try:
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]


def current_vm_bytes() -> int:
    """Virtual memory (address space) this process maps now, in bytes."""
    return int(psutil.Process().memory_info().vms)


def _require_linux() -> None:
    # macOS accepts RLIMIT_AS but does not enforce it; Windows has no setrlimit at all.
    if resource is None or not sys.platform.startswith("linux"):
        raise OSError(f"a hard memory cap needs Linux (RLIMIT_AS); this is {sys.platform}")


def apply_memory_limit(n_bytes: int) -> None:
    """Cap this process's address space at ``n_bytes`` (soft ``RLIMIT_AS``; the hard limit stays).

    ``n_bytes`` is an absolute address-space size, not "memory for the model": see the module
    docstring, and prefer :func:`apply_memory_limit_relative`. A cap is one-way in practice:
    the soft limit may be raised again only up to the hard limit.

    Raises:
        ValueError: ``n_bytes`` not positive, above the hard limit, or below what the process
            already maps (the cap would fail the next allocation of any size).
        OSError: not on Linux.
    """
    _require_linux()
    n_bytes = int(n_bytes)
    if n_bytes <= 0:
        raise ValueError(f"memory limit is {n_bytes} bytes, but must be > 0")
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY and n_bytes > hard:
        raise ValueError(f"memory limit is {n_bytes} bytes, but the hard limit is {hard}")
    current = current_vm_bytes()
    if n_bytes <= current:
        raise ValueError(f"memory limit is {n_bytes} bytes, but the process already maps "
                         f"{current} bytes of address space; use apply_memory_limit_relative()")
    resource.setrlimit(resource.RLIMIT_AS, (n_bytes, hard))


def apply_memory_limit_relative(extra_bytes: int) -> int:
    """Cap this process at what it maps now plus ``extra_bytes``; returns the cap applied."""
    if int(extra_bytes) <= 0:
        raise ValueError(f"extra memory is {extra_bytes} bytes, but must be > 0")
    limit = current_vm_bytes() + int(extra_bytes)
    apply_memory_limit(limit)
    return limit


def memory_limit() -> Optional[int]:
    """The current soft address-space cap in bytes, or None when there is none (or no Linux)."""
    if resource is None:
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return None if soft == resource.RLIM_INFINITY else int(soft)
