"""A fan-in's large input folder is mounted in the pod's view, not copied (podinputs; issue 16):
the pod sees and changes it as its own copy, the stored folder stays as it was, and an
output read there (a link into it) is what the pod saw. Real CLI, real private views."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from dflowctl.engines.local import isolation, podinputs
from dflowctl.engines.local.podoutputs import collect_outputs
from dflowctl.engines.local.podplan import PodPlan
from tests.conftest import run_cli

pytestmark = pytest.mark.timeout(180)

OVERLAY_OK = sys.platform.startswith("linux") and isolation.method_for(Path.cwd()) == isolation.OVERLAY
ITEMS = 40  # over podinputs.NESTED_MIN
MOUNTED = """awk '$5 == "'"$1"'" {found=1} END {print (found ? "mounted" : "copied")}' /proc/self/mountinfo"""

SPEC = f"""
apiVersion: dflowctl/v1alpha1
kind: Workflow
metadata: {{name: inputs}}
spec:
  ops:
    make:
      image: alpine:3.20
      script: echo "item $x" > /tmp/out.txt
      inputs: {{parameters: {{x: int}}}}
      outputs: {{artifacts: {{part: {{path: /tmp/out.txt}}}}}}
    use:  # changes its input, and outputs a link into it
      image: alpine:3.20
      script: |
        how() {{ {MOUNTED}; }}
        how /tmp/in > /tmp/how
        ls /tmp/in | sort | tr '\\n' ' ' > /tmp/before
        rm -rf /tmp/in/1*
        echo new > /tmp/in/new.txt
        ln -s /tmp/in /tmp/link
      inputs: {{artifacts: {{parts: {{path: /tmp/in}}}}}}
      outputs:
        parameters:
          how: {{type: str, from: /tmp/how}}
          before: {{type: str, from: /tmp/before}}
        artifacts:
          seen: {{path: /tmp/link}}
    hold:  # an output that holds its input: copied as before
      image: alpine:3.20
      script: |
        how() {{ {MOUNTED}; }}
        how /tmp/all/parts > /tmp/how
      inputs: {{artifacts: {{parts: {{path: /tmp/all/parts}}}}}}
      outputs:
        parameters:
          how: {{type: str, from: /tmp/how}}
        artifacts:
          all: {{path: /tmp/all}}
    list:
      image: alpine:3.20
      script: ls "$where" | sort | tr '\\n' ' ' > /tmp/list
      inputs:
        parameters: {{where: str}}
        artifacts: {{what: {{path: /tmp/what}}}}
      outputs: {{parameters: {{names: {{type: str, from: /tmp/list}}}}}}
  steps:
    - name: make
      op: make
      parameters: {{x: "{{{{item}}}}"}}
      foreach: {{range: {{count: {ITEMS}}}}}
    - name: use
      op: use
      artifacts: {{parts: "{{{{steps.make.outputs.artifacts.part}}}}"}}
    - - name: seen
        op: list
        parameters: {{where: /tmp/what}}
        artifacts: {{what: "{{{{steps.use.outputs.artifacts.seen}}}}"}}
      - name: again
        op: list
        parameters: {{where: /tmp/what}}
        artifacts: {{what: "{{{{steps.make.outputs.artifacts.part}}}}"}}
      - name: hold
        op: hold
        artifacts: {{parts: "{{{{steps.make.outputs.artifacts.part}}}}"}}
    - name: held
      op: list
      parameters: {{where: /tmp/what/parts}}
      artifacts: {{what: "{{{{steps.hold.outputs.artifacts.all}}}}"}}
"""


def _params(nodes: list[dict[str, Any]], display: str) -> dict[str, str]:
    (node,) = [n for n in nodes if n["displayName"] == display and n["type"] == "Pod"]
    assert node["phase"] == "Succeeded", node.get("message")
    return {p["name"]: p["value"] for p in (node.get("outputs") or {}).get("parameters") or []}


@pytest.mark.skipif(not OVERLAY_OK, reason="no private views here (inputs are copied)")
def test_a_fan_in_input_is_mounted_changed_privately_and_read_back_through_a_link(
    tmp_path: Path, dflowctl_home: Path
) -> None:
    assert ITEMS >= podinputs.NESTED_MIN
    (tmp_path / "wf.yaml").write_text(textwrap.dedent(SPEC))
    proc = run_cli("run", "wf.yaml", "-o", "json", cwd=tmp_path, timeout=170)
    assert proc.returncode == 0, proc.stderr + proc.stdout[-2000:]
    nodes = list(json.loads(proc.stdout)["status"]["nodes"].values())
    use = _params(nodes, "use")
    names = use["before"].split()
    assert len(names) == ITEMS and use["how"] == "mounted"
    assert _params(nodes, "again")["names"].split() == names  # the stored folder is unchanged
    seen = _params(nodes, "seen")["names"].split()  # the link's target: the pod's own view of it
    assert seen == sorted([n for n in names if not n.startswith("1")] + ["new.txt"])
    hold = _params(nodes, "hold")
    assert hold["how"] == "copied"
    assert _params(nodes, "held")["names"].split() == names
    work = next((dflowctl_home / "runs").iterdir()) / "work"
    assert not list(work.iterdir())  # the pods' folders (their input overlays') are gone


def test_which_inputs_are_mounted(tmp_path: Path) -> None:
    root = tmp_path / "pod" / "root"
    root.mkdir(parents=True)
    big, small = tmp_path / "big", tmp_path / "small"
    for folder, count in ((big, podinputs.NESTED_MIN), (small, podinputs.NESTED_MIN - 1)):
        folder.mkdir()
        for i in range(count):
            (folder / str(i)).write_text("x")
    (tmp_path / "link").symlink_to(big)
    (tmp_path / "file").write_text("x")
    inputs = [
        ("/tmp/in/a", big),  # mounted
        ("/tmp/in/b", small),  # too few entries
        ("/tmp/in/c", tmp_path / "link"),  # a link
        ("/tmp/in/d", tmp_path / "file"),  # a file
        ("/tmp/out/e", big),  # an output lies in it
        ("/tmp/f", big),  # it holds the working directory
        ("/data/g", big),  # in a volume
    ]
    mounts = [(str(tmp_path / "vol"), "/data", False)]
    nested, copied = podinputs.split(root, inputs, mounts, ["/tmp/out/e/result", "/tmp/f/work"])
    assert [m.path for m in nested] == ["/tmp/in/a"]
    assert [p for p, _ in copied] == [p for p, _ in inputs[1:]]
    (mount,) = nested
    assert mount.lower == str(big.resolve())
    assert Path(mount.upper).is_dir() and Path(mount.work).is_dir()
    assert Path(mount.upper).parent.name.startswith(podinputs.FOLDER)
    assert (root / "tmp" / "in" / "a").is_dir() and not list((root / "tmp" / "in" / "a").iterdir())
    for paths in (["/tmp/x", "/tmp/x/y"], ["/"]):  # one input inside another: both copied
        assert podinputs.split(root, [(p, big) for p in paths], [], []) == ([], [(p, big) for p in paths])


def test_an_output_through_a_mounted_input_that_cannot_be_copied_is_the_step_s_error(tmp_path: Path) -> None:
    """``podfs.materialize`` copies the stored folder when an output is read there; a copy
    that fails (the folder gone, a full disk) is the node's message, never a traceback."""
    root = tmp_path / "pod" / "root"
    (root / "tmp" / "in").mkdir(parents=True)
    (root / "tmp" / "link").symlink_to("/tmp/in")
    (tmp_path / "up").mkdir()
    mount = podinputs.InputMount("/tmp/in", str(tmp_path / "gone"), str(tmp_path / "up"), str(tmp_path / "w"))
    plan = PodPlan([], {}, "/", "/", None, isolation.OVERLAY, root, None, None, None, inputs=(mount,))
    template = {"outputs": {"artifacts": [{"name": "seen", "path": "/tmp/link"}]}}
    params, arts, problem = collect_outputs(template, plan, strict=True)
    assert (params, arts) == ({}, {})
    assert problem is not None and problem.startswith("output artifact 'seen': ") and "gone" in problem


def test_an_input_folder_holding_a_shared_input_is_copied(tmp_path: Path) -> None:
    """A folder mounted over a path would hide what the run's shared layer puts under it."""
    from dflowctl.engines.local.podapi import PodRequest
    from dflowctl.engines.local.podplan import _lay_out

    big = tmp_path / "big"
    big.mkdir()
    for i in range(podinputs.NESTED_MIN):
        (big / str(i)).write_text("x")

    class Layers:
        def get(self, shared: Any, script: Any, points: Any) -> Path:
            return tmp_path / "layer"

    root = tmp_path / "pod" / "root"
    root.mkdir(parents=True)
    req = PodRequest("p", {}, tmp_path / "pod", [("/tmp/x", big), ("/tmp/x/y", big)], tmp_path / "log")
    req = PodRequest(**{**vars(req), "layers": Layers(), "shared_inputs": frozenset({"/tmp/x/y"})})  # type: ignore[arg-type]
    layer, nested = _lay_out(req, root, isolation.OVERLAY, None, None, [], [], {"/tmp/x/y"})
    assert layer == tmp_path / "layer" and nested == []
    assert len(list((root / "tmp" / "x").iterdir())) == podinputs.NESTED_MIN  # copied
    req = PodRequest(**{**vars(req), "input_artifacts": [("/tmp/z", big), ("/tmp/x/y", big)]})
    layer, nested = _lay_out(req, root, isolation.OVERLAY, None, None, [], [], {"/tmp/x/y"})
    assert [m.path for m in nested] == ["/tmp/z"]
