"""The report page and graphs built from hand-written Argo status objects (no run needed):
a run with no nodes yet, hostile text everywhere, Argo's resourcesDuration and
memoization marks, a DAG fan-out (TaskGroup)."""

from __future__ import annotations

from typing import Any

from dflowctl.report.collect import Extras
from dflowctl.report.graph import run_graph, to_dot, to_mermaid
from dflowctl.report.html import report_page
from dflowctl.results import decode, output_rows, split_item
from tests.browser import Element, _Collect

EVIL = "<script>alert(1)</script>"


def _parse(html: str) -> list[Element]:
    parser = _Collect()
    parser.feed(html)
    return parser.elements


def _wf(nodes: dict[str, dict[str, Any]], **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "wf", "namespace": "ns", "labels": {"team": EVIL}},
        "spec": {"arguments": {"parameters": [{"name": "p", "value": EVIL}]}},
        "status": {"phase": "Running", "startedAt": "2026-01-02T03:04:00Z", "nodes": nodes, **status},
    }


def test_a_run_without_nodes_yet() -> None:
    html = report_page(_wf({}, phase="Pending"), Extras(), engine="local")
    assert "No steps yet." in html and "No pod has started." in html
    elements = _parse(html)
    assert len([e for e in elements if e.tag == "script"]) == 1


def test_hostile_text_is_escaped_everywhere() -> None:
    nodes = {
        "wf": {"id": "wf", "name": "wf", "displayName": "wf", "type": "DAG", "phase": "Failed",
               "children": ["t"], "message": EVIL, "startedAt": "2026-01-02T03:04:00Z"},
        "t": {"id": "t", "name": f"wf.{EVIL}", "displayName": EVIL, "type": "Pod", "phase": "Failed",
              "boundaryID": "wf", "templateName": EVIL, "message": EVIL,
              "startedAt": "2026-01-02T03:04:00Z", "finishedAt": "2026-01-02T03:04:05Z",
              "inputs": {"parameters": [{"name": EVIL, "value": EVIL}]},
              "outputs": {"parameters": [{"name": "o", "value": EVIL}]}},
    }  # fmt: skip
    extras = Extras(logs={"t": [EVIL, "</pre><img src=x onerror=alert(2)>"]}, log_error=EVIL)
    html = report_page(_wf(nodes, phase="Failed", message=EVIL), extras, engine="local")
    elements = _parse(html)
    assert len([e for e in elements if e.tag == "script"]) == 1
    assert [e for e in elements if e.tag == "img"] == []
    assert EVIL not in html  # only its escaped form
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 8
    mermaid = to_mermaid(run_graph(_wf(nodes)))
    assert f'n1["{EVIL} (Failed)"]' in mermaid
    dot = to_dot(run_graph(_wf({**nodes, "t": {**nodes["t"], "displayName": 'a"b\\c'}})))
    assert 'label="a\\"b\\\\c (Failed)"' in dot


def test_argo_costs_and_cache_marks_and_a_dag_fanout() -> None:
    def pod(i: int) -> dict[str, Any]:
        return {
            "id": f"i{i}", "name": f"wf.sq({i}:{i})", "displayName": f"sq({i}:{i})", "type": "Pod",
            "phase": "Succeeded", "boundaryID": "wf", "templateName": "sq",
            "startedAt": "2026-01-02T03:04:00Z", "finishedAt": "2026-01-02T03:04:02Z",
            "resourcesDuration": {"cpu": 2, "memory": 1}, "memoizationStatus": {"hit": i == 0},
            "outputs": {"parameters": [{"name": "y", "value": str(i * i)}]},
        }  # fmt: skip

    nodes = {
        "wf": {"id": "wf", "name": "wf", "displayName": "wf", "type": "DAG", "phase": "Succeeded",
               "children": ["g"]},
        "g": {"id": "g", "name": "wf.sq", "displayName": "sq", "type": "TaskGroup", "phase": "Succeeded",
              "boundaryID": "wf", "children": ["i0", "i1", "i2"]},
        **{f"i{i}": pod(i) for i in range(3)},
    }  # fmt: skip
    wf = _wf(nodes, phase="Succeeded")
    graph = run_graph(wf)
    assert [(n.label, n.kind, n.note, len(n.items)) for n in graph.nodes.values()] == [
        ("wf", "group", "", 0),
        ("sq", "fanout", "×3", 3),
    ]
    html = report_page(wf, Extras(), engine="argo")
    assert "<th>cpu (s)</th><th>memory (s)</th>" in html
    assert '<td class="num">6</td><td class="num">3</td>' in html  # summed over the items
    assert '<span class="mark">cached</span>' in html
    rows = output_rows(wf)
    assert [(r.step, r.index, r.item, r.values) for r in rows] == [
        ("sq", 0, "0", {"y": "0"}),
        ("sq", 1, "1", {"y": "1"}),
        ("sq", 2, "2", {"y": "4"}),
    ]


def test_split_item_and_decode() -> None:
    assert split_item("square(3:3)") == ("square", 3, "3")
    assert split_item(f"show(0:{EVIL})") == ("show", 0, EVIL)
    assert split_item("plain") == ("plain", None, None)
    assert decode("5", "int") == 5 and decode("5", "str") == "5" and decode("5") == 5
    assert decode("2", "float") == 2.0 and isinstance(decode("2", "float"), float)
    assert decode('"q"') == '"q"' and decode("[1, 2]", "list") == [1, 2] and decode("x y") == "x y"


def test_one_rule_hides_what_dflowctl_adds_in_every_view() -> None:
    from dflowctl.runoutputs import run_outputs

    names = ["total", "dflowctl-index", "dflowctl-python", "dflowctl-key", "dflowctl-reused", "dflowctl-x"]

    def pod(i: int) -> dict[str, Any]:
        return {
            "id": f"i{i}", "name": f"wf.sq({i}:{i})", "displayName": f"sq({i}:{i})", "type": "Pod",
            "phase": "Succeeded", "boundaryID": "wf", "templateName": "sq",
            "outputs": {"parameters": [{"name": n, "value": f"v-{n}"} for n in names]},
        }  # fmt: skip

    nodes = {
        "wf": {"id": "wf", "name": "wf", "displayName": "wf", "type": "Steps", "phase": "Succeeded",
               "children": ["g", "one"]},
        "g": {"id": "g", "name": "wf.sq", "displayName": "sq", "type": "TaskGroup", "phase": "Succeeded",
              "boundaryID": "wf", "children": ["i0", "i1"]},
        "one": {**pod(9), "id": "one", "name": "wf.one", "displayName": "one"},
        **{f"i{i}": pod(i) for i in range(2)},
    }  # fmt: skip
    wf = _wf(nodes, phase="Succeeded")
    assert {r.name for r in run_outputs(wf)} == {"total"}
    assert all(set(r.values) == {"total"} for r in output_rows(wf))
    html = report_page(wf, Extras(), engine="local")
    assert "v-total" in html and "v-dflowctl" not in html


def test_parallel_steps_are_drawn_in_one_order_whichever_was_created_first() -> None:
    def pod(name: str, after: list[str]) -> dict[str, Any]:
        return {"id": name, "name": f"wf.{name}", "displayName": name, "type": "Pod", "phase": "Succeeded",
                "boundaryID": "wf", "children": after}  # fmt: skip

    def order(first: str, second: str) -> list[str]:
        nodes = {
            "wf": {"id": "wf", "name": "wf", "displayName": "wf", "type": "DAG", "children": ["start"]},
            "start": pod("start", [first, second]),
            second: pod(second, ["join"]),
            first: pod(first, ["join"]),
            "join": pod("join", []),
        }
        return [n.label for n in run_graph(_wf(nodes)).nodes.values()]

    assert order("right", "left") == order("left", "right") == ["wf", "start", "left", "right", "join"]
