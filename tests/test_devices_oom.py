"""is_oom and exit_code_is_oom."""

from __future__ import annotations

import errno

import pytest

from hpo_agent.devices import exit_code_is_oom, is_oom


class OutOfMemoryError(RuntimeError):
    """Stands in for torch.cuda.OutOfMemoryError (torch.OutOfMemoryError since 2.5)."""


class _ArrayMemoryError(MemoryError):
    """Stands in for numpy's allocation failure."""


# Recorded from torch 2.14.1 on this machine: torch.empty(2**45, dtype=torch.uint8).
TORCH_CPU = ("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate "
             "memory: you tried to allocate 35184372088832 bytes. Error code 12 (Cannot allocate "
             "memory)")


@pytest.mark.parametrize("exc", [
    MemoryError(),
    _ArrayMemoryError("Unable to allocate 1.00 PiB for an array"),
    OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 MiB"),
    RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 3.81 GiB total)"),
    RuntimeError("CUDA error: out of memory"),
    RuntimeError(TORCH_CPU),
    RuntimeError("[enforce fail at alloc_cpu.cpp:114] data. DefaultCPUAllocator: not enough "
                 "memory: you tried to allocate 1234 bytes."),
    RuntimeError("cuDNN error: CUDNN_STATUS_ALLOC_FAILED"),
    OSError(errno.ENOMEM, "Cannot allocate memory"),
    RuntimeError("could not create a primitive"),  # oneDNN under RLIMIT_AS, seen in CI
])
def test_out_of_memory(exc):
    assert is_oom(exc)


@pytest.mark.parametrize("exc", [
    RuntimeError("mat1 and mat2 shapes cannot be multiplied"),
    ValueError("learning rate out of memory range"),  # only RuntimeErrors are read
    KeyError("memory"),
    RuntimeError("could not create a primitive descriptor for a convolution forward propagation"),
    OSError(errno.ENOENT, "No such file"),
    KeyboardInterrupt(),
])
def test_not_out_of_memory(exc):
    assert not is_oom(exc)


def test_explicit_cause_is_followed_but_not_the_context():
    try:
        try:
            raise MemoryError()
        except MemoryError as oom:
            raise RuntimeError("trial failed") from oom
    except RuntimeError as wrapped:
        assert is_oom(wrapped)
    try:
        try:
            raise MemoryError()
        except MemoryError:
            raise ValueError("bad config")  # noqa: B904 - implicit context on purpose
    except ValueError as other:
        assert not is_oom(other)


@pytest.mark.parametrize("code, expected", [
    (-9, True), (137, True), (0, False), (1, False), (-15, False), (143, False), (None, False),
])
def test_exit_codes(code, expected):
    assert exit_code_is_oom(code) is expected
