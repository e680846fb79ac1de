"""Jetson readers: tegrastats, /proc/meminfo, devfreq load, thermal zones, INA3221 rails."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from hpo_agent.devices import (
    board_power_w,
    find_jetson_gpu_load_path,
    gpu_temperature,
    parse_gpu_load,
    parse_meminfo,
    parse_tegrastats,
    read_ina3221_rails,
    read_jetson_gpu_load,
    read_meminfo,
    read_tegrastats,
    read_thermal_zones,
    tegra_allocatable_bytes,
)

FIXTURES = Path(__file__).parent / "fixtures" / "devices"
KiB = 1024


def _lines(name):
    return (FIXTURES / name).read_text().splitlines()


def test_orin_nano_jetpack5_line():
    line = _lines("tegrastats_orin_nano_jp5.txt")[0]
    out = parse_tegrastats(line)
    assert (out["ram_used_mb"], out["ram_total_mb"]) == (3072, 7620)
    assert (out["swap_used_mb"], out["swap_total_mb"], out["swap_cached_mb"]) == (0, 3810, 0)
    assert out["cpu_percent"] == [12.0, 8.0, 5.0, 3.0, None, None]   # two cores off (7W mode)
    assert out["cpu_freq_mhz"] == [729, 729, 729, 729, None, None]
    assert (out["gpu_util_percent"], out["gpu_freq_mhz"]) == (41.0, 305)
    assert out["emc_util_percent"] == 11.0
    assert (out["vdd_in_mw"], out["vdd_in_avg_mw"]) == (4520, 4520)
    assert out["power_mw"]["VDD_CPU_GPU_CV"] == {"current": 1082, "average": 1082}
    assert set(out["power_mw"]) == {"VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"}
    temps = out["temperatures_c"]
    assert temps["cpu"] == 45.5 and temps["gpu"] == 44.281 and temps["tj"] == 45.5
    assert "cv0" not in temps  # -256C: sensor off
    assert out["timestamp"] is None


def test_orin_nano_jetpack5_second_line_has_running_average():
    out = parse_tegrastats(_lines("tegrastats_orin_nano_jp5.txt")[1])
    assert (out["vdd_in_mw"], out["vdd_in_avg_mw"]) == (7012, 5766)
    assert (out["gpu_util_percent"], out["gpu_freq_mhz"]) == (99.0, 624)


def test_orin_nano_jetpack6_line():
    out = parse_tegrastats(_lines("tegrastats_orin_nano_jp6.txt")[0])
    assert out["timestamp"] == "11-20-2024 10:21:37"
    assert out["ram_used_mb"] == 2913
    assert out["cpu_percent"] == [23.0, 15.0, 18.0, 9.0, 12.0, 7.0]
    assert out["cpu_freq_mhz"] == [1510] * 6
    assert out["gpu_util_percent"] == 87.0
    assert out["temperatures_c"] == {"cpu": 50.562, "soc2": 48.843, "soc0": 49.218,
                                     "gpu": 51.937, "tj": 51.937, "soc1": 48.656}
    assert (out["vdd_in_mw"], out["vdd_in_avg_mw"]) == (9873, 8702)


def test_agx_orin_line_has_no_vdd_in():
    out = parse_tegrastats(_lines("tegrastats_agx_orin_jp5.txt")[0])
    assert out["ram_total_mb"] == 30536
    assert len(out["cpu_percent"]) == 8
    assert (out["gpu_util_percent"], out["gpu_freq_mhz"]) == (96.0, 930)
    assert out["vdd_in_mw"] is None and out["vdd_in_avg_mw"] is None
    assert out["power_mw"]["VDD_GPU_SOC"] == {"current": 14350, "average": 13922}
    assert out["temperatures_c"]["tboard"] == 42.0


def test_nano_jetpack4_line():
    out = parse_tegrastats(_lines("tegrastats_nano_jp4.txt")[0])
    assert (out["ram_used_mb"], out["ram_total_mb"]) == (1506, 3964)
    assert out["cpu_percent"] == [5.0, 1.0, 0.0, 0.0]
    assert (out["gpu_util_percent"], out["gpu_freq_mhz"]) == (0.0, 921)
    assert (out["vdd_in_mw"], out["vdd_in_avg_mw"]) == (2155, 2155)   # POM_5V_IN, no unit
    assert "IRAM" not in out["power_mw"]
    assert out["temperatures_c"]["pll"] == 24.5


def test_older_cpu_format_with_one_shared_frequency():
    out = parse_tegrastats("RAM 1234/3983MB (lfb 504x4MB) CPU [1%,2%,off,off]@102 EMC 4%@1600 "
                           "AVP 0%@12 VDE 0 GR3D 0%@76")
    assert out["cpu_percent"] == [1.0, 2.0, None, None]
    assert out["cpu_freq_mhz"] == [102, 102, None, None]
    assert out["gpu_util_percent"] is None  # no GR3D_FREQ in this format
    assert out["swap_total_mb"] is None


@pytest.mark.parametrize("line", ["", "garbage", None, "RAM x/yMB CPU [] GR3D_FREQ %"])
def test_tegrastats_degrades_to_none(line):
    out = parse_tegrastats(line)
    assert out["ram_used_mb"] is None and out["vdd_in_mw"] is None
    assert out["temperatures_c"] is None and out["power_mw"] is None


def test_read_tegrastats_without_the_tool():
    out = read_tegrastats(executable="/nonexistent/tegrastats")
    assert all(value is None for value in out.values())


def test_read_tegrastats_reads_one_line_of_a_running_tool(tmp_path):
    line = _lines("tegrastats_orin_nano_jp5.txt")[0]
    tool = tmp_path / "tegrastats"
    tool.write_text(f"#!/bin/sh\necho '{line}'\nexec sleep 5\n")
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    out = read_tegrastats(executable=str(tool), timeout_s=5)
    assert out["ram_used_mb"] == 3072 and out["vdd_in_mw"] == 4520


def test_meminfo_of_a_jetson():
    out = parse_meminfo((FIXTURES / "meminfo_jetson_orin_nano.txt").read_text())
    assert out["mem_total_bytes"] == 7802888 * KiB
    assert out["mem_available_bytes"] == 4656704 * KiB
    assert out["nvmap_mem_used_bytes"] == 1212416 * KiB
    assert out["swap_free_bytes"] == 3901440 * KiB


def test_meminfo_of_a_pc_has_no_nvmap():
    out = parse_meminfo((FIXTURES / "meminfo_x86_host.txt").read_text())
    assert out["mem_total_bytes"] > 0 and out["mem_available_bytes"] > 0
    assert out["nvmap_mem_used_bytes"] is None


def test_meminfo_degrades():
    assert all(v is None for v in parse_meminfo("").values())
    assert parse_meminfo("MemTotal: lots kB\nMemFree: 10 kB")["mem_total_bytes"] is None
    assert read_meminfo("/nonexistent")["mem_total_bytes"] is None
    assert read_meminfo()["mem_total_bytes"] > 0


def test_tegra_allocatable_by_hand():
    meminfo = parse_meminfo((FIXTURES / "meminfo_jetson_orin_nano.txt").read_text())
    # host = 7802888 - 4656704 - 1212416 = 1933768 kB < swap free 3901440 kB: all swappable,
    # so allocatable = total - GPU-held = 7802888 - 1212416 kB.
    assert tegra_allocatable_bytes(meminfo) == (7802888 - 1212416) * KiB
    # Without swap, host memory stays: total - GPU - host = available.
    no_swap = dict(meminfo, swap_free_bytes=0)
    assert tegra_allocatable_bytes(no_swap) == 4656704 * KiB
    assert tegra_allocatable_bytes(parse_meminfo("")) is None


def test_gpu_load_is_per_mille():
    assert parse_gpu_load((FIXTURES / "gpu_load_orin.txt").read_text()) == 41.2
    assert parse_gpu_load("1000") == 100.0
    assert parse_gpu_load("") is None and parse_gpu_load(None) is None
    assert parse_gpu_load("-1") is None


def _put(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_gpu_load_path_via_devfreq(tmp_path):
    _put(tmp_path, "sys/class/devfreq/17000000.ga10b/device/load", "412\n")
    _put(tmp_path, "sys/class/devfreq/other/device/load", "999\n")
    path = find_jetson_gpu_load_path(str(tmp_path))
    assert path.endswith(os.path.join("17000000.ga10b", "device", "load"))
    assert read_jetson_gpu_load(root=str(tmp_path)) == 41.2


def test_gpu_load_path_fallback_and_absence(tmp_path):
    assert find_jetson_gpu_load_path(str(tmp_path)) is None
    assert read_jetson_gpu_load(root=str(tmp_path)) is None
    _put(tmp_path, "sys/devices/gpu.0/load", "250")
    assert read_jetson_gpu_load(root=str(tmp_path)) == 25.0


def test_thermal_zones(tmp_path):
    _put(tmp_path, "sys/class/thermal/thermal_zone0/type", "cpu-thermal\n")
    _put(tmp_path, "sys/class/thermal/thermal_zone0/temp", "45500\n")
    _put(tmp_path, "sys/class/thermal/thermal_zone1/type", "gpu-thermal\n")
    _put(tmp_path, "sys/class/thermal/thermal_zone1/temp", "44281\n")
    _put(tmp_path, "sys/class/thermal/thermal_zone2/type", "cv0-thermal\n")
    _put(tmp_path, "sys/class/thermal/thermal_zone2/temp", "-256000\n")
    _put(tmp_path, "sys/class/thermal/thermal_zone3/type", "broken\n")  # no temp file
    zones = read_thermal_zones(str(tmp_path))
    assert zones == {"cpu-thermal": 45.5, "gpu-thermal": 44.281}
    assert gpu_temperature(zones) == 44.281
    assert gpu_temperature({"cpu-thermal": 40.0}) is None


def test_ina3221_rails(tmp_path):
    hwmon = "sys/class/hwmon/hwmon1"
    _put(tmp_path, f"{hwmon}/name", "ina3221\n")
    for index, (label, mv, ma) in enumerate(
            [("VDD_IN", 5000, 904), ("VDD_CPU_GPU_CV", 5000, 216), ("VDD_SOC", 5000, 285)], 1):
        _put(tmp_path, f"{hwmon}/in{index}_label", label + "\n")
        _put(tmp_path, f"{hwmon}/in{index}_input", f"{mv}\n")
        _put(tmp_path, f"{hwmon}/curr{index}_input", f"{ma}\n")
    _put(tmp_path, "sys/class/hwmon/hwmon0/name", "acpitz\n")
    rails = read_ina3221_rails(str(tmp_path))
    assert rails == pytest.approx({"VDD_IN": 4.52, "VDD_CPU_GPU_CV": 1.08, "VDD_SOC": 1.425})
    assert board_power_w(rails) == pytest.approx(4.52)
    assert board_power_w({"VDD_GPU_SOC": 14.3}) is None
    assert read_ina3221_rails(str(tmp_path / "nothing")) == {}
