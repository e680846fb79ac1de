"""ResourceMonitor: samples at start and stop, children counted, stops at once, GPU optional."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hpo_agent.devices import DeviceInfo, NvmlSession, ResourceMonitor, detect
from hpo_agent.devices import _monitor

_spec = importlib.util.spec_from_file_location(
    "hpo_agent_tests_fake_pynvml", Path(__file__).parent / "fixtures" / "devices" / "fake_pynvml.py")
_fake = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fake)
FakePynvml, jetpack6 = _fake.FakePynvml, _fake.jetpack6

CPU = DeviceInfo(kind="cpu", name="cpu", profile="cpu", total_memory_bytes=1, free_memory_bytes=1,
                 unified_memory=True, torch_device="cpu", cpu_count=1)
GPU_KEYS = ("gpu_mem_used_bytes_max", "gpu_util_percent_mean", "gpu_power_w_mean",
            "gpu_temp_c_max", "board_power_w_mean")


def _busy(seconds):
    end = time.perf_counter() + seconds
    total = 0
    while time.perf_counter() < end:
        total += 1
    return total


def test_short_busy_loop_has_figures():
    with ResourceMonitor(interval_s=0.05, device=CPU) as monitor:
        _busy(0.3)
    summary = monitor.summary()
    assert summary["samples"] >= 2
    assert 0.25 <= summary["duration_s"] < 5
    assert summary["rss_bytes_max"] > 0 and summary["rss_bytes_mean"] > 0
    assert summary["sys_mem_used_bytes_max"] > 0
    assert summary["cpu_percent_max"] > 0 and summary["cpu_percent_mean"] >= 0
    assert not any(key in summary for key in GPU_KEYS)  # never readable on a CPU
    assert isinstance(summary["rss_bytes_max"], int)


def test_a_tiny_trial_still_gets_two_samples_and_stop_is_prompt():
    monitor = ResourceMonitor(interval_s=60, device=CPU).start()
    assert monitor.running
    started = time.perf_counter()
    summary = monitor.stop()
    assert time.perf_counter() - started < 1.0  # Event.wait, not sleep
    assert summary["samples"] == 2 and not monitor.running
    assert monitor.stop() == summary  # idempotent


def test_children_memory_and_cpu_are_counted():
    child = ("import time; block = bytearray(96 * 2**20); end = time.perf_counter() + 0.4\n"
             "while time.perf_counter() < end: pass\n")
    with ResourceMonitor(interval_s=0.05, device=CPU) as monitor:
        own = monitor.latest()["rss_bytes"]
        subprocess.run([sys.executable, "-c", child], check=True)
    summary = monitor.summary()
    assert summary["rss_bytes_max"] >= own + 90 * 2**20
    assert summary["cpu_percent_max"] > 20  # the child's busy loop, seen live or once reaped


def test_a_process_that_is_gone_leaves_system_figures():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    with ResourceMonitor(interval_s=0.05, pid=child.pid, device=CPU) as monitor:
        pass
    summary = monitor.summary()
    assert summary["samples"] == 2 and "rss_bytes_max" not in summary
    assert summary["sys_mem_used_bytes_max"] > 0


def test_gpu_readings_through_nvml(monkeypatch):
    fake = jetpack6()  # memory and power "not supported": those keys must be left out
    monkeypatch.setattr(_monitor, "NvmlSession", lambda: NvmlSession(fake))
    cuda = DeviceInfo(kind="cuda", name="Orin (nvgpu)", profile="cuda", total_memory_bytes=1,
                      free_memory_bytes=1, unified_memory=False, torch_device="cuda", cpu_count=1)
    with ResourceMonitor(interval_s=0.05, device=cuda) as monitor:
        pass
    summary = monitor.summary()
    assert summary["gpu_util_percent_mean"] == 37.0 and summary["gpu_temp_c_max"] == 54.0
    assert "gpu_mem_used_bytes_max" not in summary and "gpu_power_w_mean" not in summary
    assert fake.calls[-1] == "shutdown"


def test_all_gpu_readings_on_a_card(monkeypatch):
    monkeypatch.setattr(_monitor, "NvmlSession", lambda: NvmlSession(FakePynvml()))
    cuda = DeviceInfo(kind="cuda", name="Tesla T4", profile="t4-16gb", total_memory_bytes=1,
                      free_memory_bytes=1, unified_memory=False, torch_device="cuda", cpu_count=1)
    summary = ResourceMonitor(interval_s=10, device=cuda).start().stop()
    assert summary["gpu_mem_used_bytes_max"] == 1_200_000_000
    assert summary["gpu_power_w_mean"] == 31.25


def test_jetson_readers_degrade_off_a_jetson():
    jetson = DeviceInfo(kind="jetson", name="x", profile="jetson", total_memory_bytes=1,
                        free_memory_bytes=1, unified_memory=True, torch_device="cuda",
                        cpu_count=1)
    summary = ResourceMonitor(interval_s=10, device=jetson).start().stop()
    assert summary["samples"] == 2 and not any(key in summary for key in GPU_KEYS)


def test_detects_the_device_when_not_given():
    monitor = ResourceMonitor(interval_s=10)
    monitor.start()
    assert monitor.stop()["samples"] == 2
    assert detect().kind == "cpu"


def test_misuse_is_refused():
    with pytest.raises(ValueError, match="interval_s is 0"):
        ResourceMonitor(interval_s=0)
    monitor = ResourceMonitor(interval_s=10, device=CPU).start()
    try:
        with pytest.raises(RuntimeError, match="already running"):
            monitor.start()
    finally:
        monitor.stop()


def test_summary_before_start_is_empty():
    assert ResourceMonitor(device=CPU).summary() == {"samples": 0, "duration_s": 0.0}
