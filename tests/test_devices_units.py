"""parse_memory and format_bytes."""

from __future__ import annotations

import pytest

from hpo_agent.devices import format_bytes, parse_memory


@pytest.mark.parametrize("text, expected", [
    ("3.5GB", 3_500_000_000),
    ("3.5G", 3_500_000_000),
    ("3.5gb", 3_500_000_000),
    ("512MiB", 512 * 2**20),
    ("512mib", 512 * 2**20),
    ("512MB", 512_000_000),
    ("2GiB", 2 * 2**30),
    ("2 GiB", 2 * 2**30),
    ("2Gi", 2 * 2**30),
    ("1024", 1024),
    ("1024B", 1024),
    ("64KiB", 65536),
    ("1.5KB", 1500),
    (".5GiB", 2**29),
    ("1TB", 10**12),
    (1024, 1024),
])
def test_parse_memory_accepts(text, expected):
    assert parse_memory(text) == expected


@pytest.mark.parametrize("text", ["3.5XB", "", "GB", "-1GB", "1,5GB", "1.2.3G", "nan", None, True])
def test_parse_memory_rejects_with_one_line_naming_the_forms(text):
    with pytest.raises(ValueError) as info:
        parse_memory(text)
    message = str(info.value)
    assert "\n" not in message
    assert message.endswith("use a number with B, KB, MB, GB, KiB, MiB or GiB (e.g. 3.5GB, 512MiB)")
    assert repr(text) in message


def test_error_example_from_the_design():
    with pytest.raises(ValueError, match=r"^memory size '3.5XB' not understood; use a number"):
        parse_memory("3.5XB")


@pytest.mark.parametrize("n, text", [
    (0, "0 B"),
    (1023, "1023 B"),
    (1024, "1 KiB"),
    (1536, "1.5 KiB"),
    (512 * 2**20, "512 MiB"),
    (int(3.5 * 2**30), "3.5 GiB"),
    (16 * 2**30, "16 GiB"),
    (-2**30, "-1 GiB"),
    (None, "?"),
])
def test_format_bytes(n, text):
    assert format_bytes(n) == text


def test_round_trip():
    assert parse_memory(format_bytes(3 * 2**30).replace(" ", "")) == 3 * 2**30
