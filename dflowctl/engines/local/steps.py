"""Steps templates, as Argo's ``executeSteps`` runs them.

Groups in order, a group's steps (and loop items) in parallel; a group fails on
the first child that failed without ``continueOn``; ``failFast`` stops new
children from starting once one failed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from dflowctl import expr
from dflowctl.argo import FAILED_OR_ERROR, SUCCESSFUL, node_id
from dflowctl.engines.local.flow import (
    LOOP_KEYS,
    Entry,
    continues,
    expand,
    finish_composite,
    loop_nodes,
    parallel,
    parallelism_slots,
    run_entry,
    scope_of_node,
)
from dflowctl.engines.local.runtime import Call, Node, Runtime
from dflowctl.engines.local.scope import ArtifactScope, Scope, TemplateError, aggregate_scope
from dflowctl.engines.local.slots import Slots


def run_steps(rt: Runtime, call: Call) -> Node:
    name, tmpl, book = call.name, call.tmpl, rt.book
    node = call.create(book, "Steps")
    sid = node["id"]
    local: Scope = dict(call.scope)
    arts: ArtifactScope = dict(call.in_arts)
    sem = parallelism_slots(tmpl)
    groups = tmpl.get("steps") or []
    last_group: Node | None = None
    for index, group in enumerate(groups):
        if rt.cancel.is_set():
            break
        gname = f"{name}[{index}]"
        gid = node_id(rt.name, gname)
        if last_group is None:
            book.link_on_create(gid, [sid])
        else:
            prev = last_group.get("children") or []
            parents = [o for c in prev for o in book.outbound(c)] if prev else [last_group["id"]]
            book.link_on_create(gid, parents)
        gnode = book.create(gname, f"[{index}]", "StepGroup", None, sid)
        last_group = gnode
        phase, message = _run_group(rt, gnode, group or [], local, arts, sem, sid, bool(tmpl.get("failFast")))
        if phase != "Succeeded":
            outbound = [o for c in book.get(gid).get("children") or [] for o in book.outbound(c)]  # type: ignore[union-attr]
            return finish_composite(rt, node, tmpl, "Failed", message, local, arts, outbound)
    if rt.cancel.is_set():
        return finish_composite(rt, node, tmpl, "Failed", rt.interrupted_message(), local, arts, [])
    outbound = []
    if last_group is not None:
        outbound = [o for c in book.get(last_group["id"]).get("children") or [] for o in book.outbound(c)]  # type: ignore[union-attr]
    return finish_composite(rt, node, tmpl, "Succeeded", "", local, arts, outbound)


def _run_group(
    rt: Runtime,
    gnode: Node,
    group: list[dict[str, Any]],
    local: Scope,
    arts: ArtifactScope,
    sem: Slots | None,
    sid: str,
    fail_fast: bool = False,
) -> tuple[str, str]:
    book = rt.book
    gname, gid = gnode["name"], gnode["id"]
    plan: list[tuple[dict[str, Any], bool, list[Entry]]] = []  # (step, looped, entries)
    fixed: dict[str, Node] = {}  # nodes decided without running: errors, empty loops
    for step in group:
        base = f"{gname}.{step['name']}"
        looped = any(step.get(k) is not None for k in LOOP_KEYS)
        try:
            entries = expand(rt, step, base, str(step["name"]), local) or []
        except (TemplateError, expr.ExprError) as err:
            book.link_on_create(node_id(rt.name, base), [gid])
            fixed[base] = book.create(
                base, str(step["name"]), "Skipped", step.get("template"), sid, phase="Error", message=str(err)
            )
            plan.append((step, False, []))
            continue
        if looped and not entries:
            book.link_on_create(node_id(rt.name, base), [gid])
            fixed[base] = book.create(
                base,
                str(step["name"]),
                "Skipped",
                step.get("template"),
                sid,
                phase="Skipped",
                message="Skipped, empty params",
            )
        plan.append((step, looped, entries))
    all_entries = [e for _, _, entries in plan for e in entries]
    book.reserve(gid, [node_id(rt.name, e.name) for e in all_entries])
    results: dict[str, Node | None] = {}

    halted = threading.Event()  # template failFast: a failed child stops new ones starting

    def runner(entry: Entry) -> Callable[[], None]:
        def go() -> None:
            if halted.is_set():
                return
            book.link_on_create(node_id(rt.name, entry.name), [gid])
            child = results[entry.name] = run_entry(rt, entry, sid, arts, sem, local, "steps")
            failed = child is not None and child.get("phase") in FAILED_OR_ERROR
            if fail_fast and failed and not continues(entry.spec, str(child.get("phase"))):  # type: ignore[union-attr]
                halted.set()

        return go

    if all_entries:
        parallel([runner(e) for e in all_entries], rt.width(sem))
    # the group's phase (first unsuccessful child in order), then what later groups see
    phase, message = "Succeeded", ""
    for step, _, entries in plan:
        children = [(e.spec, results.get(e.name)) for e in entries]
        base = f"{gname}.{step['name']}"
        if base in fixed:
            children.append((step, fixed[base]))
        for spec, child in children:
            if phase != "Succeeded":
                break
            if child is None and halted.is_set():
                continue
            if child is None:
                phase, message = "Failed", rt.interrupted_message()
            elif (
                child.get("phase") not in SUCCESSFUL
                and not child.get("daemoned")  # a daemon that is up: its step is done
                and not continues(spec, child.get("phase", ""))
            ):
                phase, message = "Failed", f"child '{child['id']}' failed"
    for step, looped, entries in plan:
        prefix = f"steps.{step['name']}"
        if looped:
            items = [n for e in entries if (n := results.get(e.name)) is not None]
            aggregate_scope(prefix, loop_nodes(rt, items), local)
        elif entries and (child := results.get(entries[0].name)) is not None:
            scope_of_node(rt, prefix, child, local, arts)
    book.finish(gnode, phase, message)
    return phase, message
