"""detect() on this machine and on fake filesystem roots; emulate(); host helpers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hpo_agent.devices import (
    DeviceInfo,
    cpu_model_name,
    detect,
    emulate,
    jetson_model,
    load_profile,
    parse_l4t_release,
    read_cgroup_memory,
)

FIXTURES = Path(__file__).parent / "fixtures" / "devices"
GiB = 2**30


def test_detect_here_is_a_cpu_with_memory():
    info = detect()
    assert info.kind == "cpu" and info.profile == "cpu" and info.torch_device == "cpu"
    assert info.total_memory_bytes > 0
    assert 0 < info.free_memory_bytes <= info.total_memory_bytes
    assert info.cpu_count >= 1 and info.name
    assert json.loads(json.dumps(info.to_dict()))["kind"] == "cpu"


def test_detect_without_nvml():
    assert detect(nvml=False).kind == "cpu"


def _jetson_root(tmp_path: Path) -> Path:
    (tmp_path / "etc").mkdir()
    shutil.copy(FIXTURES / "nv_tegra_release_r35.txt", tmp_path / "etc" / "nv_tegra_release")
    (tmp_path / "proc" / "device-tree").mkdir(parents=True)
    shutil.copy(FIXTURES / "device_tree_model_orin_nano.bin",
                tmp_path / "proc" / "device-tree" / "model")
    shutil.copy(FIXTURES / "meminfo_jetson_orin_nano.txt", tmp_path / "proc" / "meminfo")
    load = tmp_path / "sys" / "devices" / "platform" / "17000000.ga10b" / "load"
    load.parent.mkdir(parents=True)
    shutil.copy(FIXTURES / "gpu_load_orin.txt", load)
    return tmp_path


def test_detect_a_jetpack5_jetson_from_its_files(tmp_path):
    info = detect(root=str(_jetson_root(tmp_path)), nvml=False)
    assert info.kind == "jetson" and info.name == "NVIDIA Jetson Orin Nano Developer Kit"
    assert info.unified_memory and info.torch_device == "cuda"
    # The profile needs the board's memory: this host's RAM decides which one matches.
    assert info.profile in ("jetson-orin-nano-8gb", "jetson")
    assert info.readings["l4t_release"] == "35.4.1"
    assert info.readings["nvmap_mem_used_bytes"] == 1212416 * 1024
    assert info.readings["gpu_util_percent"] == 41.2
    assert info.readings["tegra_allocatable_bytes"] == (7802888 - 1212416) * 1024


def test_jetson_markers(tmp_path):
    assert jetson_model(str(tmp_path)) is None
    (tmp_path / "proc" / "device-tree").mkdir(parents=True)
    (tmp_path / "proc" / "device-tree" / "model").write_text("Raspberry Pi 4 Model B\x00")
    assert jetson_model(str(tmp_path)) is None
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "nv_tegra_release").write_text("# R35 (release), REVISION: 3.1\n")
    assert jetson_model(str(tmp_path)) == "Raspberry Pi 4 Model B"  # L4T on a custom board
    (tmp_path / "proc" / "device-tree" / "model").write_text("NVIDIA Jetson AGX Orin\x00")
    assert jetson_model(str(tmp_path)) == "NVIDIA Jetson AGX Orin"


@pytest.mark.parametrize("text, expected", [
    ("# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref", "35.4.1"),
    ("# R32 (release), REVISION: 7.4, GCID: 33514132, BOARD: t210ref", "32.7.4"),
    ("", None),
    (None, None),
])
def test_parse_l4t_release(text, expected):
    assert parse_l4t_release(text) == expected


def test_cpu_model_name():
    assert cpu_model_name((FIXTURES / "cpuinfo_x86_host.txt").read_text()).startswith("Intel")
    arm = "processor\t: 0\nBogoMIPS\t: 62.50\nCPU part\t: 0xd42\n"
    assert cpu_model_name(arm)  # platform fallback, never empty
    assert cpu_model_name("Hardware\t: BCM2835\n") == "BCM2835"


def test_cgroup_v2_limit_caps_detected_memory(tmp_path):
    (tmp_path / "proc" / "self").mkdir(parents=True)
    (tmp_path / "proc" / "self" / "cgroup").write_text("0::/\n")
    cgroup = tmp_path / "sys" / "fs" / "cgroup"
    cgroup.mkdir(parents=True)
    (cgroup / "memory.max").write_text(f"{2 * GiB}\n")
    (cgroup / "memory.current").write_text(f"{GiB}\n")
    (cgroup / "memory.stat").write_text(f"anon 100\ninactive_file {GiB // 4}\n")
    assert read_cgroup_memory(str(tmp_path)) == (2 * GiB, GiB - GiB // 4)
    info = detect(root=str(tmp_path), nvml=False)
    assert info.total_memory_bytes == 2 * GiB
    assert info.free_memory_bytes <= 2 * GiB - (GiB - GiB // 4)
    assert info.readings["memory_source"] == "cgroup"


def test_cgroup_v1_and_no_limit(tmp_path):
    assert read_cgroup_memory(str(tmp_path)) == (None, None)
    v1 = tmp_path / "sys" / "fs" / "cgroup" / "memory"
    v1.mkdir(parents=True)
    (v1 / "memory.limit_in_bytes").write_text("9223372036854771712\n")  # v1's "no limit"
    assert read_cgroup_memory(str(tmp_path)) == (None, None)
    (v1 / "memory.limit_in_bytes").write_text(f"{GiB}\n")
    (v1 / "memory.usage_in_bytes").write_text(f"{GiB // 2}\n")
    assert read_cgroup_memory(str(tmp_path)) == (GiB, GiB // 2)


def _host(free=20 * GiB):
    return DeviceInfo(kind="cpu", name="Test CPU", profile="cpu", total_memory_bytes=24 * GiB,
                      free_memory_bytes=free, unified_memory=True, torch_device="cpu",
                      cpu_count=2, readings={"cpu_name": "Test CPU",
                                             "host_total_memory_bytes": 24 * GiB,
                                             "host_available_memory_bytes": free})


def test_emulate_takes_the_profile_memory():
    info = emulate("jetson-orin-nano-8gb", _host())
    profile = load_profile("jetson-orin-nano-8gb")
    assert info.emulated and info.kind == "jetson" and info.profile == profile.name
    assert info.total_memory_bytes == 8 * GiB
    assert info.free_memory_bytes == 8 * GiB - profile.reserved_bytes
    assert info.unified_memory and info.torch_device == "cpu"  # trials still run on the host
    assert info.readings["host_kind"] == "cpu" and not info.readings["limited_by_host"]


def test_emulate_never_promises_more_than_the_host_has():
    info = emulate("t4-16gb", _host(free=3 * GiB))
    assert info.total_memory_bytes == 16 * GiB and info.free_memory_bytes == 3 * GiB
    assert info.readings["limited_by_host"]


def test_emulate_cpu_is_the_host_cpu():
    info = emulate("cpu", _host())
    assert (info.kind, info.profile, info.name) == ("cpu", "cpu", "Test CPU")
    assert info.total_memory_bytes == 24 * GiB and info.emulated


def test_emulate_refuses_generic_and_unknown_profiles():
    with pytest.raises(ValueError, match="generic"):
        emulate("cuda", _host())
    with pytest.raises(ValueError, match="unknown device profile 'nope'"):
        emulate("nope", _host())
