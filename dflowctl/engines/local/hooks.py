"""Lifecycle hooks other than ``exit``, as Argo's ``hooks.go`` runs them.

A hook (``hooks: {NAME: {expression, template, arguments}}``) runs its template once,
the first time its ``expression`` holds. Argo evaluates hooks on every pass of its
controller; here they are evaluated on every change of what they watch:

- a step's or task's hooks see ``steps.<name>.status`` / ``tasks.<name>.status`` (and
  the step's outputs once it ended) each time its node changes phase, then once more
  with its final phase. The hook node is ``<step node>.hooks.<NAME>``, a child of the
  step's node (its Retry node, when it retries), in the step's boundary, with
  ``nodeFlag.hooked``. The step counts as done once the hooks it triggered are done
  (Argo's ``executeTmplLifeCycleHook`` returning "not completed").
- workflow-level hooks see the global scope with ``workflow.status`` ``Running`` while
  the entrypoint runs, then the workflow's phase once it ended; the hook node is
  ``<workflow>.hooks.<NAME>``, a child of the root node. The workflow ends (and its
  exit handler runs) once the hooks it triggered are done.

The ``exit`` hook stays with the exit handlers (``flow._exit_hook``, the controller's
``onExit``). A hook's expression that cannot be evaluated does not trigger it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from dflowctl import expr
from dflowctl.argo import FULFILLED, SUCCESSFUL, node_id
from dflowctl.engines.local.runtime import Node, Runtime
from dflowctl.engines.local.scope import ArtifactScope, Scope, node_scope, walk_strings

EXIT = "exit"
WATCH = 0.05  # seconds between two looks at a watched node's phase
WF_WATCH = 0.5  # between two evaluations of workflow-level hooks while the run goes on
HOOKED = {"hooked": True}


def expression_hooks(hooks: Any) -> dict[str, Mapping[str, Any]]:
    """The hooks other than ``exit``, by name."""
    if not isinstance(hooks, Mapping):
        return {}
    return {str(k): v for k, v in hooks.items() if k != EXIT and isinstance(v, Mapping)}


def holds(expression: Any, scope: Scope) -> bool:
    """Argo's ``EvalBool``: the expression gives ``true`` (an error or another value: no)."""
    if not isinstance(expression, str) or not expression.strip():
        return False
    try:
        return expr.evaluate_expr(expression, expr.build_env(scope)) is True
    except expr.ExprError:
        return False


class _Fired:
    """The hooks of one parent that have been triggered: their threads."""

    def __init__(self) -> None:
        self.threads: dict[str, threading.Thread] = {}
        self.lock = threading.Lock()

    def start(self, hook: str, fn: Callable[[], None]) -> bool:
        with self.lock:
            if hook in self.threads:
                return False
            thread = threading.Thread(target=fn, name=f"dflowctl-hook-{hook}", daemon=True)
            self.threads[hook] = thread
        thread.start()
        return True

    def wait(self) -> None:
        with self.lock:
            threads = list(self.threads.values())
        for thread in threads:
            thread.join()


class StepHooks:
    """The expression hooks of one step or task while it runs."""

    def __init__(
        self,
        rt: Runtime,
        hooks: Mapping[str, Mapping[str, Any]],
        name: str,
        boundary: str,
        scope: Scope,
        arts: ArtifactScope,
        prefix: str,
    ) -> None:
        self.rt = rt
        self.hooks = hooks
        self.nid = node_id(rt.name, name)
        self.boundary = boundary
        self.scope = scope
        self.arts = arts
        self.prefix = prefix  # steps.NAME / tasks.NAME
        self.fired = _Fired()
        self.done = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._watch, name="dflowctl-hooks", daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        last = None
        while not self.done.is_set():
            node = self.rt.book.get(self.nid)
            phase = node.get("phase") if node is not None else None
            if node is not None and phase != last and phase not in FULFILLED:
                last = phase
                self._check(node)
            self.done.wait(WATCH)

    def finish(self, node: Node | None) -> None:
        """The step ended (``node``: its final node, None if it never started): the hooks
        see its last phase, then the ones triggered are waited for."""
        self.done.set()
        if self.thread is not None:
            self.thread.join()
        if node is not None and not self.rt.cancel.is_set():
            self._check(node)
        self.fired.wait()

    def _check(self, node: Node) -> None:
        hscope: Scope = dict(self.scope)
        harts: ArtifactScope = dict(self.arts)
        node_scope(self.prefix, _with_outputs(self.rt, node), hscope, harts)
        for hook_name, hook in self.hooks.items():
            if hook_name in self.fired.threads or not holds(hook.get("expression"), hscope):
                continue
            self._fire(hook_name, hook, node, hscope, harts)

    def _fire(
        self, hook_name: str, hook: Mapping[str, Any], node: Node, hscope: Scope, harts: ArtifactScope
    ) -> None:
        rt = self.rt
        name = f"{node['name']}.hooks.{hook_name}"
        display = f"{node['displayName']}.hooks.{hook_name}"
        holder = _holder(hook, hscope if node.get("phase") in FULFILLED else None)
        hid = node_id(rt.name, name)
        rt.book.link_on_create(hid, [node["id"]])
        rt.book.flag_on_create(hid, HOOKED)

        def go() -> None:
            rt.execute(name, display, holder, holder.get("arguments") or {}, self.boundary, arts_scope=harts)

        self.fired.start(hook_name, go)


def _with_outputs(rt: Runtime, node: Node) -> Node:
    """A Retry node's outputs are its last attempt's (Argo's ``getChildNodeIndex(-1)``)."""
    if node.get("type") != "Retry" or node.get("outputs"):
        return node
    kids = rt.book.attempts(node)
    last = rt.book.get(kids[-1]) if kids else None
    if last is None or not last.get("outputs"):
        return node
    return {**node, "outputs": last["outputs"]}


def _holder(hook: Mapping[str, Any], scope: Scope | None) -> dict[str, Any]:
    """The hook as a step to execute; its arguments resolved against the parent's outputs
    once it ended (Argo's ``resolveExitTmplArgument``), else as written."""
    holder = {k: v for k, v in hook.items() if k in ("template", "templateRef", "arguments", "inline")}
    if scope is not None and holder.get("arguments"):
        holder["arguments"] = walk_strings(
            holder["arguments"], lambda s: expr.substitute(s, scope, strict=False)
        )
    return holder


class WorkflowHooks:
    """The workflow-level expression hooks of a run."""

    def __init__(self, rt: Runtime, hooks: Mapping[str, Mapping[str, Any]], globals_: Scope) -> None:
        self.rt = rt
        self.hooks = hooks
        self.globals = globals_
        self.root = node_id(rt.name, rt.name)
        self.fired = _Fired()
        self.done = threading.Event()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def start(self) -> None:
        if not self.hooks:
            return
        self.thread = threading.Thread(target=self._watch, name="dflowctl-wf-hooks", daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        while not self.done.is_set():
            if self.rt.book.get(self.root) is not None:  # hooks hang from the root node
                self._check({**self.globals, "workflow.status": "Running"})
            self.done.wait(WF_WATCH)

    def finish(self, status: str | None) -> None:
        """The entrypoint ended with ``status`` (the workflow's phase; None: it never
        started): hooks see it, then the ones triggered are waited for."""
        if not self.hooks:
            return
        self.done.set()
        if self.thread is not None:
            self.thread.join()
        if status is not None and self.rt.book.get(self.root) is not None and not self.rt.cancel.is_set():
            self._check({**self.globals, "workflow.status": status})
        self.fired.wait()

    def _check(self, scope: Scope) -> None:
        with self.lock:
            for hook_name, hook in self.hooks.items():
                if hook_name in self.fired.threads or not holds(hook.get("expression"), scope):
                    continue
                self._fire(hook_name, hook)

    def _fire(self, hook_name: str, hook: Mapping[str, Any]) -> None:
        rt = self.rt
        name = f"{rt.name}.hooks.{hook_name}"
        holder = _holder(hook, None)
        hid = node_id(rt.name, name)
        rt.book.link_on_create(hid, [self.root])
        rt.book.flag_on_create(hid, HOOKED)

        def go() -> None:
            rt.execute(name, name, holder, holder.get("arguments") or {}, None)

        self.fired.start(hook_name, go)


def workflow_status(root: Mapping[str, Any]) -> str:
    """``workflow.status`` once the entrypoint ended (its node's phase, as a workflow's)."""
    phase = str(root.get("phase", "Error"))
    if phase in ("Succeeded", "Failed", "Error"):
        return phase
    return "Succeeded" if phase in SUCCESSFUL or phase == "Omitted" else "Failed"


def exit_hook(spec: Mapping[str, Any]) -> dict[str, Any] | None:
    """Argo's ``GetExitHook``: ``onExit`` names the template, else ``hooks.exit`` is the hook."""
    if spec.get("onExit"):
        return {"name": "onExit", "template": spec["onExit"]}
    hook = (spec.get("hooks") or {}).get(EXIT)
    if isinstance(hook, Mapping) and (hook.get("template") or hook.get("templateRef")):
        return {"name": "onExit", **{k: v for k, v in hook.items() if k != "expression"}}
    return None
