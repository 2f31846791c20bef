"""What one step's bad input costs: that step, never the run ("the local engine failed")
nor nodes left Running. Through the real CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.timeout(120)

UNSAFE_BETWEEN_STEPS = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: unsafe-}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: make, template: make}
    - - name: use
        template: use
        arguments:
          artifacts:
          - {name: d, from: "{{steps.make.outputs.artifacts.d}}"}
      - {name: other, template: other}
  - name: make
    container:
      image: busybox
      command: [sh, -c, "mkdir -p /tmp/d && echo hi > /tmp/d/f && ln -s /etc/passwd /tmp/d/link"]
    outputs:
      artifacts:
      - {name: d, path: /tmp/d}
  - name: use
    inputs:
      artifacts:
      - {name: d, path: /tmp/in}
    container:
      image: busybox
      command: [sh, -c, "ls -la /tmp/in"]
  - name: other
    container:
      image: busybox
      command: [sh, -c, "echo fine"]
"""


def _pods(stdout: str) -> dict[str, tuple[str, str]]:
    nodes = json.loads(stdout)["status"]["nodes"].values()
    return {n["displayName"]: (n["phase"], n.get("message", "")) for n in nodes if n["type"] == "Pod"}


def test_an_unsafe_archive_between_two_steps_fails_only_the_consumer(
    dflowctl_home: Path, tmp_path: Path
) -> None:
    wf = tmp_path / "unsafe.yaml"
    wf.write_text(UNSAFE_BETWEEN_STEPS)
    res = run_cli("run", str(wf), "-o", "json", cwd=tmp_path)
    assert res.returncode == 1, res.stderr
    assert "the local engine failed" not in res.stderr and "local engine error" not in res.stdout
    out = json.loads(res.stdout)
    assert out["status"]["phase"] == "Failed"
    pods = _pods(res.stdout)
    key = next(
        a["s3"]["key"]
        for n in out["status"]["nodes"].values()
        for a in (n.get("outputs") or {}).get("artifacts") or []
    )
    assert pods == {
        "make": ("Succeeded", ""),
        "use": (
            "Error",
            f"failed to load artifact 'd': {key}: refusing link 'd/link' to absolute path '/etc/passwd'",
        ),
        "other": ("Succeeded", ""),
    }
    assert all(n["phase"] not in ("Running", "Pending") for n in out["status"]["nodes"].values())


SOURCE_SPEC = """\
apiVersion: dflowctl/v1alpha1
kind: Workflow
metadata: {name: linked}
spec:
  ops:
    hello:
      image: python:3.12-slim
      python: mod:hello
      source: ./src
      outputs:
        parameters:
          out: str
    plain:
      image: alpine:3.20
      script: echo fine
  steps:
    - {name: hello, op: hello}
    - {name: plain, op: plain}
"""


def test_an_absolute_link_in_a_source_folder_fails_only_its_step(dflowctl_home: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "venv" / "bin").mkdir(parents=True)
    (src / "mod.py").write_text("def hello():\n    return 'hi'\n")
    os.symlink("/usr/bin/python3", src / "venv" / "bin" / "python")  # as virtualenvs have them
    spec = tmp_path / "linked.yaml"
    spec.write_text(SOURCE_SPEC)
    res = run_cli("run", str(spec), "-o", "json", cwd=tmp_path)
    assert res.returncode == 1, res.stderr
    assert "the local engine failed" not in res.stderr and "local engine error" not in res.stdout
    phase, message = _pods(res.stdout)["hello"]
    assert phase == "Error"
    assert message.startswith("failed to load artifact 'dflowctl-source': dflowctl/sources/")
    assert message.endswith(": refusing link 'data/venv/bin/python' to absolute path '/usr/bin/python3'")
    out = json.loads(res.stdout)
    assert all(n["phase"] not in ("Running", "Pending") for n in out["status"]["nodes"].values())


HUGE_LOOP_AT_RUN_TIME = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: huge-}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: count, template: count}
    - - name: fan
        template: item
        withSequence: {count: "{{steps.count.outputs.result}}"}
  - name: count
    container:
      image: busybox
      command: [sh, -c, "echo 100000000"]
  - name: item
    container:
      image: busybox
      command: ["true"]
"""


def test_a_loop_too_big_for_this_host_is_refused_before_the_run(dflowctl_home: Path, tmp_path: Path) -> None:
    res = run_cli("run", "specs/fanout.yaml", "-p", "n=100000000")
    assert (res.returncode, res.stdout) == (2, "")
    assert res.stderr == (
        "error: step 'square' of template 'main': withSequence makes 100000000 items,"
        " over the local engine's limit of 100000\n"
    )
    assert not (dflowctl_home / "runs").exists() or not any((dflowctl_home / "runs").iterdir())


def test_a_loop_too_big_known_only_as_it_runs_fails_that_step(dflowctl_home: Path, tmp_path: Path) -> None:
    wf = tmp_path / "huge.yaml"
    wf.write_text(HUGE_LOOP_AT_RUN_TIME)
    res = run_cli("run", str(wf), "-o", "json", cwd=tmp_path, timeout=60)
    assert res.returncode == 1, res.stderr
    nodes = json.loads(res.stdout)["status"]["nodes"].values()
    fan = next(n for n in nodes if n["displayName"] == "fan")
    assert (fan["phase"], fan["message"]) == (
        "Error",
        "withSequence makes 100000000 items, over the local engine's limit of 100000",
    )


RECURSE = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: recurse-}
spec:
  entrypoint: main
  arguments:
    parameters: [{name: n, value: "3"}]
  templates:
  - name: main
    steps:
    - - name: go
        template: down
        arguments: {parameters: [{name: n, value: "{{workflow.parameters.n}}"}]}
  - name: down
    inputs: {parameters: [{name: n}]}
    retryStrategy: {limit: 1, retryPolicy: OnError}  # more frames per level, never taken
    steps:
    - - name: more
        template: down
        when: "{{inputs.parameters.n}} > 0"
        arguments: {parameters: [{name: n, value: "{{=asInt(inputs.parameters.n) - 1}}"}]}
      - name: leaf
        template: leaf
        when: "{{inputs.parameters.n}} == 0"
  - name: leaf
    container:
      image: busybox
      command: ["true"]
"""
DEPTH_MESSAGE = (
    "Maximum recursion depth exceeded. See "
    "https://argo-workflows.readthedocs.io/en/release-4.1/scaling/#maximum-recursion-depth"
)


@pytest.mark.parametrize(("n", "ok"), [(96, True), (97, False), (400, False)])
def test_guarded_recursion_runs_up_to_argos_depth_limit(
    dflowctl_home: Path, tmp_path: Path, n: int, ok: bool
) -> None:
    """Argo counts nested executeTemplate calls: main (1), one per level of `down`
    (n=96: 97 levels), then `leaf`; at 100 it stops with its message."""
    wf = tmp_path / "recurse.yaml"
    wf.write_text(RECURSE)
    res = run_cli("run", str(wf), "-p", f"n={n}", "-o", "json", cwd=tmp_path, timeout=170)
    assert "the local engine failed" not in res.stderr and "Traceback" not in res.stderr, res.stderr[-2000:]
    status = json.loads(res.stdout)["status"]
    errors = [node["message"] for node in status["nodes"].values() if node["phase"] == "Error"]
    if ok:
        assert (res.returncode, status["phase"], errors) == (0, "Succeeded", [])
        assert sum(1 for node in status["nodes"].values() if node["type"] == "Pod") == 1
    else:
        assert (res.returncode, status["phase"]) == (1, "Failed")
        assert errors == [DEPTH_MESSAGE]


DEFAULTS = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: defaults-}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: p, template: p}
  - name: p
    container:
      image: busybox
      command: [sh, -c, "mkdir -p /tmp/dir"]
    outputs:
      parameters:
      - name: missing
        valueFrom: {path: /tmp/missing, default: fallback}
      - name: folder
        valueFrom: {path: /tmp/dir, default: instead}
      - name: flag
        valueFrom: {path: /tmp/missing, default: true}
      - name: count
        valueFrom: {path: /tmp/missing, default: 5}
"""


def test_an_output_parameters_default_stands_in_for_a_file_it_cannot_read(
    dflowctl_home: Path, tmp_path: Path
) -> None:
    wf = tmp_path / "defaults.yaml"
    wf.write_text(DEFAULTS)
    res = run_cli("run", str(wf), "-o", "json", cwd=tmp_path)
    assert res.returncode == 0, res.stdout[-3000:]
    nodes = json.loads(res.stdout)["status"]["nodes"].values()
    pod = next(n for n in nodes if n["type"] == "Pod")
    params = pod["outputs"]["parameters"]
    values = {p["name"]: p["value"] for p in params if not p["name"].startswith("dflowctl-")}  # provenance
    # Argo's executor uses the default on any failed read; AnyString writes true as "true"
    assert values == {"missing": "fallback", "folder": "instead", "flag": "true", "count": "5"}
