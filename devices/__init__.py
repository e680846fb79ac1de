"""What hpo-agent knows about hardware: device profiles, detection, resource sampling,
memory estimation and memory caps.

Importing this package is cheap: torch and pynvml are imported only inside the functions that
need them (pynvml), or never (torch).
"""

from __future__ import annotations

from hpo_agent.devices._detect import DeviceInfo, detect, emulate, jetson_model, parse_l4t_release
from hpo_agent.devices._estimate import (
    ACTIVATION_CALIBRATION,
    CPU_TORCH_OVERHEAD_BYTES,
    CUDA_CONTEXT_BYTES,
    JETSON_TORCH_OVERHEAD_BYTES,
    OPTIMIZER_STATE_MULTIPLIERS,
    MemoryEstimate,
    calibrated_activation_bytes,
    default_overhead_bytes,
    estimate_training_memory,
    fits,
    max_batch_that_fits,
    transformer_activation_bytes,
)
from hpo_agent.devices._host import cpu_model_name, read_cgroup_memory
from hpo_agent.devices._limits import (
    apply_memory_limit,
    apply_memory_limit_relative,
    current_vm_bytes,
    memory_limit,
)
from hpo_agent.devices._monitor import ResourceMonitor
from hpo_agent.devices._nvml import NvmlSession, load_pynvml, nvml_probe, nvml_readings
from hpo_agent.devices._oom import exit_code_is_oom, is_oom
from hpo_agent.devices._peak import PeakTracker, peak_tracking_available
from hpo_agent.devices._profiles import (
    DeviceProfile,
    PowerMode,
    list_profiles,
    load_profile,
    match_profile,
)
from hpo_agent.devices._tegra import (
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
from hpo_agent.devices._units import format_bytes, parse_memory

__all__ = [
    "PeakTracker",
    "peak_tracking_available",
    "ACTIVATION_CALIBRATION",
    "CPU_TORCH_OVERHEAD_BYTES",
    "calibrated_activation_bytes",
    "CUDA_CONTEXT_BYTES",
    "JETSON_TORCH_OVERHEAD_BYTES",
    "OPTIMIZER_STATE_MULTIPLIERS",
    "DeviceInfo",
    "DeviceProfile",
    "MemoryEstimate",
    "NvmlSession",
    "PowerMode",
    "ResourceMonitor",
    "apply_memory_limit",
    "apply_memory_limit_relative",
    "board_power_w",
    "cpu_model_name",
    "current_vm_bytes",
    "default_overhead_bytes",
    "detect",
    "emulate",
    "estimate_training_memory",
    "exit_code_is_oom",
    "find_jetson_gpu_load_path",
    "fits",
    "format_bytes",
    "gpu_temperature",
    "is_oom",
    "jetson_model",
    "list_profiles",
    "load_profile",
    "load_pynvml",
    "match_profile",
    "max_batch_that_fits",
    "memory_limit",
    "nvml_probe",
    "nvml_readings",
    "parse_gpu_load",
    "parse_l4t_release",
    "parse_meminfo",
    "parse_memory",
    "parse_tegrastats",
    "read_cgroup_memory",
    "read_ina3221_rails",
    "read_jetson_gpu_load",
    "read_meminfo",
    "read_tegrastats",
    "read_thermal_zones",
    "tegra_allocatable_bytes",
    "transformer_activation_bytes",
]
