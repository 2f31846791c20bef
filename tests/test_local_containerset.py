"""``containerSet`` templates on the local engine (issue 14), with Argo's semantics: the
containers of one pod run in dependency order (all at once without ``dependencies``),
share the pod's emptyDir volumes and the set's ``volumeMounts``, are ``Container``
nodes under the Pod node, and the template's outputs are the ``main`` container's
(Argo's examples/container-set-template, e2e TestContainerSetRetryFail/-Success,
TestWorkflowTemplateWithRetryStrategyInContainerSet)."""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any

import pytest

from dflowctl.engines.local.support import unsupported

from .conftest import run_cli
from .test_local_argo_semantics import node, out_param, run_argo

pytestmark = pytest.mark.timeout(180)
MODCACHE = Path(os.environ.get("GOMODCACHE", Path.home() / "go/pkg/mod"))


def _by_id(wf: dict[str, Any], nid: str) -> dict[str, Any]:
    return wf["status"]["nodes"][nid]


GRAPH = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: cset-graph-
spec:
  entrypoint: main
  templates:
  - name: main
    volumes:
    - name: work
      emptyDir: {}
    containerSet:
      volumeMounts:
      - {name: work, mountPath: /work}
      containers:
      - name: a
        image: alpine
        command: [sh, -c, "sleep 0.3; echo a >> /work/order"]
      - name: b
        image: alpine
        command: [sh, -c, "sleep 0.3; echo b >> /work/order"]
        dependencies: [a]
      - name: c
        image: alpine
        command: [sh, -c, "echo c >> /work/order"]
        dependencies: [a]
      - name: main
        image: alpine
        command: [sh, -c, "echo d >> /work/order; tr '\\n' , < /work/order"]
        dependencies: [b, c]
      - name: solo
        image: alpine
        command: [sh, -c, "echo solo"]
"""


def test_containers_run_in_dependency_order_sharing_the_pods_volumes(tmp_path: Path) -> None:
    wf = run_argo(tmp_path, GRAPH)
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    pod = node(wf, wf["metadata"]["name"])
    assert pod["type"] == "Pod"
    ctrs = {n["displayName"]: n for n in wf["status"]["nodes"].values() if n["type"] == "Container"}
    assert sorted(ctrs) == ["a", "b", "c", "main", "solo"]
    for name, n in ctrs.items():
        assert n["name"] == f"{pod['name']}.{name}" and n["phase"] == "Succeeded"
    # Argo's graph: the pod -> containers without dependencies; a dependency -> its dependents
    assert sorted(_by_id(wf, c)["displayName"] for c in pod["children"]) == ["a", "solo"]
    assert sorted(_by_id(wf, c)["displayName"] for c in ctrs["a"]["children"]) == ["b", "c"]
    assert [_by_id(wf, c)["displayName"] for c in ctrs["b"]["children"]] == ["main"]
    assert [_by_id(wf, c)["displayName"] for c in ctrs["c"]["children"]] == ["main"]
    # (c does not sleep: it ends before b) the main container's stdout is the result
    assert pod["outputs"]["result"] == "a,c,b,d,"
    logs = run_cli("logs", wf["metadata"]["name"], cwd=tmp_path).stdout
    assert "solo" in logs and "a,c,b,d," in logs, logs
    assert pod["outputs"]["exitCode"] == "0"


PARALLEL = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: cset-parallel-
spec:
  entrypoint: main
  templates:
  - name: main
    volumes:
    - name: work
      emptyDir: {}
    containerSet:
      volumeMounts:
      - {name: work, mountPath: /work}
      containers:
      - name: a
        image: alpine
        command:
        - sh
        - -c
        - touch /work/a; i=0; until [ -e /work/b ]; do i=$((i+1)); [ $i -gt 300 ] && exit 9; sleep 0.1; done
      - name: b
        image: alpine
        command:
        - sh
        - -c
        - touch /work/b; i=0; until [ -e /work/a ]; do i=$((i+1)); [ $i -gt 300 ] && exit 9; sleep 0.1; done
"""


def test_containers_without_dependencies_run_at_once(tmp_path: Path) -> None:
    # each waits for the other's file: only containers running side by side both end
    wf = run_argo(tmp_path, PARALLEL)
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    assert node(wf, "a")["phase"] == node(wf, "b")["phase"] == "Succeeded"


WORKSPACE = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: cset-workspace-
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - name: group
        template: group
      - name: verify
        dependencies: [group]
        template: verify
        arguments:
          parameters:
          - {name: x, value: "{{tasks.group.outputs.result}}"}
          - {name: out, value: "{{tasks.group.outputs.parameters.out}}"}
  - name: group
    volumes:
    - name: workspace
      emptyDir: {}
    containerSet:
      volumeMounts:
      - {name: workspace, mountPath: /workspace}
      containers:
      - name: a
        image: alpine
        command: [sh, -c, "sleep 0.5; echo hi > /workspace/out"]
      - name: main
        image: alpine
        command: [sh, -c, "echo from-main"]
    outputs:
      parameters:
      - name: out
        valueFrom: {path: /workspace/out}
      artifacts:
      - {name: out, path: /workspace/out}
  - name: verify
    inputs:
      parameters:
      - name: x
      - name: out
    container:
      image: alpine
      command: [sh, -c, "test '{{inputs.parameters.x}}' = from-main && test '{{inputs.parameters.out}}' = hi"]
"""


def test_outputs_are_mains_and_a_volume_is_read_once_every_container_ended(tmp_path: Path) -> None:
    # (Argo's workspace example: `a` writes the output while `main` runs beside it)
    wf = run_argo(tmp_path, WORKSPACE)
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    group = node(wf, "group")
    assert out_param(group, "out") == "hi"
    assert group["outputs"]["result"] == "from-main"
    assert [a["name"] for a in group["outputs"]["artifacts"]] == ["out"]


FAILING = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: cset-fail-
spec:
  entrypoint: main
  templates:
  - name: main
    containerSet:
      containers:
      - name: a
        image: alpine
        command: [sh, -c, "echo oops; exit 3"]
      - name: main
        image: alpine
        command: [sh, -c, "echo never"]
        dependencies: [a]
"""


def test_a_failing_container_fails_the_pod_and_its_dependents_do_not_run(tmp_path: Path) -> None:
    wf = run_argo(tmp_path, FAILING)
    assert wf["status"]["phase"] == "Failed"
    pod = node(wf, wf["metadata"]["name"])
    assert pod["phase"] == "Failed"
    assert pod["message"] == "Error (exit code 3)"
    a, main = node(wf, "a"), node(wf, "main")
    assert (a["phase"], a["message"]) == ("Failed", "a: Error (exit code 3)")
    # Argo's emissary: a dependency that failed is its own error (exit code 64)
    assert main["phase"] == "Error"
    assert main["message"] == 'main: Error (exit code 64): dependency "a" exited with non-zero code: 3'
    assert pod["outputs"]["exitCode"] == "64"  # the exit code of the container named main


def _retry_wf(retry: str) -> str:
    return f"""\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: cset-retry-
spec:
  entrypoint: main
  templates:
  - name: main
    volumes:
    - name: count
      emptyDir: {{}}
    containerSet:
      volumeMounts:
      - {{name: count, mountPath: /count}}
      containers:
      - name: a
        image: alpine
        command: [sh, -c]
        args:
        - >-
          echo run >> /count/runs; FILE=test.yml; EXITCODE=1;
          if test -f "$FILE"; then EXITCODE=0; else touch $FILE; fi; exit $EXITCODE
      - name: main
        image: alpine
        command: [sh, -c, "cat /count/runs | wc -l"]
        dependencies: [a]
{retry}"""


def test_a_retry_runs_the_failed_container_again_in_place(tmp_path: Path) -> None:
    # e2e TestContainerSetRetryFail: the second attempt finds the file the first left
    wf = run_argo(tmp_path, _retry_wf('      retryStrategy:\n        retries: 2\n        duration: "1s"\n'))
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    assert node(wf, "a")["phase"] == "Succeeded"
    assert node(wf, wf["metadata"]["name"])["outputs"]["result"].strip() == "2"
    # without a retryStrategy (TestContainerSetRetrySuccess): one attempt, Failed
    wf = run_argo(tmp_path, _retry_wf(""))
    assert wf["status"]["phase"] == "Failed"
    assert node(wf, "a")["message"] == "a: Error (exit code 1)"


RETRY_LIMIT = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: cset-retries-
spec:
  entrypoint: main
  templates:
  - name: main
    volumes:
    - name: count
      emptyDir: {}
    containerSet:
      retryStrategy:
        retries: "3"
      volumeMounts:
      - {name: count, mountPath: /count}
      containers:
      - name: c3
        image: alpine
        command: [sh, -c, "echo intentional failure; echo x >> /count/runs; exit 1"]
      - name: main
        image: alpine
        command: [sh, -c, "echo never"]
        dependencies: [c3]
"""


def test_retries_are_the_attempts_in_all_and_each_attempt_is_logged(tmp_path: Path) -> None:
    # Argo's wait.Backoff{Steps: retries}: `retries: 3` runs the container three times
    wf = run_argo(tmp_path, RETRY_LIMIT)
    assert wf["status"]["phase"] == "Failed"
    assert node(wf, "c3")["message"] == "c3: Error (exit code 1)"
    logs = run_cli("logs", wf["metadata"]["name"], cwd=tmp_path).stdout
    assert logs.count("intentional failure") == 3, logs


MISSING = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: cset-missing-
spec:
  entrypoint: main
  templates:
  - name: main
    containerSet:
      containers:
      - name: main
        image: argoproj/argosay:v2
        command: [no-such-program-here]
"""


def test_the_host_programs_of_a_containers_image_are_checked_before_the_run(tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(MISSING.replace("argoproj/argosay:v2", "example.org/unknown:1"), encoding="utf-8")
    res = run_cli("run", str(path), cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.splitlines()[0] == (
        f"{path}:13:9: not supported by the local engine: image `example.org/unknown:1`: "
        "its program `no-such-program-here` is not on this host"
    )
    # the containerSet itself is no longer refused
    wf: dict[str, Any] = {"spec": {"templates": [{"name": "m", "containerSet": {"containers": []}}]}}
    assert unsupported(wf, lambda p: (None, None)) == []


def test_argos_container_set_examples_reach_argos_phase(tmp_path: Path) -> None:
    found = sorted(glob.glob(str(MODCACHE / "github.com/argoproj/argo-workflows/v*@v*/examples")))
    folder = Path(found[-1]) / "container-set-template" if found else None
    if folder is None or not folder.is_dir():
        pytest.skip("Argo's examples (the Go module cache of `make cluster-build`) are absent")
    files = sorted(folder.glob("*.yaml"))
    assert len(files) >= 5
    for f in files:
        res = run_cli("run", str(f), "-o", "json", cwd=tmp_path)
        assert res.returncode == 0, (f.name, res.stderr[-500:])


INVALID = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: cset-invalid-
spec:
  entrypoint: main
  templates:
  - name: main
    containerSet:
      containers:
      - name: a
        image: alpine
        command: [sh, -c, "true"]
        dependencies: [zz]
"""


def test_argos_container_set_rules_are_checked_before_the_run(tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(INVALID, encoding="utf-8")
    res = run_cli("run", str(path), cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.splitlines()[0] == (
        f"{path}:14:24: template `main`: container `a` depends on `zz`, which is not a container of the set"
    )
    # outputs ask for a container named main (Argo's validator)
    text = INVALID.replace(
        "        dependencies: [zz]\n", "    outputs:\n      parameters:\n      - {name: x, value: '1'}\n"
    )
    path.write_text(text, encoding="utf-8")
    res = run_cli("validate", str(path), cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.splitlines()[0] == (
        f"{path}:11:7: template `main`: "
        'containerSet.containers must have a container named "main" for input or output'
    )
