from __future__ import annotations

from dflowctl.commands._common import _interrupted, address_flags, default_wait


def test_follow_up_commands_carry_the_flags_that_found_the_run() -> None:
    assert address_flags() == ""
    assert address_flags("argo") == " -e argo"
    assert address_flags("argo", "my ns", None, "kind-kind") == " -e argo -n 'my ns' --context kind-kind"


def test_interruption_says_what_happened_to_the_run() -> None:
    stopped = _interrupted("hello-abcde", "stopped")
    assert (stopped.message, stopped.hint, stopped.exit_code) == (
        "interrupted: run hello-abcde stopped",
        "resume it with: dflowctl retry hello-abcde",
        130,
    )
    detached = _interrupted("hello-abcde", "detached", " -e argo")
    assert detached.message == "interrupted: run hello-abcde goes on in the cluster"
    assert detached.hint == (
        "follow it: dflowctl status hello-abcde -e argo --watch; stop it: dflowctl stop hello-abcde -e argo"
    )
    assert _interrupted("", "stopped").message == "interrupted"


def test_local_runs_always_wait(monkeypatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    assert default_wait("local") is True
    monkeypatch.setenv("CI", "true")
    assert default_wait("argo") is True
