"""DAG templates, as Argo's ``executeDAG`` runs them.

A task starts when all its dependencies are fulfilled and its ``depends`` logic
holds (else it is Omitted); ``target`` runs only the tasks the targets need; the
DAG's phase is Argo's ``assessDAGPhase`` over the target tasks.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from dflowctl import expr
from dflowctl.argo import FAILED_OR_ERROR, FULFILLED, node_id
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


def _dependencies(task: Mapping[str, Any], names: set[str]) -> list[str]:
    if task.get("depends"):
        refs = expr.depends_tasks(str(task["depends"]))
        return [n for n in sorted(refs) if n in names]
    return [str(d) for d in task.get("dependencies") or []]


def _depends_logic(task: Mapping[str, Any]) -> str:
    if task.get("depends"):
        return str(task["depends"])
    return expr.dependencies_to_depends(str(d) for d in task.get("dependencies") or [])


def _task_result(rt: Runtime, node: Node, spec: Mapping[str, Any]) -> expr.TaskResult:
    kids: tuple[str, ...] = ()
    if node.get("type") == "TaskGroup":
        kids = tuple(str((rt.book.get(c) or {}).get("phase", "")) for c in node.get("children") or [])
    cont = spec.get("continueOn") or {}
    return expr.TaskResult(
        phase=str(node.get("phase")),
        daemoned=bool(node.get("daemoned")),
        children_phases=kids,
        continue_on_failed=bool(cont.get("failed")),
        continue_on_error=bool(cont.get("error")),
    )


def _leaves(tasks: Mapping[str, Mapping[str, Any]], deps: Mapping[str, list[str]]) -> list[str]:
    used = {d for ds in deps.values() for d in ds}
    return sorted(t for t in tasks if t not in used)


def assess_dag(
    rt: Runtime,
    dag_id: str,
    name: str,
    targets: list[str],
    tasks: Mapping[str, Mapping[str, Any]],
    fail_fast: bool,
) -> str:
    """Argo's ``assessDAGPhase``: omitted target tasks inherit their branch's phase."""
    book = rt.book
    target_phase = {node_id(rt.name, f"{name}.{t}"): "" for t in targets}
    with book.lock:
        dag = book.get(dag_id) or {}
        queue = deque((c, "Succeeded") for c in dag.get("children") or [])
        seen: set[tuple[str, str]] = set()
        while queue:
            nid, branch = queue.popleft()
            if (nid, branch) in seen:
                continue
            seen.add((nid, branch))
            node = book.get(nid)
            if node is None or node.get("phase") not in FULFILLED:
                return "Running"
            if node.get("phase") != "Omitted":
                branch = node["phase"]
            if nid in target_phase and target_phase[nid] not in FAILED_OR_ERROR:
                target_phase[nid] = branch
            if node.get("type") == "Retry":
                kids = [
                    k for c in node.get("children") or [] for k in (book.get(c) or {}).get("children") or []
                ]
            else:
                kids = list(node.get("children") or [])
            queue.extend((k, branch) for k in kids)
    result = "Succeeded"
    for task in targets:
        branch = target_phase[node_id(rt.name, f"{name}.{task}")]
        if branch == "":
            result = "Running"
            if not fail_fast:
                break
        elif branch in FAILED_OR_ERROR:
            if continues(tasks[task], branch):
                continue
            result = branch
            if fail_fast:
                break
    return result


def run_dag(rt: Runtime, call: Call) -> Node:
    name, tmpl, book = call.name, call.tmpl, rt.book
    node = call.create(book, "DAG")
    did = node["id"]
    dag = tmpl.get("dag") or {}
    tasks = {str(t["name"]): t for t in dag.get("tasks") or []}
    names = set(tasks)
    deps = {t: _dependencies(spec, names) for t, spec in tasks.items()}
    logic = {t: _depends_logic(spec) for t, spec in tasks.items()}
    targets = str(dag["target"]).split() if dag.get("target") else _leaves(tasks, deps)
    if dag.get("target"):  # only the tasks the targets need run (Argo's dag.target)
        need: set[str] = set()
        todo = [t for t in targets if t in tasks]
        while todo:
            t = todo.pop()
            if t not in need:
                need.add(t)
                todo.extend(deps[t])
        tasks = {t: spec for t, spec in tasks.items() if t in need}
        deps = {t: d for t, d in deps.items() if t in need}
        logic = {t: e for t, e in logic.items() if t in need}
    fail_fast = dag.get("failFast", True) is not False
    sem = parallelism_slots(tmpl)
    local: Scope = dict(call.scope)
    arts: ArtifactScope = dict(call.in_arts)
    book.reserve(did, [node_id(rt.name, f"{name}.{t}") for t in tasks])
    cond = threading.Condition()
    done: dict[str, Node] = {}
    running: set[str] = set()
    tripped = False

    def parents_of(task: str) -> list[str]:
        if not deps[task]:
            return [did]
        return [o for d in deps[task] for o in book.outbound(done[d]["id"])]

    def finished(task: str, tnode: Node) -> None:
        nonlocal tripped
        with cond:
            prefix = f"tasks.{task}"
            if tnode.get("type") == "TaskGroup":
                kids = [k for c in tnode.get("children") or [] if (k := book.get(c)) is not None]
                aggregate_scope(prefix, loop_nodes(rt, kids), local)
            scope_of_node(rt, prefix, tnode, local, arts)
            done[task] = tnode
            running.discard(task)
            failed = tnode.get("phase") in FAILED_OR_ERROR and fail_fast
            if failed and assess_dag(rt, did, name, targets, tasks, True) in FAILED_OR_ERROR:
                tripped = True
            cond.notify_all()

    def start(task: str) -> None:
        snapshot = dict(local)
        parents = parents_of(task)

        def go() -> None:
            try:
                tnode = _run_task(rt, name, task, tasks[task], snapshot, arts, sem, did, parents)
            except Exception as err:  # keep the DAG going; the node records the problem
                tnode = book.create(
                    f"{name}.{task}",
                    task,
                    "Skipped",
                    tasks[task].get("template"),
                    did,
                    phase="Error",
                    message=f"task '{name}.{task}' errored: {err}",
                )
            finished(task, tnode)

        running.add(task)
        threading.Thread(target=go, daemon=True).start()

    with cond:
        while True:
            progressed = False
            for task in tasks:
                if task in done or task in running or tripped or rt.cancel.is_set():
                    continue
                if any(d not in done for d in deps[task]):
                    continue
                if logic[task]:
                    results = {d: _task_result(rt, done[d], tasks[d]) for d in deps[task]}
                    try:
                        proceed = expr.evaluate_depends(logic[task], results)
                    except expr.ExprError as err:
                        book.link_on_create(node_id(rt.name, f"{name}.{task}"), parents_of(task))
                        tnode = book.create(
                            f"{name}.{task}",
                            task,
                            "Skipped",
                            tasks[task].get("template"),
                            did,
                            phase="Error",
                            message=str(err),
                        )
                        done[task] = tnode
                        progressed = True
                        continue
                    if not proceed:
                        book.link_on_create(node_id(rt.name, f"{name}.{task}"), parents_of(task))
                        done[task] = book.create(
                            f"{name}.{task}",
                            task,
                            "Skipped",
                            tasks[task].get("template"),
                            did,
                            phase="Omitted",
                            message="omitted: depends condition not met",
                        )
                        scope_of_node(rt, f"tasks.{task}", done[task], local, arts)
                        progressed = True
                        continue
                start(task)
                progressed = True
            if not running and not progressed:
                break
            if not progressed:
                cond.wait(0.5)
    rt.end_scope(did)  # its daemons end before the DAG's phase is assessed (they end Succeeded)
    phase = assess_dag(rt, did, name, targets, tasks, fail_fast)
    if phase == "Running":
        phase = "Failed"
    message = rt.interrupted_message() if rt.cancel.is_set() and phase != "Succeeded" else ""
    outbound = [o for t in targets if t in done for o in book.outbound(done[t]["id"])]
    return finish_composite(rt, node, tmpl, phase, message, local, arts, outbound)


def _run_task(
    rt: Runtime,
    dag_name: str,
    task: str,
    spec: Mapping[str, Any],
    scope: Scope,
    arts: ArtifactScope,
    sem: Slots | None,
    did: str,
    parents: list[str],
) -> Node:
    book = rt.book
    tname = f"{dag_name}.{task}"
    tid = node_id(rt.name, tname)
    try:
        entries = expand(rt, spec, tname, task, scope)
    except (TemplateError, expr.ExprError) as err:
        book.link_on_create(tid, parents)
        return book.create(tname, task, "Skipped", spec.get("template"), did, phase="Error", message=str(err))
    looped = any(spec.get(k) is not None for k in LOOP_KEYS)
    if not looped:
        entry = entries[0]  # type: ignore[index]
        book.link_on_create(tid, parents)
        node = run_entry(rt, entry, did, arts, sem, scope, "tasks")
        if node is None:
            return book.create(
                tname,
                task,
                "Skipped",
                spec.get("template"),
                did,
                phase="Failed",
                message=rt.interrupted_message(),
            )
        return node
    book.link_on_create(tid, parents)
    if not entries:
        return book.create(
            tname,
            task,
            "Skipped",
            spec.get("template"),
            did,
            phase="Skipped",
            message="Skipped, empty params",
        )
    group = book.create(tname, task, "TaskGroup", spec.get("template"), did)
    book.reserve(tid, [node_id(rt.name, e.name) for e in entries])
    results: dict[str, Node | None] = {}

    def runner(entry: Entry) -> Callable[[], None]:
        def go() -> None:
            book.link_on_create(node_id(rt.name, entry.name), [tid])
            results[entry.name] = run_entry(rt, entry, did, arts, sem, scope, "tasks")

        return go

    parallel([runner(e) for e in entries], rt.width(sem))
    phase, message = "Succeeded", ""
    for entry in entries:
        child = results.get(entry.name)
        if child is None:
            phase, message = "Failed", rt.interrupted_message()
        elif child.get("phase") in FAILED_OR_ERROR:
            phase = child["phase"]
    book.finish(group, phase, message)
    return group
