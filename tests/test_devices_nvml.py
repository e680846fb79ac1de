"""NVML readings through a fake pynvml: each metric degrades on its own."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from hpo_agent.devices import NvmlSession, detect, nvml_probe, nvml_readings


def _load_fake():
    path = Path(__file__).parent / "fixtures" / "devices" / "fake_pynvml.py"
    spec = importlib.util.spec_from_file_location("hpo_agent_tests_fake_pynvml", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_fake = _load_fake()
FakePynvml, jetpack6 = _fake.FakePynvml, _fake.jetpack6


def test_all_readings_on_a_card():
    fake = FakePynvml()
    out = nvml_readings(fake, ("gpu", 0))
    assert out == {"gpu_mem_used_bytes": 1_200_000_000, "gpu_mem_total_bytes": 15_843_721_216,
                   "gpu_mem_free_bytes": 14_643_721_216, "gpu_util_percent": 37.0,
                   "gpu_power_w": 31.25, "gpu_temp_c": 54.0}


def test_not_supported_degrades_per_metric():
    out = nvml_readings(jetpack6(), ("gpu", 0))
    assert out["gpu_mem_used_bytes"] is None and out["gpu_mem_total_bytes"] is None
    assert out["gpu_power_w"] is None
    assert out["gpu_util_percent"] == 37.0 and out["gpu_temp_c"] == 54.0


def test_every_call_failing_still_gives_every_key():
    fake = FakePynvml(unsupported={"memory", "utilization", "power", "temperature"})
    out = nvml_readings(fake, ("gpu", 0))
    assert set(out) == {"gpu_mem_used_bytes", "gpu_mem_total_bytes", "gpu_mem_free_bytes",
                        "gpu_util_percent", "gpu_power_w", "gpu_temp_c"}
    assert all(value is None for value in out.values())


def test_missing_library_gives_no_probe_and_an_empty_session():
    fake = FakePynvml(no_library=True)
    assert nvml_probe(fake) is None
    session = NvmlSession(fake)
    assert not session.ok
    assert all(value is None for value in session.readings().values())
    session.close()
    assert "shutdown" not in fake.calls  # never initialised, never shut down


def test_session_shuts_nvml_down_once():
    fake = FakePynvml()
    with NvmlSession(fake) as session:
        assert session.ok and session.readings()["gpu_temp_c"] == 54.0
    session.close()
    assert fake.calls.count("shutdown") == 1


def test_probe_decodes_byte_names_and_shuts_down():
    fake = FakePynvml(name_as_bytes=True)
    probe = nvml_probe(fake)
    assert probe["name"] == "Tesla T4" and probe["device_count"] == 1
    assert probe["driver_version"] == "540.3.0" and probe["cuda_driver_version"] == 12020
    assert fake.calls[-1] == "shutdown"


def test_probe_survives_a_failing_name_call():
    probe = nvml_probe(FakePynvml(unsupported={"name", "driver"}))
    assert probe["name"] is None and probe["driver_version"] is None
    assert probe["gpu_mem_total_bytes"] == 15_843_721_216


def test_the_real_pynvml_without_a_driver_degrades():
    pynvml = pytest.importorskip("pynvml")
    probe = nvml_probe(pynvml)
    if probe is not None:  # a machine with a GPU: then it must describe one
        assert probe["device_count"] >= 1


def test_detect_a_t4_through_nvml(tmp_path):
    info = detect(root=str(tmp_path), nvml=FakePynvml())
    assert (info.kind, info.name, info.profile) == ("cuda", "Tesla T4", "t4-16gb")
    assert info.total_memory_bytes == 15_843_721_216
    assert info.free_memory_bytes == 14_643_721_216
    assert (info.torch_device, info.unified_memory) == ("cuda", False)
    assert info.readings["memory_source"] == "nvml"
    assert info.readings["nvml_driver_version"] == "540.3.0"


def test_detect_a_card_whose_memory_nvml_will_not_give(tmp_path):
    info = detect(root=str(tmp_path), nvml=FakePynvml(unsupported={"memory"}))
    assert info.profile == "t4-16gb" and info.readings["memory_source"] == "profile"
    assert info.total_memory_bytes == 16 * 2**30
    assert info.free_memory_bytes == 16 * 2**30 - int(1.5 * 2**30)


def test_detect_an_unknown_card_uses_the_generic_profile(tmp_path):
    info = detect(root=str(tmp_path), nvml=FakePynvml(name="NVIDIA H100 80GB HBM3",
                                                      total=85_000_000_000))
    assert (info.kind, info.profile) == ("cuda", "cuda")


def test_detect_falls_back_to_cpu_without_a_driver(tmp_path):
    info = detect(root=str(tmp_path), nvml=FakePynvml(no_library=True))
    assert (info.kind, info.profile, info.torch_device) == ("cpu", "cpu", "cpu")


def test_detect_a_jetpack6_jetson_ignores_nvml_memory(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "nv_tegra_release").write_text("# R36 (release), REVISION: 4.0\n")
    info = detect(root=str(tmp_path), nvml=jetpack6())
    assert info.kind == "jetson" and info.unified_memory and info.torch_device == "cuda"
    assert info.readings["nvml_name"] == "Orin (nvgpu)"
    assert info.readings["l4t_release"] == "36.4.0"
    assert info.total_memory_bytes > 0  # from the host, not NVML
