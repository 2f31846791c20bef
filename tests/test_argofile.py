"""Plain Argo Workflow files: structural checks with positions, local-engine refusals, the CLI."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from dflowctl import argofile
from dflowctl.engines.local import argosay, support
from dflowctl.errors import NotSupportedError, SpecError
from tests.conftest import ARGO_EXAMPLES, run_cli

pytestmark = pytest.mark.timeout(60)

HELLO = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: hello-
spec:
  entrypoint: main
  arguments:
    parameters:
    - name: message
      value: hello world
  templates:
  - name: main
    inputs:
      parameters:
      - name: message
        value: "{{workflow.parameters.message}}"
    container:
      image: busybox
      command: [echo]
      args: ["{{inputs.parameters.message}}"]
"""


def _write(tmp_path: Path, text: str, name: str = "wf.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _problems(path: Path) -> list[str]:
    with pytest.raises(SpecError) as err:
        argofile.load(path)
    return [d.one_line() for d in err.value.diagnostics]


def test_load_gives_plain_data_as_written(tmp_path: Path) -> None:
    wf = argofile.load(_write(tmp_path, HELLO))
    assert type(wf) is dict and type(wf["spec"]["templates"]) is list
    assert wf["spec"]["templates"][0]["container"]["args"] == ["{{inputs.parameters.message}}"]
    assert list(wf) == ["apiVersion", "kind", "metadata", "spec"]


def test_structural_problems_all_at_once_with_positions(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata:
          generateName: Bad_Name-
        spec:
          entrypoint: nope
          onExit: gone
          templates:
          - name: main
            steps:
            - - name: a
                template: missing
              - name: a
                template: leaf
          - name: leaf
            container: {image: busybox, command: [true]}
            script: {image: busybox, source: "true"}
          - name: leaf
            dag:
              tasks:
              - name: x
                template: leaf
                depends: "y.Succeeded || x"
              - name: bad_task
                template: leaf
                dependencies: [zz]
          - name: empty
          - name: params
            inputs:
              parameters:
              - name: p
              - name: p
              - name: "no spaces"
            container: {image: busybox}
        """,
    )
    f = str(path)
    assert _problems(path) == [
        f"{f}:4:17: invalid metadata.generateName `Bad_Name-` "
        "(lower-case letters, digits, `-` and `.`, at most 63 characters)",
        f"{f}:6:15: entrypoint template `nope` is not defined (templates: empty, leaf, main, params)",
        f"{f}:7:11: onExit template `gone` is not defined (templates: empty, leaf, main, params)",
        f"{f}:12:19: template `missing` is not defined (templates: empty, leaf, main, params)",
        f"{f}:13:15: duplicate step name `a` in one group",
        f"{f}:17:5: template `leaf` has 2 template types (container, script); it may have one",
        f"{f}:18:11: duplicate template name `leaf`",
        f"{f}:23:18: task `x` depends on `y`, which is not a task of this dag",
        f"{f}:24:15: invalid task name `bad_task` "
        "(use letters, digits and `-`, starting with a letter or digit)",
        f"{f}:26:24: task `bad_task` depends on `zz`, which is not a task of this dag",
        f"{f}:27:5: template `empty` has no template type (give it one of: container, script, steps, dag, "
        "suspend, resource, containerSet, data, http, plugin)",
        f"{f}:32:15: duplicate input parameter `p`",
        f"{f}:33:15: invalid input parameter name `no spaces` (use letters, digits, `-` and `_`)",
    ]


def test_steps_and_tasks_share_their_checks(tmp_path: Path) -> None:
    """A step of a group and a task of a dag: a mapping, a valid name unique among
    them, exactly one template called (argochecks._check_uses)."""
    path = _write(
        tmp_path,
        """\
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata:
          generateName: uses-
        spec:
          entrypoint: main
          templates:
          - name: main
            steps:
            - - just a string
              - name: s
          - name: d
            dag:
              tasks:
              - name: t
                template: leaf
              - name: t
                template: nope
              - 42
          - name: leaf
            container: {image: busybox}
        """,
    )
    f = str(path)
    assert _problems(path) == [
        f"{f}:10:9: a step must be a mapping",
        f"{f}:11:9: `s` names no template (give template: NAME)",
        f"{f}:17:15: duplicate task name `t`",
        f"{f}:18:19: template `nope` is not defined (templates: d, leaf, main)",
        f"{f}:19:9: a task must be a mapping",
    ]


def test_other_kinds_and_versions_are_named(tmp_path: Path) -> None:
    path = _write(tmp_path, HELLO.replace("kind: Workflow", "kind: CronWorkflow"))
    (msg,) = _problems(path)
    assert msg.startswith(f"{path}:2:7: kind must be `Workflow` (is `CronWorkflow`)")
    path = _write(tmp_path, HELLO.replace("v1alpha1", "v2"))
    assert _problems(path) == [
        f"{path}:1:13: apiVersion must be `argoproj.io/v1alpha1`, not `argoproj.io/v2`"
    ]


def test_yaml_errors_keep_their_positions(tmp_path: Path) -> None:
    path = _write(tmp_path, HELLO.replace("  entrypoint: main\n", "  entrypoint: main\n  entrypoint: x\n"))
    (msg,) = _problems(path)
    assert msg.startswith(f"{path}:7:3: duplicate key `entrypoint`")


def _refusals(path: Path) -> list[str]:
    with pytest.raises(NotSupportedError) as err:
        argofile.check_local(path)
    return [d.one_line() for d in err.value.diagnostics]


def test_local_refusals_name_each_feature_with_its_position(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata: {generateName: x-}
        spec:
          entrypoint: main
          volumes: [{name: v, hostPath: {path: /x}}]
          templates:
          - name: main
            steps:
            - - name: a
                templateRef: {name: t, template: u}
              - name: b
                template: k8s
          - name: k8s
            resource: {action: create, manifest: "{}"}
          - name: side
            sidecars: [{name: s, image: nginx, command: [no-such-nginx]}]
            container:
              image: busybox
              command: [sh, -c, "echo"]
              env:
              - name: S
                valueFrom: {secretKeyRef: {name: s, key: k}}
          - name: wait
            suspend: {}
          - name: gif
            container: {image: v4tech/imagemagick, command: [no-such-convert, a.gif, b.png]}
          - name: sh-tool
            container: {image: julia:1.9, command: [sh, -c], args: ["julia run.jl"]}
          - name: art
            container: {image: busybox, command: ["true"]}
            outputs:
              artifacts:
              - {name: a, path: /a, gcs: {bucket: b, key: k}}
        """,
    )
    f, hint, NS = str(path), "(run it on a cluster with `-e argo`)", "not supported by the local engine: "
    assert _refusals(path) == [
        f"{f}:6:13: {NS}hostPath volumes "
        f"(Kubernetes volumes are not mounted on the host; emptyDir is) {hint}",
        f"{f}:11:9: {NS}templateRef (WorkflowTemplates are stored in the cluster) {hint}",
        f"{f}:15:5: {NS}`resource` templates (they create Kubernetes objects) {hint}",
        f"{f}:17:40: {NS}image `nginx`: its program `no-such-nginx` is not on this host {hint}",
        f"{f}:23:21: {NS}env from secretKeyRef (no cluster to read it from) {hint}",
        f"{f}:27:44: {NS}image `v4tech/imagemagick`: "
        f"its program `no-such-convert` is not on this host {hint}",
        f"{f}:29:35: {NS}image `julia:1.9`: its program `julia` is not on this host {hint}",
        f"{f}:34:29: {NS}gcs artifacts (the host has no access to it) {hint}",
    ]


def test_what_a_host_can_do_is_not_refused(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata: {generateName: x-, labels: {a: b}}
        spec:
          entrypoint: main
          podGC: {strategy: OnPodSuccess}
          ttlStrategy: {secondsAfterCompletion: 10}
          serviceAccountName: sa
          executor: {serviceAccountName: default}
          imagePullSecrets: [{name: r}]
          nodeSelector: {disk: ssd}
          templates:
          - name: main
            metadata: {labels: {x: y}}
            podSpecPatch: '{"containers":[{"name":"main"}]}'
            nodeSelector: {disk: ssd}
            suspend: {duration: "1s"}
          - name: py
            script: {image: "python:alpine3.23", command: [python], source: "print(1)",
                     resources: {limits: {memory: 1Gi}}}
          - name: say
            container: {image: "argoproj/argosay:v2", args: [echo, hi, /tmp/x]}
          - name: raw
            container: {image: alpine:3.23, command: [sh, -c, "cat /in; echo $HOSTNAME"]}
            inputs:
              artifacts: [{name: in, path: /in, raw: {data: hello}}]
            outputs:
              artifacts: [{name: o, path: /in, s3: {key: "my/key"}}]
        """,
    )
    argofile.check_local(path)  # does not raise


def test_program_lookup_uses_the_path_given() -> None:
    wf = {"spec": {"templates": [{"name": "t", "container": {"image": "alpine", "command": ["echo", "x"]}}]}}
    assert support.unsupported(wf, lambda p: (None, None), path_env="/nonexistent") != []
    assert support.unsupported(wf, lambda p: (None, None)) == []


def test_argosay_stand_in(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert argosay.main([]) == 0 and capsys.readouterr().out == "hello argo\n"
    target = tmp_path / "a" / "b" / "file"
    assert argosay.main(["echo", "hello", str(target)]) == 0
    assert target.read_text() == "hello"
    assert argosay.main(["cat", str(target)]) == 0 and capsys.readouterr().out == "hello"
    assert argosay.main(["assert_contains", str(target), "ell"]) == 0
    assert argosay.main(["assert_contains", str(target), "nope"]) == 1
    assert argosay.main(["exit", "13"]) == 13
    assert argosay.main(["sleep", "10ms"]) == 0
    assert argosay.parse_duration("1m30.5s") == 90.5
    assert argosay.main(["sleep", "0.01"]) == 0  # bare seconds, as the image's shell `sleep`
    assert [argosay.sleep_seconds(t) for t in ("5", "0.5", ".5", "2m", "1h", "1d", "1m30s")] == [
        5.0,
        0.5,
        0.5,
        120.0,
        3600.0,
        86400.0,
        90.0,
    ]
    assert argosay.main(["sleep", "5x"]) == 1 and "invalid duration" in capsys.readouterr().err
    assert argosay.main(["sleep", "-5"]) == 1 and "invalid duration" in capsys.readouterr().err
    assert argosay.main(["fly"]) == 1


# ---------------------------------------------------------------- through the CLI


def test_cli_run_validate_render_status_logs(tmp_path: Path, dflowctl_home: Path) -> None:
    path = _write(tmp_path, HELLO)
    res = run_cli("validate", str(path))
    assert (res.returncode, res.stdout) == (0, f"{path}: ok\n")
    res = run_cli("render", str(path), "-p", "message=hi there", "-o", "json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["spec"]["arguments"]["parameters"] == [
        {"name": "message", "value": "hi there"}
    ]
    res = run_cli("render", str(path), "-p", "nope=1", "-o", "json")  # passed on, as `argo submit` does
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["spec"]["arguments"]["parameters"][-1] == {"name": "nope", "value": "1"}
    res = run_cli("run", str(path), "-p", "message=hi there", "-o", "json")
    assert res.returncode == 0, res.stderr
    wf = json.loads(res.stdout)
    name = wf["metadata"]["name"]
    assert name.startswith("hello-") and wf["status"]["phase"] == "Succeeded"
    res = run_cli("logs", name)
    assert res.returncode == 0 and res.stdout.rstrip().endswith("hi there")
    res = run_cli("status", name, "-o", "json")
    assert res.returncode == 0 and json.loads(res.stdout)["status"]["phase"] == "Succeeded"


def test_cli_refuses_before_running(tmp_path: Path, dflowctl_home: Path) -> None:
    text = HELLO.replace(
        "      image: busybox\n", "      image: busybox\n      volumeMounts: [{name: v, mountPath: /v}]\n"
    ).replace("spec:\n", "spec:\n  volumes: [{name: v, secret: {secretName: s}}]\n", 1)
    path = _write(tmp_path, text)
    res = run_cli("run", str(path))
    assert res.returncode == 2
    assert res.stderr.startswith(
        f"{path}:6:13: not supported by the local engine: "
        "secret volumes (Kubernetes volumes are not mounted on the host; emptyDir is)"
    )
    assert (
        f"{path}:20:22: not supported by the local engine: volumeMounts of volume 'v' "
        "(only emptyDir volumes and volumeClaimTemplates are mounted on the host)"
    ) in res.stderr
    assert "hint: run it on a cluster with `-e argo`" in res.stderr
    assert not (dflowctl_home / "runs").exists() or not any((dflowctl_home / "runs").iterdir())


def test_cli_failed_run_and_retry(tmp_path: Path, shared_dir: Path, dflowctl_home: Path) -> None:
    flag = shared_dir / "flag"
    path = _write(
        tmp_path,
        f"""\
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata: {{name: flaky}}
        spec:
          entrypoint: main
          templates:
          - name: main
            steps:
            - - {{name: first, template: ok}}
            - - {{name: second, template: gate}}
          - name: ok
            container: {{image: busybox, command: [sh, -c, "echo ok >> {shared_dir}/count"]}}
          - name: gate
            container: {{image: busybox, command: [sh, -c, "test -e {flag}"]}}
        """,
    )
    res = run_cli("run", str(path))
    assert res.returncode == 1
    flag.touch()
    res = run_cli("retry", "flaky")
    assert res.returncode == 0, res.stderr
    assert (shared_dir / "count").read_text() == "ok\n"  # `first` was not run again


@pytest.mark.skipif(not ARGO_EXAMPLES.is_dir(), reason="Argo's examples are absent")
def test_every_example_passes_the_structural_checks_or_is_named_invalid() -> None:
    from tests.test_conformance import INVALID

    bad = {}
    for path in sorted(ARGO_EXAMPLES.glob("*.yaml")):
        if "kind: Workflow\n" not in path.read_text(encoding="utf-8"):
            continue
        try:
            argofile.load(path)
        except NotSupportedError:
            continue
        except SpecError as err:
            bad[path.name] = err.diagnostics[0].message
    assert sorted(bad) == sorted(INVALID)


def test_cli_download_from_an_argo_file_run(tmp_path: Path, dflowctl_home: Path) -> None:
    path = _write(
        tmp_path,
        """\
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata: {name: art}
        spec:
          entrypoint: main
          templates:
          - name: main
            steps:
            - - {name: make, template: make}
          - name: make
            container: {image: alpine:3.23, command: [sh, -c, "echo -n hello > /tmp/hello.txt"]}
            outputs:
              artifacts: [{name: hello, path: /tmp/hello.txt}]
        """,
    )
    res = run_cli("run", str(path))
    assert res.returncode == 0, res.stderr
    out = tmp_path / "out"
    res = run_cli("download", "art", "-d", str(out))
    assert res.returncode == 0, res.stderr
    assert (out / "make" / "hello" / "hello.txt").read_text() == "hello"  # the file keeps its name


def test_template_defaults_supply_image_and_source(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata: {generateName: td-}
        spec:
          entrypoint: main
          templateDefaults:
            container: {image: busybox}
          templates:
          - name: main
            container: {command: [echo, hi]}
          - name: other
            script: {source: "echo"}
        """,
    )
    assert _problems(path) == [f"{path}:12:5: template `other`: script needs an image"]


def test_a_script_without_source_is_valid_and_runs_its_command(tmp_path: Path, dflowctl_home: Path) -> None:
    """Argo's CRD and validator do not require ``script.source``: the pod runs the
    command with the (empty) staged script, as a container would."""
    path = _write(
        tmp_path,
        """\
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata: {generateName: nosource-}
        spec:
          entrypoint: main
          templates:
          - name: main
            script: {image: alpine:3.19, command: [sh]}
        """,
    )
    assert argofile.load(path)["spec"]["templates"][0]["script"] == {
        "image": "alpine:3.19",
        "command": ["sh"],
    }
    assert run_cli("validate", str(path)).returncode == 0
    res = run_cli("run", str(path), "-o", "json")
    wf = json.loads(res.stdout)
    assert wf["status"]["phase"] == "Succeeded", res.stderr


def test_a_file_of_several_documents_gives_its_workflow(tmp_path: Path) -> None:
    config = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {k: v}\n---\n"
    text = config + HELLO.replace(
        "      value: hello world\n",
        "      valueFrom: {configMapKeyRef: {name: elsewhere, key: k}}\n",
    )
    path = _write(tmp_path, text)
    wf = argofile.load(path)
    assert wf["kind"] == "Workflow" and wf["metadata"] == {"generateName": "hello-"}
    assert _refusals(path) == [
        f"{path}:15:19: not supported by the local engine: parameter values from a ConfigMap "
        "(configMapKeyRef) (run it on a cluster with `-e argo`)"
    ]
    two = _write(tmp_path, HELLO + "---\n" + HELLO, "two.yaml")
    with pytest.raises(NotSupportedError) as err:
        argofile.load(two)
    assert err.value.diagnostics[0].one_line().startswith(f"{two}:22:1: not supported: 2 Workflow documents")


CONFIGMAP_WF = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {greeting: hello from the map, level: "3"}
---
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: cm-}
spec:
  entrypoint: main
  arguments:
    parameters:
    - name: level
      valueFrom: {configMapKeyRef: {name: settings, key: level}}
  templates:
  - name: main
    inputs:
      parameters:
      - name: msg
        valueFrom: {configMapKeyRef: {name: settings, key: greeting}}
      - name: gone
        valueFrom: {configMapKeyRef: {name: settings, key: nope}, default: fallback}
    container:
      image: alpine:3.19
      command: [sh, -c]
      args:
      - echo "$GREETING/{{inputs.parameters.msg}}/{{inputs.parameters.gone}}/{{workflow.parameters.level}}"
      env:
      - name: GREETING
        valueFrom: {configMapKeyRef: {name: settings, key: greeting}}
"""


def test_config_map_key_refs_read_config_maps_of_the_same_file(tmp_path: Path, dflowctl_home: Path) -> None:
    """As Argo reads them from the cluster: parameter values (workflow arguments and
    template inputs, a missing key taking the parameter's ``valueFrom.default``) and env."""
    path = _write(tmp_path, CONFIGMAP_WF)
    argofile.check_local(path)  # nothing refused
    res = run_cli("run", str(path), "-o", "json")
    wf = json.loads(res.stdout)
    assert wf["status"]["phase"] == "Succeeded", res.stderr
    pod = next(n for n in wf["status"]["nodes"].values() if n["type"] == "Pod")
    assert pod["outputs"]["result"] == "hello from the map/hello from the map/fallback/3"
    assert argofile.load(path)["spec"]["arguments"]["parameters"][0]["valueFrom"]  # -e argo: as written


def test_tools_of_foreign_images_called_from_sh_are_looked_up(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sh", "cat", "sleep"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)

    def refusals(image: str, script: str) -> list[str]:
        body = {"image": image, "command": ["sh", "-c"], "args": [script]}
        wf = {"spec": {"templates": [{"name": "t", "container": body}]}}
        return [d.message for d in support.unsupported(wf, lambda p: (None, None), path_env=str(bin_dir))]

    jq = "not supported by the local engine: image `stedolan/jq`: its program `jq` is not on this host"
    assert refusals("stedolan/jq", "cat /tmp/items | jq '.[1]'") == [jq]
    assert refusals("docker:19.03.13", "until docker ps >& /tmp/out; do sleep 3; done") == [
        "not supported by the local engine: image `docker:19.03.13`: its program `docker` is not on this host"
    ]
    assert refusals("stedolan/jq", "for i in 1 2; do X=1 cat /tmp/$i; done; echo $(cat x)") == []
    # busybox, alpine, ...: the script runs on the host's tools, so those it calls must be there
    # (variables-showcase's `nc` of alpine: refused up front rather than failing with 127)
    assert refusals("busybox", "cat x; sleep 1") == []
    assert refusals("alpine:3.23", "nc -lk -p 9999") == [
        "not supported by the local engine: image `alpine:3.23`: its program `nc` is not on this host"
    ]
