"""The local controller: interprets a rendered Argo Workflow with Argo's semantics.

``Controller.run`` executes the entrypoint (and ``onExit``) on this machine and records
every node in Argo's shape (``status.py``). Templates run as in Argo's ``executeTemplate``:
arguments become inputs, inputs are substituted, a ``retryStrategy`` wraps attempts in a
Retry node, and the template's kind decides: a Pod (``podnode.py``: a host process through
the ``PodRunner``), Steps (``steps.py``) or a DAG (``dag.py``). The controller is the
``Runtime`` (``runtime.py``) those semantics run against. Concurrency uses threads: one per
running child node; pods are bounded by ``spec.parallelism`` and by the runner
(``--parallelism``), which alone owns the host's limit.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from dflowctl import expr
from dflowctl.argo import (
    FAILED_OR_ERROR,
    SUCCESSFUL,
    TEMPLATE_KINDS,
    node_id,
    parse_duration,
    parse_rfc3339,
    rfc3339,
)
from dflowctl.engines.local.daemons import DaemonScopes
from dflowctl.engines.local.dag import run_dag
from dflowctl.engines.local.hooks import HOOKED, WorkflowHooks, exit_hook, expression_hooks, workflow_status
from dflowctl.engines.local.interpreter import Interpreter
from dflowctl.engines.local.podapi import PodRunnerLike
from dflowctl.engines.local.podcache import StepReuse
from dflowctl.engines.local.podnode import PodNodes
from dflowctl.engines.local.recorder import StatusWriter
from dflowctl.engines.local.records import RunDir
from dflowctl.engines.local.retry import execute_with_retries
from dflowctl.engines.local.runtime import Call, Node, stop_message
from dflowctl.engines.local.scope import ArtifactScope, Scope, TemplateError
from dflowctl.engines.local.slots import Slots
from dflowctl.engines.local.status import NodeBook, end_open_nodes
from dflowctl.engines.local.steps import run_steps
from dflowctl.engines.local.suspend import Suspensions, control_dir
from dflowctl.engines.local.sync import LOCKS, LockTable
from dflowctl.engines.local.templates import (
    invalid_spec,
    locate_artifact,
    process_args,
    resolve_template,
    template_table,
)
from dflowctl.engines.local.volumes import CLAIMS, with_workflow_volumes
from dflowctl.engines.local.wfglobals import failures_json, register_globals, workflow_globals

LEAF_KINDS = ("container", "script", "containerSet")
# Argo's maxAllowedStackDepth: templates nested deeper (a composite op calling itself) fail
MAX_STACK_DEPTH = 100
STACK_HOP = 16  # template levels per thread: Python's recursion limit holds MAX_STACK_DEPTH levels
MAX_DEPTH_MESSAGE = (
    "Maximum recursion depth exceeded. See "
    "https://argo-workflows.readthedocs.io/en/release-4.1/scaling/#maximum-recursion-depth"
)

__all__ = ["Controller", "stop_message"]


class Controller(DaemonScopes):
    """Runs one Workflow object to the end. Not reusable. Implements ``runtime.Runtime``
    (the daemons' side of it: ``DaemonScopes``)."""

    def __init__(
        self,
        workflow: dict[str, Any],
        run: RunDir,
        runner: PodRunnerLike,
        *,
        on_update: Callable[[dict[str, Any]], None] | None = None,
        previous: Mapping[str, Any] | None = None,
        pythons: Mapping[str, Interpreter] | None = None,
        reuse: StepReuse | None = None,
    ) -> None:
        self.wf = workflow
        self.run_dir = run
        self.runner = runner
        self.name: str = workflow["metadata"]["name"]
        self.spec: dict[str, Any] = workflow["spec"]
        self.book = NodeBook(workflow)
        self.writer = StatusWriter(self.book, run.workflow, on_update)
        self.cancel = threading.Event()
        self.shutdown: str | None = None
        self.deadline_hit = False
        self.in_exit_handler = False
        self.deadline: float | None = None
        self.templates = template_table(self.spec)
        self.globals: Scope = {}
        self.global_arts: ArtifactScope = {}
        self.reused: set[str] = set()
        self.depths: dict[str, int] = {}  # steps/dag node id -> how deep its template runs
        par = int(self.spec.get("parallelism") or 0) or None
        self.pods = PodNodes(self.name, self.book, run, runner, par, self.globals, pythons, reuse)
        self.daemons = self.pods.daemons
        self.globals.update(workflow_globals(workflow))
        self.suspensions = Suspensions(self.book, self.spec, control_dir(run.path), self.writer.flush)
        self.pod_volumes = bool(self.spec.get("volumes") or self.spec.get("volumeClaimTemplates"))
        namespace = str(workflow["metadata"].get("namespace") or "default")
        self.locks = LockTable(run.path.parent.parent / LOCKS, namespace, self.book)
        if previous:
            self._adopt(previous)

    # ------------------------------------------------------------------ setup

    def _adopt(self, previous: Mapping[str, Any]) -> None:
        """For ``retry``: keep nodes that succeeded (with their outputs) so they are not re-run."""
        status = previous.get("status") or {}
        for nid, node in (status.get("nodes") or {}).items():
            if node.get("phase") in SUCCESSFUL and not str(node.get("name", "")).endswith(".onExit"):
                self.book.nodes[nid] = copy.deepcopy(node)
                self.reused.add(nid)
        outputs = status.get("outputs") or {}
        if outputs:
            self.book.status["outputs"] = copy.deepcopy(outputs)
            for p in outputs.get("parameters") or []:
                self.globals[f"workflow.outputs.parameters.{p['name']}"] = str(p.get("value", ""))
            for a in outputs.get("artifacts") or []:
                self.global_arts[f"workflow.outputs.artifacts.{a['name']}"] = dict(a)

    # ------------------------------------------------------------------ run

    def run(self) -> dict[str, Any]:
        """Run the workflow to its end; returns the final Workflow object."""
        status = self.book.status
        with self.book.lock:
            status["phase"] = "Running"
            status.setdefault("startedAt", rfc3339())
            status.pop("finishedAt", None)
            status.pop("message", None)
        self.writer.flush()
        self.writer.start()
        self.suspensions.start()
        timer = self._start_deadline_timer()
        held = None  # the workflow's locks (spec.synchronization)
        try:
            invalid = invalid_spec(self.templates)  # Argo validates the joined spec first: nothing runs
            if invalid:
                with self.book.lock:
                    status.update(phase="Failed", message=invalid, finishedAt=rfc3339())
                    self.book.touch_status()
                return self.wf
            held = self.locks.take_for_workflow(self)
            root = self._run_entrypoint()
            self.pods.daemons.end_all()  # an entrypoint that is itself a daemon: up, then done
            exit_node = self._run_exit_handler(root)
            self._finish(root, exit_node)
        except Exception as err:  # an internal failure (or locks it cannot hold) leaves a readable record
            locks = isinstance(err, TemplateError)  # the workflow's own synchronization
            with self.book.lock:
                status["phase"] = "Error"
                status["message"] = str(err) if locks else f"local engine error: {err}"
                status["finishedAt"] = rfc3339()
                end_open_nodes(status, "Error", status["message"], status["finishedAt"])
                self.book.touch()
            if not locks:
                raise
        finally:
            if timer is not None:
                timer.cancel()
            if held is not None:
                held.release()
            self.suspensions.close()
            self._drop_dangling()
            self.pods.close()
            self.writer.close()
        return self.wf

    def stop(self, strategy: str = "Terminate") -> None:
        """Stop the run: kill every pod; ``Stop`` still runs the exit handler, ``Terminate`` not."""
        if self.shutdown is None:
            self.shutdown = strategy
        self.cancel.set()
        Slots.wake_everyone()
        self.suspensions.wake()
        self.runner.kill_all()

    def _start_deadline_timer(self) -> threading.Timer | None:
        ads = self.spec.get("activeDeadlineSeconds")
        if ads is None:
            self.deadline = None
            return None
        seconds = parse_duration(ads)
        self.deadline = time.time() + seconds
        timer = threading.Timer(max(seconds, 0), self._deadline_exceeded)
        timer.daemon = True
        timer.start()
        return timer

    def _deadline_exceeded(self) -> None:
        if self.cancel.is_set() or self.in_exit_handler:
            return
        self.deadline_hit = True
        self.cancel.set()
        Slots.wake_everyone()
        self.suspensions.wake()
        self.runner.kill_all()

    def interrupted_message(self) -> str:
        if self.deadline_hit:
            return "Step exceeded its deadline"
        return stop_message(self.shutdown or "Terminate")

    def _run_entrypoint(self) -> Node | None:
        entry = self.spec.get("entrypoint")
        if not entry:
            raise TemplateError("spec.entrypoint is not set")
        holder = {"name": self.name, "template": entry}
        hooks = WorkflowHooks(self, expression_hooks(self.spec.get("hooks")), self.globals)
        hooks.start()
        root = self.execute(self.name, self.name, holder, self.spec.get("arguments") or {}, None)
        hooks.finish(workflow_status(root) if root is not None else None)
        return root

    def _run_exit_handler(self, root: dict[str, Any] | None) -> Node | None:
        hook = exit_hook(self.spec)
        if hook is None or self.shutdown == "Terminate":
            return None
        # `stop` runs exit handlers, and the workflow's deadline does not apply to them
        self.deadline = None
        self.in_exit_handler = True
        if self.cancel.is_set():
            self.cancel = threading.Event()
        self.globals["workflow.status"] = workflow_status(root) if root else "Failed"
        self.globals["workflow.failures"] = failures_json(self.book, self.name)
        started = self.book.status.get("startedAt")
        if started:
            self.globals["workflow.duration"] = str(max(time.time() - parse_rfc3339(started), 0.0))
        name = f"{self.name}.onExit"
        self.book.flag_on_create(node_id(self.name, name), HOOKED)
        return self.execute(name, name, hook, hook.get("arguments") or self.spec.get("arguments") or {}, None)

    def _finish(self, root: dict[str, Any] | None, exit_node: dict[str, Any] | None) -> None:
        status = self.book.status
        if root is None:
            phase, message = "Failed", self.interrupted_message()
        else:
            phase = root.get("phase", "Error")
            message = root.get("message", "")
            if phase not in ("Succeeded", "Failed", "Error"):
                phase = "Succeeded" if phase in SUCCESSFUL or phase == "Omitted" else "Failed"
        if (self.shutdown or self.deadline_hit) and phase == "Succeeded":
            phase, message = "Failed", self.interrupted_message()
        if self.shutdown or self.deadline_hit:
            message = self.interrupted_message() if not self.deadline_hit else "Step exceeded its deadline"
        if exit_node is not None and exit_node.get("phase") in FAILED_OR_ERROR and phase == "Succeeded":
            phase, message = exit_node["phase"], exit_node.get("message", "")
        with self.book.lock:
            status["phase"] = phase
            if message:
                status["message"] = message
            status["finishedAt"] = rfc3339()
            status["conditions"] = [
                {"type": "PodRunning", "status": "False"},
                {"type": "Completed", "status": "True"},
            ]
            self.book.touch_status()

    def _drop_dangling(self) -> None:
        with self.book.lock:
            nodes = self.book.nodes
            for node in nodes.values():
                for key in ("children", "outboundNodes"):
                    if key in node:
                        kept = [c for c in node[key] if c in nodes]
                        if kept:
                            node[key] = kept
                        else:
                            node.pop(key)

    # ------------------------------------------------------------------ Runtime

    def template(self, name: str) -> Mapping[str, Any] | None:
        return self.templates.get(name)

    def locate_artifact(self, art: Mapping[str, Any], arts_scope: ArtifactScope) -> Node | None:
        return locate_artifact(art, arts_scope, self.global_arts)

    def width(self, sem: Slots | None) -> int:
        """How many children of one group may be under way at once (threads, not pods):
        the template's parallelism, else enough to keep every pod slot busy even when
        children are composite and wait on their own children."""
        if sem is not None:
            return sem.size
        return max(64, 4 * max(1, self.runner.parallelism))

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
        """Run the template ``holder`` names as node ``name``; None if stopped before it started."""
        nid = node_id(self.name, name)
        if nid in self.reused:
            node = self.book.get(nid)
            if node is not None:
                register_globals(self.book, self.globals, self.global_arts, node)
                return node
        if self.cancel.is_set():
            return None
        if not self.in_exit_handler and not self.suspensions.wait_released(self.cancel):
            return None  # spec.suspend held it until the run stopped
        if self.depths.get(boundary or "", 0) + 1 >= MAX_STACK_DEPTH:  # as Argo's executeTemplate
            return self.book.create(
                name,
                display,
                "Skipped",
                holder.get("template"),
                boundary,
                phase="Error",
                message=MAX_DEPTH_MESSAGE,
            )
        try:
            tmpl_name, tmpl = resolve_template(self.templates, holder)
            tmpl, scope, in_arts = process_args(tmpl, args, arts_scope or {}, self.globals, self.global_arts)
        except (TemplateError, expr.ExprError) as err:
            return self.book.create(
                name, display, "Skipped", holder.get("template"), boundary, phase="Error", message=str(err)
            )
        retry = tmpl.get("retryStrategy")
        if retry is None:
            retry = self.spec.get("retryStrategy")

        call = Call(name, display, tmpl_name, tmpl, scope, in_arts, boundary)

        def body() -> Node | None:
            if retry is not None:  # `retryStrategy: {}` retries without limit
                return execute_with_retries(self, call, retry)
            return self.execute_once(call, None)

        node = self.locks.holding(self, name, display, tmpl_name, tmpl, boundary, retry is not None, body)
        if node is not None:
            register_globals(self.book, self.globals, self.global_arts, node)
        return node

    def execute_once(self, call: Call, retries: int | None) -> Node | None:
        name, display, tmpl_name, tmpl = call.name, call.display, call.tmpl_name, call.tmpl
        boundary = call.boundary
        kind = next((k for k in TEMPLATE_KINDS if tmpl.get(k) is not None), None)
        inputs = tmpl.get("inputs")
        if kind in LEAF_KINDS:
            return self.pods.run(
                name,
                display,
                tmpl_name,
                with_workflow_volumes(tmpl, self.spec, self.run_dir.work / CLAIMS)
                if self.pod_volumes
                else tmpl,
                boundary,
                retries,
                cancel=self.cancel,
                deadline=self.deadline,
                interrupted=self.interrupted_message,
            )
        if kind in ("steps", "dag"):  # its children run one level deeper
            depth = self.depths[node_id(self.name, name)] = self.depths.get(boundary or "", 0) + 1
            run = run_steps if kind == "steps" else run_dag
            if depth % STACK_HOP == 0:  # nested templates run inline: a fresh Python stack now and then
                return _on_fresh_stack(lambda: run(self, call))
            return run(self, call)
        if kind == "suspend":
            return self.suspensions.run_node(
                name, display, tmpl_name, tmpl, boundary, self.cancel, self.interrupted_message
            )
        what = f"{kind} templates" if kind else "a template with nothing to run"
        return self.book.create(
            name,
            display,
            "Pod",
            tmpl_name,
            boundary,
            phase="Error",
            inputs=inputs,
            message=f"not supported by the local engine: {what}",
        )


def _on_fresh_stack(fn: Callable[[], Node]) -> Node:
    """``fn()`` in a new thread (its own Python recursion depth), waited for here."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["node"] = fn()
        except BaseException as err:  # raised in the caller's thread
            box["error"] = err

    thread = threading.Thread(target=target, name="dflowctl-nested", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["node"]
