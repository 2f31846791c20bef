"""Argo's step/DAG/retry semantics against a fake ``Runtime``: no process, no run folder.

``FakeRuntime`` implements ``dflowctl.engines.local.runtime.Runtime`` the way the
controller does for composite templates (``templates.process_args``, then
``steps``/``dag``/``retry``), but a leaf template becomes a Pod node whose outcome
a table decides at once. These tests run in milliseconds; the same semantics
through real processes are in tests/test_local_controller.py.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from dflowctl.argo import node_id
from dflowctl.engines.local.dag import run_dag
from dflowctl.engines.local.retry import execute_with_retries
from dflowctl.engines.local.runtime import Call, Node, Runtime
from dflowctl.engines.local.scope import ArtifactScope
from dflowctl.engines.local.slots import Slots
from dflowctl.engines.local.status import NodeBook
from dflowctl.engines.local.steps import run_steps
from dflowctl.engines.local.templates import locate_artifact, process_args, resolve_template, template_table

WF = "wf"

Outcome = Callable[[str, Mapping[str, str]], tuple[str, dict[str, str]]]


class FakeRuntime:
    """A ``Runtime`` whose pods are decided by ``outcome(pod node name, inputs)``:
    (phase, output parameters)."""

    def __init__(self, templates: list[dict[str, Any]], outcome: Outcome) -> None:
        self.name = WF
        self.wf: dict[str, Any] = {"metadata": {"name": WF}, "spec": {"templates": templates}}
        self.book = NodeBook(self.wf)
        self.cancel = threading.Event()
        self.templates = template_table(self.wf["spec"])
        self.outcome = outcome
        self.pods: list[str] = []  # pod node names, in the order they ran
        self.lock = threading.Lock()

    def interrupted_message(self) -> str:
        return "Stopped with strategy 'Terminate'"

    def template(self, name: str) -> Mapping[str, Any] | None:
        return self.templates.get(name)

    def width(self, sem: Slots | None) -> int:
        return sem.size if sem is not None else 8

    def end_scope(self, scope_id: str) -> None:  # no daemon pods here
        pass

    def scope_open(self, scope_id: str) -> bool:
        return False

    def keep_daemoned(self, scope_id: str | None, node: dict[str, Any]) -> None:
        pass

    def locate_artifact(self, art: Mapping[str, Any], arts_scope: ArtifactScope) -> dict[str, Any] | None:
        return locate_artifact(art, arts_scope, {})

    def execute(
        self,
        name: str,
        display: str,
        holder: Mapping[str, Any],
        args: Mapping[str, Any],
        boundary: str | None,
        *,
        arts_scope: ArtifactScope | None = None,
    ) -> Node | None:
        if self.cancel.is_set():
            return None
        tmpl_name, tmpl = resolve_template(self.templates, holder)
        tmpl, scope, in_arts = process_args(tmpl, args, arts_scope or {}, {"workflow.name": WF}, {})
        call = Call(name, display, tmpl_name, tmpl, scope, in_arts, boundary)
        if tmpl.get("retryStrategy") is not None:
            return execute_with_retries(self, call, tmpl["retryStrategy"])
        return self.execute_once(call, None)

    def execute_once(self, call: Call, retries: int | None) -> Node | None:
        name, display, tmpl_name, tmpl, scope, boundary = (
            call.name,
            call.display,
            call.tmpl_name,
            call.tmpl,
            call.scope,
            call.boundary,
        )
        if "steps" in tmpl:
            return run_steps(self, call)
        if "dag" in tmpl:
            return run_dag(self, call)
        node = self.book.create(name, display, "Pod", tmpl_name, boundary, inputs=tmpl.get("inputs"))
        inputs = {k.split(".")[-1]: v for k, v in scope.items() if k.startswith("inputs.parameters.")}
        with self.lock:
            self.pods.append(name)
        phase, params = self.outcome(name, inputs)
        outputs: dict[str, Any] = {}
        if params:
            outputs["parameters"] = [{"name": k, "value": v} for k, v in params.items()]
        message = "" if phase == "Succeeded" else f"Error (exit code 1) in {display}"
        self.book.finish(node, phase, message, outputs=outputs or None)
        return node


def leaf(name: str, *params: str, outputs: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    tmpl: dict[str, Any] = {"name": name, "container": {"image": "x", "command": ["true"]}}
    if params:
        tmpl["inputs"] = {"parameters": [{"name": p} for p in params]}
    if outputs:
        tmpl["outputs"] = {"parameters": [{"name": o, "valueFrom": {"path": f"/tmp/{o}"}} for o in outputs]}
    tmpl.update(extra)
    return tmpl


def start(rt: FakeRuntime, entry: str) -> Node:
    node = rt.execute(WF, WF, {"template": entry}, {}, None)
    assert node is not None
    return node


def node(rt: FakeRuntime, name: str) -> Node:
    found = rt.book.get(node_id(WF, name))
    assert found is not None, f"no node {name}"
    return found


def succeed(_name: str, _inputs: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    return "Succeeded", {}


def test_the_fake_is_a_runtime() -> None:
    rt: Runtime = FakeRuntime([], succeed)  # mypy checks the protocol here
    assert rt.name == WF


# ---------------------------------------------------------------------- steps


def test_steps_run_groups_in_order_and_pass_outputs_on() -> None:
    def outcome(name: str, inputs: Mapping[str, str]) -> tuple[str, dict[str, str]]:
        if name.endswith(".gen"):
            return "Succeeded", {"n": "7"}
        return "Succeeded", {}

    main = {
        "name": "main",
        "steps": [
            [{"name": "gen", "template": "gen"}],
            [
                {
                    "name": "use",
                    "template": "use",
                    "arguments": {
                        "parameters": [{"name": "x", "value": "{{steps.gen.outputs.parameters.n}}"}]
                    },
                }
            ],
        ],
    }
    rt = FakeRuntime([main, leaf("gen", outputs=("n",)), leaf("use", "x")], outcome)
    root = start(rt, "main")
    assert root["phase"] == "Succeeded"
    assert rt.pods == [f"{WF}[0].gen", f"{WF}[1].use"]
    assert node(rt, f"{WF}[1].use")["inputs"]["parameters"] == [{"name": "x", "value": "7"}]


def test_a_failed_step_fails_its_group_and_later_groups_do_not_run() -> None:
    def outcome(name: str, _inputs: Mapping[str, str]) -> tuple[str, dict[str, str]]:
        return ("Failed", {}) if name.endswith(".bad") else ("Succeeded", {})

    main = {
        "name": "main",
        "steps": [
            [{"name": "ok", "template": "t"}, {"name": "bad", "template": "t"}],
            [{"name": "never", "template": "t"}],
        ],
    }
    rt = FakeRuntime([main, leaf("t")], outcome)
    root = start(rt, "main")
    bad = node(rt, f"{WF}[0].bad")
    assert root["phase"] == "Failed"
    assert root["message"] == f"child '{bad['id']}' failed"
    assert f"{WF}[1].never" not in rt.pods
    assert rt.book.get(node_id(WF, f"{WF}[1]")) is None


def test_continue_on_failed_lets_the_group_succeed() -> None:
    main = {
        "name": "main",
        "steps": [
            [{"name": "bad", "template": "t", "continueOn": {"failed": True}}],
            [{"name": "next", "template": "t"}],
        ],
    }
    rt = FakeRuntime(
        [main, leaf("t")], lambda n, _i: ("Failed", {}) if n.endswith(".bad") else ("Succeeded", {})
    )
    assert start(rt, "main")["phase"] == "Succeeded"
    assert rt.pods[-1] == f"{WF}[1].next"


def test_when_false_skips_with_argos_message() -> None:
    main = {"name": "main", "steps": [[{"name": "s", "template": "t", "when": "1 == 2"}]]}
    rt = FakeRuntime([main, leaf("t")], succeed)
    assert start(rt, "main")["phase"] == "Succeeded"
    skipped = node(rt, f"{WF}[0].s")
    assert (skipped["type"], skipped["phase"], skipped["message"]) == (
        "Skipped",
        "Skipped",
        "when '1 == 2' evaluated false",
    )
    assert rt.pods == []


def test_a_loop_expands_items_and_aggregates_their_outputs() -> None:
    main = {
        "name": "main",
        "outputs": {
            "parameters": [{"name": "all", "valueFrom": {"parameter": "{{steps.sq.outputs.parameters.y}}"}}]
        },
        "steps": [
            [
                {
                    "name": "sq",
                    "template": "sq",
                    "withItems": [1, 2, 3],
                    "arguments": {"parameters": [{"name": "x", "value": "{{item}}"}]},
                }
            ]
        ],
    }

    def outcome(_name: str, inputs: Mapping[str, str]) -> tuple[str, dict[str, str]]:
        return "Succeeded", {"y": str(int(inputs["x"]) ** 2)}

    rt = FakeRuntime([main, leaf("sq", "x", outputs=("y",))], outcome)
    root = start(rt, "main")
    assert sorted(rt.pods) == [f"{WF}[0].sq(0:1)", f"{WF}[0].sq(1:2)", f"{WF}[0].sq(2:3)"]
    assert root["outputs"]["parameters"][0]["value"] == '["1","4","9"]'


def test_an_empty_loop_is_skipped_with_argos_message() -> None:
    main = {"name": "main", "steps": [[{"name": "l", "template": "t", "withItems": []}]]}
    rt = FakeRuntime([main, leaf("t")], succeed)
    assert start(rt, "main")["phase"] == "Succeeded"
    assert node(rt, f"{WF}[0].l")["message"] == "Skipped, empty params"


# ---------------------------------------------------------------------- dag


def dag(*tasks: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": "main", "dag": {"tasks": list(tasks), **extra}}


def test_dag_depends_on_a_failure_runs_the_handler_and_omits_the_rest() -> None:
    main = dag(
        {"name": "a", "template": "t"},
        {"name": "onfail", "template": "t", "depends": "a.Failed"},
        {"name": "onok", "template": "t", "depends": "a.Succeeded"},
    )
    rt = FakeRuntime(
        [main, leaf("t")], lambda n, _i: ("Failed", {}) if n.endswith(".a") else ("Succeeded", {})
    )
    root = start(rt, "main")
    assert rt.pods == [f"{WF}.a", f"{WF}.onfail"]
    omitted = node(rt, f"{WF}.onok")
    assert (omitted["phase"], omitted["message"]) == ("Omitted", "omitted: depends condition not met")
    # assessDAGPhase: the omitted leaf inherits its branch's phase (a failed)
    assert root["phase"] == "Failed"


def test_dag_runs_tasks_after_their_dependencies_only() -> None:
    order: list[str] = []
    lock = threading.Lock()

    def outcome(name: str, _inputs: Mapping[str, str]) -> tuple[str, dict[str, str]]:
        with lock:
            order.append(name.rsplit(".", 1)[1])
        return "Succeeded", {}

    main = dag(
        {"name": "d", "template": "t", "dependencies": ["b", "c"]},
        {"name": "b", "template": "t", "dependencies": ["a"]},
        {"name": "c", "template": "t", "dependencies": ["a"]},
        {"name": "a", "template": "t"},
    )
    rt = FakeRuntime([main, leaf("t")], outcome)
    assert start(rt, "main")["phase"] == "Succeeded"
    assert order[0] == "a" and order[-1] == "d" and sorted(order[1:3]) == ["b", "c"]


def test_dag_target_runs_only_what_the_target_needs() -> None:
    main = dag(
        {"name": "a", "template": "t"},
        {"name": "b", "template": "t", "dependencies": ["a"]},
        {"name": "other", "template": "t"},
        target="b",
    )
    rt = FakeRuntime([main, leaf("t")], succeed)
    assert start(rt, "main")["phase"] == "Succeeded"
    assert sorted(rt.pods) == [f"{WF}.a", f"{WF}.b"]


# ---------------------------------------------------------------------- retry


@pytest.mark.parametrize(
    ("policy", "phases", "attempts", "final"),
    [
        ("OnFailure", ["Failed", "Failed", "Succeeded"], 3, "Succeeded"),
        ("OnFailure", ["Failed", "Failed", "Failed", "Failed"], 3, "Failed"),
        ("OnError", ["Failed"], 1, "Failed"),
        ("Always", ["Error", "Failed", "Succeeded"], 3, "Succeeded"),
    ],
)
def test_retry_policy_and_limit(policy: str, phases: list[str], attempts: int, final: str) -> None:
    left = list(phases)

    def outcome(_name: str, _inputs: Mapping[str, str]) -> tuple[str, dict[str, str]]:
        return left.pop(0), {}

    main = {"name": "main", "steps": [[{"name": "r", "template": "t"}]]}
    rt = FakeRuntime([main, leaf("t", retryStrategy={"limit": 2, "retryPolicy": policy})], outcome)
    start(rt, "main")
    retry = node(rt, f"{WF}[0].r")
    assert retry["type"] == "Retry"
    assert rt.pods == [f"{WF}[0].r({i})" for i in range(attempts)]
    assert retry["phase"] == final
    assert len(retry["children"]) == attempts
    if final == "Failed" and policy == "OnFailure":
        assert retry["message"] == "No more retries left"


def test_retry_expression_sees_the_last_attempt() -> None:
    main = {"name": "main", "steps": [[{"name": "r", "template": "t"}]]}
    strategy = {"limit": 5, "expression": "lastRetry.status == 'Error'"}
    left = ["Error", "Failed", "Succeeded"]
    rt = FakeRuntime([main, leaf("t", retryStrategy=strategy)], lambda _n, _i: (left.pop(0), {}))
    start(rt, "main")
    assert len(rt.pods) == 2  # the Failed attempt does not match the expression
    assert node(rt, f"{WF}[0].r")["phase"] == "Failed"


# ---------------------------------------------------------------------- stopping


def test_a_stopped_run_starts_nothing_more_and_says_why() -> None:
    main = {
        "name": "main",
        "steps": [[{"name": "first", "template": "t"}], [{"name": "second", "template": "t"}]],
    }
    rt = FakeRuntime([main, leaf("t")], succeed)

    def outcome(name: str, _inputs: Mapping[str, str]) -> tuple[str, dict[str, str]]:
        rt.cancel.set()  # the run is stopped while the first pod runs
        return "Failed", {}

    rt.outcome = outcome
    root = start(rt, "main")
    assert rt.pods == [f"{WF}[0].first"]
    assert root["phase"] == "Failed"
    assert root["message"] == "Stopped with strategy 'Terminate'"


def test_a_loops_outputs_aggregate_as_argos_aggregated_json_value_list() -> None:
    """Argo's ``aggregatedJSONValueList``: when every item's value is a JSON list or map (a
    group pod's outputs), the list of them re-marshalled by Go (float64 numbers: the real
    controller gave `[[100,100.5,101],[101.5]]` for `[100.0, 100.5, 101.0]` and `[101.5]`);
    else the list of the texts."""
    from dflowctl.engines.local.scope import aggregated_values

    assert aggregated_values(["[100.0, 100.5, 101.0]", "[101.5]"]) == "[[100,100.5,101],[101.5]]"
    assert aggregated_values(['{"b": 1, "a": [2.0]}', "[]"]) == '[{"a":[2],"b":1},[]]'
    assert aggregated_values(["100.0", "3"]) == '["100.0","3"]'  # plain values stay texts
    assert aggregated_values(["[1]", "x"]) == '["[1]","x"]'  # one that is not JSON: all texts
    assert aggregated_values(["[NaN]"]) == '["[NaN]"]'  # Go's JSON has no NaN
