"""What steps and DAG templates share, as Argo's ``executeSteps`` / ``executeDAG`` do it.

A step or task (an ``Entry``) is expanded over its loop items, guarded by its
``when``, run through the ``Runtime`` (``execute``), followed by its exit hook;
children run on a bounded pool of threads; a steps/dag template's outputs come
from its children. ``steps.py`` and ``dag.py`` hold the two orders of running.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from dflowctl import expr
from dflowctl.argo import node_id
from dflowctl.engines.local.hooks import HOOKED, StepHooks, expression_hooks
from dflowctl.engines.local.runtime import Node, Runtime
from dflowctl.engines.local.scope import (
    ArtifactScope,
    Scope,
    TemplateError,
    item_vars,
    loop_items,
    loop_name,
    node_scope,
    param_string,
    walk_strings,
)
from dflowctl.engines.local.slots import Slots

LOOP_KEYS = ("withItems", "withParam", "withSequence")


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


def subst(obj: Any, scope: Scope) -> Any:
    return walk_strings(obj, lambda s: expr.substitute(s, scope, strict=False))


def expand(
    rt: Runtime, spec: Mapping[str, Any], base_name: str, display: str, scope: Scope
) -> list[Entry] | None:
    """A step/task with outer tags substituted, then expanded over its items (None: no loop)."""
    resolved = subst(drop_absent_args(rt, spec, scope), scope)
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
def _slot(sem: Slots | None, rt: Runtime) -> Iterator[bool]:
    if sem is None:
        yield True
        return
    if not sem.acquire(rt.cancel):
        yield False
        return
    try:
        yield True
    finally:
        sem.release()


def parallel(fns: list[Callable[[], None]], width: int) -> None:
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


def _when(rt: Runtime, entry: Entry, boundary: str, template: str | None) -> Node | None:
    """A Skipped node if the entry's ``when`` is false (or an Error node if it cannot be evaluated)."""
    when = entry.spec.get("when")
    if when in (None, ""):
        return None
    try:
        proceed = expr.evaluate_when(str(when))
    except expr.ExprError as err:
        return rt.book.create(
            entry.name, entry.display, "Skipped", template, boundary, phase="Error", message=str(err)
        )
    if proceed:
        return None
    return rt.book.create(
        entry.name,
        entry.display,
        "Skipped",
        template,
        boundary,
        phase="Skipped",
        message=f"when '{when}' evaluated false",
    )


def run_entry(
    rt: Runtime,
    entry: Entry,
    boundary: str,
    arts: ArtifactScope,
    sem: Slots | None,
    scope: Scope,
    prefix: str,
) -> Node | None:
    template = entry.spec.get("template")
    hooks = expression_hooks(entry.spec.get("hooks"))
    watcher = None
    if hooks:  # Argo's steps.NAME.status is the node's display name, tasks.NAME the task's
        key = f"{prefix}.{entry.display if prefix == 'steps' else entry.step}"
        watcher = StepHooks(rt, hooks, entry.name, boundary, scope, arts, key)
    skipped = _when(rt, entry, boundary, template)
    if skipped is not None:
        if watcher is not None:  # a skipped step's hooks see it Skipped (Argo's executeStepGroup)
            watcher.finish(skipped)
        return skipped
    with _slot(sem, rt) as ok:
        if not ok:
            return None
        if watcher is not None:
            watcher.start()
        node = rt.execute(
            entry.name,
            entry.display,
            entry.spec,
            entry.spec.get("arguments") or {},
            boundary,
            arts_scope=arts,
        )
    if watcher is not None:
        watcher.finish(node)
    if node is not None:
        _exit_hook(rt, entry, node, boundary, arts, scope, prefix)
    return node


def _exit_hook(
    rt: Runtime, entry: Entry, node: Node, boundary: str, arts: ArtifactScope, scope: Scope, prefix: str
) -> None:
    hooks = entry.spec.get("hooks") or {}
    hook = hooks.get("exit") or ({"template": entry.spec["onExit"]} if entry.spec.get("onExit") else None)
    if not hook:
        return
    hscope = dict(scope)
    harts = dict(arts)
    node_scope(f"{prefix}.{entry.step}", node, hscope, harts)
    hook = subst(dict(hook), hscope)
    name = f"{node['name']}.onExit"
    rt.book.link_on_create(node_id(rt.name, name), [node["id"]])
    rt.book.flag_on_create(node_id(rt.name, name), HOOKED)
    rt.execute(
        name, f"{node['displayName']}.onExit", hook, hook.get("arguments") or {}, boundary, arts_scope=harts
    )


def scope_of_node(rt: Runtime, prefix: str, node: Node, scope: Scope, arts: ArtifactScope) -> None:
    """``node_scope``; a Skipped/Omitted node's declared output parameters (and a
    declared ``outputs.result``) enter the scope as Argo's ``addSkippedNodeOutputsToScope``
    puts them: the template's ``valueFrom.default``, else absent (``expr.ABSENT``: a
    simple tag naming it fails the consumer, an expression sees nil)."""
    node_scope(prefix, node, scope, arts)
    if node.get("phase") not in ("Skipped", "Omitted") or node.get("outputs"):
        return
    outputs = (rt.template(str(node.get("templateName", ""))) or {}).get("outputs") or {}
    for p in outputs.get("parameters") or []:
        default = (p.get("valueFrom") or {}).get("default")
        value = expr.ABSENT if default is None else param_string(default)
        scope.setdefault(f"{prefix}.outputs.parameters.{p['name']}", value)
    if outputs.get("result") is not None:
        scope.setdefault(f"{prefix}.outputs.result", expr.ABSENT)


def _absent_ref(value: Any, scope: Scope) -> bool:
    """Is ``value`` one pure ``{{ref}}`` to an absent output (Argo's ``absentOptionalRef``)?"""
    if not isinstance(value, str) or not (value.startswith("{{") and value.endswith("}}")):
        return False
    key = value[2:-2].strip()
    return "{{" not in key and "}}" not in key and isinstance(scope.get(key), expr.Absent)


def drop_absent_args(rt: Runtime, spec: Mapping[str, Any], scope: Scope) -> dict[str, Any]:
    """Argo's ``dropSkippedDefaultedArgs``: an argument that is only a reference to an
    absent output is dropped when the consumed template's input has a ``default``,
    so that default applies; any other reference to it fails at substitution."""
    out = dict(spec)
    args = spec.get("arguments") or {}
    params = args.get("parameters") or []
    if not any(_absent_ref(p.get("value"), scope) for p in params):
        return out
    tmpl = spec.get("inline") or rt.template(str(spec.get("template") or "")) or {}
    defaulted = {
        p["name"] for p in (tmpl.get("inputs") or {}).get("parameters") or [] if p.get("default") is not None
    }
    kept = [p for p in params if not (p["name"] in defaulted and _absent_ref(p.get("value"), scope))]
    out["arguments"] = {**args, "parameters": kept}
    return out


def loop_nodes(rt: Runtime, items: list[Node]) -> list[Node]:
    """Item nodes for aggregation: a Retry node stands for its attempts (as Argo's name-prefix scan)."""
    out: list[Node] = []
    for node in items:
        if node.get("type") == "Retry":
            out.extend(n for c in rt.book.attempts(node) if (n := rt.book.get(c)) is not None)
        elif node.get("type") != "Skipped":
            out.append(node)
    return out


def parallelism_slots(tmpl: Mapping[str, Any]) -> Slots | None:
    par = tmpl.get("parallelism")
    return Slots(int(par)) if par else None


def continues(spec: Mapping[str, Any], phase: str) -> bool:
    cont = spec.get("continueOn") or {}
    return bool((phase == "Failed" and cont.get("failed")) or (phase == "Error" and cont.get("error")))


# ---------------------------------------------------------------------- outputs


def template_outputs(
    rt: Runtime, tmpl: Mapping[str, Any], scope: Scope, arts: ArtifactScope
) -> dict[str, Any]:
    """Outputs of a steps/dag template from its children (valueFrom parameter/expression, from)."""
    spec = tmpl.get("outputs") or {}
    params = []
    for p in spec.get("parameters") or []:
        entry = dict(p)
        vf = p.get("valueFrom") or {}
        try:  # (an absent output, of a Skipped/Omitted child, raises: its default below)
            if vf.get("parameter") is not None:
                value = expr.substitute(str(vf["parameter"]), scope, strict=True)
            elif vf.get("expression") is not None:
                result = expr.evaluate_expr(str(vf["expression"]), expr.build_env(scope))
                if result is None:  # an absent output read without `??`
                    raise expr.ExprError(f"failed to evaluate expression {vf['expression']!r}")
                value = _text(result)
            elif p.get("value") is not None:
                value = expr.substitute(str(p["value"]), scope, strict=True)
            else:
                continue
        except expr.ExprError:
            if vf.get("default") is None:
                raise
            value = param_string(vf["default"])
        entry["value"] = value
        params.append(entry)
    artifacts = []
    for a in spec.get("artifacts") or []:
        located = _from_expression(a, scope, arts) if a.get("fromExpression") else rt.locate_artifact(a, arts)
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
    return param_string(value)


def finish_composite(
    rt: Runtime,
    node: Node,
    tmpl: Mapping[str, Any],
    phase: str,
    message: str,
    scope: Scope,
    arts: ArtifactScope,
    outbound: list[str],
) -> Node:
    rt.end_scope(node["id"])  # its daemons go with it (Argo's killDaemonedChildren)
    fields: dict[str, Any] = {"outboundNodes": outbound or None}
    if phase == "Succeeded":
        try:
            outputs = template_outputs(rt, tmpl, scope, arts)
        except (expr.ExprError, TemplateError) as err:
            phase, message = "Error", str(err)
        else:
            if outputs:
                fields["outputs"] = outputs
    if rt.cancel.is_set() and phase != "Succeeded":
        message = rt.interrupted_message()
    rt.book.finish(node, phase, message, **fields)
    return node
