"""What machine is this, and how much memory can a trial use on it?

Order of questions: a Jetson first (device-tree model or ``/etc/nv_tegra_release``; NVML there is
missing or half-supported), then a CUDA card through NVML, else the CPU. torch is never imported
here (it takes seconds); the caller may confirm ``torch.cuda.is_available()`` itself.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Dict, Optional

import psutil

from hpo_agent.devices._host import cpu_model_name, read_cgroup_memory
from hpo_agent.devices._nvml import load_pynvml, nvml_probe
from hpo_agent.devices._profiles import list_profiles, load_profile, match_profile
from hpo_agent.devices._tegra import (
    find_jetson_gpu_load_path,
    parse_meminfo,
    read_jetson_gpu_load,
    read_text,
    tegra_allocatable_bytes,
)


@dataclass
class DeviceInfo:
    """The device a tuning run will train on, as detected (or emulated).

    Attributes:
        kind: ``"cpu"``, ``"cuda"`` or ``"jetson"``.
        name: e.g. ``"Tesla T4"``, ``"NVIDIA Jetson Orin Nano Developer Kit"``, or the CPU model.
        profile: the matching profile name; the generic ``"cpu"``, ``"cuda"`` or ``"jetson"``
            profile when no specific one matches.
        total_memory_bytes: the memory trials draw on: the card's for CUDA (NVML), the machine's
            RAM for a Jetson or a CPU (capped by the cgroup limit, if lower).
        free_memory_bytes: of that, what is free now: NVML free memory of GPU 0 for CUDA,
            psutil's ``available`` for a Jetson or a CPU (capped by the cgroup's headroom).
        unified_memory: True when the trial shares memory with every host process (Jetson, CPU).
        torch_device: ``"cuda"`` or ``"cpu"``: where the trial's tensors should go.
        cpu_count: CPUs this process may run on.
        readings: raw readings, each optional (NVML name and driver, L4T release, NvMapMemUsed,
            GPU load, cgroup limit, host memory, ...), for reports and debugging.
        emulated: True when made by :func:`emulate` (a rehearsal of another device).
    """

    kind: str
    name: str
    profile: str
    total_memory_bytes: int
    free_memory_bytes: int
    unified_memory: bool
    torch_device: str
    cpu_count: int
    readings: Dict[str, Any] = field(default_factory=dict)
    emulated: bool = False

    def to_dict(self) -> Dict[str, Any]:
        """Plain JSON-ready dict."""
        return asdict(self)


def jetson_model(root: str = "/") -> Optional[str]:
    """The Jetson's model string, or None when this is not a Jetson.

    A Jetson is recognised by ``/proc/device-tree/model`` naming a Jetson or an Orin, or by
    ``/etc/nv_tegra_release`` (present on every L4T image, including custom carrier boards
    whose model string names the carrier rather than the module).
    """
    model = (read_text(os.path.join(root, "proc/device-tree/model")) or "").strip("\x00 \n\t")
    if re.search(r"jetson|orin", model, re.IGNORECASE):
        return model
    if read_text(os.path.join(root, "etc/nv_tegra_release")) is not None:
        return model or "NVIDIA Jetson"
    return None


def parse_l4t_release(text: Optional[str]) -> Optional[str]:
    """``"# R35 (release), REVISION: 4.1, ..."`` → ``"35.4.1"`` (JetPack 5.1.2); None if unknown."""
    match = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", text or "")
    return f"{match.group(1)}.{match.group(2)}" if match else None


def _cpu_count() -> int:
    try:  # respects taskset / container CPU sets, unlike os.cpu_count()
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _host_memory(readings: Dict[str, Any], root: str) -> tuple:
    """``(total, free)`` of RAM, capped by the cgroup; fills the host readings."""
    memory = psutil.virtual_memory()
    total, free = int(memory.total), int(memory.available)
    readings["host_total_memory_bytes"] = total
    readings["host_available_memory_bytes"] = free
    limit, working_set = read_cgroup_memory(root)
    readings["memory_source"] = "psutil"
    if limit is not None and limit < total:
        readings["cgroup_memory_limit_bytes"] = limit
        readings["memory_source"] = "cgroup"
        total = limit
        if working_set is not None:
            free = min(free, max(0, limit - working_set))
    return total, min(free, total)


def detect(*, root: str = "/", nvml: Any = None) -> DeviceInfo:
    """Detect the device this process runs on. Never raises for a missing driver or file.

    Args:
        root: filesystem root to read ``/proc``, ``/sys`` and ``/etc`` under (tests use a fake).
        nvml: the pynvml module to use (tests pass a fake); None imports it if installed;
            False skips NVML entirely.
    """
    readings: Dict[str, Any] = {"cpu_name": cpu_model_name(
        read_text(os.path.join(root, "proc/cpuinfo")))}
    host_total, host_free = _host_memory(readings, root)
    module = load_pynvml() if nvml is None else (nvml or None)
    probe = nvml_probe(module) if module is not None else None
    if probe is not None:
        readings["nvml_name"] = probe.get("name")
        readings["nvml_driver_version"] = probe.get("driver_version")
        readings["nvml_cuda_driver_version"] = probe.get("cuda_driver_version")
        readings["nvml_device_count"] = probe.get("device_count")

    model = jetson_model(root)
    if model is not None:
        return _detect_jetson(model, readings, host_total, host_free, root)
    if probe is not None:
        return _detect_cuda(probe, readings, host_total, host_free)
    return DeviceInfo(kind="cpu", name=readings["cpu_name"], profile="cpu",
                      total_memory_bytes=host_total, free_memory_bytes=host_free,
                      unified_memory=True, torch_device="cpu", cpu_count=_cpu_count(),
                      readings=readings)


def _detect_jetson(model: str, readings: Dict[str, Any], total: int, free: int,
                   root: str) -> DeviceInfo:
    readings["device_tree_model"] = model
    readings["l4t_release"] = parse_l4t_release(
        read_text(os.path.join(root, "etc/nv_tegra_release")))
    meminfo = parse_meminfo(read_text(os.path.join(root, "proc/meminfo")) or "")
    readings["nvmap_mem_used_bytes"] = meminfo["nvmap_mem_used_bytes"]
    readings["tegra_allocatable_bytes"] = tegra_allocatable_bytes(meminfo)
    readings["gpu_load_path"] = find_jetson_gpu_load_path(root)
    readings["gpu_util_percent"] = read_jetson_gpu_load(readings["gpu_load_path"], root)
    return DeviceInfo(kind="jetson", name=model,
                      profile=match_profile("jetson", model, total),
                      total_memory_bytes=total, free_memory_bytes=free, unified_memory=True,
                      torch_device="cuda", cpu_count=_cpu_count(), readings=readings)


def _detect_cuda(probe: Dict[str, Any], readings: Dict[str, Any], host_total: int,
                 host_free: int) -> DeviceInfo:
    name = probe.get("name") or "CUDA GPU"
    total, free = probe.get("gpu_mem_total_bytes"), probe.get("gpu_mem_free_bytes")
    profile = match_profile("cuda", name, total)
    if total is None:
        # NVML would not say (rare on a card): fall back to the profile's figures.
        known = load_profile(profile)
        total = known.memory_bytes
        free = max(0, total - known.reserved_bytes)
        readings["memory_source"] = "profile" if total else "unknown"
    else:
        readings["memory_source"] = "nvml"
        free = total if free is None else free
    return DeviceInfo(kind="cuda", name=name, profile=profile, total_memory_bytes=int(total),
                      free_memory_bytes=int(free), unified_memory=False, torch_device="cuda",
                      cpu_count=_cpu_count(), readings=readings)


def emulate(profile_name: str, host: DeviceInfo) -> DeviceInfo:
    """A :class:`DeviceInfo` that rehearses ``profile_name`` on ``host`` (``--device <profile>``).

    Memory figures are the profile's: total = its nominal memory, free = total minus its
    ``reserved_bytes`` estimate, but never more than the host really has free (the rehearsal
    cannot use memory that is not there; ``readings["limited_by_host"]`` says when that bit).
    Trials still run where the host runs them (``torch_device`` is the host's); the caller
    enforces the smaller budget (:func:`apply_memory_limit` on a CPU,
    ``torch.cuda.set_per_process_memory_fraction`` on a card). ``"cpu"`` gives the host's own
    CPU and RAM.

    Raises:
        ValueError: unknown profile, or a generic one (``"cuda"``, ``"jetson"``) that has no
            figures to emulate.
    """
    profile = load_profile(profile_name)
    readings: Dict[str, Any] = {
        "emulated_profile": profile.name, "host_kind": host.kind, "host_name": host.name,
        "host_profile": host.profile, "host_free_memory_bytes": host.free_memory_bytes,
    }
    if profile.name == "cpu":
        total = int(host.readings.get("host_total_memory_bytes", host.total_memory_bytes))
        free = int(host.readings.get("host_available_memory_bytes", host.free_memory_bytes))
        return replace(host, kind="cpu", profile="cpu", torch_device="cpu", unified_memory=True,
                       name=str(host.readings.get("cpu_name", host.name)),
                       total_memory_bytes=total, free_memory_bytes=min(free, total),
                       readings=readings, emulated=True)
    if profile.is_generic:
        specific = ", ".join(p.name for p in list_profiles() if not p.is_generic)
        raise ValueError(f"device profile {profile.name!r} is generic and has no figures to "
                         f"emulate; pick one of: {specific}, cpu")
    free = max(0, profile.memory_bytes - profile.reserved_bytes)
    readings["limited_by_host"] = free > host.free_memory_bytes
    return DeviceInfo(kind=profile.kind, name=f"{profile.display_name} (emulated on {host.name})",
                      profile=profile.name, total_memory_bytes=profile.memory_bytes,
                      free_memory_bytes=min(free, host.free_memory_bytes),
                      unified_memory=profile.unified_memory, torch_device=host.torch_device,
                      cpu_count=host.cpu_count, readings=readings, emulated=True)
