"""A local run finds out its pods' isolation method beside its Python check (issue 16):
the probe starts an interpreter (~50 ms of every run), and so does the check."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from dflowctl.cli import main
from dflowctl.commands import run as run_command
from dflowctl.engines.local import isolation
from dflowctl.errors import UsageError
from dflowctl.pyenv import probe as python_probe
from tests.conftest import REPO


def test_the_probe_runs_while_the_python_check_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DFLOWCTL_HOME", str(tmp_path / "home"))
    for name in ("DFLOWCTL_ENGINE", isolation.ENV_FORCE):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(isolation, "_cache", {})  # nothing known yet in this process
    probing = threading.Event()
    seen: list[bool] = []

    def probe(base: Path) -> bool:
        probing.set()
        return False

    def python_check(*args: object, **kwargs: object) -> dict[str, object]:
        seen.append(probing.wait(10))  # the old order: no probe until the first pod
        raise UsageError("stop before the run")

    monkeypatch.setattr(isolation, "_probe", probe)
    monkeypatch.setattr(python_probe, "start_early", lambda python: None)  # (not this test's)
    monkeypatch.setattr(run_command, "pythons_for", python_check)
    monkeypatch.chdir(REPO)
    assert main(["run", "specs/hello.yaml"]) == 2
    assert "stop before the run" in capsys.readouterr().err
    assert seen == [True]
    probing.clear()
    assert main(["run", "specs/hello.yaml", "--dry-run"]) == 0
    assert not probing.is_set()  # nothing runs: nothing probed


def test_probe_early_caches_the_answer_and_leaves_no_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(isolation.ENV_FORCE, raising=False)
    monkeypatch.setattr(isolation, "_cache", {})
    isolation.probe_early(tmp_path).join(30)
    assert os.stat(tmp_path).st_dev in isolation._cache
    assert list(tmp_path.iterdir()) == []
    calls: list[Path] = []
    monkeypatch.setattr(isolation, "_probe", lambda base: calls.append(base) or True)
    assert isolation.method_for(tmp_path) in isolation.METHODS and calls == []  # known: not probed again
