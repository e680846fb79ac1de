"""Readings on Jetsons, where NVML is missing or answers "not supported".

Each reading is a pure parser (text in, dict or number out, tested on recorded samples) plus a
thin reader that opens the file or runs the tool. Every metric degrades on its own: a reading
that is absent or unreadable is ``None``, never an exception, because a monitor that crashes a
training run is worse than one with a gap.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import threading
from typing import Any, Dict, List, Optional

# --- small file helpers --------------------------------------------------------------------------


def read_text(path: str) -> Optional[str]:
    """The file's text, or None when it is missing or unreadable (sysfs files come and go)."""
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except (OSError, ValueError):
        return None


def _to_number(text: Optional[str]) -> Optional[float]:
    try:
        return float(text.strip()) if text is not None else None
    except ValueError:
        return None


# --- tegrastats -------------------------------------------------------------------------------

_RAM = re.compile(r"\bRAM (\d+)/(\d+)MB")
_SWAP = re.compile(r"\bSWAP (\d+)/(\d+)MB(?: \(cached (\d+)MB\))?")
_CPU = re.compile(r"\bCPU \[([^\]]*)\](?:@(\d+))?")
_GR3D = re.compile(r"\bGR3D_FREQ (\d+)%(?:@\[?(\d+))?")
_EMC = re.compile(r"\bEMC_FREQ (\d+)%")
# Temperatures: "cpu@45.5C", "CPU@43.218C", "Tboard@32C"; -256C marks a sensor that is off.
_TEMP = re.compile(r"(?<![\w%])([A-Za-z][\w-]*)@(-?\d+(?:\.\d+)?)C\b")
# Power rails: "VDD_IN 4520mW/4520mW" (Orin), "POM_5V_IN 1155/1155" (Nano, mW without unit).
_RAIL = re.compile(r"\b([A-Z][A-Z0-9_]*) (\d+)(?:mW)?/(\d+)(?:mW)?(?=\s|$)")
_TIMESTAMP = re.compile(r"^\s*(\d{2}-\d{2}-\d{4} \d{2}:\d{2}:\d{2})")
# The board's total input rail: VDD_IN on Xavier/Orin, POM_5V_IN on the Nano.
_INPUT_RAILS = ("VDD_IN", "POM_5V_IN")


def parse_tegrastats(line: str) -> Dict[str, Any]:
    """Parse one tegrastats line; every key is present and ``None`` where the line lacks it.

    Keys: ``timestamp`` (str, JetPack 6 prints one), ``ram_used_mb``, ``ram_total_mb``,
    ``swap_used_mb``, ``swap_total_mb``, ``swap_cached_mb`` (tegrastats' "MB" are MiB),
    ``cpu_percent`` and ``cpu_freq_mhz`` (one entry per core, ``None`` for a core that is off),
    ``gpu_util_percent`` and ``gpu_freq_mhz`` (GR3D_FREQ), ``emc_util_percent``,
    ``temperatures_c`` (sensor name in lower case → °C, sensors reading -256 dropped),
    ``power_mw`` (rail → ``{"current": mW, "average": mW}``), ``vdd_in_mw`` and
    ``vdd_in_avg_mw`` (the board input rail: VDD_IN, or POM_5V_IN on a Nano).
    """
    line = line or ""
    out: Dict[str, Any] = dict.fromkeys(
        ("timestamp", "ram_used_mb", "ram_total_mb", "swap_used_mb", "swap_total_mb",
         "swap_cached_mb", "cpu_percent", "cpu_freq_mhz", "gpu_util_percent", "gpu_freq_mhz",
         "emc_util_percent", "temperatures_c", "power_mw", "vdd_in_mw", "vdd_in_avg_mw"))
    match = _TIMESTAMP.search(line)
    if match:
        out["timestamp"] = match.group(1)
    match = _RAM.search(line)
    if match:
        out["ram_used_mb"], out["ram_total_mb"] = int(match.group(1)), int(match.group(2))
    match = _SWAP.search(line)
    if match:
        out["swap_used_mb"], out["swap_total_mb"] = int(match.group(1)), int(match.group(2))
        if match.group(3) is not None:
            out["swap_cached_mb"] = int(match.group(3))
    match = _CPU.search(line)
    if match:
        out["cpu_percent"], out["cpu_freq_mhz"] = _parse_cores(match.group(1), match.group(2))
    match = _GR3D.search(line)
    if match:
        out["gpu_util_percent"] = float(match.group(1))
        if match.group(2):
            out["gpu_freq_mhz"] = int(match.group(2))
    match = _EMC.search(line)
    if match:
        out["emc_util_percent"] = float(match.group(1))
    temps = {name.lower(): float(value) for name, value in _TEMP.findall(line)
             if float(value) > -200}
    if temps:
        out["temperatures_c"] = temps
    rails = {name: {"current": int(cur), "average": int(avg)}
             for name, cur, avg in _RAIL.findall(line) if name not in ("RAM", "SWAP")}
    if rails:
        out["power_mw"] = rails
        for name in _INPUT_RAILS:
            if name in rails:
                out["vdd_in_mw"] = rails[name]["current"]
                out["vdd_in_avg_mw"] = rails[name]["average"]
                break
    return out


def _parse_cores(body: str, shared_freq: Optional[str]) -> tuple:
    """``"12%@729,off"`` (newer) or ``"12%,3%"`` with one ``@freq`` after the bracket (older)."""
    loads: List[Optional[float]] = []
    freqs: List[Optional[int]] = []
    for item in body.split(","):
        item = item.strip()
        core = re.match(r"(\d+)%(?:@(\d+))?$", item)
        if core is None:  # "off" or something unknown: that core has no reading
            loads.append(None)
            freqs.append(None)
            continue
        loads.append(float(core.group(1)))
        freq = core.group(2) or shared_freq
        freqs.append(int(freq) if freq else None)
    return loads, freqs


def read_tegrastats(executable: str = "tegrastats", interval_ms: int = 1000,
                    timeout_s: float = 5.0) -> Dict[str, Any]:
    """Run tegrastats, parse its first line, stop it. All ``None`` when it cannot run.

    Slow (one interval) and the tool may need root for some rails: the monitor reads sysfs
    instead; this is for a one-off report of what the board says about itself.
    """
    try:
        proc = subprocess.Popen([executable, "--interval", str(int(interval_ms))],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    except OSError:
        return parse_tegrastats("")
    try:
        line = _first_line(proc, timeout_s)
    finally:
        proc.kill()
        proc.wait()
    return parse_tegrastats(line)


def _first_line(proc: "subprocess.Popen[str]", timeout_s: float) -> str:
    # readline() would block forever on a tool that never prints; read it on a thread instead.
    box: List[str] = []
    reader = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout_s)
    return box[0] if box else ""


# --- /proc/meminfo ------------------------------------------------------------------------------

_MEMINFO_KEYS = {
    "MemTotal": "mem_total_bytes",
    "MemFree": "mem_free_bytes",
    "MemAvailable": "mem_available_bytes",
    "SwapTotal": "swap_total_bytes",
    "SwapFree": "swap_free_bytes",
    "NvMapMemUsed": "nvmap_mem_used_bytes",  # GPU-mapped memory on a Jetson
}


def parse_meminfo(text: str) -> Dict[str, Optional[int]]:
    """Parse ``/proc/meminfo`` text into bytes.

    Keys (``None`` when absent): ``mem_total_bytes``, ``mem_free_bytes``, ``mem_available_bytes``,
    ``swap_total_bytes``, ``swap_free_bytes``, ``nvmap_mem_used_bytes`` (Jetsons only).
    """
    out: Dict[str, Optional[int]] = dict.fromkeys(_MEMINFO_KEYS.values())
    for line in (text or "").splitlines():
        name, _, rest = line.partition(":")
        key = _MEMINFO_KEYS.get(name.strip())
        if key is None:
            continue
        parts = rest.split()
        try:
            value = int(parts[0])
        except (IndexError, ValueError):
            continue
        unit = parts[1].lower() if len(parts) > 1 else ""
        out[key] = value * 1024 if unit == "kb" else value  # the kernel's "kB" is KiB
    return out


def read_meminfo(path: str = "/proc/meminfo") -> Dict[str, Optional[int]]:
    """:func:`parse_meminfo` of the live file (all ``None`` where it cannot be read)."""
    return parse_meminfo(read_text(path) or "")


def tegra_allocatable_bytes(meminfo: Dict[str, Optional[int]]) -> Optional[int]:
    """How much more the GPU of a Jetson could allocate, per NVIDIA's "CUDA for Tegra" note.

    ``cudaMemGetInfo`` ignores swap; the note estimates device-allocatable memory as total
    memory minus what the GPU holds (``NvMapMemUsed``) minus the host memory that cannot be
    pushed to swap. Host memory here is MemTotal - MemAvailable - NvMapMemUsed (page cache
    counts as free, as it can be dropped). Optimistic: it assumes swapping the host out is
    acceptable, which makes training slow; prefer MemAvailable for budgeting trials.
    """
    total = meminfo.get("mem_total_bytes")
    available = meminfo.get("mem_available_bytes")
    if total is None or available is None:
        return None
    device = meminfo.get("nvmap_mem_used_bytes") or 0
    swap_free = meminfo.get("swap_free_bytes") or 0
    host = max(0, total - available - device)
    return max(0, total - device - max(0, host - swap_free))


# --- GPU load, temperatures, power rails from sysfs -------------------------------------------

# devfreq names of Jetson GPUs: gm20b (Nano), gp10b (TX2), gv11b (Xavier), ga10b (Orin).
_GPU_DEVFREQ = re.compile(r"(gpu|g[mpva]\d+b)", re.IGNORECASE)
_GPU_LOAD_FALLBACKS = (
    "sys/devices/gpu.0/load",                          # Nano, TX2, Xavier
    "sys/devices/platform/gpu.0/load",
    "sys/devices/platform/17000000.ga10b/load",        # Orin, JetPack 5
    "sys/devices/platform/bus@0/17000000.gpu/load",    # Orin, JetPack 6
    "sys/devices/17000000.ga10b/load",
)


def parse_gpu_load(text: Optional[str]) -> Optional[float]:
    """A devfreq ``load`` file holds per-mille (0-1000); return percent, or None."""
    value = _to_number(text)
    return None if value is None or value < 0 else value / 10.0


def find_jetson_gpu_load_path(root: str = "/") -> Optional[str]:
    """The GPU's ``load`` file under ``root`` (devfreq first, then known paths), or None."""
    for device in sorted(glob.glob(os.path.join(root, "sys/class/devfreq/*"))):
        if _GPU_DEVFREQ.search(os.path.basename(device)):
            path = os.path.join(device, "device", "load")
            if os.path.isfile(path):
                return path
    for relative in _GPU_LOAD_FALLBACKS:
        path = os.path.join(root, relative)
        if os.path.isfile(path):
            return path
    return None


def read_jetson_gpu_load(path: Optional[str] = None, root: str = "/") -> Optional[float]:
    """GPU load in percent from ``path`` (found under ``root`` when not given), or None."""
    path = path or find_jetson_gpu_load_path(root)
    return parse_gpu_load(read_text(path)) if path else None


def read_thermal_zones(root: str = "/") -> Dict[str, float]:
    """Thermal zone type (lower case) → °C; zones reading -256 °C (sensor off) are left out."""
    zones: Dict[str, float] = {}
    for zone in sorted(glob.glob(os.path.join(root, "sys/class/thermal/thermal_zone*"))):
        kind = read_text(os.path.join(zone, "type"))
        milli = _to_number(read_text(os.path.join(zone, "temp")))
        if kind and milli is not None and milli > -200000:
            zones[kind.strip().lower()] = milli / 1000.0
    return zones


def gpu_temperature(zones: Dict[str, float]) -> Optional[float]:
    """The GPU zone among :func:`read_thermal_zones` ("gpu-thermal" on Orin, "gpu-therm" older)."""
    for name in ("gpu-thermal", "gpu-therm", "gpu"):
        if name in zones:
            return zones[name]
    return None


def read_ina3221_rails(root: str = "/") -> Dict[str, float]:
    """Power of each INA3221 rail in watts, from hwmon (JetPack 5/6: ``inN_label``,
    ``inN_input`` in mV, ``currN_input`` in mA). Empty where there is no such sensor
    (the JetPack 4 Nano exposes its rails through iio instead; it is a rehearsal-only target).
    """
    rails: Dict[str, float] = {}
    for hwmon in sorted(glob.glob(os.path.join(root, "sys/class/hwmon/hwmon*"))):
        if (read_text(os.path.join(hwmon, "name")) or "").strip() != "ina3221":
            continue
        for label_path in sorted(glob.glob(os.path.join(hwmon, "in*_label"))):
            index = os.path.basename(label_path)[2:-len("_label")]
            label = (read_text(label_path) or "").strip()
            millivolts = _to_number(read_text(os.path.join(hwmon, f"in{index}_input")))
            milliamps = _to_number(read_text(os.path.join(hwmon, f"curr{index}_input")))
            if label and millivolts is not None and milliamps is not None:
                rails[label] = millivolts * milliamps / 1e6
    return rails


def board_power_w(rails: Dict[str, float]) -> Optional[float]:
    """The board input power among :func:`read_ina3221_rails` (VDD_IN), or None."""
    for name in _INPUT_RAILS:
        if name in rails:
            return rails[name]
    return None
