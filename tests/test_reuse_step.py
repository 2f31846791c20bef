"""`run --reuse RUN --reuse-step STEP` (dflow's reuse_step) through the real CLI: a step
whose key changed (its op shares a `source:` folder with the op that was fixed) is
taken from RUN all the same; the rest of the rules of `--reuse` hold."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import run_cli

SPEC = """\
apiVersion: dflowctl/v1alpha1
kind: Workflow
metadata: {name: pinned}
spec:
  ops:
    prepare: {python: "work:prepare", source: ./ops}
    relax: {python: "work:relax", source: ./ops}
  steps:
    - name: prepare
      op: prepare
      parameters: {n: 3}
    - name: relax
      op: relax
      parameters: {x: "{{item}}"}
      foreach: {param: "{{steps.prepare.outputs.parameters.xs}}"}
"""

WORK = """\
import os
from pathlib import Path


def prepare(n: int) -> {"xs": list, "made": Path}:
    Path("made.txt").write_text(str(os.getpid()))
    return {"xs": list(range(n)), "made": Path("made.txt")}


def relax(x: int):
    return {"y": x * FACTOR}


FACTOR = 10
"""


def _project(tmp_path: Path) -> Path:
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops" / "work.py").write_text(WORK)
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    return spec


def _run(spec: Path, *args: str) -> dict[str, Any]:
    res = run_cli("run", str(spec), *args, "-o", "json", cwd=spec.parent)
    assert res.returncode == 0, res.stdout + res.stderr
    return json.loads(res.stdout)


def _pods(wf: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["displayName"]: n for n in wf["status"]["nodes"].values() if n["type"] == "Pod"}


def _param(node: dict[str, Any], name: str) -> str:
    return next(str(p["value"]) for p in node["outputs"]["parameters"] if p["name"] == name)


def _relaxed(wf: dict[str, Any]) -> list[str]:
    pods = _pods(wf)
    return sorted(_param(n, "y") for d, n in pods.items() if d.startswith("relax("))


def test_a_pinned_step_is_taken_from_the_run_although_its_key_changed(
    tmp_path: Path, dflowctl_home: Path
) -> None:
    spec = _project(tmp_path)
    first = _run(spec)
    old = first["metadata"]["name"]
    assert _relaxed(first) == ["0", "10", "20"]
    # the user fixes relax; prepare lives in the same module, so its key changes too
    (tmp_path / "ops" / "work.py").write_text(WORK.replace("FACTOR = 10", "FACTOR = 100"))

    plain = _run(spec, "--reuse", old)
    assert not _pods(plain)["prepare"]["memoizationStatus"]["hit"]  # the content key: it runs

    pinned = _run(spec, "--reuse", old, "--reuse-step", "prepare")
    prep = _pods(pinned)["prepare"]
    assert prep["memoizationStatus"]["hit"] and prep["message"] == f"reused from {old}"
    # it keeps the key of the result it took (a later plain --reuse of this run does not take it)
    assert prep["memoizationStatus"]["key"] == _pods(first)["prepare"]["memoizationStatus"]["key"]
    assert prep["memoizationStatus"]["key"] != _pods(plain)["prepare"]["memoizationStatus"]["key"]
    assert _relaxed(pinned) == ["0", "100", "200"]  # the fixed code ran
    assert not any(n["memoizationStatus"]["hit"] for d, n in _pods(pinned).items() if d.startswith("relax("))
    # the same file as the first run's, under the new run's key
    name = pinned["metadata"]["name"]
    out = tmp_path / "dl"
    got = run_cli("download", name, "--step", "prepare", "-d", str(out), cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    again = tmp_path / "dl-old"
    assert run_cli("download", old, "--step", "prepare", "-d", str(again), cwd=tmp_path).returncode == 0
    (mine,) = out.rglob("made.txt")
    (theirs,) = again.rglob("made.txt")
    assert mine.read_text() == theirs.read_text()
    logs = run_cli("logs", name, "--step", "prepare", cwd=tmp_path)
    assert "taken by --reuse-step" in logs.stdout, logs.stdout

    # a fan-out step pins every item; --rerun wins over a pin
    items = _run(spec, "--reuse", old, "--reuse-step", "relax", "--rerun", "prepare")
    assert not _pods(items)["prepare"]["memoizationStatus"]["hit"]
    assert _relaxed(items) == ["0", "10", "20"]  # the first run's results, taken by their item


def test_reuse_step_refusals_are_one_line_and_exit_2(tmp_path: Path, dflowctl_home: Path) -> None:
    spec = _project(tmp_path)
    old = _run(spec)["metadata"]["name"]
    cases = {
        ("--reuse", old, "--reuse-step", "nosuch"): (
            f"error: --reuse-step nosuch: {old} has no step of that name that succeeded\n"
            "  hint: its steps that succeeded: prepare, relax\n"
        ),
        (
            "--reuse-step",
            "prepare",
        ): "error: --reuse-step takes steps from one earlier run\n  hint: add --reuse RUN\n",
        ("--reuse", "--reuse-step", "prepare"): (
            "error: --reuse-step takes steps from one earlier run\n  hint: add --reuse RUN\n"
        ),
    }
    for args, said in cases.items():
        res = run_cli("run", str(spec), *args, cwd=tmp_path)
        assert (res.returncode, res.stderr) == (2, said), args
    # refused before a run folder is made: only the first run is there
    assert [p.name for p in (dflowctl_home / "runs").iterdir()] == [old]


KEYED = """\
apiVersion: dflowctl/v1alpha1
kind: Workflow
metadata: {name: keyed-pin}
spec:
  parameters:
    xs: {type: "list[int]", default: [1, 2, 3]}
  ops:
    relax: {python: "work:relax", source: ./ops}
  steps:
    - name: relax
      op: relax
      key: "relax-{{item}}"
      parameters: {x: "{{item}}"}
      foreach: {param: "{{workflow.parameters.xs}}"}
"""


def test_a_step_with_a_key_is_found_again_by_its_key_when_the_items_move(
    tmp_path: Path, dflowctl_home: Path
) -> None:
    spec = _project(tmp_path)
    spec.write_text(KEYED)
    old = _run(spec)["metadata"]["name"]
    (tmp_path / "ops" / "work.py").write_text(WORK.replace("FACTOR = 10", "FACTOR = 100"))
    # the items move (and one is new): each keyed item takes its own earlier result
    moved = _run(spec, "-p", "xs=[3, 1, 4]", "--reuse", old, "--reuse-step", "relax")
    assert _by_x(moved) == {"3": ("30", True), "1": ("10", True), "4": ("400", False)}
    # a single item by its key
    one = _run(spec, "-p", "xs=[3, 1]", "--reuse", old, "--reuse-step", "relax-1")
    assert _by_x(one) == {"3": ("300", False), "1": ("10", True)}


def _by_x(wf: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """Each item by its input ``x``: its output ``y`` and whether it was reused."""
    out = {}
    for display, node in _pods(wf).items():
        if not display.startswith("relax("):
            continue  # dflowctl's own pod that lists the items
        x = next(p["value"] for p in node["inputs"]["parameters"] if p["name"] == "x")
        out[x] = (_param(node, "y"), bool(node["memoizationStatus"]["hit"]))
    return out
