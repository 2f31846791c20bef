"""Argo facts as code: fnv32a, node ids, pod names (v2), durations, times."""

from __future__ import annotations

import pytest

from dflowctl.argo import fnv32a, node_id, parse_duration, parse_rfc3339, pod_name, rfc3339


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", 0x811C9DC5), ("a", 0xE40C292C), ("foobar", 0xBF9CF968)],  # FNV-1a reference vectors
)
def test_fnv32a_reference_vectors(text: str, expected: int) -> None:
    assert fnv32a(text) == expected


def test_node_id_root_is_workflow_name() -> None:
    assert node_id("hello-x7k2p", "hello-x7k2p") == "hello-x7k2p"


def test_node_id_is_name_hash() -> None:
    name = "hello-x7k2p[0].step"
    assert node_id("hello-x7k2p", name) == f"hello-x7k2p-{fnv32a(name)}"
    assert node_id("wf", "wf.a") != node_id("wf", "wf.b")


def test_pod_name_v2() -> None:
    assert (
        pod_name("wf-abcde", "whalesay", "wf-abcde[0].hello")
        == f"wf-abcde-whalesay-{fnv32a('wf-abcde[0].hello')}"
    )
    assert pod_name("wf-abcde", "whalesay", "wf-abcde") == "wf-abcde"


def test_pod_name_prefix_is_cut_to_fit_kubernetes() -> None:
    name = pod_name("w" * 60, "t" * 200, "w" * 60 + ".x")
    prefix, _, digits = name.rpartition("-")
    assert len(prefix) == 242
    assert digits == str(fnv32a("w" * 60 + ".x"))
    assert len(name) <= 253


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90.0), ("1m30s", 90.0), ("1.5h", 5400.0), ("300ms", 0.3), (30, 30.0), ("45", 45.0), ("0", 0.0)],
)
def test_parse_duration(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["", "abc", "10x", "1m30", "s"])
def test_parse_duration_rejects_garbage(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_rfc3339_round_trip() -> None:
    assert rfc3339(1767225600.7) == "2026-01-01T00:00:00Z"
    assert parse_rfc3339("2026-01-01T00:00:00Z") == 1767225600.0
