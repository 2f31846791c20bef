"""Hand-written Argo Workflow objects (status in Argo's exact shape) for CLI and console tests.

Shapes follow ARGO_NOTES §3: node names (`wf[0].step`, `wf.task`, `x(0:a)`, `x(1)`),
StepGroup nodes between step groups, boundaryID of the enclosing Steps/DAG node,
children pointing to the next group (steps) or the dependants (DAG).
"""

from __future__ import annotations

import zlib
from typing import Any

T0 = "2026-01-02T03:04:00Z"


def ts(seconds: int) -> str:
    return f"2026-01-02T03:{4 + seconds // 60:02d}:{seconds % 60:02d}Z"


def node(
    wf: str,
    name: str,
    type_: str,
    phase: str,
    *,
    display: str | None = None,
    children: list[str] | None = None,
    boundary: str | None = None,
    template: str | None = None,
    start: int | None = 0,
    end: int | None = None,
    message: str | None = None,
    outputs: dict[str, Any] | None = None,
    outbound: list[str] | None = None,
) -> tuple[str, dict[str, Any]]:
    nid = wf if name == wf else f"{wf}-{zlib.crc32(name.encode())}"
    raw: dict[str, Any] = {
        "id": nid,
        "name": name,
        "displayName": display or name,
        "type": type_,
        "phase": phase,
    }
    if template:
        raw["templateName"] = template
    if boundary:
        raw["boundaryID"] = boundary
    if children:
        raw["children"] = children
    if start is not None:
        raw["startedAt"] = ts(start)
    if end is not None:
        raw["finishedAt"] = ts(end)
    if message:
        raw["message"] = message
    if outputs:
        raw["outputs"] = outputs
    if outbound:
        raw["outboundNodes"] = outbound
    return nid, raw


def workflow(name: str, phase: str, nodes: list[tuple[str, dict[str, Any]]], **status: Any) -> dict[str, Any]:
    st: dict[str, Any] = {"phase": phase, "startedAt": ts(0), "nodes": dict(nodes)}
    st.update(status)
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name, "namespace": "argo"},
        "spec": {},
        "status": st,
    }


def s3_art(name: str, key: str) -> dict[str, Any]:
    return {"name": name, "path": f"/tmp/{name}", "s3": {"key": key}}


def hello(phase: str = "Succeeded") -> dict[str, Any]:
    """Steps: [write] then [shout]; shout fails when phase is Failed."""
    wf = "hello-abcde"
    shout_phase = "Succeeded" if phase == "Succeeded" else "Failed"
    shout_id, shout = node(
        wf,
        f"{wf}[1].shout",
        "Pod",
        shout_phase,
        display="shout",
        boundary=wf,
        template="shout",
        start=3,
        end=5,
        message=None if phase == "Succeeded" else "Error (exit code 1)",
        outputs={
            "parameters": [{"name": "size", "value": "12"}],
            "artifacts": [s3_art("loud", f"{wf}/{wf}-shout-1/loud.tgz")],
            "exitCode": "0" if phase == "Succeeded" else "1",
        },
    )
    g1_id, g1 = node(
        wf,
        f"{wf}[1]",
        "StepGroup",
        shout_phase,
        display="[1]",
        boundary=wf,
        children=[shout_id],
        start=3,
        end=5,
    )
    write_id, write = node(
        wf,
        f"{wf}[0].write",
        "Pod",
        "Succeeded",
        display="write",
        boundary=wf,
        template="write-file",
        start=1,
        end=2,
        children=[g1_id],
        outputs={
            "artifacts": [
                s3_art("out_art", f"{wf}/{wf}-write-file-2/out_art.tgz"),
                s3_art("main-logs", f"{wf}/{wf}-write-file-2/main.log"),
            ]
        },
    )
    g0_id, g0 = node(
        wf,
        f"{wf}[0]",
        "StepGroup",
        "Succeeded",
        display="[0]",
        boundary=wf,
        children=[write_id],
        start=1,
        end=2,
    )
    root = node(
        wf, wf, "Steps", phase, template="main", children=[g0_id], start=0, end=6, outbound=[shout_id]
    )
    extra = {"finishedAt": ts(6), "progress": "2/2" if phase == "Succeeded" else "1/2"}
    if phase != "Succeeded":
        extra["message"] = "child 'x' failed"
    return workflow(
        wf, phase, [root, (g0_id, g0), (write_id, write), (g1_id, g1), (shout_id, shout)], **extra
    )


def fanout(n: int = 3) -> dict[str, Any]:
    """DAG: split -> square (withItems, TaskGroup of n items, item 1 retried once) -> total."""
    wf = "fan-xyz12"
    total_id, total = node(
        wf,
        f"{wf}.total",
        "Pod",
        "Succeeded",
        display="total",
        boundary=wf,
        template="sum",
        start=20,
        end=21,
        outputs={
            "parameters": [{"name": "sum", "value": str(sum(i * i for i in range(n)))}],
            "result": "done",
        },
    )
    items = []
    item_ids = []
    for i in range(n):
        nm = f"{wf}.square({i}:{i})"
        if i == 1:
            a0_id, a0 = node(
                wf,
                f"{nm}(0)",
                "Pod",
                "Failed",
                display=f"square({i}:{i})(0)",
                boundary=wf,
                template="square",
                start=5,
                end=6,
                message="Error (exit code 1)",
            )
            a1_id, a1 = node(
                wf,
                f"{nm}(1)",
                "Pod",
                "Succeeded",
                display=f"square({i}:{i})(1)",
                boundary=wf,
                template="square",
                start=7,
                end=8,
                children=[total_id],
                outputs={"artifacts": [s3_art("out", f"{wf}/sq-{i}/out.tgz")]},
            )
            rid, r = node(
                wf,
                nm,
                "Retry",
                "Succeeded",
                display=f"square({i}:{i})",
                boundary=wf,
                start=5,
                end=8,
                children=[a0_id, a1_id],
                outputs={"artifacts": [s3_art("out", f"{wf}/sq-{i}/out.tgz")]},
            )
            items += [(rid, r), (a0_id, a0), (a1_id, a1)]
            item_ids.append(rid)
        else:
            iid, it = node(
                wf,
                nm,
                "Pod",
                "Succeeded",
                display=f"square({i}:{i})",
                boundary=wf,
                template="square",
                start=5,
                end=9 + i,
                children=[total_id],
                outputs={"artifacts": [s3_art("out", f"{wf}/sq-{i}/out.tgz")]},
            )
            items.append((iid, it))
            item_ids.append(iid)
    tg_id, tg = node(
        wf,
        f"{wf}.square",
        "TaskGroup",
        "Succeeded",
        display="square",
        boundary=wf,
        children=item_ids,
        start=5,
        end=12,
    )
    split_id, split = node(
        wf,
        f"{wf}.split",
        "Pod",
        "Succeeded",
        display="split",
        boundary=wf,
        template="split",
        start=1,
        end=4,
        children=[tg_id],
    )
    root = node(
        wf, wf, "DAG", "Succeeded", template="main", children=[split_id], start=0, end=22, outbound=[total_id]
    )
    return workflow(
        wf, "Succeeded", [root, (split_id, split), (tg_id, tg), *items, (total_id, total)], finishedAt=ts(22)
    )


def nested_running() -> dict[str, Any]:
    """Steps calling a composite steps op `inner` (with a, b), b running; plus an onExit node."""
    wf = "nest-q1w2e"
    b_id, b = node(wf, f"{wf}[0].inner[1].b", "Pod", "Running", display="b", template="b", start=4)
    ig1_id, ig1 = node(
        wf, f"{wf}[0].inner[1]", "StepGroup", "Running", display="[1]", children=[b_id], start=4
    )
    a_id, a = node(
        wf,
        f"{wf}[0].inner[0].a",
        "Pod",
        "Succeeded",
        display="a",
        template="a",
        start=2,
        end=3,
        children=[ig1_id],
    )
    ig0_id, ig0 = node(
        wf, f"{wf}[0].inner[0]", "StepGroup", "Succeeded", display="[0]", children=[a_id], start=2, end=3
    )
    inner_id, inner = node(
        wf,
        f"{wf}[0].inner",
        "Steps",
        "Running",
        display="inner",
        template="inner",
        boundary=wf,
        children=[ig0_id],
        start=1,
    )
    for raw in (b, ig1, a, ig0):
        raw["boundaryID"] = inner_id
    g0_id, g0 = node(
        wf, f"{wf}[0]", "StepGroup", "Running", display="[0]", boundary=wf, children=[inner_id], start=1
    )
    skip_id, skip = node(
        wf,
        f"{wf}[0].maybe",
        "Skipped",
        "Skipped",
        display="maybe",
        boundary=wf,
        start=1,
        end=1,
        message="when 'false' evaluated false",
    )
    g0["children"].append(skip_id)
    exit_id, ex = node(
        wf, f"{wf}.onExit", "Pod", "Pending", display=f"{wf}.onExit", template="cleanup", start=None
    )
    root = node(wf, wf, "Steps", "Running", template="main", children=[g0_id], start=0)
    return workflow(
        wf,
        "Running",
        [
            root,
            (g0_id, g0),
            (inner_id, inner),
            (ig0_id, ig0),
            (a_id, a),
            (ig1_id, ig1),
            (b_id, b),
            (skip_id, skip),
            (exit_id, ex),
        ],
    )
