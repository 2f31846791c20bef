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


def _refused(tmp_path: Path, text: str) -> tuple[int, str]:
    path = tmp_path / "wf.yaml"
    path.write_text(text, encoding="utf-8")
    res = run_cli("run", str(path), "-o", "json", cwd=tmp_path)
    assert not res.stdout.strip(), res.stdout
    return res.returncode, res.stderr.strip().splitlines()[0]


def test_an_executor_account_other_than_default_is_the_clusters_to_decide(tmp_path: Path) -> None:
    """e2e TestWorkflowInvalidServiceAccountError: Argo Errors (the account is missing, or, in
    Argo's test install, lacks the executor's rights: the wait container cannot write the
    pod's results); the local engine refuses at the account's line. With the executor on
    `default` (Argo's own tests: `serviceAccountName: argo`, `executor: default`) it runs."""
    sa = HEAD.replace("spec:\n", "spec:\n  serviceAccountName: github.com\n") + (
        "  - name: main\n    container: {image: argoproj/argosay:v2}\n"
    )
    code, line = _refused(tmp_path, sa)
    assert code == 2
    assert line == (
        f"{tmp_path / 'wf.yaml'}:6:3: not supported by the local engine: service account `github.com` "
        "for Argo's executor (whether it exists and may record the pod's results is the cluster's RBAC)"
    )
    # a template's own account (and executor) come first, as in Argo's pod spec
    own = HEAD + (
        "  - name: main\n    serviceAccountName: robot\n    container: {image: argoproj/argosay:v2}\n"
    )
    code, line = _refused(tmp_path, own)
    assert (code, line.split(": ", 1)[0]) == (2, f"{tmp_path / 'wf.yaml'}:9:5")
    ok = sa.replace(
        "  serviceAccountName: github.com\n",
        "  serviceAccountName: argo\n  executor:\n    serviceAccountName: default\n",
    )
    assert run_argo(tmp_path, ok)["status"]["phase"] == "Succeeded"


def test_a_pod_deadline_its_start_up_would_eat_is_the_clusters_to_decide(tmp_path: Path) -> None:
    """e2e TestWorkflowFailedWhenAllPodSetFailedFromPending: a 2 s pod deadline fails every
    pod on a cluster (the real one here too: "Pod was active on the node longer than the
    specified deadline") while an `echo` ends in it on the host: refused, not Succeeded."""
    text = HEAD + (
        "  - name: main\n    activeDeadlineSeconds: 2\n    container:\n"
        "      image: argoproj/argosay:v2\n      command: [sh, -c]\n      args: [echo, hi]\n"
    )
    code, line = _refused(tmp_path, text)
    assert code == 2
    assert line == (
        f"{tmp_path / 'wf.yaml'}:9:5: not supported by the local engine: a pod deadline of 2s "
        "(activeDeadlineSeconds: on a cluster it counts the pod's start-up, its image pull and "
        "Argo's init container, so whether the step ends in time is the cluster's)"
    )
    # from 10 s on the step's own time decides (Argo's timeouts-step example: 10 s, Failed)
    slow = text.replace("activeDeadlineSeconds: 2", "activeDeadlineSeconds: 10").replace(
        "command: [sh, -c]\n      args: [echo, hi]", "args: [sleep, 60]"
    )
    wf = run_argo(tmp_path, slow)
    assert wf["status"]["phase"] == "Failed"
