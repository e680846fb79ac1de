"""A background sampler of what a trial costs: CPU, memory, and where readable, the GPU.

The thread sleeps on ``Event.wait`` between samples, so it costs nothing while idle and stops at
once. It keeps running aggregates rather than every sample, so a long run uses constant memory.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Dict, Optional

import psutil

from hpo_agent.devices._detect import DeviceInfo, detect
from hpo_agent.devices._nvml import NvmlSession
from hpo_agent.devices._tegra import (
    board_power_w,
    find_jetson_gpu_load_path,
    gpu_temperature,
    read_ina3221_rails,
    read_jetson_gpu_load,
    read_meminfo,
    read_thermal_zones,
)

# summary key → (sample key, aggregate); the order is the order of summary().
_SUMMARY = (
    ("cpu_percent_mean", "cpu_percent", "mean"),
    ("cpu_percent_max", "cpu_percent", "max"),
    ("rss_bytes_max", "rss_bytes", "max"),
    ("rss_bytes_mean", "rss_bytes", "mean"),
    ("sys_mem_used_bytes_max", "sys_mem_used_bytes", "max"),
    ("gpu_mem_used_bytes_max", "gpu_mem_used_bytes", "max"),
    ("gpu_util_percent_mean", "gpu_util_percent", "mean"),
    ("gpu_util_percent_max", "gpu_util_percent", "max"),
    ("gpu_power_w_mean", "gpu_power_w", "mean"),
    ("gpu_temp_c_max", "gpu_temp_c", "max"),
    ("board_power_w_mean", "board_power_w", "mean"),
)
_BYTES = ("rss_bytes", "sys_mem_used_bytes", "gpu_mem_used_bytes")


class ResourceMonitor:
    """Sample a process (and its children) and the device every ``interval_s`` seconds.

    Use as a context manager or with :meth:`start` / :meth:`stop`; one sample is always taken at
    start and one at stop, so even a 0.1 s trial has figures. :meth:`summary` returns flat,
    unit-bearing keys: ``samples``, ``duration_s``, ``cpu_percent_mean`` / ``_max`` (100 = one
    core busy; process plus descendants, reaped ones included), ``rss_bytes_max`` / ``_mean``
    (process plus live descendants; pages they share are counted once per process),
    ``sys_mem_used_bytes_max`` (total - available), and where readable
    ``gpu_mem_used_bytes_max`` (the whole GPU: NVML used, or NvMapMemUsed on a Jetson),
    ``gpu_util_percent_mean`` / ``_max``, ``gpu_power_w_mean`` (NVML), ``gpu_temp_c_max``,
    ``board_power_w_mean`` (a Jetson's VDD_IN: the whole module, as no rail is GPU-only).
    Keys whose readings were never available are left out.

    Args:
        interval_s: seconds between samples (> 0).
        pid: the process to watch; this process when None.
        device: where to read GPU figures; :func:`detect` is called at start when None. An
            emulated device is read as its host.
    """

    def __init__(self, interval_s: float = 1.0, pid: Optional[int] = None,
                 device: Optional[DeviceInfo] = None) -> None:
        if not interval_s > 0:
            raise ValueError(f"interval_s is {interval_s}, but must be > 0")
        self.interval_s = float(interval_s)
        self.pid = os.getpid() if pid is None else int(pid)
        self.device = device
        self._stop_event = threading.Event()
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self._nvml: Optional[NvmlSession] = None
        self._tegra_load_path: Optional[str] = None
        self._gpu_source: Optional[str] = None
        self._process: Optional[psutil.Process] = None
        self._reset()

    # --- life cycle ------------------------------------------------------------------------

    def start(self) -> "ResourceMonitor":
        """Take the first sample and start the sampling thread. Returns self."""
        if self._thread is not None:
            raise RuntimeError("ResourceMonitor is already running; call stop() first")
        self._reset()
        try:
            self._process = psutil.Process(self.pid)
        except psutil.Error:
            self._process = None  # gone already: system and GPU figures still come
        self._open_gpu_source()
        self._stop_event.clear()
        self._started = time.monotonic()
        self.sample()
        self._thread = threading.Thread(target=self._run, name="hpo-agent-monitor", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> Dict[str, Any]:
        """Stop the thread, take the last sample, release NVML; returns :meth:`summary`."""
        if self._thread is None:
            return self.summary()
        self._stop_event.set()
        self._thread.join()
        self._thread = None
        self.sample()
        if self._nvml is not None:
            self._nvml.close()
            self._nvml = None
        return self.summary()

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._thread is not None

    def __enter__(self) -> "ResourceMonitor":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop_event.wait(self.interval_s):
            try:
                self.sample()
            except Exception:  # a monitor must never take the trial down; skip this tick
                pass

    # --- sampling ----------------------------------------------------------------------------

    def _reset(self) -> None:
        self._count = 0
        self._sums: Dict[str, float] = {}
        self._counts: Dict[str, int] = {}
        self._maxes: Dict[str, float] = {}
        self._last: Dict[str, Any] = {}
        self._started = time.monotonic()
        self._last_time = self._started
        self._last_cpu: Optional[float] = None
        self._last_cpu_time: Optional[float] = None

    def _open_gpu_source(self) -> None:
        device = self.device if self.device is not None else detect()
        kind = device.readings.get("host_kind", device.kind) if device.emulated else device.kind
        self._gpu_source = None
        if kind == "cuda":
            session = NvmlSession()
            if session.ok:
                self._nvml, self._gpu_source = session, "nvml"
        elif kind == "jetson":
            self._tegra_load_path = find_jetson_gpu_load_path()
            self._gpu_source = "tegra"

    def sample(self) -> Dict[str, Any]:
        """Take one sample now, fold it into the aggregates and return it."""
        with self._lock:
            now = time.monotonic()
            values: Dict[str, Any] = {"t_s": now - self._started}
            values.update(self._process_readings(now))
            memory = psutil.virtual_memory()
            values["sys_mem_used_bytes"] = int(memory.total - memory.available)
            values.update(self._gpu_readings())
            self._count += 1
            self._last_time = now
            for key, value in values.items():
                if value is None or key == "t_s":
                    continue
                self._sums[key] = self._sums.get(key, 0.0) + value
                self._counts[key] = self._counts.get(key, 0) + 1
                self._maxes[key] = max(self._maxes.get(key, value), value)
            self._last = values
            return dict(values)

    def _process_readings(self, now: float) -> Dict[str, Any]:
        if self._process is None:
            return {"cpu_percent": None, "rss_bytes": None}
        try:
            processes = [self._process] + self._process.children(recursive=True)
        except psutil.Error:
            return {"cpu_percent": None, "rss_bytes": None}
        rss, cpu_seconds = 0, 0.0
        for proc in processes:
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    rss += proc.memory_info().rss
            except psutil.Error:  # a child that just exited: its time moves to the parent
                continue
            # children_* hold the time of reaped children, so finished workers still count.
            cpu_seconds += times.user + times.system + getattr(times, "children_user", 0.0) \
                + getattr(times, "children_system", 0.0)
        cpu_percent = None
        if self._last_cpu is not None and now > self._last_cpu_time:
            delta = max(0.0, cpu_seconds - self._last_cpu)
            cpu_percent = 100.0 * delta / (now - self._last_cpu_time)
        self._last_cpu, self._last_cpu_time = cpu_seconds, now
        return {"cpu_percent": cpu_percent, "rss_bytes": rss}

    def _gpu_readings(self) -> Dict[str, Any]:
        if self._gpu_source == "nvml" and self._nvml is not None:
            nvml = self._nvml.readings()
            return {key: nvml[key] for key in
                    ("gpu_mem_used_bytes", "gpu_util_percent", "gpu_power_w", "gpu_temp_c")}
        if self._gpu_source == "tegra":
            return {
                "gpu_mem_used_bytes": read_meminfo()["nvmap_mem_used_bytes"],
                "gpu_util_percent": read_jetson_gpu_load(self._tegra_load_path)
                if self._tegra_load_path else None,
                "gpu_temp_c": gpu_temperature(read_thermal_zones()),
                "board_power_w": board_power_w(read_ina3221_rails()),
            }
        return {}

    # --- results -----------------------------------------------------------------------------

    def latest(self) -> Dict[str, Any]:
        """The most recent sample (empty before the first)."""
        with self._lock:
            return dict(self._last)

    def summary(self) -> Dict[str, Any]:
        """Aggregates so far (see the class docstring for the keys)."""
        with self._lock:
            out: Dict[str, Any] = {"samples": self._count,
                                   "duration_s": round(self._last_time - self._started, 4)}
            for name, key, how in _SUMMARY:
                if key not in self._counts:
                    continue
                value = self._maxes[key] if how == "max" else self._sums[key] / self._counts[key]
                out[name] = int(round(value)) if key in _BYTES else round(float(value), 3)
            return out
