import pytest

from hpo_agent.agent.budget import format_duration, parse_duration


@pytest.mark.parametrize("text,seconds", [
    ("90s", 90), ("30m", 1800), ("1h30m", 5400), ("1.5h", 5400), ("2h15m30s", 8130),
    ("120", 120), (" 2m ", 120), ("1H", 3600), ("0.5m", 30),
])
def test_parse_duration_accepts(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["30x", "", "m", "1m1h", "1m1m", "-5s", "0s", "1.5.2h", "h30", "30 minutes"])
def test_parse_duration_rejects_with_accepted_forms(text):
    with pytest.raises(ValueError) as info:
        parse_duration(text)
    message = str(info.value)
    assert "\n" not in message
    assert "90s" in message or "must be > 0" in message


def test_format_duration():
    assert format_duration(4.25) == "4.2s"
    assert format_duration(95) == "1m35s"
    assert format_duration(5400) == "1h30m"
