"""Steps and DAG templates, as Argo's ``executeSteps`` and ``executeDAG`` run them.

Steps: groups in order, a group's steps (and loop items) in parallel; a group
fails on the first child that failed without ``continueOn``. DAG: a task starts
when all its dependencies are fulfilled and its ``depends`` logic holds (else it
is Omitted); the DAG's phase is Argo's ``assessDAGPhase`` over the target tasks.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from dflowctl import expr
from dflowctl.argo import FAILED_OR_ERROR, FULFILLED, node_id
from dflowctl.engines.local.scope import (
    ArtifactScope,
    Scope,
    TemplateError,
    aggregate_scope,
    item_vars,
    loop_items,
    loop_name,
    node_scope,
    walk_strings,
)
from dflowctl.engines.local.slots import Slots

if TYPE_CHECKING:
    from dflowctl.engines.local.controller import Controller

LOOP_KEYS = ("withItems", "withParam", "withSequence")
SUCCESSFUL = frozenset({"Succeeded", "Skipped"})

Node = dict[str, Any]


class Entry:
    """One child to run: a step or task (or one of its loop items)."""

    __slots__ = ("display", "name", "spec", "step")

    def __init__(self, name: str, display: str, spec: dict[str, Any], step: str) -> None:
        self.name = name
        self.display = display
        self.spec = spec
        self.step = step


def _substituter(scope: Scope) -> Callable[[str], str]:
    def sub(text: str) -> str:
        return expr.substitute(text, scope, strict=False)

    return sub


def _subst(obj: Any, scope: Scope) -> Any:
    return walk_strings(obj, lambda s: expr.substitute(s, scope, strict=False))


def expand(spec: Mapping[str, Any], base_name: str, display: str, scope: Scope) -> list[Entry] | None:
    """A step/task with outer tags substituted, then expanded over its items (None: no loop)."""
    resolved = _subst(dict(spec), scope)
    items = loop_items(resolved)
    if items is None:
        return [Entry(base_name, display, resolved, str(spec["name"]))]
    body = {k: v for k, v in resolved.items() if k not in LOOP_KEYS}
    out = []
    for index, item in enumerate(items):
        one = walk_strings(body, _substituter(item_vars(item)))
        out.append(
            Entry(loop_name(base_name, index, item), loop_name(display, index, item), one, str(spec["name"]))
        )
    return out


@contextlib.contextmanager
def _slot(sem: Slots | None, ctl: Controller) -> Iterator[bool]:
    if sem is None:
        yield True
        return
    if not sem.acquire(ctl.cancel):
        yield False
        return
    try:
        yield True
    finally:
        sem.release()


def _parallel(fns: list[Callable[[], None]], width: int) -> None:
    """Run ``fns`` concurrently on at most ``width`` threads (this one included), in order.

    A bounded pool rather than a thread per item: a 1,000-item fan-out then costs a
    few thread starts, while pods are bounded anyway by the runner's parallelism.
    """
    if len(fns) == 1 or width <= 1:
        for fn in fns:
            fn()
        return
    queue = iter(fns)
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                fn = next(queue, None)
            if fn is None:
                return
            fn()

    threads = [threading.Thread(target=work, daemon=True) for _ in range(min(width, len(fns)) - 1)]
    for t in threads:
        t.start()
    work()
    for t in threads:
        t.join()


def _when(ctl: Controller, entry: Entry, boundary: str, template: str | None) -> Node | None:
    """A Skipped node if the entry's ``when`` is false (or an Error node if it cannot be evaluated)."""
    when = entry.spec.get("when")
    if when in (None, ""):
        return None
    try:
        proceed = expr.evaluate_when(str(when))
    except expr.ExprError as err:
        return ctl.book.create(
            entry.name, entry.display, "Skipped", template, boundary, phase="Error", message=str(err)
        )
    if proceed:
        return None
    return ctl.book.create(
        entry.name,
        entry.display,
        "Skipped",
        template,
        boundary,
        phase="Skipped",
        message=f"when '{when}' evaluated false",
    )


def _run_entry(
    ctl: Controller,
    entry: Entry,
    boundary: str,
    arts: ArtifactScope,
    sem: Slots | None,
    scope: Scope,
    prefix: str,
) -> Node | None:
    template = entry.spec.get("template")
    skipped = _when(ctl, entry, boundary, template)
    if skipped is not None:
        return skipped
    with _slot(sem, ctl) as ok:
        if not ok:
            return None
        node = ctl.execute(
            entry.name,
            entry.display,
            entry.spec,
            entry.spec.get("arguments") or {},
            boundary,
            arts_scope=arts,
        )
    if node is not None:
        _exit_hook(ctl, entry, node, boundary, arts, scope, prefix)
    return node


def _exit_hook(
    ctl: Controller, entry: Entry, node: Node, boundary: str, arts: ArtifactScope, scope: Scope, prefix: str
) -> None:
    hooks = entry.spec.get("hooks") or {}
    hook = hooks.get("exit") or ({"template": entry.spec["onExit"]} if entry.spec.get("onExit") else None)
    if not hook:
        return
    hscope = dict(scope)
    harts = dict(arts)
    node_scope(f"{prefix}.{entry.step}", node, hscope, harts)
    hook = _subst(dict(hook), hscope)
    name = f"{node['name']}.onExit"
    ctl.book.link_on_create(node_id(ctl.name, name), [node["id"]])
    ctl.execute(
        name, f"{node['displayName']}.onExit", hook, hook.get("arguments") or {}, boundary, arts_scope=harts
    )


def _node_scope(ctl: Controller, prefix: str, node: Node, scope: Scope, arts: ArtifactScope) -> None:
    """``node_scope``; for a Skipped/Omitted node, its template's ``valueFrom.default``
    outputs stand in (Argo >= 4.0.7) so that consumers still resolve."""
    node_scope(prefix, node, scope, arts)
    if node.get("phase") in ("Skipped", "Omitted"):
        tmpl = ctl.templates.get(str(node.get("templateName", ""))) or {}
        for p in (tmpl.get("outputs") or {}).get("parameters") or []:
            default = (p.get("valueFrom") or {}).get("default")
            if default is not None:
                scope.setdefault(f"{prefix}.outputs.parameters.{p['name']}", str(default))


def _loop_nodes(ctl: Controller, items: list[Node]) -> list[Node]:
    """Item nodes for aggregation: a Retry node stands for its attempts (as Argo's name-prefix scan)."""
    out: list[Node] = []
    for node in items:
        if node.get("type") == "Retry":
            out.extend(n for c in node.get("children") or [] if (n := ctl.book.get(c)) is not None)
        elif node.get("type") != "Skipped":
            out.append(node)
    return out


def _parallelism(tmpl: Mapping[str, Any]) -> Slots | None:
    par = tmpl.get("parallelism")
    return Slots(int(par)) if par else None


def _continues(spec: Mapping[str, Any], phase: str) -> bool:
    cont = spec.get("continueOn") or {}
    return bool((phase == "Failed" and cont.get("failed")) or (phase == "Error" and cont.get("error")))


# ---------------------------------------------------------------------- outputs


def template_outputs(
    ctl: Controller, tmpl: Mapping[str, Any], scope: Scope, arts: ArtifactScope
) -> dict[str, Any]:
    """Outputs of a steps/dag template from its children (valueFrom parameter/expression, from)."""
    spec = tmpl.get("outputs") or {}
    params = []
    for p in spec.get("parameters") or []:
        entry = dict(p)
        vf = p.get("valueFrom") or {}
        try:
            if vf.get("parameter") is not None:
                value = expr.substitute(str(vf["parameter"]), scope, strict=True)
            elif vf.get("expression") is not None:
                value = _text(expr.evaluate_expr(str(vf["expression"]), expr.build_env(scope)))
            elif p.get("value") is not None:
                value = expr.substitute(str(p["value"]), scope, strict=True)
            else:
                continue
        except expr.ExprError:
            if vf.get("default") is None:
                raise
            value = str(vf["default"])
        entry["value"] = value
        params.append(entry)
    artifacts = []
    for a in spec.get("artifacts") or []:
        located = (
            _from_expression(a, scope, arts) if a.get("fromExpression") else ctl.locate_artifact(a, arts)
        )
        if located is None:
            continue
        art = {k: v for k, v in a.items() if k not in ("from", "fromExpression")}
        art.update({k: v for k, v in located.items() if k not in ("optional",)})
        artifacts.append(art)
    out: dict[str, Any] = {}
    if params:
        out["parameters"] = params
    if artifacts:
        out["artifacts"] = artifacts
    return out


_ART_TOKEN = "\x00artifact:"


def _from_expression(a: Mapping[str, Any], scope: Scope, arts: ArtifactScope) -> dict[str, Any] | None:
    """An output artifact's ``fromExpression``: the expression picks one of the artifacts in
    scope (``steps.x.outputs.artifacts.y``), which stand in the environment as tokens."""
    from dflowctl.engines.local.scope import TemplateError

    tokens = {key: _ART_TOKEN + key for key in arts}
    value = expr.evaluate_expr(str(a["fromExpression"]), expr.build_env({**scope, **tokens}))
    key = value[len(_ART_TOKEN) :] if isinstance(value, str) and value.startswith(_ART_TOKEN) else None
    found = arts.get(key) if key else None
    if found is None:
        if a.get("optional"):
            return None
        raise TemplateError(f"Unable to resolve fromExpression: {a['fromExpression']}")
    return {k: v for k, v in found.items() if k not in ("name", "path", "globalName")}


def _text(value: Any) -> str:
    from dflowctl.engines.local.scope import param_string

    return param_string(value)


def _finish_composite(
    ctl: Controller,
    node: Node,
    tmpl: Mapping[str, Any],
    phase: str,
    message: str,
    scope: Scope,
    arts: ArtifactScope,
    outbound: list[str],
) -> Node:
    fields: dict[str, Any] = {"outboundNodes": outbound or None}
    if phase == "Succeeded":
        try:
            outputs = template_outputs(ctl, tmpl, scope, arts)
        except (expr.ExprError, TemplateError) as err:
            phase, message = "Error", str(err)
        else:
            if outputs:
                fields["outputs"] = outputs
    if ctl.cancel.is_set() and phase != "Succeeded":
        message = ctl.interrupted_message()
    ctl.book.finish(node, phase, message, **fields)
    return node


# ---------------------------------------------------------------------- steps


def run_steps(
    ctl: Controller,
    name: str,
    display: str,
    tmpl_name: str,
    tmpl: dict[str, Any],
    scope: Scope,
    in_arts: ArtifactScope,
    boundary: str | None,
) -> Node:
    book = ctl.book
    node = book.create(name, display, "Steps", tmpl_name or None, boundary, inputs=tmpl.get("inputs"))
    sid = node["id"]
    local: Scope = dict(scope)
    arts: ArtifactScope = dict(in_arts)
    sem = _parallelism(tmpl)
    groups = tmpl.get("steps") or []
    last_group: Node | None = None
    for index, group in enumerate(groups):
        if ctl.cancel.is_set():
            break
        gname = f"{name}[{index}]"
        gid = node_id(ctl.name, gname)
        if last_group is None:
            book.link_on_create(gid, [sid])
        else:
            prev = last_group.get("children") or []
            parents = [o for c in prev for o in book.outbound(c)] if prev else [last_group["id"]]
            book.link_on_create(gid, parents)
        gnode = book.create(gname, f"[{index}]", "StepGroup", None, sid)
        last_group = gnode
        phase, message = _run_group(
            ctl, gnode, group or [], local, arts, sem, sid, bool(tmpl.get("failFast"))
        )
        if phase != "Succeeded":
            outbound = [o for c in book.get(gid).get("children") or [] for o in book.outbound(c)]  # type: ignore[union-attr]
            return _finish_composite(ctl, node, tmpl, "Failed", message, local, arts, outbound)
    if ctl.cancel.is_set():
        return _finish_composite(ctl, node, tmpl, "Failed", ctl.interrupted_message(), local, arts, [])
    outbound = []
    if last_group is not None:
        outbound = [o for c in book.get(last_group["id"]).get("children") or [] for o in book.outbound(c)]  # type: ignore[union-attr]
    return _finish_composite(ctl, node, tmpl, "Succeeded", "", local, arts, outbound)


def _run_group(
    ctl: Controller,
    gnode: Node,
    group: list[dict[str, Any]],
    local: Scope,
    arts: ArtifactScope,
    sem: Slots | None,
    sid: str,
    fail_fast: bool = False,
) -> tuple[str, str]:
    book = ctl.book
    gname, gid = gnode["name"], gnode["id"]
    plan: list[tuple[dict[str, Any], bool, list[Entry]]] = []  # (step, looped, entries)
    fixed: dict[str, Node] = {}  # nodes decided without running: errors, empty loops
    for step in group:
        base = f"{gname}.{step['name']}"
        looped = any(step.get(k) is not None for k in LOOP_KEYS)
        try:
            entries = expand(step, base, str(step["name"]), local) or []
        except (TemplateError, expr.ExprError) as err:
            book.link_on_create(node_id(ctl.name, base), [gid])
            fixed[base] = book.create(
                base, str(step["name"]), "Skipped", step.get("template"), sid, phase="Error", message=str(err)
            )
            plan.append((step, False, []))
            continue
        if looped and not entries:
            book.link_on_create(node_id(ctl.name, base), [gid])
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
    book.reserve(gid, [node_id(ctl.name, e.name) for e in all_entries])
    results: dict[str, Node | None] = {}

    halted = threading.Event()  # template failFast: a failed child stops new ones starting

    def runner(entry: Entry) -> Callable[[], None]:
        def go() -> None:
            if halted.is_set():
                return
            book.link_on_create(node_id(ctl.name, entry.name), [gid])
            child = results[entry.name] = _run_entry(ctl, entry, sid, arts, sem, local, "steps")
            failed = child is not None and child.get("phase") in FAILED_OR_ERROR
            if fail_fast and failed and not _continues(entry.spec, str(child.get("phase"))):  # type: ignore[union-attr]
                halted.set()

        return go

    if all_entries:
        _parallel([runner(e) for e in all_entries], ctl.width(sem))
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
                phase, message = "Failed", ctl.interrupted_message()
            elif child.get("phase") not in SUCCESSFUL and not _continues(spec, child.get("phase", "")):
                phase, message = "Failed", f"child '{child['id']}' failed"
    for step, looped, entries in plan:
        prefix = f"steps.{step['name']}"
        if looped:
            items = [n for e in entries if (n := results.get(e.name)) is not None]
            aggregate_scope(prefix, _loop_nodes(ctl, items), local)
        elif entries and (child := results.get(entries[0].name)) is not None:
            _node_scope(ctl, prefix, child, local, arts)
    book.finish(gnode, phase, message)
    return phase, message


# ---------------------------------------------------------------------- dag


def _dependencies(task: Mapping[str, Any], names: set[str]) -> list[str]:
    if task.get("depends"):
        refs = expr.depends_tasks(str(task["depends"]))
        return [n for n in sorted(refs) if n in names]
    return [str(d) for d in task.get("dependencies") or []]


def _depends_logic(task: Mapping[str, Any]) -> str:
    if task.get("depends"):
        return str(task["depends"])
    return expr.dependencies_to_depends(str(d) for d in task.get("dependencies") or [])


def _task_result(ctl: Controller, node: Node, spec: Mapping[str, Any]) -> expr.TaskResult:
    kids: tuple[str, ...] = ()
    if node.get("type") == "TaskGroup":
        kids = tuple(str((ctl.book.get(c) or {}).get("phase", "")) for c in node.get("children") or [])
    cont = spec.get("continueOn") or {}
    return expr.TaskResult(
        phase=str(node.get("phase")),
        children_phases=kids,
        continue_on_failed=bool(cont.get("failed")),
        continue_on_error=bool(cont.get("error")),
    )


def _leaves(tasks: Mapping[str, Mapping[str, Any]], deps: Mapping[str, list[str]]) -> list[str]:
    used = {d for ds in deps.values() for d in ds}
    return sorted(t for t in tasks if t not in used)


def assess_dag(
    ctl: Controller,
    dag_id: str,
    name: str,
    targets: list[str],
    tasks: Mapping[str, Mapping[str, Any]],
    fail_fast: bool,
) -> str:
    """Argo's ``assessDAGPhase``: omitted target tasks inherit their branch's phase."""
    book = ctl.book
    target_phase = {node_id(ctl.name, f"{name}.{t}"): "" for t in targets}
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
        branch = target_phase[node_id(ctl.name, f"{name}.{task}")]
        if branch == "":
            result = "Running"
            if not fail_fast:
                break
        elif branch in FAILED_OR_ERROR:
            if _continues(tasks[task], branch):
                continue
            result = branch
            if fail_fast:
                break
    return result


def run_dag(
    ctl: Controller,
    name: str,
    display: str,
    tmpl_name: str,
    tmpl: dict[str, Any],
    scope: Scope,
    in_arts: ArtifactScope,
    boundary: str | None,
) -> Node:
    book = ctl.book
    node = book.create(name, display, "DAG", tmpl_name or None, boundary, inputs=tmpl.get("inputs"))
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
    sem = _parallelism(tmpl)
    local: Scope = dict(scope)
    arts: ArtifactScope = dict(in_arts)
    book.reserve(did, [node_id(ctl.name, f"{name}.{t}") for t in tasks])
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
                aggregate_scope(prefix, _loop_nodes(ctl, kids), local)
            _node_scope(ctl, prefix, tnode, local, arts)
            done[task] = tnode
            running.discard(task)
            failed = tnode.get("phase") in FAILED_OR_ERROR and fail_fast
            if failed and assess_dag(ctl, did, name, targets, tasks, True) in FAILED_OR_ERROR:
                tripped = True
            cond.notify_all()

    def start(task: str) -> None:
        snapshot = dict(local)
        parents = parents_of(task)

        def go() -> None:
            try:
                tnode = _run_task(ctl, name, task, tasks[task], snapshot, arts, sem, did, parents)
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
                if task in done or task in running or tripped or ctl.cancel.is_set():
                    continue
                if any(d not in done for d in deps[task]):
                    continue
                if logic[task]:
                    results = {d: _task_result(ctl, done[d], tasks[d]) for d in deps[task]}
                    try:
                        proceed = expr.evaluate_depends(logic[task], results)
                    except expr.ExprError as err:
                        book.link_on_create(node_id(ctl.name, f"{name}.{task}"), parents_of(task))
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
                        book.link_on_create(node_id(ctl.name, f"{name}.{task}"), parents_of(task))
                        done[task] = book.create(
                            f"{name}.{task}",
                            task,
                            "Skipped",
                            tasks[task].get("template"),
                            did,
                            phase="Omitted",
                            message="omitted: depends condition not met",
                        )
                        progressed = True
                        continue
                start(task)
                progressed = True
            if not running and not progressed:
                break
            if not progressed:
                cond.wait(0.5)
    phase = assess_dag(ctl, did, name, targets, tasks, fail_fast)
    if phase == "Running":
        phase = "Failed"
    message = ctl.interrupted_message() if ctl.cancel.is_set() and phase != "Succeeded" else ""
    outbound = [o for t in targets if t in done for o in book.outbound(done[t]["id"])]
    return _finish_composite(ctl, node, tmpl, phase, message, local, arts, outbound)


def _run_task(
    ctl: Controller,
    dag_name: str,
    task: str,
    spec: Mapping[str, Any],
    scope: Scope,
    arts: ArtifactScope,
    sem: Slots | None,
    did: str,
    parents: list[str],
) -> Node:
    book = ctl.book
    tname = f"{dag_name}.{task}"
    tid = node_id(ctl.name, tname)
    try:
        entries = expand(spec, tname, task, scope)
    except (TemplateError, expr.ExprError) as err:
        book.link_on_create(tid, parents)
        return book.create(tname, task, "Skipped", spec.get("template"), did, phase="Error", message=str(err))
    looped = any(spec.get(k) is not None for k in LOOP_KEYS)
    if not looped:
        entry = entries[0]  # type: ignore[index]
        book.link_on_create(tid, parents)
        node = _run_entry(ctl, entry, did, arts, sem, scope, "tasks")
        if node is None:
            return book.create(
                tname,
                task,
                "Skipped",
                spec.get("template"),
                did,
                phase="Failed",
                message=ctl.interrupted_message(),
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
    book.reserve(tid, [node_id(ctl.name, e.name) for e in entries])
    results: dict[str, Node | None] = {}

    def runner(entry: Entry) -> Callable[[], None]:
        def go() -> None:
            book.link_on_create(node_id(ctl.name, entry.name), [tid])
            results[entry.name] = _run_entry(ctl, entry, did, arts, sem, scope, "tasks")

        return go

    _parallel([runner(e) for e in entries], ctl.width(sem))
    phase, message = "Succeeded", ""
    for entry in entries:
        child = results.get(entry.name)
        if child is None:
            phase, message = "Failed", ctl.interrupted_message()
        elif child.get("phase") in FAILED_OR_ERROR:
            phase = child["phase"]
    book.finish(group, phase, message)
    return group
