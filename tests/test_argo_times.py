"""One duration grammar, one RFC 3339 parser, one phase enum (``dflowctl.argo``), and every
place that reads durations agrees with it (Go's ``time.ParseDuration``)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from dflowctl.argo import Phase, is_finished, parse_duration, parse_rfc3339, parse_rfc3339_time
from dflowctl.engines.local import argosay
from dflowctl.expr.gotime import parse_duration as expr_duration
from dflowctl.render.values import duration_seconds
from dflowctl.spec.values import is_duration

# Go accepts both micro signs: U+00B5 (µ) and U+03BC (μ)
GO_OK = {
    "5\u00b5s": 5e-6,
    "5\u03bcs": 5e-6,
    "5us": 5e-6,
    "1h30m": 5400.0,
    "1.5h": 5400.0,
    "300ms": 0.3,
    "1.s": 1.0,
}
GO_BAD = ["", "5", "1d", "5 s", "s", "1h-5m", "--1s", "5\u00b5"]


@pytest.mark.parametrize(("text", "seconds"), sorted(GO_OK.items()))
def test_every_reader_agrees_on_a_go_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)
    assert argosay.parse_duration(text) == pytest.approx(seconds)
    assert expr_duration(text).total_seconds() == pytest.approx(seconds, abs=1e-6)
    assert is_duration(text)
    assert duration_seconds(text) == max(int(seconds), 1)


@pytest.mark.parametrize("text", GO_BAD)
def test_every_reader_refuses_what_go_refuses(text: str) -> None:
    assert not is_duration(text)
    with pytest.raises(argosay.ArgosayError, match="time: invalid duration"):
        argosay.parse_duration(text)
    if text != "5":  # Argo's fields take bare seconds; Go's ParseDuration does not
        with pytest.raises(ValueError):
            parse_duration(text)


def test_signs_and_bare_seconds() -> None:
    assert parse_duration("-1m") == -60.0
    assert parse_duration("5") == 5.0 and parse_duration(7) == 7.0
    assert not is_duration("-1m")  # spec durations have no sign
    with pytest.raises(ValueError):
        parse_duration(True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-02T03:04:05Z", datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
        ("2024-01-02T03:04:05.123456789Z", datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc)),
        ("2024-01-02T05:04:05+02:00", datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
        ("2024-01-01T23:04:05-04:00", datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
    ],
)
def test_rfc3339(text: str, expected: datetime) -> None:
    assert parse_rfc3339_time(text) == expected
    assert parse_rfc3339(text) == expected.timestamp()


@pytest.mark.parametrize("text", ["2024-01-02", "2024-01-02T03:04:05", "yesterday", "2024-13-02T03:04:05Z"])
def test_rfc3339_refuses_other_text(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rfc3339_time(text)


def test_phase_is_argos_text() -> None:
    assert json.dumps({"phase": Phase.SUCCEEDED}) == '{"phase": "Succeeded"}'
    assert f"{Phase.FAILED}" == str(Phase.FAILED) == "Failed" == Phase.FAILED
    assert is_finished({"status": {"phase": "Error"}})
    assert is_finished({"status": {"phase": "Running", "finishedAt": "2024-01-02T03:04:05Z"}})
    assert is_finished({"metadata": {"labels": {"workflows.argoproj.io/completed": "true"}}, "status": {}})
    assert not is_finished({"status": {"phase": "Running"}})
