"""Device profiles: every TOML file loads, figures are sane, names match detected devices."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from hpo_agent.devices import DeviceProfile, list_profiles, load_profile, match_profile
from hpo_agent.devices._profiles import KINDS, _profile_from_toml

GiB = 2**30
SPECIFIC = {
    "jetson-nano-4gb": ("jetson", 4),
    "jetson-orin-nano-8gb": ("jetson", 8),
    "jetson-orin-nx-16gb": ("jetson", 16),
    "jetson-agx-orin-32gb": ("jetson", 32),
    "jetson-agx-orin-64gb": ("jetson", 64),
    "gtx-1650-4gb": ("cuda", 4),
    "t4-16gb": ("cuda", 16),
    "rtx-3060-12gb": ("cuda", 12),
}


def test_every_expected_profile_is_there():
    names = {p.name for p in list_profiles()}
    assert set(SPECIFIC) | {"cpu", "cuda", "jetson"} == names
    assert [p.name for p in list_profiles()] == sorted(names)


@pytest.mark.parametrize("name", sorted(SPECIFIC))
def test_specific_profiles_have_sane_published_figures(name):
    profile = load_profile(name)
    kind, gib = SPECIFIC[name]
    assert profile.kind == kind
    assert profile.memory_bytes == gib * GiB
    assert profile.unified_memory is (kind == "jetson")
    assert 0.1 < profile.fp32_tflops < 20
    assert 10 < profile.memory_bandwidth_gbs < 400
    assert 0 < profile.reserved_bytes < profile.memory_bytes / 2
    assert profile.cuda_capability.count(".") == 1
    watts = [mode.watts for mode in profile.power_modes]
    assert watts and watts == sorted(watts) and all(3 <= w <= 200 for w in watts)
    assert "NVIDIA" in profile.source and profile.quirks and profile.match
    assert not profile.is_generic


@pytest.mark.parametrize("name", ["cpu", "cuda", "jetson"])
def test_generic_profiles_take_memory_from_detection(name):
    profile = load_profile(name)
    assert profile.is_generic and profile.memory_bytes == 0 and profile.kind == name
    assert "generic" in profile.source


def test_profiles_are_frozen_and_serialise():
    profile = load_profile("t4-16gb")
    with pytest.raises(dataclasses.FrozenInstanceError):
        profile.memory_bytes = 1  # type: ignore[misc]
    data = json.loads(json.dumps(profile.to_dict()))
    assert data["power_modes"] == [{"name": "default", "watts": 70.0}]
    assert data["fp32_tflops"] == 8.1


def test_jetson_nano_says_the_agent_cannot_run_there():
    quirks = " ".join(load_profile("jetson-nano-4gb").quirks)
    assert "Python 3.6" in quirks and "cannot run" in quirks


def test_unknown_profile_names_the_known_ones():
    with pytest.raises(ValueError) as info:
        load_profile("x")
    message = str(info.value)
    assert message.startswith("unknown device profile 'x'; known: ")
    assert "t4-16gb" in message and "jetson-orin-nano-8gb" in message


def test_load_profile_ignores_case_and_spaces():
    assert load_profile(" T4-16GB ").name == "t4-16gb"


@pytest.mark.parametrize("kind, name, memory, expected", [
    ("cuda", "Tesla T4", 15_843_721_216, "t4-16gb"),
    ("cuda", "NVIDIA GeForce GTX 1650", 4_100_000_000, "gtx-1650-4gb"),
    ("cuda", "NVIDIA GeForce GTX 1650 SUPER", 4_100_000_000, "cuda"),
    ("cuda", "NVIDIA GeForce RTX 3060", 12_884_901_888, "rtx-3060-12gb"),
    ("cuda", "NVIDIA GeForce RTX 3060", 8 * GiB, "cuda"),          # the 8 GB variant
    ("cuda", "NVIDIA GeForce RTX 3060 Ti", 8 * GiB, "cuda"),
    ("cuda", "NVIDIA A100-SXM4-80GB", 80 * GiB, "cuda"),
    ("cuda", "Tesla T4", None, "t4-16gb"),                         # memory unknown: name only
    ("jetson", "NVIDIA Jetson Orin Nano Developer Kit", 7620 * 2**20, "jetson-orin-nano-8gb"),
    ("jetson", "NVIDIA Jetson Orin Nano Developer Kit", 3.3 * GiB, "jetson"),  # 4 GB module
    ("jetson", "NVIDIA Jetson Nano Developer Kit", 3964 * 2**20, "jetson-nano-4gb"),
    ("jetson", "NVIDIA Orin NX Developer Kit", 15.3 * GiB, "jetson-orin-nx-16gb"),
    ("jetson", "Jetson AGX Orin", 30536 * 2**20, "jetson-agx-orin-32gb"),
    ("jetson", "Jetson AGX Orin", 62.8 * GiB, "jetson-agx-orin-64gb"),
    ("jetson", "Jetson-AGX", 30 * GiB, "jetson"),                   # Xavier: no profile
    ("cpu", "Intel(R) Xeon(R)", 25 * GiB, "cpu"),
])
def test_match_profile(kind, name, memory, expected):
    assert match_profile(kind, name, memory) == expected


def test_match_profile_rejects_unknown_kind():
    with pytest.raises(ValueError, match="must be one of cpu, cuda, jetson"):
        match_profile("tpu", "x")


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


GOOD = """
name = "{name}"
display_name = "x"
kind = "{kind}"
memory = "1GiB"
unified_memory = false
fp32_tflops = 1.0
memory_bandwidth_gbs = 1.0
source = "test"
"""


def test_bad_profile_files_say_what_is_wrong(tmp_path):
    assert _profile_from_toml(_write(tmp_path, "ok", GOOD.format(name="ok", kind="cuda"))) \
        .memory_bytes == GiB
    with pytest.raises(ValueError, match="must equal the file name 'other'"):
        _profile_from_toml(_write(tmp_path, "other", GOOD.format(name="ok", kind="cuda")))
    with pytest.raises(ValueError, match="kind is 'tpu'"):
        _profile_from_toml(_write(tmp_path, "tpu", GOOD.format(name="tpu", kind="tpu")))
    with pytest.raises(ValueError, match="missing key"):
        _profile_from_toml(_write(tmp_path, "short", 'name = "short"\n'))


def test_profile_kinds_are_known():
    assert all(isinstance(p, DeviceProfile) and p.kind in KINDS for p in list_profiles())


def test_import_stays_light():
    code = ("import sys, hpo_agent.devices; "
            "print(sorted(m for m in ('torch', 'pynvml', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
