"""Memory caps: a real child process runs out of memory at the cap and says so."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from hpo_agent.devices import apply_memory_limit, apply_memory_limit_relative, current_vm_bytes

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is Linux")

CHILD = textwrap.dedent("""
    import numpy as np
    from hpo_agent.devices import apply_memory_limit_relative, is_oom, memory_limit

    limit = apply_memory_limit_relative(256 * 2**20)
    assert memory_limit() == limit
    small = np.ones(32 * 2**20, dtype=np.uint8)      # well inside the cap
    try:
        big = np.ones(512 * 2**20, dtype=np.uint8)   # past it
    except MemoryError as exc:
        print("oom", is_oom(exc))
        raise SystemExit(3)
    print("allocated")
""")


@linux_only
def test_allocating_past_the_cap_raises_memory_error_in_the_child():
    result = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 3, result.stderr
    assert result.stdout.strip() == "oom True"


@linux_only
def test_a_cap_below_current_usage_is_refused_in_the_child():
    code = ("from hpo_agent.devices import apply_memory_limit, current_vm_bytes\n"
            "try:\n    apply_memory_limit(current_vm_bytes() // 2)\n"
            "except ValueError as exc:\n    print('refused' if 'already maps' in str(exc) else exc)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.strip() == "refused", result.stderr


def test_bad_values_are_refused_without_touching_this_process():
    with pytest.raises((ValueError, OSError)):
        apply_memory_limit(0)
    with pytest.raises(ValueError, match="extra memory is -1 bytes"):
        apply_memory_limit_relative(-1)


def test_current_vm_bytes():
    assert current_vm_bytes() > 0
