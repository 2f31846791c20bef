"""Argo's semantics where the local engine used to differ (issue 14), each through the
real CLI (`dflowctl run FILE -o json`) on an Argo Workflow file, checked against what
Argo's controller does (workflow/controller/scope.go, steps.go, dag.go; test/e2e)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from .conftest import run_cli

pytestmark = pytest.mark.timeout(180)


def run_argo(tmp_path: Path, text: str, *extra: str) -> dict[str, Any]:
    path = tmp_path / "wf.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    res = run_cli("run", str(path), "-o", "json", *extra, cwd=tmp_path)
    assert res.stdout.strip(), res.stderr
    return json.loads(res.stdout)


def node(wf: dict[str, Any], display: str) -> dict[str, Any]:
    found = [n for n in wf["status"]["nodes"].values() if n["displayName"] == display]
    assert len(found) == 1, (display, [n["displayName"] for n in wf["status"]["nodes"].values()])
    return found[0]


def out_param(n: dict[str, Any], name: str) -> str:
    return next(p["value"] for p in n["outputs"]["parameters"] if p["name"] == name)


SKIPPED_STEPS = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: skipped-ref-
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: producer
        template: produce
        when: "false"
    - - name: defaulted
        template: consume-defaulted
        arguments:
          parameters:
          - name: msg
            value: "{{steps.producer.outputs.parameters.msg}}"
      - name: producer-default
        template: consume
        arguments:
          parameters:
          - name: msg
            value: "{{steps.producer.outputs.parameters.other}}"
      - name: fallback
        template: consume
        arguments:
          parameters:
          - name: msg
            value: "{{=steps.producer.outputs.parameters.msg ?? 'fallback'}}"
  - name: produce
    container:
      image: alpine:3.19
      command: [sh, -c, "echo hi > /tmp/msg; echo ho > /tmp/other"]
    outputs:
      parameters:
      - name: msg
        valueFrom: {path: /tmp/msg}
      - name: other
        valueFrom: {path: /tmp/other, default: from-producer}
  - name: consume-defaulted
    inputs:
      parameters:
      - name: msg
        default: from-consumer
    container: {image: alpine:3.19, command: [echo, "{{inputs.parameters.msg}}"]}
    outputs:
      parameters:
      - name: got
        value: "{{inputs.parameters.msg}}"
  - name: consume
    inputs:
      parameters:
      - name: msg
    container: {image: alpine:3.19, command: [echo, "{{inputs.parameters.msg}}"]}
    outputs:
      parameters:
      - name: got
        value: "{{inputs.parameters.msg}}"
"""


def test_skipped_step_output_defaults_apply(tmp_path: Path) -> None:
    """Argo's ``addSkippedNodeOutputsToScope`` + ``dropSkippedDefaultedArgs``: the
    producer's ``valueFrom.default`` stands in; else a pure reference is dropped so the
    consumer's input default applies; an expression sees nil, so ``??`` falls back."""
    wf = run_argo(tmp_path, SKIPPED_STEPS)
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    assert node(wf, "producer")["phase"] == "Skipped"
    assert out_param(node(wf, "defaulted"), "got") == "from-consumer"
    assert out_param(node(wf, "producer-default"), "got") == "from-producer"
    assert out_param(node(wf, "fallback"), "got") == "fallback"


def test_required_skipped_step_output_fails_the_consumer(tmp_path: Path) -> None:
    """Without any default, a reference to a skipped step's output is Argo's terminal
    error: the consumer errors (never runs with the literal ``{{…}}`` text)."""
    text = SKIPPED_STEPS.replace("        template: consume-defaulted\n", "        template: consume\n")
    wf = run_argo(tmp_path, text)
    assert wf["status"]["phase"] == "Failed"
    bad = node(wf, "defaulted")
    assert bad["phase"] == "Error"
    assert bad["message"] == (
        "failed to resolve {{steps.producer.outputs.parameters.msg}}: "
        "the node was skipped or omitted and has no such output"
    )
    assert "outputs" not in bad


OMITTED_DAG = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: omitted-ref-
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - name: fails
        template: fail
      - name: producer
        template: produce
        depends: fails.Succeeded
      - name: consumer
        template: consume
        depends: producer.Omitted
        arguments:
          parameters:
          - name: msg
            value: "{{tasks.producer.outputs.parameters.msg}}"
  - name: fail
    container: {image: alpine:3.19, command: [sh, -c, "exit 1"]}
  - name: produce
    container: {image: alpine:3.19, command: [sh, -c, "echo hi > /tmp/msg"]}
    outputs:
      parameters:
      - name: msg
        valueFrom: {path: /tmp/msg}
  - name: consume
    inputs:
      parameters:
      - name: msg
        default: CONSUMER_DEFAULT
    container: {image: alpine:3.19, command: [echo, "{{inputs.parameters.msg}}"]}
    outputs:
      parameters:
      - name: got
        value: "{{inputs.parameters.msg}}"
"""


def test_omitted_task_output_reference_takes_the_consumer_default(tmp_path: Path) -> None:
    wf = run_argo(tmp_path, OMITTED_DAG)
    assert node(wf, "producer")["phase"] == "Omitted"
    consumer = node(wf, "consumer")
    assert consumer["phase"] == "Succeeded"
    assert out_param(consumer, "got") == "CONSUMER_DEFAULT"


def test_omitted_task_output_required_errors(tmp_path: Path) -> None:
    wf = run_argo(tmp_path, OMITTED_DAG.replace("        default: CONSUMER_DEFAULT\n", ""))
    consumer = node(wf, "consumer")
    assert consumer["phase"] == "Error"
    assert consumer["message"] == (
        "failed to resolve {{tasks.producer.outputs.parameters.msg}}: "
        "the node was skipped or omitted and has no such output"
    )


EXPRESSION_DEFAULTS = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: expression-defaults-
spec:
  entrypoint: main
  arguments:
    parameters:
    - name: n
      value: "3"
    - name: next
      default: "{{=asInt(workflow.parameters.n) + 1}}"
  templates:
  - name: main
    inputs:
      parameters:
      - name: big
        default: "{{=asInt(workflow.parameters.next) > 3 ? 'yes' : 'no'}}"
    steps:
    - - name: big
        template: show
        when: "{{inputs.parameters.big}} == yes"
      - name: small
        template: show
        when: "{{inputs.parameters.big}} == no"
  - name: show
    inputs:
      parameters:
      - name: a
        value: "5"
      - name: twice
        default: "{{=asInt(inputs.parameters.a) * 2}}"
    container: {image: alpine:3.19, command: [echo, "{{inputs.parameters.twice}}"]}
    outputs:
      parameters:
      - name: got
        value: "{{inputs.parameters.twice}}:{{workflow.parameters.next}}"
"""


def test_expression_defaults_are_evaluated(tmp_path: Path) -> None:
    """An input's ``default: "{{=…}}"`` is evaluated (reading workflow parameters, or
    the template's other inputs, as Argo's two substitution passes do), so a ``when``
    on it and the pod see the value, never the expression's text."""
    wf = run_argo(tmp_path, EXPRESSION_DEFAULTS)
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    assert node(wf, "small")["phase"] == "Skipped"
    big = node(wf, "big")
    assert big["phase"] == "Succeeded"
    assert out_param(big, "got") == "10:4"
    twice = next(p for p in big["inputs"]["parameters"] if p["name"] == "twice")
    assert twice["value"] == "10"


ARGOSAY = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: argosay-path-
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: shell
        template: shell
      - name: nap
        template: nap
  - name: shell
    container:
      image: argoproj/argosay:v2
      command: [sh, -c]
      args: ["/argosay echo hello /tmp/out && /argosay sleep 0.2 && /argosay cat /tmp/out"]
    outputs:
      parameters:
      - name: out
        valueFrom: {path: /tmp/out}
  - name: nap
    container:
      image: argoproj/argosay:v2
      args: [sleep, "1"]
"""


@pytest.mark.parametrize("where", ["package", "package-under-tmp"])
def test_argosay_at_its_image_path_and_bare_seconds(tmp_path: Path, where: str) -> None:
    """A pod of Argo's test image sees its program at ``/argosay`` (Argo's hook tests call
    it from a shell), and ``argosay sleep 1`` takes bare seconds as the image's does. With
    dflowctl itself under /tmp, which a pod's private view hides, the stand-in still runs."""
    import shutil

    from .conftest import REPO

    env = None
    if where == "package-under-tmp":
        pkg = tmp_path / "pkg"
        shutil.copytree(REPO / "dflowctl", pkg / "dflowctl", ignore=shutil.ignore_patterns("__pycache__"))
        env = {"PYTHONPATH": str(pkg)}
        assert str(pkg).startswith("/tmp/")
    path = tmp_path / "wf.yaml"
    path.write_text(ARGOSAY, encoding="utf-8")
    res = run_cli("run", str(path), "-o", "json", cwd=tmp_path, env=env)
    wf = json.loads(res.stdout)
    assert wf["status"]["phase"] == "Succeeded", (wf["status"].get("message"), res.stderr)
    shell = node(wf, "shell")
    assert shell["outputs"]["result"] == "hello"
    assert out_param(shell, "out") == "hello"
    nap = node(wf, "nap")
    assert nap["phase"] == "Succeeded"
    assert nap["finishedAt"] > nap["startedAt"]  # it slept a second (RFC 3339, whole seconds)


TEMPLATES = """\
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata: {name: lib}
spec:
  entrypoint: twice
  arguments:
    parameters:
    - {name: who, value: template}
    - {name: mood, value: calm}
  templates:
  - name: twice
    inputs:
      parameters: [{name: msg}]
    steps:
    - - name: one
        template: say
        arguments:
          parameters: [{name: msg, value: "{{inputs.parameters.msg}}"}]
    - - name: two
        template: say
        arguments:
          parameters: [{name: msg, value: "{{steps.one.outputs.result}}!"}]
    outputs:
      parameters:
      - name: said
        valueFrom: {parameter: "{{steps.two.outputs.result}}"}
  - name: say
    inputs:
      parameters: [{name: msg}]
    container:
      image: alpine:3.19
      command: [echo, "{{inputs.parameters.msg}}/{{workflow.parameters.who}}"]
---
apiVersion: argoproj.io/v1alpha1
kind: ClusterWorkflowTemplate
metadata: {name: lib}
spec:
  templates:
  - name: say
    inputs:
      parameters: [{name: msg}]
    container: {image: alpine:3.19, command: [echo, "cluster {{inputs.parameters.msg}}"]}
---
"""

TEMPLATE_REF = (
    TEMPLATES
    + """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: tref-}
spec:
  entrypoint: main
  arguments:
    parameters: [{name: who, value: workflow}]
  templates:
  - name: main
    dag:
      tasks:
      - name: ns
        templateRef: {name: lib, template: twice}
        arguments:
          parameters: [{name: msg, value: hi}]
      - name: cluster
        templateRef: {name: lib, template: say, clusterScope: true}
        arguments:
          parameters: [{name: msg, value: hi}]
"""
)


def test_template_ref_to_a_workflow_template_of_the_same_file(tmp_path: Path) -> None:
    """``templateRef`` runs the named template of the WorkflowTemplate (or, with
    ``clusterScope``, the ClusterWorkflowTemplate) in the file; its own steps call
    that template's siblings; ``workflow.parameters`` stay the Workflow's."""
    wf = run_argo(tmp_path, TEMPLATE_REF)
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    assert out_param(node(wf, "ns"), "said") == "hi/workflow!/workflow"
    assert node(wf, "cluster")["outputs"]["result"] == "cluster hi"


WORKFLOW_TEMPLATE_REF = (
    TEMPLATES
    + """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: wtref-}
spec:
  workflowTemplateRef: {name: lib}
  arguments:
    parameters:
    - {name: mood, value: glad}
"""
)


def test_workflow_template_ref_joins_the_spec_as_argo_does(tmp_path: Path) -> None:
    """``workflowTemplateRef``: the template's entrypoint and templates, its arguments
    merged by name with the Workflow's (the Workflow's values win)."""
    text = WORKFLOW_TEMPLATE_REF.replace("  entrypoint: twice\n", "  entrypoint: say-mood\n").replace(
        "  templates:\n  - name: twice\n",
        "  templates:\n  - name: say-mood\n"
        "    container: {image: alpine:3.19, command: [echo, "
        '"{{workflow.parameters.who}} {{workflow.parameters.mood}}"]}\n'
        "  - name: twice\n",
        1,
    )
    wf = run_argo(tmp_path, text)
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    pod = next(n for n in wf["status"]["nodes"].values() if n["type"] == "Pod")
    assert pod["outputs"]["result"] == "template glad"


def test_template_ref_to_a_template_the_file_lacks_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(
        TEMPLATE_REF.replace(
            "templateRef: {name: lib, template: say, clusterScope: true}",
            "templateRef: {name: other, template: say}",
        ),
        encoding="utf-8",
    )
    res = run_cli("run", str(path), cwd=tmp_path)
    assert res.returncode == 2
    assert "not supported by the local engine: templateRef" in res.stderr


def test_templates_from_other_files(tmp_path: Path) -> None:
    """``--templates DIR|FILE`` (repeatable): WorkflowTemplates and ConfigMaps kept in
    files of their own, as they would be stored in the cluster."""
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "templates.yaml").write_text(TEMPLATES.rstrip("-\n") + "\n", encoding="utf-8")
    (tmp_path / "settings.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {who: the map}\n",
        encoding="utf-8",
    )
    workflow = TEMPLATE_REF[len(TEMPLATES) :].replace(
        "parameters: [{name: who, value: workflow}]",
        "parameters: [{name: who, valueFrom: {configMapKeyRef: {name: settings, key: who}}}]",
    )
    path = tmp_path / "wf.yaml"
    path.write_text(workflow, encoding="utf-8")
    refused = run_cli("run", str(path), cwd=tmp_path)
    assert refused.returncode == 2 and "templateRef" in refused.stderr
    res = run_cli(
        "run", str(path), "-o", "json", "--templates", str(lib), "--templates", "settings.yaml", cwd=tmp_path
    )
    wf = json.loads(res.stdout)
    assert wf["status"]["phase"] == "Succeeded", res.stderr
    assert out_param(node(wf, "ns"), "said") == "hi/the map!/the map"
    missing = run_cli("run", str(path), "--templates", "nowhere", cwd=tmp_path)
    assert (missing.returncode, missing.stderr.strip()) == (
        2,
        "error: --templates nowhere: no such file or folder",
    )
    (lib / "broken.yaml").write_text("kind: WorkflowTemplate\nspec: [\n", encoding="utf-8")
    broken = run_cli("run", str(path), "--templates", str(lib), cwd=tmp_path)
    assert broken.returncode == 2 and f"{lib / 'broken.yaml'}:3:1: YAML syntax error" in broken.stderr
