"""Every `{{=…}}`, `when`, `depends` and `expression` in Argo's own examples evaluates.

The examples are read from ../shared/reference/argo/examples (skipped when absent).
Each expression is evaluated with a plausible scope: the workflow's own
arguments and input parameter values, plus the values below for outputs of
steps that would have run. Exact values are asserted where the example makes
them knowable.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dflowctl.expr import (
    TaskResult,
    build_env,
    depends_tasks,
    evaluate_depends,
    evaluate_expr,
    evaluate_retry_expression,
    evaluate_when,
    substitute,
)
from tests.conftest import ARGO_EXAMPLES, require_shared

# Outputs and runtime values that Argo would supply when these tags are evaluated.
PLAUSIBLE: dict[str, Any] = {
    "status": "Succeeded",
    "workflow.status": "Succeeded",
    "workflow.name": "wf-abcde",
    "workflow.creationTimestamp": "2024-05-06T07:08:09Z",
    "item": "3",
    "item.evenness": "even",
    "steps.flip-coin.outputs.result": "heads",
    "tasks.flip-coin.outputs.result": "heads",
    "steps.flip-again.outputs.result": "tails",
    "steps.heads.outputs.result": "it was heads",
    "steps.tails.outputs.result": "it was tails",
    "tasks.heads.outputs.result": "it was heads",
    "tasks.tails.outputs.result": "it was tails",
    "steps.heads.outputs.artifacts.result": {"name": "result", "path": "/tmp/heads"},
    "steps.tails.outputs.artifacts.result": {"name": "result", "path": "/tmp/tails"},
    "tasks.heads.outputs.artifacts.result": {"name": "result", "path": "/tmp/heads"},
    "tasks.tails.outputs.artifacts.result": {"name": "result", "path": "/tmp/tails"},
    "steps.flakey-container.status": "Failed",
    "steps.submit-resource.status": "Failed",
    "steps.approval.outputs.parameters.approve": "YES",
    "steps.iterate-counter.outputs.result": "3",
    "steps.step-1.status": "Running",
    "steps.step2.status": "Succeeded",
    "steps.fibonacci-helper.outputs.parameters.result": "8",
    "inputs.parameters.limit": "10",
    "inputs.parameters.foo": "3",
    "inputs.parameters.should-print": "true",
    "inputs.parameters.num": "6",
    "inputs.parameters.num-1": "5",
    "inputs.parameters.safe-to-retry": "true",
    "cronworkflow.lastScheduledTime": None,
    "data": ["logs/a/main.log", "logs/b/init.log", "logs/c/main.log"],
}

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

LAST_RETRY = {"exitCode": "2", "status": "Failed", "duration": "5", "message": "boom"}


def _docs() -> list[tuple[str, dict[str, Any]]]:
    require_shared()
    out = []
    for path in sorted(Path(ARGO_EXAMPLES).rglob("*.yaml")):
        for doc in yaml.load_all(path.read_text(), Loader=_LOADER):
            if isinstance(doc, dict):
                out.append((path.name, doc))
    return out


def _walk(
    node: Any, template: dict[str, Any] | None = None
) -> Iterator[tuple[str, Any, dict[str, Any] | None]]:
    """Yield (key, value, enclosing template) for every mapping entry."""
    if isinstance(node, dict):
        if "name" in node and any(
            k in node for k in ("container", "script", "steps", "dag", "inputs", "resource")
        ):
            template = node
        for k, v in node.items():
            yield k, v, template
            yield from _walk(v, template)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v, template)


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for v in node.values():
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)


def _scope(doc: dict[str, Any], template: dict[str, Any] | None) -> dict[str, Any]:
    """Workflow arguments, the template's input values (substituted in order), plausible outputs."""
    scope: dict[str, Any] = dict(PLAUSIBLE)
    spec = doc.get("spec") or {}
    params = ((spec.get("arguments") or {}).get("parameters")) or []
    for p in params:
        if "value" in p:
            scope[f"workflow.parameters.{p['name']}"] = str(p["value"])
    for p in ((template or {}).get("inputs") or {}).get("parameters") or []:
        value = p.get("value", p.get("default"))
        if value is not None:
            scope[f"inputs.parameters.{p['name']}"] = substitute(str(value), scope)
    scope["workflow.parameters.json"] = json.dumps(
        [{"name": p["name"], "value": str(p.get("value", ""))} for p in params]
    )
    return scope


def _collect() -> dict[str, list[tuple[str, Any, dict[str, Any], dict[str, Any] | None]]]:
    found: dict[str, list[tuple[str, Any, dict[str, Any], dict[str, Any] | None]]] = {
        "tag": [],
        "when": [],
        "depends": [],
        "expression": [],
        "retry": [],
        "transformation": [],
    }
    for name, doc in _docs():
        for key, value, template in _walk(doc):
            if key == "when" and isinstance(value, str):
                found["when"].append((name, value, doc, template))
            elif key == "depends" and isinstance(value, str):
                found["depends"].append((name, value, doc, template))
            elif key == "retryStrategy" and isinstance(value, dict) and "expression" in value:
                found["retry"].append((name, value["expression"], doc, template))
            elif key == "transformation" and isinstance(value, list):
                for t in value:
                    found["transformation"].append((name, t["expression"], doc, template))
            elif key in ("expression", "fromExpression") and isinstance(value, str):
                found["expression"].append((name, value, doc, template))
        for s in _strings(doc):
            if "{{=" in s:
                found["tag"].append((name, s, doc, _template_of(doc, s)))
    # retryStrategy / transformation expressions were also seen as plain `expression` keys
    retry = {(n, v) for n, v, _, _ in found["retry"]} | {(n, v) for n, v, _, _ in found["transformation"]}
    found["expression"] = [e for e in found["expression"] if (e[0], e[1]) not in retry]
    return found


def _template_of(doc: dict[str, Any], text: str) -> dict[str, Any] | None:
    for _key, value, template in _walk(doc):
        if value == text or (isinstance(value, list) and text in value):
            return template
    return None


@pytest.fixture(scope="module")
def found() -> dict[str, list[tuple[str, Any, dict[str, Any], dict[str, Any] | None]]]:
    return _collect()


def test_the_examples_have_what_we_expect(found: dict[str, list[Any]]) -> None:
    # guards against collecting nothing (a test that cannot fail)
    assert len(found["tag"]) >= 14
    assert len(found["when"]) >= 30
    assert len(found["depends"]) >= 60
    assert len(found["expression"]) >= 8
    assert len(found["retry"]) >= 1
    assert len(found["transformation"]) >= 1


def test_every_expression_tag_evaluates(found: dict[str, list[Any]]) -> None:
    for name, text, doc, template in found["tag"]:
        out = substitute(text, _scope(doc, template), strict=False)
        assert "{{=" not in out, f"{name}: {text!r} did not evaluate"


def test_every_when_evaluates_to_a_boolean(found: dict[str, list[Any]]) -> None:
    for name, text, doc, template in found["when"]:
        scope = _scope(doc, template)
        if doc.get("kind") == "CronWorkflow":
            scope["cronworkflow.lastScheduledTime"] = None
        substituted = substitute(text, scope)
        assert isinstance(evaluate_when(substituted), bool), f"{name}: {text!r}"


def test_every_depends_is_decided_once_its_tasks_finish(found: dict[str, list[Any]]) -> None:
    for name, text, doc, _template in found["depends"]:
        tasks = depends_tasks(text)
        assert tasks, f"{name}: {text!r} names no task"
        names = {t["name"] for _, v, _ in _walk(doc) if isinstance(v, list) for t in v if _is_task(t)}
        assert tasks <= names, f"{name}: {text!r} names unknown tasks {tasks - names}"
        assert evaluate_depends(text, {}) is None
        for phase in ("Succeeded", "Failed", "Skipped"):
            decided = evaluate_depends(text, {t: TaskResult(phase) for t in tasks})
            assert isinstance(decided, bool), f"{name}: {text!r}"


def _is_task(t: Any) -> bool:
    return isinstance(t, dict) and "name" in t and ("template" in t or "templateRef" in t or "inline" in t)


def test_every_expression_field_evaluates(found: dict[str, list[Any]]) -> None:
    for name, text, doc, template in found["expression"]:
        env = build_env(_scope(doc, template))
        assert evaluate_expr(text, env) is not None, f"{name}: {text!r}"


def test_every_retry_expression_evaluates(found: dict[str, list[Any]]) -> None:
    for name, text, doc, template in found["retry"]:
        substituted = substitute(text, _scope(doc, template))
        assert isinstance(evaluate_retry_expression(substituted, LAST_RETRY), bool), name


def test_every_data_transformation_evaluates(found: dict[str, list[Any]]) -> None:
    for _name, text, _doc, _template in found["transformation"]:
        assert evaluate_expr(text, {"data": PLAUSIBLE["data"]}) == ["logs/a/main.log", "logs/c/main.log"]


# -- exact values --------------------------------------------------------------------------------


def _example(name: str) -> dict[str, Any]:
    require_shared()
    return yaml.safe_load((Path(ARGO_EXAMPLES) / name).read_text())


def _main_inputs(doc: dict[str, Any]) -> dict[str, str]:
    """Resolve the entry template's input parameters as Argo would."""
    spec = doc["spec"]
    scope: dict[str, Any] = {
        f"workflow.parameters.{p['name']}": str(p["value"]) for p in spec["arguments"]["parameters"]
    }
    main = next(t for t in spec["templates"] if t["name"] == spec["entrypoint"])
    out = {}
    for p in main["inputs"]["parameters"]:
        value = substitute(p["value"], scope)
        scope[f"inputs.parameters.{p['name']}"] = value
        out[p["name"]] = value
    return out


def test_expression_destructure_json() -> None:
    assert _main_inputs(_example("expression-destructure-json.yaml")) == {"a": "1", "b": "2", "c": "3"}


def test_expression_destructure_json_complex() -> None:
    assert _main_inputs(_example("expression-destructure-json-complex.yaml")) == {
        "a": "[43]",
        "b": "[43]",
        "c": "[map[age:43 name:Baris]]",
        "d": "[Baris Mo Jai]",
    }


def test_expression_reusing_verbose_snippets() -> None:
    doc = _example("expression-reusing-verbose-snippets.yaml")
    inputs = _main_inputs(doc)
    assert inputs == {"week-temps": '{"avg":35.8,"max":57,"min":15}'}
    main = doc["spec"]["templates"][0]
    scope = {"inputs.parameters.week-temps": inputs["week-temps"]}
    env = {e["name"]: substitute(e["value"], scope) for e in main["script"]["env"]}
    assert env == {"AVG": "35.8", "MIN": "15", "MAX": "57"}


def test_expression_tag_template() -> None:
    doc = _example("expression-tag-template-workflow.yaml")
    task = doc["spec"]["templates"][0]["dag"]["tasks"][0]
    assert substitute(task["withParam"], {}) == "[3]"
    assert substitute(task["arguments"]["parameters"][0]["value"], {"item": "3"}) == "3"
    args = doc["spec"]["templates"][1]["container"]["args"][1]
    out = substitute(
        args, {"inputs.parameters.foo": "3", "workflow.creationTimestamp": "2020-01-01T00:00:00Z"}
    )
    assert out == f"hello 30 @ {dt.datetime.now().year}\n"


def test_conditionals_yaml_all_three_forms_agree() -> None:
    doc = _example("conditionals.yaml")
    steps = doc["spec"]["templates"][0]["steps"][0]
    for should_print, expected in (("true", True), ("false", False)):
        scope = {
            "inputs.parameters.should-print": should_print,
            "workflow.parameters.json": f'[{{"name":"should-print","value":"{should_print}"}}]',
        }
        assert [evaluate_when(substitute(s["when"], scope)) for s in steps] == [expected] * 3


def test_coinflip_whens() -> None:
    doc = _example("conditionals-complex.yaml")
    groups = doc["spec"]["templates"][0]["steps"]
    for first, second in (("heads", "tails"), ("tails", "tails"), ("heads", "heads"), ("tails", "heads")):
        scope = {"steps.flip-coin.outputs.result": first, "steps.flip-again.outputs.result": second}
        ran = {
            s["name"]
            for g in groups
            for s in g
            if "when" in s and evaluate_when(substitute(s["when"], scope))
        }
        expected = {first, "heads-regex" if second == "heads" else "tails-regex"}
        if second == "tails":
            expected.add("complex-condition")
        assert ran == expected, (first, second)


def test_conditional_parameters_expression() -> None:
    doc = _example("conditional-parameters.yaml")
    expr = doc["spec"]["templates"][0]["outputs"]["parameters"][0]["valueFrom"]["expression"]
    for coin in ("heads", "tails"):
        scope = {"steps.flip-coin.outputs.result": coin, f"steps.{coin}.outputs.result": f"it was {coin}"}
        assert evaluate_expr(expr, build_env(scope)) == f"it was {coin}"


def test_fibonacci_expression() -> None:
    doc = _example("fibonacci-seq-conditional-param.yaml")
    expr = next(
        p["valueFrom"]["expression"]
        for t in doc["spec"]["templates"]
        for p in (t.get("outputs") or {}).get("parameters") or []
        if "expression" in p.get("valueFrom", {})
    )
    assert evaluate_expr(expr, build_env({"inputs.parameters.num": "1"})) == 1
    assert evaluate_expr(expr, build_env({"inputs.parameters.num": "2"})) == 1
    scope = {"inputs.parameters.num": "7", "steps.fibonacci-helper.outputs.parameters.result": "13"}
    assert evaluate_expr(expr, build_env(scope)) == "13"


def test_retry_conditional_expression() -> None:
    doc = _example("retry-conditional.yaml")
    expr = doc["spec"]["templates"][2]["retryStrategy"]["expression"]
    safe = substitute(expr, {"inputs.parameters.safe-to-retry": "true"})
    unsafe = substitute(expr, {"inputs.parameters.safe-to-retry": "false"})
    assert evaluate_retry_expression(safe, LAST_RETRY) is True
    assert evaluate_retry_expression(safe, {**LAST_RETRY, "exitCode": "1"}) is False
    assert evaluate_retry_expression(safe, {**LAST_RETRY, "status": "Error"}) is False
    assert evaluate_retry_expression(safe, {**LAST_RETRY, "duration": "300"}) is False
    assert evaluate_retry_expression(unsafe, LAST_RETRY) is False
    assert evaluate_retry_expression(unsafe, {**LAST_RETRY, "message": "pod deleted"}) is True


def test_dag_enhanced_depends() -> None:
    doc = _example("dag-enhanced-depends.yaml")
    tasks = {t["name"]: t.get("depends", "") for t in doc["spec"]["templates"][0]["dag"]["tasks"]}
    s, f = TaskResult("Succeeded"), TaskResult("Failed")
    results = {"A": s, "B": s, "C": f}
    assert evaluate_depends(tasks["should-execute-1"], results) is True
    assert evaluate_depends(tasks["should-execute-2"], results) is True
    assert evaluate_depends(tasks["should-not-execute"], results) is False
    results["should-not-execute"] = TaskResult("Omitted")
    results["should-execute-2"] = s
    assert evaluate_depends(tasks["should-execute-3"], results) is True


def test_cron_when() -> None:
    doc = _example("cron-when.yaml")
    when = doc["spec"]["when"]
    assert evaluate_when(substitute(when, {"cronworkflow.lastScheduledTime": None})) is True
    recent = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=30)
    assert evaluate_when(substitute(when, {"cronworkflow.lastScheduledTime": recent})) is False
