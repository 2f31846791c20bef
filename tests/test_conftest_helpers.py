"""The suite's own helpers for runs in the background and wall-clock bounds
(tests/conftest.py) fail when they should, with a message that says why."""

from __future__ import annotations

import time

import pytest

from tests.conftest import SLOWDOWN_CAP, Within, nodes_seen, slowdown, wait_until

RECORD = {
    "metadata": {"name": "wf"},
    "status": {
        "phase": "Running",
        "nodes": {
            "wf": {"name": "wf", "displayName": "wf", "type": "Steps", "phase": "Running"},
            "wf-1": {"name": "wf[0].a", "displayName": "a", "type": "Pod", "phase": "Running"},
            "wf-2": {"name": "wf[0].b", "displayName": "b", "type": "Pod", "phase": "Succeeded"},
        },
    },
}


def test_nodes_seen_matches_every_given_field() -> None:
    assert nodes_seen(type="Pod", at_least=2)(RECORD)
    assert not nodes_seen(type="Pod", phase="Running", at_least=2)(RECORD)
    assert nodes_seen(display="a", type="Pod", phase="Running")(RECORD)
    assert nodes_seen(suffix="[0].b", phase="Succeeded")(RECORD)
    assert not nodes_seen(suffix="[0].b", phase="Running")(RECORD)
    assert not nodes_seen()({})


def test_wait_until_returns_what_it_read_once_the_condition_holds() -> None:
    reads = iter([{}, {"status": {"phase": "Pending"}}, RECORD])
    assert wait_until(lambda: next(reads), nodes_seen(display="a"), "a", interval=0.01) is RECORD


def test_wait_until_fails_in_bounded_time_naming_what_and_the_nodes() -> None:
    start = time.monotonic()
    with pytest.raises(AssertionError) as err:
        wait_until(lambda: RECORD, nodes_seen(display="c"), "step c", timeout=0.3, interval=0.05)
    assert time.monotonic() - start < 30  # a hang guard: the wait itself is 0.3 s
    assert str(err.value) == (
        "step c: not within 0.3 s; phase 'Running', message None, "
        "nodes: wf Steps Running, a Pod Running, b Pod Succeeded"
    )


def test_slowdown_is_a_bounded_factor() -> None:
    assert 1.0 <= slowdown() <= SLOWDOWN_CAP


def test_within_fails_a_block_far_over_its_bound() -> None:
    with Within(0.02, "the nap") as took:
        time.sleep(0.02 * SLOWDOWN_CAP + 0.2)  # over the bound at any load: the factor is capped
    with pytest.raises(
        AssertionError, match=r"^the nap took \d+\.\d\d s: more than 0\.02 s on an idle machine"
    ):
        took.check()


def test_within_passes_a_quick_block_and_counts_its_fixed_wait() -> None:
    with Within(5.0, "the nap", fixed=0.1) as took:
        time.sleep(0.1)
    took.check()
    assert took.seconds >= 0.1 and took.limit >= 5.1 and took.idle_seconds >= 0.1
