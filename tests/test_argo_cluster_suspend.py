"""``dflowctl resume`` against a REAL Argo controller (``make cluster-up``), and the same
workflow on the local engine: the suspended node, its supplied output and the run's end
must agree (``make test-cluster``; skipped when no cluster answers)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.fixtures import cli, cluster_env
from tests.conftest import nodes_seen, wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]
__all__ = ["cluster_env"]

WORKFLOW = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: resume-parity-
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: approve
        template: approve
    - - name: release
        template: print
        arguments:
          parameters:
          - name: message
            value: "{{steps.approve.outputs.parameters.message}}"
  - name: approve
    suspend: {}
    outputs:
      parameters:
      - name: message
        valueFrom:
          supplied: {}
  - name: print
    inputs:
      parameters:
      - name: message
    container:
      image: busybox
      command: [echo]
      args: ["{{inputs.parameters.message}}"]
"""


def _suspended(env: dict[str, str], name: str, engine: str, display: str | None = None) -> dict[str, Any]:
    """Until a Suspend node (``display``, when given) waits, Running (bounded)."""

    def read() -> dict[str, Any]:
        res = cli("status", name, "-e", engine, "-o", "json", env=env)
        return json.loads(res.stdout) if res.returncode == 0 else {}

    return wait_until(
        read,
        nodes_seen(display=display, type="Suspend", phase="Running"),
        f"Suspend node {display or '(any)'} Running on {engine}",
        timeout=240,
        interval=1,
    )


def _resume_and_finish(env: dict[str, str], name: str, engine: str) -> dict[str, Any]:
    waiting = _suspended(env, name, engine)
    approve = next(n for n in waiting["status"]["nodes"].values() if n["displayName"] == "approve")
    assert approve["outputs"]["parameters"] == [{"name": "message", "valueFrom": {"supplied": {}}}]
    bad = cli("resume", name, "-e", engine, env=env)
    assert bad.returncode == 2
    assert "raw output parameter 'message' has not been set" in bad.stderr
    ok = cli("resume", name, "-e", engine, "--node", "displayName=approve", "-p", "message=hi there", env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    final = cli("status", name, "-e", engine, "--watch", "-o", "json", env=env, timeout=300)
    return json.loads(final.stdout)


def _shape(wf: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    out = {}
    for n in wf["status"]["nodes"].values():
        params = json.dumps((n.get("outputs") or {}).get("parameters") or [], sort_keys=True)
        if n.get("type") in ("Suspend", "Pod"):
            out[n["displayName"]] = (n["type"], n["phase"], params if n["type"] == "Suspend" else "")
    return out


def test_resume_agrees_with_argo(cluster_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(WORKFLOW, encoding="utf-8")
    env = {**cluster_env, "DFLOWCTL_HOME": str(tmp_path / "home")}
    run = cli("run", "-e", "argo", "--no-wait", "-o", "json", str(path), env=env)
    assert run.returncode == 0, run.stderr
    name = json.loads(run.stdout)["metadata"]["name"]
    try:
        argo_wf = _resume_and_finish(env, name, "argo")
    finally:
        cli("delete", name, "-e", "argo", env=env)
    local = cli("run", "-e", "local", "--no-wait", "-o", "json", str(path), env=env)
    assert local.returncode == 0, local.stderr
    local_wf = _resume_and_finish(env, json.loads(local.stdout)["metadata"]["name"], "local")
    assert argo_wf["status"]["phase"] == local_wf["status"]["phase"] == "Succeeded"
    assert _shape(argo_wf) == _shape(local_wf)
    release = next(n for n in argo_wf["status"]["nodes"].values() if n["displayName"] == "release")
    assert release["inputs"]["parameters"][0]["value"] == "hi there"


HOOKS = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: hooks-parity-
spec:
  entrypoint: main
  hooks:
    running:
      expression: workflow.status == "Running"
      template: hook
    failed:
      expression: workflow.status == "Failed"
      template: hook
  templates:
    - name: main
      steps:
        - - name: step-1
            template: slow
            hooks:
              running:
                expression: steps["step-1"].status == "Running"
                template: hook
              succeed:
                expression: steps["step-1"].status == "Succeeded"
                template: hook
              failed:
                expression: steps["step-1"].status == "Failed"
                template: hook
    - name: slow
      container:
        image: busybox
        command: [sh, -c, "sleep 20; echo done"]  # Argo sees it Running on its next pass
    - name: hook
      container:
        image: busybox
        command: [sh, -c, "echo hooked"]
"""


def test_hooks_agree_with_argo(cluster_env: dict[str, str], tmp_path: Path) -> None:
    """The hook nodes (names, phases, parents, nodeFlag) on real Argo and locally. The step
    runs 20 s: Argo's controller evaluates a running hook when a pass sees the step Running
    (here ~10 s after it started; a 5 s step's never ran on this cluster), the local engine
    at once."""
    path = tmp_path / "wf.yaml"
    path.write_text(HOOKS, encoding="utf-8")
    env = {**cluster_env, "DFLOWCTL_HOME": str(tmp_path / "home")}

    def shape(wf: dict[str, Any]) -> dict[str, tuple[str, str, bool]]:
        nodes = wf["status"]["nodes"]
        name = wf["metadata"]["name"]
        parent = {c: n["name"] for n in nodes.values() for c in n.get("children") or []}
        return {
            n["name"].removeprefix(name): (
                n["phase"],
                parent.get(n["id"], "").removeprefix(name),
                bool((n.get("nodeFlag") or {}).get("hooked")),
            )
            for n in nodes.values()
            if ".hooks." in n["name"]
        }

    argo = cli("run", "-e", "argo", "--wait", "-o", "json", str(path), env=env, timeout=400)
    assert argo.returncode == 0, argo.stdout[-2000:] + argo.stderr
    argo_wf = json.loads(argo.stdout)
    try:
        local = cli("run", "-e", "local", "--wait", "-o", "json", str(path), env=env, timeout=300)
        assert local.returncode == 0, local.stderr
        local_wf = json.loads(local.stdout)
        assert argo_wf["status"]["phase"] == local_wf["status"]["phase"] == "Succeeded"
        assert shape(local_wf) == shape(argo_wf)
        assert set(shape(argo_wf)) == {
            ".hooks.running",
            "[0].step-1.hooks.running",
            "[0].step-1.hooks.succeed",
        }
    finally:
        cli("delete", argo_wf["metadata"]["name"], "-e", "argo", env=env)


NODE_STOP = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: node-stop-parity-
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: suspend1
        template: suspend
        arguments: {parameters: [{name: tag, value: one}]}
    - - name: suspend2
        template: suspend
        arguments: {parameters: [{name: tag, value: two}]}
  - name: suspend
    inputs: {parameters: [{name: tag}]}
    suspend: {}
"""


def _stop_second(env: dict[str, str], name: str, engine: str) -> dict[str, Any]:
    """`resume --node inputs.parameters.tag.value=one`, then `stop --node … --message because`
    (argo's e2e TestNodeSuspendResume)."""
    _suspended(env, name, engine)
    ok = cli("resume", name, "-e", engine, "--node", "inputs.parameters.tag.value=one", env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    _suspended(env, name, engine, "suspend2")
    stop = cli(
        "stop",
        name,
        "-e",
        engine,
        "--node",
        "inputs.parameters.tag.value=two",
        "--message",
        "because",
        env=env,
    )
    assert stop.returncode == 0, stop.stdout + stop.stderr
    final = cli("status", name, "-e", engine, "--watch", "-o", "json", env=env, timeout=300)
    return json.loads(final.stdout)


def test_stopping_a_suspended_node_agrees_with_argo(cluster_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(NODE_STOP, encoding="utf-8")
    env = {**cluster_env, "DFLOWCTL_HOME": str(tmp_path / "home")}
    run = cli("run", "-e", "argo", "--no-wait", "-o", "json", str(path), env=env)
    assert run.returncode == 0, run.stderr
    name = json.loads(run.stdout)["metadata"]["name"]
    try:
        argo_wf = _stop_second(env, name, "argo")
    finally:
        cli("delete", name, "-e", "argo", env=env)
    local = cli("run", "-e", "local", "--no-wait", "-o", "json", str(path), env=env)
    assert local.returncode == 0, local.stderr
    local_wf = _stop_second(env, json.loads(local.stdout)["metadata"]["name"], "local")
    assert argo_wf["status"]["phase"] == local_wf["status"]["phase"] == "Failed"
    assert _shape(argo_wf) == _shape(local_wf)
    for wf in (argo_wf, local_wf):
        second = next(n for n in wf["status"]["nodes"].values() if n["displayName"] == "suspend2")
        assert second.get("message") == "because"
        assert wf["status"]["message"].startswith("child '")
