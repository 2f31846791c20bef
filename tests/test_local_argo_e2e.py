"""Argo behaviours its own end-to-end tests rely on (test/e2e of argo-workflows; the
bench is bench/argo_e2e.py), each through the real CLI on the local engine (issue 14)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import run_cli
from .test_local_argo_semantics import node, run_argo

pytestmark = pytest.mark.timeout(180)

HEAD = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: e2e-
spec:
  entrypoint: main
  templates:
"""


def test_a_script_without_source_runs_its_command_and_args(tmp_path: Path) -> None:
    """Argo's executeScript appends the staged script only when `source` is set
    (e2e TestLoopEmptyParam: argosay `echo []` as a script, an empty loop, Succeeded)."""
    wf = run_argo(
        tmp_path,
        HEAD
        + """\
  - name: main
    steps:
    - - name: gen
        template: gen
    - - name: each
        template: gen
        withParam: "{{steps.gen.outputs.result}}"
  - name: gen
    script:
      image: argoproj/argosay:v2
      args: ["echo", "[]"]
""",
    )
    assert wf["status"]["phase"] == "Succeeded"
    assert node(wf, "gen")["outputs"]["result"] == "[]"
    assert node(wf, "each")["phase"] == "Skipped"


def test_an_input_artifact_under_a_volume_mount_is_in_the_volume(tmp_path: Path) -> None:
    """e2e TestInputOnMount: the artifact's path is under an emptyDir's mount path."""
    wf = run_argo(
        tmp_path,
        HEAD
        + """\
  - name: main
    volumes:
    - {name: mnt, emptyDir: {}}
    container:
      image: argoproj/argosay:v2
      args: [cat, /mnt/in-0]
      volumeMounts:
      - {name: mnt, mountPath: /mnt}
    inputs:
      artifacts:
      - {name: in-0, path: /mnt/in-0, raw: {data: hi}}
""",
    )
    assert wf["status"]["phase"] == "Succeeded"
    assert node(wf, wf["metadata"]["name"])["outputs"]["result"] == "hi"


def test_output_names_are_checked_after_input_substitution(tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(
        HEAD
        + """\
  - name: main
    inputs: {parameters: [{name: v, value: car}]}
    container: {image: alpine:3.19, command: [sh, -c, "echo x > /tmp/r"]}
    outputs:
      artifacts:
      - {name: "result-{{inputs.parameters.v}}", path: /tmp/r}
      parameters:
      - {name: "bad name", value: x}
"""
    )
    res = run_cli("validate", str(path), cwd=tmp_path)
    assert res.returncode == 2
    # the templated artifact name is valid (validate.go substitutes inputs first); the other is not
    assert "result-" not in res.stderr
    assert res.stderr.splitlines()[0] == f"{path}:15:16: invalid output parameter name `bad name`"


UNTYPED_EXIT = """\
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata:
  name: test-exit-handler
spec:
  entrypoint: main
  onExit: exit-handler
  templates:
  - name: main
    container: {image: argoproj/argosay:v2}
  - name: exit-handler
    templateRef: {name: nonexistent, template: exit-handler}
---
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: test-exit-handler-
spec:
  workflowTemplateRef: {name: test-exit-handler}
"""


def test_a_joined_template_without_a_type_fails_the_run_before_anything_runs(tmp_path: Path) -> None:
    """e2e TestWorkflowTemplateRefWithExitHandlerError: Failed, `invalid spec`, no node."""
    wf = run_argo(tmp_path, UNTYPED_EXIT)
    assert wf["status"]["phase"] == "Failed"
    assert wf["status"]["message"] == (
        "invalid spec: templates.exit-handler template type unspecified. choose one of: "
        "container, containerSet, steps, script, resource, dag, suspend, template, template ref"
    )
    assert not wf["status"].get("nodes")


def test_argosay_programs_cowsay_and_a_missing_one(tmp_path: Path) -> None:
    """argosay:v2 is FROM argosay:v1 (ubuntu + cowsay); a program the image lacks fails
    its container, Failed, as Argo's executor does (e2e TestInvalidCommand)."""
    wf = run_argo(
        tmp_path,
        HEAD
        + """\
  - name: main
    steps:
    - - {name: moo, template: moo}
    - - {name: bad, template: bad}
  - name: moo
    container: {image: argoproj/argosay:v2, command: [cowsay], args: [foo]}
  - name: bad
    container: {image: argoproj/argosay:v2, command: [invalid]}
""",
    )
    assert wf["status"]["phase"] == "Failed"
    assert node(wf, "moo")["phase"] == "Succeeded"
    bad = node(wf, "bad")
    assert (bad["phase"], bad["message"]) == ("Failed", 'exec: "invalid": executable file not found in $PATH')


def test_configmap_names_from_workflow_parameters_and_a_missing_one_with_a_default(tmp_path: Path) -> None:
    """e2e TestNameSubstitution and TestGlobalArgDefaultCMParamValueWhenNotFound."""
    wf = run_argo(
        tmp_path,
        """\
apiVersion: v1
kind: ConfigMap
metadata: {name: cmref-parameters}
data: {msg: hello world}
---
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: cm-
spec:
  entrypoint: main
  arguments:
    parameters:
    - {name: cm-name, value: cmref-parameters}
    - name: missing
      valueFrom:
        default: default value
        configMapKeyRef: {name: not-existing-cm, key: k}
  templates:
  - name: main
    inputs:
      parameters:
      - name: message
        valueFrom:
          configMapKeyRef: {name: '{{ workflow.parameters.cm-name }}', key: msg}
    container:
      image: alpine:3.19
      command: [sh, -c, "echo '{{inputs.parameters.message}}/{{workflow.parameters.missing}}'"]
""",
    )
    assert wf["status"]["phase"] == "Succeeded"
    assert node(wf, wf["metadata"]["name"])["outputs"]["result"] == "hello world/default value"


def test_a_mount_of_an_undefined_volume_is_an_invalid_pod(tmp_path: Path) -> None:
    """e2e TestWorkflowTemplateInvalidEntryPoint: Error (Kubernetes rejects the pod)."""
    path = tmp_path / "wf.yaml"
    path.write_text(
        HEAD
        + """\
  - name: main
    container:
      image: alpine:3.19
      command: [sh, -c, "exit 0"]
      volumeMounts:
      - {name: foo, mountPath: /foo}
"""
    )
    res = run_cli("run", str(path), "-o", "json", cwd=tmp_path)
    wf = json.loads(res.stdout)
    assert wf["status"]["phase"] == "Error"
    assert (
        node(wf, wf["metadata"]["name"])["message"]
        == 'spec.containers[0].volumeMounts[0].name: Not found: "foo"'
    )
