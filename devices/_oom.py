"""Is this failure an out-of-memory? One small function, so retries live in one place.

Out-of-memory shows up in three shapes: ``MemoryError`` (Python, numpy, a capped address
space), a torch exception (``torch.cuda.OutOfMemoryError``, or a ``RuntimeError`` from the
CPU allocator), and, on Jetsons and Linux hosts without swap, no exception at all: the kernel's
OOM killer ends the process with SIGKILL, which the parent sees as exit status -9 (or 137 from a
shell). torch is never imported here; exceptions are recognised by class name and message.
"""

from __future__ import annotations

import errno
import signal

# Substrings of torch/CUDA/cuDNN/cuBLAS messages that mean "the allocation failed".
_OOM_MESSAGES = (
    "cuda out of memory",
    "out of memory",                              # "CUDA error: out of memory", MPS, HIP
    "defaultcpuallocator: can't allocate memory",
    "not enough memory",                          # "DefaultCPUAllocator: not enough memory: ..."
    "cudnn_status_alloc_failed",
    "cublas_status_alloc_failed",
    "failed to allocate memory",
)
# oneDNN's "could not create a primitive" (not "... primitive descriptor", which is an unsupported
# shape) is a failed allocation of its JIT code or scratchpad under a capped address space.
_ONEDNN_PRIMITIVE = "could not create a primitive"
_OOM_CLASS_NAMES = ("OutOfMemoryError",)          # torch.cuda.OutOfMemoryError, torch.OutOfMemoryError
_MAX_CHAIN = 5                                    # how far to follow `raise X from oom`


def is_oom(exc: BaseException) -> bool:
    """True when ``exc`` means the trial ran out of memory.

    Recognises ``MemoryError`` (and subclasses such as numpy's ``_ArrayMemoryError``), any class
    named ``OutOfMemoryError`` (torch), ``RuntimeError``s whose message is an allocator failure
    ("CUDA out of memory", "DefaultCPUAllocator: can't allocate memory", "not enough memory",
    cuDNN/cuBLAS ALLOC_FAILED), ``OSError`` ENOMEM ("Cannot allocate memory", e.g. from fork),
    and exceptions explicitly raised ``from`` one of these.
    """
    seen = 0
    while exc is not None and seen < _MAX_CHAIN:
        if _is_oom_itself(exc):
            return True
        # Only the explicit cause: an unrelated error raised while handling an OOM (the
        # implicit __context__) is that other error, not an OOM.
        exc = exc.__cause__
        seen += 1
    return False


def _is_oom_itself(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    if any(cls.__name__ in _OOM_CLASS_NAMES for cls in type(exc).__mro__):
        return True
    if isinstance(exc, OSError) and exc.errno == errno.ENOMEM:
        return True
    if isinstance(exc, RuntimeError):
        message = str(exc).lower()
        if any(text in message for text in _OOM_MESSAGES):
            return True
        return _ONEDNN_PRIMITIVE in message and "descriptor" not in message
    return False


def exit_code_is_oom(returncode: int) -> bool:
    """True when a child's exit status says it was SIGKILLed, as the kernel OOM killer does.

    ``-9`` is how ``subprocess`` and ``multiprocessing`` report death by SIGKILL; ``137``
    (128 + 9) is how a shell reports it. Anyone may send SIGKILL: a caller that kills its own
    trials (deadlines) must record that before asking this.
    """
    if returncode is None:
        return False
    kill = int(signal.SIGKILL) if hasattr(signal, "SIGKILL") else 9
    return returncode in (-kill, 128 + kill)
