"""NVML readings through nvidia-ml-py (``import pynvml``), each call guarded on its own.

Functions take the pynvml module as a parameter so tests pass a fake. Every call sits in its own
``try``: NVML answers "not supported" per metric (memory and power on a JetPack 6 Jetson, whose
GPU it names "Orin (nvgpu)"; power on some laptop cards), and a missing driver makes
``nvmlInit()`` raise ``NVMLError_LibraryNotFound`` at once. A failed call is a missing reading.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Callable, Dict, Optional


def load_pynvml() -> Optional[ModuleType]:
    """The pynvml module, or None when nvidia-ml-py is not installed (a CPU-only install)."""
    try:
        import pynvml  # noqa: PLC0415 - imported lazily: `import hpo_agent.devices` stays light
    except Exception:  # ImportError, or a broken install raising anything at import
        return None
    return pynvml


def _attempt(call: Callable[..., Any], *args: Any) -> Any:
    # Catch everything, not only NVMLError: an old pynvml lacking a function raises
    # AttributeError, and a reading must never take a training run down.
    try:
        return call(*args)
    except Exception:
        return None


def _text(value: Any) -> Optional[str]:
    # pynvml < 11.5 returned bytes for names and versions.
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return None if value is None else str(value)


def nvml_readings(pynvml: Any, handle: Any) -> Dict[str, Optional[float]]:
    """One sample of GPU ``handle``; every key present, ``None`` where NVML would not say.

    Keys: ``gpu_mem_used_bytes``, ``gpu_mem_total_bytes``, ``gpu_mem_free_bytes``,
    ``gpu_util_percent``, ``gpu_power_w``, ``gpu_temp_c``.
    """
    out: Dict[str, Optional[float]] = dict.fromkeys(
        ("gpu_mem_used_bytes", "gpu_mem_total_bytes", "gpu_mem_free_bytes", "gpu_util_percent",
         "gpu_power_w", "gpu_temp_c"))
    memory = _attempt(lambda: pynvml.nvmlDeviceGetMemoryInfo(handle))
    if memory is not None:
        out["gpu_mem_used_bytes"] = _attempt(lambda: int(memory.used))
        out["gpu_mem_total_bytes"] = _attempt(lambda: int(memory.total))
        out["gpu_mem_free_bytes"] = _attempt(lambda: int(memory.free))
    out["gpu_util_percent"] = _attempt(
        lambda: float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu))
    out["gpu_power_w"] = _attempt(lambda: pynvml.nvmlDeviceGetPowerUsage(handle) / 1000.0)
    sensor = getattr(pynvml, "NVML_TEMPERATURE_GPU", 0)
    out["gpu_temp_c"] = _attempt(lambda: float(pynvml.nvmlDeviceGetTemperature(handle, sensor)))
    return out


class NvmlSession:
    """NVML initialised once, with the handle of one GPU; ``close()`` shuts NVML down.

    ``ok`` is False when NVML could not start or has no such GPU; readings are then all None.
    """

    def __init__(self, pynvml: Any = None, index: int = 0) -> None:
        self.pynvml = pynvml if pynvml is not None else load_pynvml()
        self.handle: Any = None
        self._initialised = False
        if self.pynvml is None:
            return
        try:
            self.pynvml.nvmlInit()
            self._initialised = True
        except Exception:
            return
        self.handle = _attempt(self.pynvml.nvmlDeviceGetHandleByIndex, index)

    @property
    def ok(self) -> bool:
        """True when NVML started and GPU ``index`` has a handle."""
        return self.handle is not None

    def readings(self) -> Dict[str, Optional[float]]:
        """:func:`nvml_readings` of this GPU (all None when not :attr:`ok`)."""
        if not self.ok:
            return nvml_readings(None, None)  # every call fails: all None, same keys
        return nvml_readings(self.pynvml, self.handle)

    def close(self) -> None:
        """Shut NVML down (once; later calls do nothing)."""
        if self._initialised:
            _attempt(self.pynvml.nvmlShutdown)
            self._initialised = False
        self.handle = None

    def __enter__(self) -> "NvmlSession":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def nvml_probe(pynvml: Any = None) -> Optional[Dict[str, Any]]:
    """What NVML says about GPU 0, or None when NVML cannot start or sees no GPU.

    Keys: ``device_count``, ``name``, ``driver_version``, ``cuda_driver_version`` (e.g. 12040),
    and the :func:`nvml_readings` keys (each ``None`` where not supported).
    """
    session = NvmlSession(pynvml)
    try:
        if session.pynvml is None or not session._initialised:
            return None
        count = _attempt(session.pynvml.nvmlDeviceGetCount)
        if not count or not session.ok:
            return None
        info: Dict[str, Any] = {
            "device_count": int(count),
            "name": _text(_attempt(session.pynvml.nvmlDeviceGetName, session.handle)),
            "driver_version": _text(_attempt(session.pynvml.nvmlSystemGetDriverVersion)),
            "cuda_driver_version": _attempt(session.pynvml.nvmlSystemGetCudaDriverVersion),
        }
        info.update(session.readings())
        return info
    finally:
        session.close()
