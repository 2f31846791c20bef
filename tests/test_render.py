"""Rendering details, on models built in code (no YAML involved)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dflowctl.errors import UsageError
from dflowctl.render import render_workflow, upload_paths
from dflowctl.render.loops import item_index
from dflowctl.render.values import RenderError
from dflowctl.spec import model as m
from dflowctl.uploads import source_key, source_keys

from .conftest import ARGO_VALIDATE, require_shared

P = m.Param
A = m.ArtifactDecl
S = m.Step
SPEC = Path("/nonexistent/spec.yaml")


def py(name: str, entry: str = "mod:fn", **kw: Any) -> m.Op:
    return m.Op(name, "python", image="python:3.12-slim", python=entry, **kw)


def sh(name: str, script: str = "echo hi\n", **kw: Any) -> m.Op:
    return m.Op(name, "script", image="alpine:3.20", script=script, **kw)


def wf_of(*ops: m.Op, steps: Any = None, dag: Any = None, **kw: Any) -> m.Workflow:
    return m.Workflow("t", SPEC, ops={o.name: o for o in ops}, steps=steps, dag=dag, **kw)


def templates(rendered: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in rendered["spec"]["templates"]}


def argo_validate(rendered: dict[str, Any], tmp_path: Path) -> None:
    require_shared()
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(rendered), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(ARGO_VALIDATE), "--strict", "--lint", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


PRODUCER = py(
    "square", "numbers:square", inputs_parameters=(P("x", "int"),), outputs_artifacts=(A("result"),)
)
CONSUMER = py(
    "sum-files", "numbers:sum_files", inputs_artifacts=(A("files"),), outputs_parameters=(P("total", "int"),)
)


def test_metadata_and_shape() -> None:
    wf = wf_of(
        sh("a"), steps=((S("a", "a"),),), labels={"team": "x"}, annotations={"note": "n"}, namespace="ns"
    )
    out = render_workflow(wf)
    assert list(out) == ["apiVersion", "kind", "metadata", "spec"]
    assert out["apiVersion"] == "argoproj.io/v1alpha1" and out["kind"] == "Workflow"
    assert out["metadata"] == {
        "generateName": "t-",
        "namespace": "ns",
        "labels": {"team": "x", "app.kubernetes.io/managed-by": "dflowctl", "dflowctl.io/spec": "t"},
        "annotations": {"note": "n"},
    }
    assert out["spec"]["entrypoint"] == "main"
    assert list(templates(out)) == ["main", "a"]


def test_render_is_deterministic() -> None:
    wf = wf_of(
        PRODUCER,
        CONSUMER,
        steps=(
            (S("sq", "square", foreach=m.Foreach("range", count=3)),),
            (S("sum", "sum-files", artifacts={"files": "{{steps.sq.outputs.artifacts.result}}"}),),
        ),
    )
    assert json.dumps(render_workflow(wf)) == json.dumps(render_workflow(wf))


def test_workflow_parameters_are_json_text_except_str() -> None:
    params = (
        P("s", default="hi"),
        P("n", "int", default=3),
        P("b", "bool", default=True),
        P("l", "list", default=(1, 2)),
        P("d", "dict", default={"k": "v"}),
        P("e", "str", default="a", enum=("a", "b"), description="pick"),
    )
    out = render_workflow(wf_of(sh("a"), steps=((S("a", "a"),),), parameters=params))
    assert out["spec"]["arguments"]["parameters"] == [
        {"name": "s", "value": "hi"},
        {"name": "n", "value": "3"},
        {"name": "b", "value": "true"},
        {"name": "l", "value": "[1, 2]"},
        {"name": "d", "value": '{"k": "v"}'},
        {"name": "e", "value": "a", "enum": ["a", "b"], "description": "pick"},
    ]


def test_required_workflow_parameter_without_value_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="workflow parameter 'n' has no value"):
        render_workflow(wf_of(sh("a"), steps=((S("a", "a"),),), parameters=(P("n", "int"),)))


def test_python_op_template() -> None:
    op = py(
        "f",
        inputs_parameters=(P("a", "int", default=1), P("b")),
        inputs_artifacts=(A("data", optional=True),),
        outputs_parameters=(P("y", "float"),),
        outputs_artifacts=(A("out"),),
        workdir="/work",
    )
    t = templates(render_workflow(wf_of(op, steps=((S("f", "f", parameters={"b": "x"}),),))))["f"]
    assert t["inputs"] == {
        "parameters": [{"name": "a", "default": "1"}, {"name": "b"}],
        "artifacts": [{"name": "data", "path": "/tmp/dflowctl/inputs/artifacts/data", "optional": True}],
    }
    assert t["outputs"] == {
        "parameters": [{"name": "y", "valueFrom": {"path": "/tmp/dflowctl/outputs/parameters/y"}}],
        "artifacts": [{"name": "out", "path": "/tmp/dflowctl/outputs/artifacts/out"}],
    }
    script = t["script"]
    assert script["command"] == ["python3"] and script["workingDir"] == "/work"
    assert script["env"] == [
        {"name": "DFLOWCTL_PARAM_a", "value": "{{inputs.parameters.a}}"},
        {"name": "DFLOWCTL_PARAM_b", "value": "{{inputs.parameters.b}}"},
    ]
    assert '"entrypoint\\": \\"mod:fn\\"' in script["source"]
    assert "{{inputs" not in script["source"]  # parameters never substituted into code


def test_shell_op_gets_parameters_as_env_and_bash() -> None:
    op = sh(
        "s",
        "echo $msg\n",
        shell="bash",
        inputs_parameters=(P("msg"),),
        outputs_parameters=(P("n", "int", from_path="/tmp/n"),),
        outputs_artifacts=(A("o", path="/tmp/o"),),
        env={"MODE": "fast"},
    )
    t = templates(render_workflow(wf_of(op, steps=((S("s", "s", parameters={"msg": "hi"}),),))))["s"]
    assert t["script"]["command"] == ["bash"]
    assert t["script"]["source"] == "echo $msg\n"
    assert t["script"]["env"] == [
        {"name": "msg", "value": "{{inputs.parameters.msg}}"},
        {"name": "MODE", "value": "fast"},
    ]
    assert t["outputs"]["parameters"] == [{"name": "n", "valueFrom": {"path": "/tmp/n"}}]


def test_command_op_is_a_container_template() -> None:
    op = m.Op(
        "c",
        "command",
        image="busybox",
        command=("echo",),
        args=("{{inputs.parameters.x}}",),
        inputs_parameters=(P("x"),),
    )
    t = templates(render_workflow(wf_of(op, steps=((S("c", "c", parameters={"x": "1"}),),))))["c"]
    assert t["container"]["image"] == "busybox"
    assert t["container"]["command"] == ["echo"] and t["container"]["args"] == ["{{inputs.parameters.x}}"]
    with pytest.raises(RenderError, match="needs an `image`"):
        render_workflow(wf_of(m.Op("c", "command", command=("true",)), steps=((S("c", "c"),),)))


def test_secret_env_never_carries_a_value() -> None:
    op = sh("s", secret_env={"TOKEN": m.SecretRef("creds", "token")})
    out = render_workflow(wf_of(op, steps=((S("s", "s"),),)))
    env = templates(out)["s"]["script"]["env"]
    assert env == [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}}]


def test_resources() -> None:
    op = sh("s", resources=m.Resources(cpu="500m", memory="1Gi", gpu=2))
    t = templates(render_workflow(wf_of(op, steps=((S("s", "s"),),))))["s"]
    assert t["script"]["resources"] == {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"memory": "1Gi", "nvidia.com/gpu": "2"},
    }


def test_retry_and_timeout_precedence() -> None:
    op_retry = m.Retry(2, "OnError", m.Backoff("5s", 2, "1m"))
    wf_retry = m.Retry(1)
    a = sh("a", retry=op_retry, timeout="90s")
    b = sh("b")
    steps = ((S("a1", "a"),), (S("a2", "a", retry=m.Retry(5), timeout="10m"),), (S("b1", "b"),))
    out = render_workflow(wf_of(a, b, steps=steps, retry=wf_retry, timeout="1h30m"))
    ts = templates(out)
    assert ts["a"]["retryStrategy"] == {
        "limit": 2,
        "retryPolicy": "OnError",
        "backoff": {"duration": "5s", "factor": 2, "maxDuration": "1m"},
    }
    assert ts["a"]["timeout"] == "90s"
    assert ts["b"]["retryStrategy"] == {"limit": 1, "retryPolicy": "OnFailure"}  # workflow default
    assert ts["a-a2"]["retryStrategy"] == {"limit": 5, "retryPolicy": "OnFailure"}
    assert ts["a-a2"]["timeout"] == "10m"
    main = ts["main"]["steps"]
    assert [g[0]["template"] for g in main] == ["a", "a-a2", "b"]
    assert out["spec"]["activeDeadlineSeconds"] == 5400


def test_fan_in_keys() -> None:
    steps = (
        (S("sq", "square", parameters={"x": "{{item}}"}, foreach=m.Foreach("range", count=4)),),
        (S("sum", "sum-files", artifacts={"files": "{{steps.sq.outputs.artifacts.result}}"}),),
        (S("one", "square", parameters={"x": 2}),),
    )
    out = render_workflow(wf_of(PRODUCER, CONSUMER, steps=steps))
    ts = templates(out)
    sq, total, one = (g[0] for g in ts["main"]["steps"])
    assert sq["template"] == "square-fanin"
    assert sq["arguments"]["parameters"] == [
        {"name": "x", "value": "{{item}}"},
        {"name": "dflowctl-fanin", "value": "{{workflow.name}}/dflowctl/fanin/sq"},
        {"name": "dflowctl-index", "value": "{{=asInt(item)}}"},
    ]
    assert sq["withSequence"] == {"count": "4"}
    assert ts["square-fanin"]["outputs"]["artifacts"] == [
        {
            "name": "result",
            "path": "/tmp/dflowctl/outputs/artifacts/result",
            "archive": {"none": {}},
            "s3": {"key": "{{inputs.parameters.dflowctl-fanin}}/result/{{inputs.parameters.dflowctl-index}}"},
        }
    ]
    assert total["arguments"]["artifacts"] == [
        {"name": "files", "s3": {"key": "{{workflow.name}}/dflowctl/fanin/sq/result"}}
    ]
    assert one["template"] == "square"  # a plain use keeps Argo's default keys
    assert "s3" not in ts["square"]["outputs"]["artifacts"][0]


@pytest.mark.parametrize(
    ("foreach", "index"),
    [
        (m.Foreach("range", count=4), "{{=asInt(item)}}"),
        (m.Foreach("range", count=4, start=3), "{{=asInt(item) - 3}}"),
        (m.Foreach("range", start=-2, end=5), "{{=asInt(item) + 2}}"),
        (m.Foreach("range", start=9, end=2), "{{=9 - asInt(item)}}"),  # Argo counts down
        (m.Foreach("range", count=4, format="%02d"), "{{=asInt(item)}}"),
        (m.Foreach("range", count=4, format="f%d"), None),
        (m.Foreach("range", count=4, start="{{workflow.parameters.s}}"), None),
        (m.Foreach("range", start=0, end="{{workflow.parameters.e}}"), None),
        (m.Foreach("items", items=(1, 2)), None),
        (m.Foreach("param", param="{{steps.a.outputs.result}}"), None),
    ],
)
def test_the_item_index_comes_from_the_item_when_it_can(foreach: m.Foreach, index: str | None) -> None:
    assert item_index(foreach) == index


def test_items_fan_in_by_index_over_pairs() -> None:
    steps = (
        (S("sq", "square", parameters={"x": "{{item}}"}, foreach=m.Foreach("items", items=(1, {"a": 2}))),),
        (S("sum", "sum-files", artifacts={"files": "{{steps.sq.outputs.artifacts.result}}"}),),
    )
    ts = templates(render_workflow(wf_of(PRODUCER, CONSUMER, steps=steps)))
    step = ts["main"]["steps"][0][0]
    assert step["arguments"]["parameters"] == [
        {"name": "x", "value": "{{item.dflowctl-v}}"},
        {"name": "dflowctl-fanin", "value": "{{workflow.name}}/dflowctl/fanin/sq"},
        {"name": "dflowctl-index", "value": "{{item.dflowctl-i}}"},
    ]
    assert step["withItems"] == [
        {"dflowctl-i": 0, "dflowctl-v": "1"},
        {"a": 2, "dflowctl-i": 1, "dflowctl-v": '{"a":2}'},  # a map keeps its keys: {{item.a}}
    ]
    key = ts["square-fanin"]["outputs"]["artifacts"][0]["s3"]["key"]
    assert key == "{{inputs.parameters.dflowctl-fanin}}/result/{{inputs.parameters.dflowctl-index}}"


def test_composite_used_twice_gets_distinct_fan_in_prefixes(tmp_path: Path) -> None:
    comp = m.Op(
        "sos",
        "steps",
        inputs_parameters=(P("n", "int"),),
        outputs_parameters=(P("total", "int", from_ref="{{steps.sum.outputs.parameters.total}}"),),
        steps=(
            (
                S(
                    "sq",
                    "square",
                    parameters={"x": "{{item}}"},
                    foreach=m.Foreach("range", count="{{inputs.parameters.n}}"),
                ),
            ),
            (S("sum", "sum-files", artifacts={"files": "{{steps.sq.outputs.artifacts.result}}"}),),
        ),
    )
    outer = m.Op(
        "twice", "steps", steps=((S("u1", "sos", parameters={"n": 2}), S("u2", "sos", parameters={"n": 3})),)
    )
    steps = (
        (S("a", "sos", parameters={"n": 3}), S("b", "sos", parameters={"n": 4})),
        (S("c", "twice"),),
        (S("d", "sos", parameters={"n": 1}, foreach=m.Foreach("items", items=(1, 2))),),
    )
    out = render_workflow(wf_of(PRODUCER, CONSUMER, comp, outer, steps=steps))
    ts = templates(out)
    a, b = ts["main"]["steps"][0]
    assert {"name": "dflowctl-scope", "value": "a"} in a["arguments"]["parameters"]
    assert {"name": "dflowctl-scope", "value": "b"} in b["arguments"]["parameters"]
    (d,) = ts["main"]["steps"][2]
    assert {"name": "dflowctl-scope", "value": "d/{{item}}"} in d["arguments"]["parameters"]
    for use in ts["twice"]["steps"][0]:
        scope = {"name": "dflowctl-scope", "value": "{{inputs.parameters.dflowctl-scope}}/" + use["name"]}
        assert scope in use["arguments"]["parameters"]
    assert ts["twice"]["inputs"]["parameters"] == [{"name": "dflowctl-scope", "default": "twice"}]
    sq, total = (g[0] for g in ts["sos"]["steps"])
    prefix = "{{workflow.name}}/dflowctl/fanin/{{inputs.parameters.dflowctl-scope}}/sq"
    assert {"name": "dflowctl-fanin", "value": prefix} in sq["arguments"]["parameters"]
    assert total["arguments"]["artifacts"] == [{"name": "files", "s3": {"key": prefix + "/result"}}]
    assert ts["sos"]["outputs"] == {
        "parameters": [
            {"name": "total", "valueFrom": {"parameter": "{{steps.sum.outputs.parameters.total}}"}}
        ]
    }
    argo_validate(out, tmp_path)


def test_fan_in_of_composite_artifacts_is_refused() -> None:
    comp = m.Op(
        "c",
        "steps",
        outputs_artifacts=(A("r", from_ref="{{steps.s.outputs.artifacts.result}}"),),
        steps=((S("s", "square", parameters={"x": 1}),),),
    )
    steps = (
        (S("f", "c", foreach=m.Foreach("items", items=(1, 2))),),
        (S("sum", "sum-files", artifacts={"files": "{{steps.f.outputs.artifacts.r}}"}),),
    )
    with pytest.raises(RenderError, match="fan-in works for leaf ops only"):
        render_workflow(wf_of(PRODUCER, CONSUMER, comp, steps=steps))


def test_dag_depends_inferred_and_merged(tmp_path: Path) -> None:
    op = py("f", inputs_parameters=(P("x", "any", default=0),), outputs_parameters=(P("y", "int"),))
    dag = (
        S("a", "f"),
        S("b", "f", parameters={"x": "{{tasks.a.outputs.parameters.y}}"}),
        S("c", "f", parameters={"x": "{{tasks.a.outputs.parameters.y}}"}, depends="b"),
        S(
            "d",
            "f",
            parameters={"x": "{{tasks.c.outputs.parameters.y}}"},
            depends="a.Failed || b",
            when="{{tasks.b.outputs.parameters.y}} > 1",
        ),
        S("e", "f", parameters={"x": ["{{tasks.d.outputs.parameters.y}}"]}, depends="d.Succeeded"),
        S("g", "f", foreach=m.Foreach("param", param="{{tasks.b.outputs.parameters.y}}")),
    )
    out = render_workflow(wf_of(op, dag=dag))
    tasks = {t["name"]: t for t in templates(out)["main"]["dag"]["tasks"]}
    assert "depends" not in tasks["a"]
    assert tasks["b"]["depends"] == "a"
    assert tasks["c"]["depends"] == "b && a"
    assert tasks["d"]["depends"] == "(a.Failed || b) && c"
    assert tasks["e"]["depends"] == "d.Succeeded"
    assert tasks["g"]["depends"] == "b"  # a Python op with outputs: its param items are paired
    lifted = {"name": "dflowctl-lift-0", "value": "{{tasks.b.outputs.parameters.y}}"}
    assert tasks["g"]["arguments"]["parameters"] == [lifted]
    wrapper = templates(out)[tasks["g"]["template"]]
    enumerate_step, loop = wrapper["steps"][0][0], wrapper["steps"][1][0]
    assert enumerate_step["arguments"]["parameters"] == [
        {"name": "list", "value": "{{inputs.parameters.dflowctl-lift-0}}"}
    ]
    assert loop["withParam"] == "{{steps.dflowctl-enumerate.outputs.parameters.items}}"
    assert tasks["e"]["arguments"]["parameters"] == [
        {"name": "x", "value": '["{{tasks.d.outputs.parameters.y}}"]'}
    ]
    argo_validate(out, tmp_path)


def test_foreach_kinds_when_and_continue_on() -> None:
    op = sh("s", inputs_parameters=(P("v", "any"),))
    steps = (
        (
            S(
                "i",
                "s",
                parameters={"v": "{{item.k}}"},
                foreach=m.Foreach("items", items=({"k": 1}, {"k": [2]})),
            ),
            S(
                "p",
                "s",
                parameters={"v": "{{item}}"},
                foreach=m.Foreach("param", param="{{workflow.parameters.l}}"),
            ),
            S(
                "r",
                "s",
                parameters={"v": "{{item}}"},
                foreach=m.Foreach("range", start=2, end=5, format="%02d"),
                when="{{workflow.parameters.go}} == true",
                continue_on=m.ContinueOn(failed=True),
            ),
        ),
    )
    wf = wf_of(op, steps=steps, parameters=(P("l", "list", default=(1,)), P("go", "bool", default=True)))
    i, p, r = templates(render_workflow(wf))["main"]["steps"][0]
    assert i["withItems"] == [{"k": 1}, {"k": [2]}]
    assert p["withParam"] == "{{workflow.parameters.l}}"
    assert r["withSequence"] == {"start": "2", "end": "5", "format": "%02d"}
    assert r["when"] == "{{workflow.parameters.go}} == true"
    assert r["continueOn"] == {"failed": True}


def test_foreach_parallelism_wraps_the_loop(tmp_path: Path) -> None:
    prev = py("prev", outputs_parameters=(P("items", "list"),), outputs_artifacts=(A("data"),))
    steps = (
        (S("prev", "prev"),),
        (
            S(
                "sq",
                "square",
                parameters={"x": "{{item}}"},
                when="{{steps.prev.outputs.parameters.items}} != []",
                foreach=m.Foreach("param", param="{{steps.prev.outputs.parameters.items}}", parallelism=3),
            ),
        ),
        (S("sum", "sum-files", artifacts={"files": "{{steps.sq.outputs.artifacts.result}}"}),),
    )
    out = render_workflow(wf_of(PRODUCER, CONSUMER, prev, steps=steps))
    ts = templates(out)
    outer = ts["main"]["steps"][1][0]
    assert outer == {
        "name": "sq",
        "template": "main-sq",
        "arguments": {
            "parameters": [{"name": "dflowctl-lift-0", "value": "{{steps.prev.outputs.parameters.items}}"}]
        },
        "when": "{{steps.prev.outputs.parameters.items}} != []",
    }
    wrapper = ts["main-sq"]
    assert wrapper["parallelism"] == 3
    assert wrapper["inputs"] == {"parameters": [{"name": "dflowctl-lift-0"}]}
    (enumerate_step,), (inner,) = wrapper["steps"]  # the param list paired with indices first
    assert enumerate_step["arguments"]["parameters"] == [
        {"name": "list", "value": "{{inputs.parameters.dflowctl-lift-0}}"}
    ]
    assert inner["template"] == "square-fanin"
    assert inner["withParam"] == "{{steps.dflowctl-enumerate.outputs.parameters.items}}"
    assert {"name": "dflowctl-fanin", "value": "{{workflow.name}}/dflowctl/fanin/sq"} in inner["arguments"][
        "parameters"
    ]
    assert "when" not in inner
    assert (
        ts["main"]["steps"][2][0]["arguments"]["artifacts"][0]["s3"]["key"]
        == "{{workflow.name}}/dflowctl/fanin/sq/result"
    )
    argo_validate(out, tmp_path)


def test_timeout_on_composite_is_refused() -> None:
    comp = m.Op("c", "steps", steps=((S("s", "square", parameters={"x": 1}),),))
    with pytest.raises(RenderError, match="timeout on a composite op"):
        render_workflow(wf_of(PRODUCER, comp, steps=((S("c", "c", timeout="1m"),),)))


def test_workflow_fields_and_on_exit(tmp_path: Path) -> None:
    wf = wf_of(
        sh("a"),
        sh("cleanup"),
        steps=((S("a", "a"),),),
        on_exit="cleanup",
        parallelism=4,
        timeout="2h",
        service_account="runner",
        ttl=600,
        pod_gc="OnPodSuccess",
        artifact_repository="my-repo",
        node_selector={"disk": "ssd"},
        tolerations=({"key": "gpu", "operator": "Exists", "effect": "NoSchedule"},),
        priority=3,
    )
    spec = render_workflow(wf)["spec"]
    assert {k: v for k, v in spec.items() if k != "templates"} == {
        "entrypoint": "main",
        "onExit": "cleanup",
        "parallelism": 4,
        "activeDeadlineSeconds": 7200,
        "serviceAccountName": "runner",
        "ttlStrategy": {"secondsAfterCompletion": 600},
        "podGC": {"strategy": "OnPodSuccess"},
        "artifactRepositoryRef": {"configMap": "artifact-repositories", "key": "my-repo"},
        "nodeSelector": {"disk": "ssd"},
        "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "priority": 3,
    }
    argo_validate(render_workflow(wf), tmp_path)


def test_workflow_artifacts_and_sources(tmp_path: Path) -> None:
    src = tmp_path / "ops"
    src.mkdir()
    (src / "mod.py").write_text("def fn(): pass\n")
    (tmp_path / "input.txt").write_text("data\n")
    spec = tmp_path / "spec.yaml"
    ops = (
        py("f", source=src.resolve(), inputs_artifacts=(A("i"),)),
        sh("s", source=src.resolve(), inputs_artifacts=(A("i", path="/in"),)),
    )
    arts = (
        m.WorkflowArtifact("local", "input.txt"),
        m.WorkflowArtifact("remote", "s3://my-bucket/some/key.tgz"),
        m.WorkflowArtifact("web", "https://example.com/x.tar.gz", optional=True),
    )
    steps = (
        (
            S("f", "f", artifacts={"i": "{{workflow.artifacts.local}}"}),
            S("s", "s", artifacts={"i": "{{workflow.artifacts.web}}"}),
        ),
    )
    wf = m.Workflow("t", spec, ops={o.name: o for o in ops}, steps=steps, artifacts=arts)
    out = render_workflow(wf, source_keys(upload_paths(wf)))
    key_src, key_in = source_key(src.resolve()), source_key(tmp_path / "input.txt")
    assert key_src.startswith("dflowctl/sources/") and key_src.endswith(".tgz")
    assert out["spec"]["arguments"]["artifacts"] == [
        {"name": "local", "s3": {"key": key_in}},
        {"name": "remote", "s3": {"key": "some/key.tgz"}},
        {"name": "web", "http": {"url": "https://example.com/x.tar.gz"}, "optional": True},
    ]
    ts = templates(out)
    assert ts["main"]["inputs"] == {
        "artifacts": [{"name": "local"}, {"name": "remote"}, {"name": "web", "optional": True}]
    }
    f, s = ts["main"]["steps"][0]
    assert f["arguments"]["artifacts"] == [{"name": "i", "from": "{{inputs.artifacts.local}}"}]
    assert s["arguments"]["artifacts"] == [{"name": "i", "from": "{{inputs.artifacts.web}}"}]
    source_art = {"name": "dflowctl-source", "path": "/tmp/dflowctl/source", "s3": {"key": key_src}}
    assert source_art in ts["f"]["inputs"]["artifacts"] and source_art in ts["s"]["inputs"]["artifacts"]
    assert {"name": "PYTHONPATH", "value": "/tmp/dflowctl/source"} in ts["s"]["script"]["env"]
    # a given map is used as is (no I/O)
    given = render_workflow(wf, {src.resolve(): "k1", tmp_path / "input.txt": "k2"})
    assert given["spec"]["arguments"]["artifacts"][0]["s3"]["key"] == "k2"
    argo_validate(out, tmp_path)


def test_render_reads_no_file(tmp_path: Path) -> None:
    """render is pure: keys come from the caller; a missing optional local artifact is
    absent, a source without a key is the caller's mistake (missing paths are the
    checks' to report, with positions: tests/data/invalid)."""
    wf = m.Workflow(
        "t",
        tmp_path / "spec.yaml",
        ops={"f": py("f", source=tmp_path / "src")},
        steps=((S("f", "f"),),),
        artifacts=(m.WorkflowArtifact("a", "missing.txt", optional=True),),
    )
    assert upload_paths(wf) and source_keys(upload_paths(wf)) == {}
    with pytest.raises(ValueError, match="no repository key for its source"):
        render_workflow(wf)
    out = render_workflow(wf, {tmp_path / "src": "dflowctl/sources/k.tgz"})
    assert "arguments" not in out["spec"]  # the absent optional artifact
    assert templates(out)["f"]["inputs"]["artifacts"][-1]["s3"] == {"key": "dflowctl/sources/k.tgz"}
    (tmp_path / "src").mkdir()  # creating the folder changes nothing: render never looked
    assert render_workflow(wf, {tmp_path / "src": "dflowctl/sources/k.tgz"}) == out


def test_template_names_never_collide() -> None:
    ops = (sh("main"), sh("main-2"), sh("a", retry=m.Retry(1)))
    steps = ((S("x", "main"),), (S("y", "a", retry=m.Retry(3)),), (S("z", "a", retry=m.Retry(3)),))
    out = render_workflow(wf_of(*ops, steps=steps))
    names = [t["name"] for t in out["spec"]["templates"]]
    assert names == ["main-3", "main", "main-2", "a", "a-y"]
    assert out["spec"]["entrypoint"] == "main-3"
    assert [g[0]["template"] for g in templates(out)["main-3"]["steps"]] == ["main", "a-y", "a-y"]


def test_entrypoint_op_without_body() -> None:
    wf = wf_of(
        sh("only", inputs_parameters=(P("msg"),)), entrypoint="only", parameters=(P("msg", default="x"),)
    )
    out = render_workflow(wf)
    assert out["spec"]["entrypoint"] == "only"
    assert [t["name"] for t in out["spec"]["templates"]] == ["only"]


def test_source_archive_is_reproducible_and_skips_caches(tmp_path: Path) -> None:
    import io
    import tarfile

    from dflowctl.uploads import source_archive

    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "mod.py").write_text("X = 1\n")
    (src / "top.py").write_text("Y = 2\n")
    data, key = source_archive(src)
    (src / "__pycache__").mkdir()
    (src / "__pycache__" / "top.cpython-312.pyc").write_bytes(b"\0")
    (src / "pkg" / "mod.pyc").write_bytes(b"\0")
    assert source_archive(src) == (data, key)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert tar.getnames() == ["data", "data/pkg", "data/top.py", "data/pkg/mod.py"]
        assert {m.mtime for m in tar.getmembers()} == {0}
    (src / "top.py").write_text("Y = 3\n")
    assert source_key(src) != key


def test_dag_fan_out_with_parallelism_and_composite_on_exit(tmp_path: Path) -> None:
    make = py("make", outputs_parameters=(P("items", "list"),))
    comp = m.Op(
        "sos",
        "dag",
        inputs_parameters=(P("n", "int"),),
        dag=(
            S(
                "sq",
                "square",
                parameters={"x": "{{item}}"},
                foreach=m.Foreach("range", count="{{inputs.parameters.n}}"),
            ),
            S("sum", "sum-files", artifacts={"files": "{{tasks.sq.outputs.artifacts.result}}"}),
        ),
    )
    dag = (
        S("make", "make"),
        S(
            "sq",
            "square",
            parameters={"x": "{{item}}"},
            foreach=m.Foreach("param", param="{{tasks.make.outputs.parameters.items}}", parallelism=2),
        ),
        S("sum", "sum-files", artifacts={"files": "{{tasks.sq.outputs.artifacts.result}}"}),
    )
    out = render_workflow(wf_of(PRODUCER, CONSUMER, make, comp, dag=dag, on_exit="sos"))
    ts = templates(out)
    make_t, sq, total = ts["main"]["dag"]["tasks"]
    assert "depends" not in make_t
    assert sq["depends"] == "make" and sq["template"] == "main-sq"
    assert total["depends"] == "sq"
    assert total["arguments"]["artifacts"] == [
        {"name": "files", "s3": {"key": "{{workflow.name}}/dflowctl/fanin/sq/result"}}
    ]
    enumerate_step = ts["main-sq"]["steps"][0][0]
    assert enumerate_step["arguments"]["parameters"][0]["value"] == "{{inputs.parameters.dflowctl-lift-0}}"
    loop = ts["main-sq"]["steps"][1][0]
    assert loop["withParam"] == "{{steps.dflowctl-enumerate.outputs.parameters.items}}"
    assert out["spec"]["onExit"] == "sos"
    assert ts["sos"]["inputs"]["parameters"][-1] == {"name": "dflowctl-scope", "default": "sos"}
    inner_sum = ts["sos"]["dag"]["tasks"][1]
    assert inner_sum["depends"] == "sq"
    argo_validate(out, tmp_path)


TRICKY = [
    "",
    " a",
    "a ",
    "yes",
    "No",
    "ON",
    "y",
    "Y",
    "~",
    "null",
    "Null",
    "true",
    "False",
    "1",
    "1.5",
    "-1",
    "+1",
    "0x10",
    "0o7",
    "1e3",
    ".inf",
    ".NaN",
    "2001-12-14",
    "1:20",
    "a: b",
    "a:b",
    "#x",
    "a #b",
    "{{x}}",
    "[1]",
    "{a}",
    "*a",
    "&a",
    "!x",
    "%x",
    "@x",
    "`x",
    "'q'",
    '"dq"',
    "---",
    "...",
    "- a",
    "? a",
    "| a",
    "> a",
    "<<",
    "=",
    "a=b",
    "/abs/path",
    "nvidia.com/gpu",
    "uni é ☃",
    "\u2028",
    "a\r\nb",
    "tab\there",
    "a\nb",
    "a\nb\n",
    "a\nb\n\n",
    "\nfirst-empty",
    " lead\nx",
    "x\n\ty\n",
    "multi\n  indented\n",
    "trailing spaces  \nx",
    "ws line\n   \nx",
    "key: value\n- item\n",
    "# comment\nx\n",
    "a\n\n\nb\n",
    "\\back\\slash",
    "x\n ",
]


def test_yaml_dump_round_trips(tmp_path: Path) -> None:
    import yaml as pyyaml
    from ruamel.yaml import YAML

    from dflowctl.render.dump import dump_yaml

    data: dict[str, Any] = {
        "strings": TRICKY,
        "keys": {s or "empty": s for s in TRICKY if s},
        "nested": [
            [{"a": [1, 2.5, None, True, False]}, []],
            {},
            [[["deep"]]],
            {"x": {"y": {"z": "multi\nline\n"}}},
        ],
        "numbers": [0, -3, 1.25, 10**20],
        "literal_in_list": ["one\ntwo\n", {"k": "three\nfour"}],
    }
    text = dump_yaml(data)
    assert YAML(typ="safe", pure=True).load(text) == data
    assert pyyaml.safe_load(text) == data
    manifest = render_workflow(wf_of(sh("s", "echo 1\necho 2\n"), steps=((S("s", "s"),),)))
    text = dump_yaml(manifest)
    assert pyyaml.safe_load(text) == manifest
    assert "      source: |\n        echo 1\n        echo 2\n" in text


@pytest.mark.parametrize(
    ("timeout", "seconds"),
    [("2h", 7200), ("1h30m", 5400), ("1.5m", 90), ("100ms", 1), ("500us", 1), (".5h", 1800), ("600", 600)],
)
def test_workflow_timeout_seconds(timeout: str, seconds: int) -> None:
    """Every duration the spec checks accept renders (µs and `.5h` included)."""
    out = render_workflow(wf_of(sh("a"), steps=((S("a", "a"),),), timeout=timeout))
    assert out["spec"]["activeDeadlineSeconds"] == seconds


@pytest.mark.parametrize("timeout", ["-1m", "1.5", "ten minutes", "1d", ""])
def test_workflow_timeout_not_a_duration(timeout: str) -> None:
    with pytest.raises(UsageError, match="not a duration"):
        render_workflow(wf_of(sh("a"), steps=((S("a", "a"),),), timeout=timeout))


def test_output_parameter_default_is_value_from_default(tmp_path: Path) -> None:
    """docs/spec.md: an output's `default` is used when the file is missing or the step
    was skipped: Argo does that through `valueFrom.default` (text, encoded as parameters)."""
    producer = sh(
        "maybe",
        outputs_parameters=(P("n", "int", default=0, from_path="/tmp/n"), P("word", from_path="/tmp/w")),
    )
    python_op = py("calc", outputs_parameters=(P("xs", "list", default=[1, 2]),))
    composite = m.Op(
        "inner",
        "steps",
        steps=((S("m", "maybe"),),),
        outputs_parameters=(P("n", "int", default=7, from_ref="{{steps.m.outputs.parameters.n}}"),),
    )
    rendered = render_workflow(
        wf_of(producer, python_op, composite, steps=((S("a", "inner"),), (S("b", "calc"),)))
    )
    tm = templates(rendered)
    assert tm["maybe"]["outputs"]["parameters"] == [
        {"name": "n", "valueFrom": {"path": "/tmp/n", "default": "0"}},
        {"name": "word", "valueFrom": {"path": "/tmp/w"}},
    ]
    assert tm["calc"]["outputs"]["parameters"] == [
        {"name": "xs", "valueFrom": {"path": "/tmp/dflowctl/outputs/parameters/xs", "default": "[1, 2]"}}
    ]
    assert tm["inner"]["outputs"]["parameters"] == [
        {"name": "n", "valueFrom": {"parameter": "{{steps.m.outputs.parameters.n}}", "default": "7"}}
    ]
    argo_validate(rendered, tmp_path)


def test_an_absolute_link_in_a_source_folder_is_archived_as_a_link(tmp_path: Path) -> None:
    """As `argo` uploads a folder: the link itself (a virtualenv's bin/python), not its target."""
    import io
    import tarfile

    from dflowctl.uploads import source_archive

    src = tmp_path / "src"
    src.mkdir()
    (src / "mod.py").write_text("X = 1\n")
    (src / "python").symlink_to(sys.executable)
    (src / "gone").symlink_to("/nonexistent/target")
    data, _key = source_archive(src)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        links = {m.name: m.linkname for m in tar.getmembers() if m.issym()}
    assert links == {"data/gone": "/nonexistent/target", "data/python": sys.executable}


def test_a_list_input_fed_by_an_indexed_fan_in_is_aligned() -> None:
    from dflowctl.spec import load_spec

    from .conftest import SPECS

    wf = load_spec(SPECS / "typed-fanin.yaml")
    ts = templates(render_workflow(wf, source_keys(upload_paths(wf))))
    square, total = (g[0] for g in ts["main"]["steps"])
    assert square["template"] == "square-fanin"
    assert {"name": "dflowctl-index", "value": "{{=asInt(item)}}"} in square["arguments"]["parameters"]
    assert {
        "name": "dflowctl-index",
        "valueFrom": {"path": "/tmp/dflowctl/outputs/parameters/dflowctl-index"},
    } in (ts["square-fanin"]["outputs"]["parameters"])
    assert total["template"] == "sum-aligned"
    assert total["arguments"]["parameters"][1:] == [
        {"name": "dflowctl-align-ys", "value": "{{steps.square.outputs.parameters.dflowctl-index}}"},
        {"name": "dflowctl-count-ys", "value": "{{workflow.parameters.n}}"},
    ]
    env = {e["name"]: e["value"] for e in ts["sum-aligned"]["script"]["env"]}
    assert env["DFLOWCTL_ALIGN_ys"] == "{{inputs.parameters.dflowctl-align-ys}}"
    assert env["DFLOWCTL_COUNT_ys"] == "{{inputs.parameters.dflowctl-count-ys}}"


def test_the_bootstrap_and_the_renderer_agree_on_the_names_they_share() -> None:
    """The bootstrap is a standalone script: it keeps its own copy of the environment
    names the renderer's templates set; each pair must be the same text."""
    from dflowctl.render import bootstrap, leaf

    for name in ("INDEX_ENV", "ALIGN_ENV", "COUNT_ENV", "FLAT_ENV", "PARAM_ENV_PREFIX"):
        assert getattr(bootstrap, name) == getattr(leaf, name), name
