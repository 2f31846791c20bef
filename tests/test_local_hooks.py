"""Lifecycle hooks on the local engine (issue 14), checked against Argo's semantics
(workflow/controller/hooks.go, exit_handler.go; the cases of test/e2e/hooks_test.go):
a hook runs once, the first time its expression holds; its node is
``<parent>.hooks.<name>`` with ``nodeFlag.hooked``, a child of the step's node (of the
Retry node when it retries) or of the root; the step, and the workflow, wait for the
hooks they triggered. Through the real CLI on Argo Workflow files."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from .conftest import run_cli

pytestmark = pytest.mark.timeout(180)

Wf = dict[str, Any]

SAY = """\
    - name: say
      container:
        image: argoproj/argosay:v2
        command: [/bin/sh, -c]
        args: ["/bin/sleep 1; /argosay"]
    - name: say-fail
      container:
        image: argoproj/argosay:v2
        command: [/bin/sh, -c]
        args: ["/bin/sleep 1; /argosay; exit 1"]
    - name: hook
      container:
        image: argoproj/argosay:v2
        command: [/bin/sh, -c]
        args: ["/bin/sleep 1; echo hooked"]
"""


def run(tmp_path: Path, body: str, *, code: int | None = None) -> Wf:
    path = tmp_path / "wf.yaml"
    path.write_text(textwrap.dedent(body) + SAY, encoding="utf-8")
    res = run_cli("run", str(path), "-o", "json", cwd=tmp_path)
    assert res.stdout.strip(), res.stderr
    if code is not None:
        assert res.returncode == code, res.stderr
    return json.loads(res.stdout)


def by_name(wf: Wf) -> dict[str, dict[str, Any]]:
    return {n["name"]: n for n in wf["status"]["nodes"].values()}


def hook_nodes(wf: Wf) -> dict[str, str]:
    """name (without the workflow's) -> phase of every hook node."""
    name = wf["metadata"]["name"]
    return {
        n["name"].removeprefix(name): n["phase"]
        for n in wf["status"]["nodes"].values()
        if ".hooks." in n["name"]
    }


def test_workflow_level_hooks_see_running_then_the_end(tmp_path: Path, dflowctl_home: Path) -> None:
    wf = run(
        tmp_path,
        """\
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata:
          name: wf-hooks
        spec:
          entrypoint: main
          hooks:
            running:
              expression: workflow.status == "Running"
              template: hook
            succeed:
              expression: workflow.status == "Succeeded"
              template: hook
            failed:
              expression: workflow.status == "Failed"
              template: hook
          templates:
            - name: main
              steps:
              - - name: one
                  template: say
        """,
        code=0,
    )
    assert wf["status"]["phase"] == "Succeeded"
    assert hook_nodes(wf) == {".hooks.running": "Succeeded", ".hooks.succeed": "Succeeded"}
    nodes = by_name(wf)
    root = nodes["wf-hooks"]
    for hook in ("wf-hooks.hooks.running", "wf-hooks.hooks.succeed"):
        assert nodes[hook]["id"] in root["children"]
        assert nodes[hook]["nodeFlag"] == {"hooked": True}
        assert "boundaryID" not in nodes[hook]
    # the run waited for its hooks: they ended before it did
    assert max(nodes[h]["finishedAt"] for h in nodes if ".hooks." in h) <= wf["status"]["finishedAt"]
    assert wf["status"]["progress"] == "3/3"


def test_workflow_level_failed_hook_and_retried_attempts(tmp_path: Path, dflowctl_home: Path) -> None:
    wf = run(
        tmp_path,
        """\
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata:
          name: wf-retry-hooks
        spec:
          entrypoint: flaky
          hooks:
            failed:
              expression: workflow.status == "Failed"
              template: hook
            running:
              expression: workflow.status == "Running"
              template: hook
          templates:
            - name: flaky
              retryStrategy:
                limit: 1
              container:
                image: argoproj/argosay:v2
                command: [/bin/sh, -c]
                args: ["/bin/sleep 1; exit 1"]
        """,
        code=1,
    )
    assert wf["status"]["phase"] == "Failed"
    assert wf["status"]["progress"] == "2/4"  # two failed attempts, two hooks
    nodes = by_name(wf)
    root = nodes["wf-retry-hooks"]
    assert root["type"] == "Retry" and root["phase"] == "Failed" and "nodeFlag" not in root
    for hook in ("running", "failed"):
        node = nodes[f"wf-retry-hooks.hooks.{hook}"]
        assert node["phase"] == "Succeeded" and node["nodeFlag"] == {"hooked": True}
    for attempt in ("(0)", "(1)"):
        assert nodes[f"wf-retry-hooks{attempt}"]["nodeFlag"] == {"retried": True}
        assert nodes[f"wf-retry-hooks{attempt}"]["phase"] == "Failed"


def test_step_hooks_and_the_next_group_waits_for_them(tmp_path: Path, dflowctl_home: Path) -> None:
    wf = run(
        tmp_path,
        """\
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata:
          name: step-hooks
        spec:
          entrypoint: main
          templates:
            - name: main
              steps:
                - - name: first-step
                    template: say
                    hooks:
                      running:
                        expression: steps["first-step"].status == "Running"
                        template: hook
                      succeed:
                        expression: steps["first-step"].status == "Succeeded"
                        template: hook
                      failed:
                        expression: steps["first-step"].status == "Failed"
                        template: hook
                - - name: second
                    template: say-fail
                    hooks:
                      failed:
                        expression: steps.second.status == "Failed"
                        template: hook
                        arguments:
                          parameters: [{name: unused, value: "{{steps.second.status}}"}]
        """,
        code=1,
    )
    assert wf["status"]["phase"] == "Failed"
    assert hook_nodes(wf) == {
        "[0].first-step.hooks.running": "Succeeded",
        "[0].first-step.hooks.succeed": "Succeeded",
        "[1].second.hooks.failed": "Succeeded",
    }
    nodes = by_name(wf)
    step = nodes["step-hooks[0].first-step"]
    for hook in ("running", "succeed"):
        node = nodes[f"step-hooks[0].first-step.hooks.{hook}"]
        assert node["id"] in step["children"] and node["boundaryID"] == nodes["step-hooks"]["id"]
        assert node["displayName"] == f"first-step.hooks.{hook}"
    # group [1] hangs from the step, not from its hooks, and starts once they ended
    assert nodes["step-hooks[1]"]["id"] in step["children"]
    hooks_end = max(
        nodes[f"step-hooks[0].first-step.hooks.{h}"]["finishedAt"] for h in ("running", "succeed")
    )
    assert nodes["step-hooks[1]"]["startedAt"] >= hooks_end


def test_dag_task_hooks_and_an_omitted_dependant(tmp_path: Path, dflowctl_home: Path) -> None:
    wf = run(
        tmp_path,
        """\
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata:
          name: dag-hooks
        spec:
          entrypoint: main
          templates:
            - name: main
              dag:
                tasks:
                  - name: A
                    template: say-fail
                    hooks:
                      running:
                        template: hook
                        expression: tasks.A.status == "Running"
                      success:
                        template: hook
                        expression: tasks.A.status == "Succeeded"
                  - name: B
                    template: say
                    dependencies: [A]
                    hooks:
                      running:
                        template: hook
                        expression: tasks.B.status == "Running"
        """,
        code=1,
    )
    assert wf["status"]["phase"] == "Failed"
    assert wf["status"]["progress"] == "1/2"  # A's pod failed, its running hook succeeded
    assert hook_nodes(wf) == {".A.hooks.running": "Succeeded"}
    assert by_name(wf)["dag-hooks.B"]["phase"] == "Omitted"


def test_hooks_of_a_retried_step_hang_from_its_retry_node(tmp_path: Path, dflowctl_home: Path) -> None:
    wf = run(
        tmp_path,
        """\
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata:
          name: retry-hooks
        spec:
          entrypoint: main
          templates:
            - name: main
              steps:
                - - name: build
                    template: build
                    hooks:
                      started:
                        expression: steps["build"].status == "Running"
                        template: hook
                      success:
                        expression: steps["build"].status == "Succeeded"
                        template: hook
                      failed:
                        expression: steps["build"].status == "Failed"
                        template: hook
                - - name: print
                    template: print
                    arguments:
                      artifacts:
                      - name: message
                        from: "{{steps.build.outputs.artifacts.result}}"
            - name: build
              retryStrategy:
                limit: 2
              script:
                image: python:3.12-alpine
                command: [python3]
                source: |
                  import sys, time
                  time.sleep(1)
                  open("/tmp/result.txt", "w").write("Welcome")
                  sys.exit(0 if {{retries}} == 2 else 1)
              outputs:
                artifacts:
                - name: result
                  path: /tmp/result.txt
            - name: print
              inputs:
                artifacts:
                - name: message
                  path: /tmp/message
              container:
                image: busybox
                command: [cat, /tmp/message]
        """,
        code=0,
    )
    nodes = by_name(wf)
    retry = nodes["retry-hooks[0].build"]
    assert retry["type"] == "Retry" and retry["phase"] == "Succeeded"
    for hook in ("started", "success"):
        node = nodes[f"retry-hooks[0].build.hooks.{hook}"]
        assert node["id"] in retry["children"] and node["nodeFlag"] == {"hooked": True}
        assert node["phase"] == "Succeeded"
    assert "retry-hooks[0].build.hooks.failed" not in nodes
    assert nodes["retry-hooks[0].build(0)"]["nodeFlag"] == {"retried": True}
    # the next step hangs from the last attempt and reads its artifact
    assert nodes["retry-hooks[1]"]["id"] in nodes["retry-hooks[0].build(2)"]["children"]
    logs = run_cli("logs", "retry-hooks", "--step", "print", cwd=tmp_path)
    assert logs.stdout.strip().endswith("Welcome"), logs.stdout + logs.stderr


def test_workflow_exit_hook_with_arguments(tmp_path: Path, dflowctl_home: Path) -> None:
    wf = run(
        tmp_path,
        """\
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata:
          name: exit-hook
        spec:
          entrypoint: say
          arguments:
            parameters: [{name: who, value: world}]
          hooks:
            exit:
              template: bye
              arguments:
                parameters: [{name: msg, value: "{{workflow.status}} {{workflow.parameters.who}}"}]
          templates:
            - name: bye
              inputs:
                parameters: [{name: msg}]
              container:
                image: busybox
                command: [echo, "{{inputs.parameters.msg}}"]
        """,
        code=0,
    )
    node = by_name(wf)["exit-hook.onExit"]
    assert node["phase"] == "Succeeded" and node["nodeFlag"] == {"hooked": True}
    assert node["inputs"]["parameters"] == [{"name": "msg", "value": "Succeeded world"}]


def test_a_skipped_steps_hooks_see_it_skipped(tmp_path: Path, dflowctl_home: Path) -> None:
    wf = run(
        tmp_path,
        """\
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata:
          name: skipped-hooks
        spec:
          entrypoint: main
          templates:
            - name: main
              steps:
                - - name: maybe
                    template: say
                    when: "false"
                    hooks:
                      skipped:
                        expression: steps.maybe.status == "Skipped"
                        template: hook
                      ran:
                        expression: steps.maybe.status == "Succeeded"
                        template: hook
        """,
        code=0,
    )
    assert hook_nodes(wf) == {"[0].maybe.hooks.skipped": "Succeeded"}
    nodes = by_name(wf)
    assert nodes["skipped-hooks[0].maybe"]["phase"] == "Skipped"
    assert nodes["skipped-hooks[0].maybe.hooks.skipped"]["id"] in nodes["skipped-hooks[0].maybe"]["children"]
