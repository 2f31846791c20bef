"""The Python API (dflowctl/api.py): the notebook example end to end, and its errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dflowctl import api
from dflowctl.errors import NotFoundError, SpecError, UsageError
from tests.conftest import REPO, SPECS


def test_notebook_runs_the_fanout_and_gets_the_sum_as_an_int(dflowctl_home: Path, tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, str(REPO / "examples" / "notebook.py"), "12"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    name = lines[0].split()[0]
    assert lines == [
        f"{name} Succeeded",
        "total = 506",
        "[{'step': 'total', 'index': None, 'item': None, 'phase': 'Succeeded', 'outputs': {'total': 506}}]",
        "12 files: [0, 1, 4, 9, 16, 25, 36, 49, 64, 81, 100, 121]",
    ]


def test_api_in_process(dflowctl_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: dflowctl/v1alpha1\nkind: Workflow\nmetadata: {name: x}\nspec: {stepz: []}\n")
    problems = api.validate(bad)
    assert problems and all(p.location is not None and p.location.line >= 1 for p in problems)
    with pytest.raises(SpecError):
        api.run(bad)
    with pytest.raises(NotFoundError):
        api.get_run("nope")
    with pytest.raises(NotFoundError, match="no runs yet"):
        api.get_run("@latest")
    manifest = api.load(SPECS / "fanout.yaml", {"n": 3})
    assert manifest["spec"]["arguments"]["parameters"][0]["value"] == "3"
    run = api.run(SPECS / "fanout.yaml", {"n": 4}, name="fan-four", labels={"team": "a"})
    assert (run.name, run.phase, run.succeeded) == ("fan-four", "Succeeded", True)
    assert run.output("total") == 14 and isinstance(run.output("total"), int)
    with pytest.raises(NotFoundError, match="has no final output 'sum'"):
        run.output("sum")
    assert [r.name for r in api.list_runs(labels={"team": "a"})] == ["fan-four"]
    assert api.list_runs(phases=["Failed"]) == []
    report = run.report(tmp_path / "r.html")
    assert report.read_text().startswith("<!DOCTYPE html>")
    with pytest.raises(UsageError, match="invalid run name"):
        api.run(SPECS / "fanout.yaml", name="Not OK")
