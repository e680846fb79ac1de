"""Device profiles: what is published about each supported device, kept as TOML data files.

One file per device in ``devices/profiles/``. Figures come from NVIDIA datasheets; each file's
``source`` says which, and where a figure is computed or estimated rather than published it says
that too. The "generic" profiles (``cpu``, ``cuda``, ``jetson``) have no fixed memory: detection
fills it in from the machine itself.
"""

from __future__ import annotations

import functools
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from hpo_agent.devices._units import parse_memory

try:  # Python 3.11+
    import tomllib as _toml
except ImportError:  # pragma: no cover - Python < 3.11 (JetPack 5 ships 3.8)
    import tomli as _toml  # type: ignore[no-redef]

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"
KINDS = ("cpu", "cuda", "jetson")

_REQUIRED = ("name", "display_name", "kind", "memory", "unified_memory", "fp32_tflops",
             "memory_bandwidth_gbs", "source")


@dataclass(frozen=True)
class PowerMode:
    """One power mode (nvpmodel mode on a Jetson, the board power on a card)."""

    name: str
    watts: float


@dataclass(frozen=True)
class DeviceProfile:
    """What is known about one device model before touching it.

    Attributes:
        name: file stem and the name used on the command line (``--device t4-16gb``).
        display_name: the product name for reports.
        kind: ``"cpu"``, ``"cuda"`` (a discrete card) or ``"jetson"`` (shared CPU/GPU memory).
        memory_bytes: nominal device memory (DRAM of a Jetson, VRAM of a card); 0 for the
            generic profiles, whose memory is read from the machine at detection.
        unified_memory: True where CPU and GPU share one memory (Jetsons), so the host's
            processes and the training job compete for the same bytes.
        fp32_tflops: published (or, where ``source`` says so, computed) peak FP32 throughput.
        memory_bandwidth_gbs: published peak memory bandwidth, GB/s.
        power_modes: the power modes the device offers, lowest first.
        quirks: things that change how tuning must run on this device.
        source: where the figures come from.
        reserved_bytes: an *estimate* of memory that is already taken before a trial starts
            (firmware carve-outs, OS and desktop on a Jetson; ECC and the CUDA context on a card).
            Used when rehearsing the device on a bigger machine (:func:`emulate`).
        cuda_capability: the CUDA compute capability ("8.7"), empty for CPUs.
        match: regular expressions tried against the detected device name (the NVML name of a
            card, ``/proc/device-tree/model`` of a Jetson).
    """

    name: str
    display_name: str
    kind: str
    memory_bytes: int
    unified_memory: bool
    fp32_tflops: float
    memory_bandwidth_gbs: float
    power_modes: Tuple[PowerMode, ...] = ()
    quirks: Tuple[str, ...] = ()
    source: str = ""
    reserved_bytes: int = 0
    cuda_capability: str = ""
    match: Tuple[str, ...] = field(default=(), repr=False)

    @property
    def is_generic(self) -> bool:
        """True for the profiles without fixed figures (memory comes from detection)."""
        return self.memory_bytes == 0

    def to_dict(self) -> Dict[str, Any]:
        """Plain JSON-ready dict (power modes as ``{"name", "watts"}`` dicts, tuples as lists)."""
        data = asdict(self)
        data["power_modes"] = [dict(mode) for mode in data["power_modes"]]
        data["quirks"] = list(self.quirks)
        data["match"] = list(self.match)
        return data


def _profile_from_toml(path: Path) -> DeviceProfile:
    """Read and check one profile file; errors name the file and the key."""
    with path.open("rb") as handle:
        raw = _toml.load(handle)
    missing = [key for key in _REQUIRED if key not in raw]
    if missing:
        raise ValueError(f"device profile {path.name}: missing key(s) {', '.join(missing)}")
    if raw["name"] != path.stem:
        raise ValueError(f"device profile {path.name}: name is {raw['name']!r}, "
                         f"but must equal the file name {path.stem!r}")
    if raw["kind"] not in KINDS:
        raise ValueError(f"device profile {path.name}: kind is {raw['kind']!r}, "
                         f"but must be one of {', '.join(KINDS)}")
    modes = []
    for mode in raw.get("power_modes", []):
        if "name" not in mode or "watts" not in mode:
            raise ValueError(f"device profile {path.name}: each power mode needs name and watts")
        modes.append(PowerMode(name=str(mode["name"]), watts=float(mode["watts"])))
    for pattern in raw.get("match", []):
        re.compile(pattern)  # fail at load time, not at detection time on the device
    return DeviceProfile(
        name=raw["name"],
        display_name=str(raw["display_name"]),
        kind=raw["kind"],
        memory_bytes=parse_memory(raw["memory"]),
        unified_memory=bool(raw["unified_memory"]),
        fp32_tflops=float(raw["fp32_tflops"]),
        memory_bandwidth_gbs=float(raw["memory_bandwidth_gbs"]),
        power_modes=tuple(modes),
        quirks=tuple(str(q) for q in raw.get("quirks", [])),
        source=str(raw["source"]),
        reserved_bytes=parse_memory(raw.get("reserved", 0)),
        cuda_capability=str(raw.get("cuda_capability", "")),
        match=tuple(str(p) for p in raw.get("match", [])),
    )


@functools.lru_cache(maxsize=1)
def _all_profiles() -> Dict[str, DeviceProfile]:
    profiles = {}
    for path in sorted(PROFILE_DIR.glob("*.toml"), key=lambda p: p.stem):
        profile = _profile_from_toml(path)
        profiles[profile.name] = profile
    return profiles


def list_profiles() -> List[DeviceProfile]:
    """All known device profiles, sorted by name."""
    return list(_all_profiles().values())


def load_profile(name: str) -> DeviceProfile:
    """The profile called ``name`` (case-insensitive).

    Raises:
        ValueError: ``unknown device profile 'x'; known: a, b, ...``.
    """
    profiles = _all_profiles()
    key = str(name).strip().lower()
    if key not in profiles:
        raise ValueError(f"unknown device profile {name!r}; known: {', '.join(profiles)}")
    return profiles[key]


# How far the memory a machine reports may sit from a profile's nominal memory and still be that
# device: a Jetson's OS sees ~93 % of its DRAM (carve-outs), a card's driver ~94-100 % of its VRAM.
# Wide enough for those, narrow enough to tell an 8 GB from a 12 GB RTX 3060 or a 32 GB from a
# 64 GB AGX Orin.
_MEMORY_MATCH_RANGE = (0.75, 1.10)


def match_profile(kind: str, device_name: str, total_memory_bytes: Optional[int] = None) -> str:
    """The profile name for a detected device, or the generic profile of its ``kind``.

    A specific profile matches when its ``kind`` equals ``kind``, one of its ``match`` patterns is
    found in ``device_name`` (case-insensitive), and, where ``total_memory_bytes`` is known, that
    memory is within 75-110 % of the profile's nominal memory.
    """
    if kind not in KINDS:
        raise ValueError(f"device kind is {kind!r}, but must be one of {', '.join(KINDS)}")
    for profile in _all_profiles().values():
        if profile.kind != kind or profile.is_generic:
            continue
        if not any(re.search(p, device_name or "", re.IGNORECASE) for p in profile.match):
            continue
        if total_memory_bytes:
            ratio = total_memory_bytes / profile.memory_bytes
            if not _MEMORY_MATCH_RANGE[0] <= ratio <= _MEMORY_MATCH_RANGE[1]:
                continue
        return profile.name
    return kind
