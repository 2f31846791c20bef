"""The Python check's probe starts while the spec is read (pyenv.probe.start_early): the
interpreter's start (30-150 ms; a pyenv shim's shell processes first) no longer waits
for the spec to be loaded, validated and rendered."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dflowctl import actions
from dflowctl.cli import main
from dflowctl.errors import UsageError
from dflowctl.pyenv import probe as probe_mod
from tests.conftest import REPO
from tests.test_pyenv import make_venv

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_venv(tmp_path_factory.mktemp("envs") / "v")


def test_an_early_probe_is_taken_over_and_one_not_taken_is_ended(venv: Path) -> None:
    py = str(venv / "bin" / "python")
    probe_mod.start_early(py)
    asking = probe_mod._early[py]
    got = probe_mod.probe(py, ["onlyvenv", "surely_not_a_module_xyz"])  # the names come afterwards
    assert got.missing == {"surely_not_a_module_xyz"} and py not in probe_mod._early
    assert asking._proc is not None and asking._proc.returncode == 0  # that process answered
    assert not os.path.exists(asking._cwd)
    probe_mod.start_early(py)
    unused = probe_mod._early[py]
    probe_mod.discard_early()
    assert probe_mod._early == {}
    assert unused._proc is not None and unused._proc.returncode is not None  # ended, not left waiting
    assert not os.path.exists(unused._cwd)  # and its folder removed


def test_run_starts_the_probe_before_reading_the_spec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DFLOWCTL_HOME", str(tmp_path / "home"))
    for name in ("DFLOWCTL_ENGINE", "DFLOWCTL_PYTHON", "VIRTUAL_ENV", "CONDA_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    order: list[str] = []
    monkeypatch.setattr(probe_mod, "start_early", lambda python: order.append(f"probe {python}"))

    def prepare(*args: object, **kwargs: object) -> None:
        order.append("prepare")
        raise UsageError("stop before the run")

    monkeypatch.setattr(actions, "prepare", prepare)
    monkeypatch.chdir(REPO)
    assert main(["run", "specs/hello.yaml"]) == 2
    assert "stop before the run" in capsys.readouterr().err
    python3 = os.path.abspath(str(__import__("shutil").which("python3")))
    assert order == [f"probe {python3}", "prepare"]
    order.clear()
    assert main(["run", "specs/hello.yaml", "--dry-run"]) == 2  # (stopped the same way)
    assert order == ["prepare"]  # a dry run asks no Python: nothing started


def test_a_spec_error_leaves_no_probe_behind(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: dflowctl/v1alpha1\nkind: Workflow\nmetadata: {name: x}\nspec: {steps: 3}\n")
    env = {**os.environ, "TMPDIR": str(tmp_path), "DFLOWCTL_HOME": str(tmp_path / "home"), "NO_COLOR": "1"}
    res = subprocess.run(
        [sys.executable, "-m", "dflowctl", "run", str(bad)], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert res.returncode == 2, res.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("dflowctl-probe-")] == []
