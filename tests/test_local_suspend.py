"""Suspended runs on the local engine (issue 14): ``suspend`` templates without a duration,
``spec.suspend`` and ``valueFrom.supplied``, ended by ``dflowctl resume`` as ``argo resume`` /
``argo node set`` end them (Argo's ``util.ResumeWorkflow``, ``updateSuspendedNode``,
``OverrideOutputParametersWithDefault``). Through the real CLI: the run goes on in its
background process and ``resume`` reaches it through the run's ``control/`` folder."""

from __future__ import annotations

import json
import re
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dflowctl.argo.resume import ResumeError, matches, resume_nodes

from .conftest import local_record as record
from .conftest import nodes_seen, run_cli, start_run, wait_for_run
from .conftest import record_nodes as nodes

pytestmark = pytest.mark.timeout(180)

Wf = dict[str, Any]

OUTPUTS = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: suspend-outputs
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


def start(tmp_path: Path, text: str) -> str:
    path = tmp_path / "wf.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return start_run(path, cwd=tmp_path)


def node(wf: Wf, display: str) -> dict[str, Any]:
    found = [n for n in nodes(wf) if n.get("displayName") == display]
    assert len(found) == 1, (display, [n.get("displayName") for n in nodes(wf)])
    return found[0]


def suspended(display: str) -> Callable[[Wf], bool]:
    return nodes_seen(display=display, type="Suspend", phase="Running")


def finished(wf: Wf) -> bool:
    return bool((wf.get("status") or {}).get("finishedAt"))


def test_supplied_output_set_on_resume(tmp_path: Path, dflowctl_home: Path) -> None:
    name = start(tmp_path, OUTPUTS)
    wf = wait_for_run(dflowctl_home, name, suspended("approve"), "approve suspended")
    waiting = node(wf, "approve")
    # Argo's addRawOutputFields: the supplied parameter is on the node while it waits
    assert waiting["outputs"] == {"parameters": [{"name": "message", "valueFrom": {"supplied": {}}}]}
    # argo resume without the value: the whole resume fails, nothing changes
    res = run_cli("resume", name, cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.strip() == (
        f"error: cannot resume {name}: raw output parameter 'message' has not been set "
        "and does not have a default value"
    )
    res = run_cli("resume", name, "--node", "nope", cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.strip() == f"error: cannot resume {name}: no suspended node matches 'nope'"
    res = run_cli("resume", name, "--node", "approve", "-p", "other=1", cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.strip() == (
        f"error: cannot resume {name}: node is not expecting output parameter 'other'"
    )
    assert node(record(dflowctl_home, name), "approve")["phase"] == "Running"
    res = run_cli(
        "resume", name, "--node", "displayName=approve", "-p", "message=Hello, world!", cwd=tmp_path
    )
    assert res.returncode == 0, res.stderr
    assert f"{name} resumed" in res.stdout
    wf = wait_for_run(dflowctl_home, name, finished, "the run finished")
    assert wf["status"]["phase"] == "Succeeded"
    approve = node(wf, "approve")
    assert approve["phase"] == "Succeeded" and approve["type"] == "Suspend"
    assert approve["outputs"] == {"parameters": [{"name": "message", "value": "Hello, world!"}]}
    logs = run_cli("logs", name, cwd=tmp_path)
    assert "Hello, world!" in logs.stdout
    # a finished run has nothing to resume
    res = run_cli("resume", name, cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.strip() == f"error: run {name!r} is not running (it succeeded)"


DEFAULTED = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: intermediate-
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: approval
        template: approval
    - - name: deploy
        template: say
        when: "{{steps.approval.outputs.parameters.approve}} == YES"
  - name: approval
    suspend: {}
    outputs:
      parameters:
      - name: approve
        valueFrom:
          supplied: {}
          default: "NO"
  - name: say
    container:
      image: argoproj/argosay:v2
      args: [echo, deploying]
"""


def test_plain_resume_takes_the_default(tmp_path: Path, dflowctl_home: Path) -> None:
    name = start(tmp_path, DEFAULTED)
    wait_for_run(dflowctl_home, name, suspended("approval"), "approval suspended")
    res = run_cli("resume", name, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    wf = wait_for_run(dflowctl_home, name, finished, "the run finished")
    assert wf["status"]["phase"] == "Succeeded"
    assert node(wf, "approval")["outputs"]["parameters"] == [{"name": "approve", "value": "NO"}]
    assert node(wf, "deploy")["phase"] == "Skipped"


def test_resume_with_a_value_takes_the_other_branch(tmp_path: Path, dflowctl_home: Path) -> None:
    name = start(tmp_path, DEFAULTED)
    wait_for_run(dflowctl_home, name, suspended("approval"), "approval suspended")
    res = run_cli("resume", name, "--node", "approval", "-p", "approve=YES", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    wf = wait_for_run(dflowctl_home, name, finished, "the run finished")
    assert wf["status"]["phase"] == "Succeeded"
    assert node(wf, "deploy")["phase"] == "Succeeded"


HELD = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: held-
spec:
  entrypoint: main
  suspend: true
  templates:
  - name: main
    steps:
    - - name: a
        template: wait
    - - name: b
        template: echo
  - name: wait
    suspend:
      duration: "60"
  - name: echo
    container:
      image: busybox
      command: [echo, done]
"""


def test_spec_suspend_holds_the_run_and_resume_ends_a_duration_early(
    tmp_path: Path, dflowctl_home: Path
) -> None:
    name = start(tmp_path, HELD)
    wf = wait_for_run(
        dflowctl_home, name, lambda w: (w.get("status") or {}).get("phase") == "Running", "the run Running"
    )
    time.sleep(1.5)
    wf = record(dflowctl_home, name)
    assert nodes(wf) == []  # spec.suspend: nothing starts
    assert wf["spec"]["suspend"] is True
    res = run_cli("resume", name, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    # the 60 s suspend step waits, resumable early as Argo's is
    wf = wait_for_run(dflowctl_home, name, suspended("a"), "a suspended")
    assert "suspend" not in wf["spec"]
    began = time.monotonic()
    res = run_cli("resume", name, "--node", "a", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    wf = wait_for_run(dflowctl_home, name, finished, "the run finished")
    assert time.monotonic() - began < 30
    assert wf["status"]["phase"] == "Succeeded"
    assert [node(wf, d)["phase"] for d in ("a", "b")] == ["Succeeded", "Succeeded"]


def test_stop_while_suspended_and_a_stale_request_is_not_applied(tmp_path: Path, dflowctl_home: Path) -> None:
    name = start(tmp_path, OUTPUTS)
    wait_for_run(dflowctl_home, name, suspended("approve"), "approve suspended")
    res = run_cli("stop", name, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    wf = wait_for_run(dflowctl_home, name, finished, "the run finished")
    assert wf["status"]["phase"] == "Failed"
    assert node(wf, "approve")["phase"] == "Failed"
    assert node(wf, "approve")["message"] == "Stopped with strategy 'Stop'"
    # a request left behind for a process that is gone is cleared, not applied to the retry
    control = dflowctl_home / "runs" / name / "control"
    (control / "resume-1-1.json").write_text(
        json.dumps({"node": "approve", "parameters": {"message": "stale"}}), encoding="utf-8"
    )
    res = run_cli("retry", name, "--no-wait", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    wait_for_run(dflowctl_home, name, suspended("approve"), "approve suspended")
    time.sleep(1.0)
    assert node(record(dflowctl_home, name), "approve")["phase"] == "Running"
    assert not (control / "resume-1-1.json").exists()
    res = run_cli("resume", name, "--node", "approve", "-p", "message=fresh", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    wf = wait_for_run(dflowctl_home, name, finished, "the run finished")
    assert wf["status"]["phase"] == "Succeeded"
    assert node(wf, "approve")["outputs"]["parameters"][0]["value"] == "fresh"


def test_parameters_need_a_node(tmp_path: Path, dflowctl_home: Path) -> None:
    res = run_cli("resume", "whatever", "-p", "a=b", cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[0] == (
        "error: -p sets the outputs of one suspended node: give it with --node"
    )


def test_node_selectors_as_argo_matches_them() -> None:
    n = {
        "id": "wf-1",
        "name": "wf[0].approve",
        "displayName": "approve",
        "templateName": "approval",
        "type": "Suspend",
        "phase": "Running",
        "inputs": {"parameters": [{"name": "x", "value": "1"}]},
    }
    assert matches(n, "approve") and matches(n, "wf[0].approve") and matches(n, "wf-1")
    assert matches(n, "displayName=approve,templateName=approval")
    assert matches(n, "inputs.parameters.x.value=1")
    assert not matches(n, "displayName!=approve")
    assert not matches(n, "templateName==other")
    assert resume_nodes({"wf-1": n}, "approve", {}, "now")["wf-1"]["phase"] == "Succeeded"
    with pytest.raises(ResumeError, match="not expecting any raw parameters"):
        resume_nodes({"wf-1": n}, "approve", {"x": "1"}, "now")
    done = {**n, "phase": "Succeeded"}
    assert resume_nodes({"wf-1": done}, None, {}, "now") == {}


NODE_SUSPEND = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: node-suspend-
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: suspend1
        template: suspend
        arguments: {parameters: [{name: tag, value: suspend1-tag1}]}
    - - name: suspend2
        template: suspend
        arguments: {parameters: [{name: tag, value: suspend2-tag1}]}
  - name: suspend
    inputs: {parameters: [{name: tag}]}
    suspend: {}
"""


def test_stop_one_suspended_node(tmp_path: Path, dflowctl_home: Path) -> None:
    """As Argo's e2e TestNodeSuspendResume: `argo resume --node-field-selector
    inputs.parameters.tag.value=…`, then `argo stop --node-field-selector … --message
    because` ends that node Failed with the message, and the run Failed."""
    name = start(tmp_path, NODE_SUSPEND)
    wait_for_run(dflowctl_home, name, suspended("suspend1"), "suspend1 suspended")
    res = run_cli("resume", name, "--node", "inputs.parameters.tag.value=suspend1-tag1", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    wait_for_run(dflowctl_home, name, suspended("suspend2"), "suspend2 suspended")
    res = run_cli("stop", name, "--message", "because", cwd=tmp_path)
    assert (res.returncode, res.stderr.splitlines()[0]) == (
        2,
        "error: --message is the message of a stopped node: give it with --node",
    )
    selector = "inputs.parameters.tag.value=suspend2-tag1"
    res = run_cli("stop", name, "--node", selector, "--message", "because", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    wf = wait_for_run(dflowctl_home, name, finished, "the run finished")
    assert wf["status"]["phase"] == "Failed"
    assert re.fullmatch(r"child 'node-suspend-\w+-\d+' failed", wf["status"]["message"])
    stopped = node(wf, "suspend2")
    assert (stopped["phase"], stopped["message"]) == ("Failed", "because")
    assert node(wf, "suspend1")["phase"] == "Succeeded"
