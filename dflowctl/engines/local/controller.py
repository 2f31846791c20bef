"""The local controller: interprets a rendered Argo Workflow with Argo's semantics.

``Controller.run`` executes the entrypoint (and ``onExit``) on this machine and
records every node in Argo's shape (``status.py``). Templates run as in Argo's
``executeTemplate``: arguments become inputs, inputs are substituted, a
``retryStrategy`` wraps attempts in a Retry node, and the template's kind
decides: a Pod (a host process through the ``PodRunner``), Steps or a DAG
(``flow.py``). Concurrency uses threads: one per running child node; pods are
bounded by the runner (``--parallelism``) and by ``spec.parallelism``.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from dflowctl import expr
from dflowctl.argo import FAILED_OR_ERROR, TEMPLATE_KINDS, node_id, parse_duration, pod_name, rfc3339
from dflowctl.engines.local.artifacts import LocalRepository, UnpackCache, default_key, temp_dir
from dflowctl.engines.local.records import RunDir
from dflowctl.engines.local.scope import ArtifactScope, Scope, TemplateError, param_string, walk_strings
from dflowctl.engines.local.slots import Slots
from dflowctl.engines.local.status import NodeBook, StatusWriter

LEAF_KINDS = ("container", "script")
SUCCESSFUL = frozenset({"Succeeded", "Skipped"})
_FROM_TAG = re.compile(r"^\s*\{\{\s*([^{}]+?)\s*\}\}\s*$")


class PodRunnerLike(Protocol):
    def run(self, req: Any, cancel: threading.Event) -> Any: ...

    def kill_all(self) -> None: ...


def stop_message(strategy: str) -> str:
    return f"Stopped with strategy '{strategy}'"


class Cancelled(Exception):
    """The run is being stopped; no new node may start."""


class Controller:
    """Runs one Workflow object to the end. Not reusable."""

    def __init__(
        self,
        workflow: dict[str, Any],
        run: RunDir,
        runner: PodRunnerLike,
        *,
        on_update: Callable[[dict[str, Any]], None] | None = None,
        previous: Mapping[str, Any] | None = None,
        request_factory: Callable[..., Any] | None = None,
    ) -> None:
        self.wf = workflow
        self.run_dir = run
        self.runner = runner
        self.name: str = workflow["metadata"]["name"]
        self.spec: dict[str, Any] = workflow["spec"]
        self.book = NodeBook(workflow)
        self.writer = StatusWriter(self.book, run.workflow, on_update)
        self.repo = LocalRepository(run.artifacts)
        self.unpacked = UnpackCache(self.repo, run.work / ".unpacked")
        self.cancel = threading.Event()
        self.shutdown: str | None = None
        self.deadline_hit = False
        self.in_exit_handler = False
        self.templates = self._templates()
        par = self.spec.get("parallelism")
        self.pod_slots = Slots(int(par)) if par else None
        # pods wait here (Pending) for one of the runner's slots before they show Running
        self.run_slots = Slots(int(getattr(runner, "parallelism", 0) or os.cpu_count() or 1))
        self.globals: Scope = {}
        self.global_arts: ArtifactScope = {}
        self.reused: set[str] = set()
        self._make_request = request_factory or _pod_request
        self._prepare_globals()
        if previous:
            self._adopt(previous)

    # ------------------------------------------------------------------ setup

    def _templates(self) -> dict[str, dict[str, Any]]:
        defaults = self.spec.get("templateDefaults") or {}
        out = {}
        for tmpl in self.spec.get("templates") or []:
            out[tmpl["name"]] = _merge_defaults(defaults, tmpl) if defaults else tmpl
        return out

    def _prepare_globals(self) -> None:
        meta = self.wf["metadata"]
        g = self.globals
        g["workflow.name"] = self.name
        g["workflow.namespace"] = str(meta.get("namespace") or "default")
        g["workflow.uid"] = str(meta.setdefault("uid", str(uuid.uuid4())))
        g["workflow.creationTimestamp"] = str(meta.setdefault("creationTimestamp", rfc3339()))
        g["workflow.serviceAccountName"] = str(self.spec.get("serviceAccountName") or "default")
        g["workflow.mainEntrypoint"] = str(self.spec.get("entrypoint") or "")
        if self.spec.get("priority") is not None:
            g["workflow.priority"] = str(self.spec["priority"])
        for key, val in (meta.get("labels") or {}).items():
            g[f"workflow.labels.{key}"] = str(val)
        for key, val in (meta.get("annotations") or {}).items():
            g[f"workflow.annotations.{key}"] = str(val)
        params = []
        for p in (self.spec.get("arguments") or {}).get("parameters") or []:
            value = p.get("value", p.get("default"))
            if value is None:
                continue
            text = param_string(value)
            g[f"workflow.parameters.{p['name']}"] = text
            params.append({"name": p["name"], "value": text})
        g["workflow.parameters"] = json.dumps(params, separators=(",", ":"))
        # values may refer to other globals (e.g. "{{workflow.name}}")
        for key, val in list(g.items()):
            if "{{" in val and key.startswith("workflow.parameters."):
                g[key] = expr.substitute(val, g, strict=False)

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
        timer = self._start_deadline_timer()
        try:
            root = self._run_entrypoint()
            exit_node = self._run_exit_handler(root)
            self._finish(root, exit_node)
        except Exception as err:  # an internal failure still leaves a readable record
            with self.book.lock:
                status["phase"] = "Error"
                status["message"] = f"local engine error: {err}"
                status["finishedAt"] = rfc3339()
            raise
        finally:
            if timer is not None:
                timer.cancel()
            self._drop_dangling()
            shutil.rmtree(self.unpacked.folder, ignore_errors=True)
            self.writer.close()
        return self.wf

    def stop(self, strategy: str = "Terminate") -> None:
        """Stop the run: kill every pod; ``Stop`` still runs the exit handler, ``Terminate`` not."""
        if self.shutdown is None:
            self.shutdown = strategy
        self.cancel.set()
        Slots.wake_everyone()
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
        self.runner.kill_all()

    def interrupted_message(self) -> str:
        if self.deadline_hit:
            return "Step exceeded its deadline"
        return stop_message(self.shutdown or "Terminate")

    def _run_entrypoint(self) -> dict[str, Any] | None:
        entry = self.spec.get("entrypoint")
        if not entry:
            raise TemplateError("spec.entrypoint is not set")
        holder = {"name": self.name, "template": entry}
        return self.execute(self.name, self.name, holder, self.spec.get("arguments") or {}, None)

    def _run_exit_handler(self, root: dict[str, Any] | None) -> dict[str, Any] | None:
        on_exit = self.spec.get("onExit")
        if not on_exit or self.shutdown == "Terminate":
            return None
        # `stop` runs exit handlers, and the workflow's deadline does not apply to them
        self.deadline = None
        self.in_exit_handler = True
        if self.cancel.is_set():
            self.cancel = threading.Event()
        phase = root["phase"] if root else "Failed"
        self.globals["workflow.status"] = "Error" if phase == "Error" else phase
        self.globals["workflow.failures"] = self._failures()
        started = self.book.status.get("startedAt")
        if started:
            from dflowctl.argo import parse_rfc3339

            self.globals["workflow.duration"] = str(max(time.time() - parse_rfc3339(started), 0.0))
        holder = {"name": "onExit", "template": on_exit}
        name = f"{self.name}.onExit"
        return self.execute(name, name, holder, self.spec.get("arguments") or {}, None)

    def _failures(self) -> str:
        out = []
        with self.book.lock:
            nodes = list(self.book.nodes.values())
        for node in nodes:
            if node.get("phase") in FAILED_OR_ERROR and node.get("type") == "Pod":
                out.append(
                    {
                        "displayName": node.get("displayName", ""),
                        "message": node.get("message", ""),
                        "templateName": node.get("templateName", ""),
                        "phase": node.get("phase"),
                        "podName": pod_name(self.name, str(node.get("templateName", "")), node["name"]),
                        "finishedAt": node.get("finishedAt", ""),
                    }
                )
        return json.dumps(out, separators=(",", ":"))

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
            self.book.touch()

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

    # ------------------------------------------------------------------ templates

    def resolve_template(self, holder: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        if holder.get("inline"):
            return "", dict(holder["inline"])
        if holder.get("templateRef"):
            raise TemplateError("templateRef is not supported by the local engine (use -e argo)")
        name = holder.get("template")
        if not name or name not in self.templates:
            raise TemplateError(f"template {name!r} not found")
        return str(name), self.templates[str(name)]

    def process_args(
        self, tmpl: Mapping[str, Any], args: Mapping[str, Any], arts_scope: ArtifactScope
    ) -> tuple[dict[str, Any], Scope, ArtifactScope]:
        """Argo's ``ProcessArgs``: arguments become inputs; inputs are substituted into the template."""
        tmpl = dict(tmpl)
        arg_params = {p["name"]: p for p in args.get("parameters") or []}
        arg_arts = {a["name"]: a for a in args.get("artifacts") or []}
        inputs = dict(tmpl.get("inputs") or {})
        scope: Scope = dict(self.globals)
        params = []
        for p in inputs.get("parameters") or []:
            p = dict(p)
            value = p.get("value", p.get("default"))
            arg = arg_params.get(p["name"])
            if arg is not None and arg.get("value") is not None:
                value = arg["value"]
            if value is None:
                raise TemplateError(f"inputs.parameters.{p['name']} was not supplied")
            text = param_string(value)
            if "{{" in text:
                text = expr.substitute(text, scope, strict=False)
            p["value"] = text
            p.pop("default", None) if arg is not None else None
            params.append(p)
        for p in params:
            scope[f"inputs.parameters.{p['name']}"] = p["value"]
        scope["inputs.parameters"] = json.dumps(
            [{"name": p["name"], "value": p["value"]} for p in params], separators=(",", ":")
        )
        in_arts: ArtifactScope = {}
        artifacts = []
        for a in inputs.get("artifacts") or []:
            a = walk_strings(dict(a), lambda s: expr.substitute(s, scope, strict=False))
            arg = arg_arts.get(a["name"])
            if arg is not None:
                located = self.locate_artifact(arg, arts_scope)
                if located is not None:
                    for key, val in located.items():
                        if key not in ("name", "path", "mode", "optional"):
                            a[key] = val
            if not _has_location(a):
                if a.get("optional") or (arg is not None and arg.get("optional")):
                    a["optional"] = True
                else:
                    raise TemplateError(f"inputs.artifacts.{a['name']} was not supplied")
            if a.get("path"):
                scope[f"inputs.artifacts.{a['name']}.path"] = str(a["path"])
            artifacts.append(a)
            in_arts[f"inputs.artifacts.{a['name']}"] = a
        outs = tmpl.get("outputs") or {}
        for a in outs.get("artifacts") or []:
            if a.get("path"):
                scope[f"outputs.artifacts.{a['name']}.path"] = str(a["path"])
        for p in outs.get("parameters") or []:
            if (p.get("valueFrom") or {}).get("path"):
                scope[f"outputs.parameters.{p['name']}.path"] = str(p["valueFrom"]["path"])
        outputs = tmpl.get("outputs") or {}
        for p in outputs.get("parameters") or []:
            path = (p.get("valueFrom") or {}).get("path")
            if path:
                scope[f"outputs.parameters.{p['name']}.path"] = str(path)
        for a in outputs.get("artifacts") or []:
            if a.get("path"):
                scope[f"outputs.artifacts.{a['name']}.path"] = str(a["path"])
        if params or artifacts:
            inputs = {}
            if params:
                inputs["parameters"] = params
            if artifacts:
                inputs["artifacts"] = artifacts
            tmpl["inputs"] = inputs
        body = {k: v for k, v in tmpl.items() if k not in ("inputs", "name")}
        body = walk_strings(body, lambda s: expr.substitute(s, scope, strict=False))
        body["name"] = tmpl.get("name", "")
        if "inputs" in tmpl:
            body["inputs"] = tmpl["inputs"]
        return body, scope, in_arts

    def locate_artifact(self, art: Mapping[str, Any], arts_scope: ArtifactScope) -> dict[str, Any] | None:
        """An argument artifact with its location: ``from``/``fromExpression`` resolved."""
        ref = art.get("from")
        if ref:
            match = _FROM_TAG.match(str(ref))
            key = match.group(1) if match else str(ref)
            found = arts_scope.get(key) or self.global_arts.get(key)
            if found is None:
                if art.get("optional"):
                    return None
                raise TemplateError(f"Unable to resolve: {ref}")
            out = {k: v for k, v in found.items() if k not in ("name", "path", "globalName")}
            if art.get("subPath"):
                out["subPath"] = art["subPath"]
            return out
        if _has_location(art):
            return {k: v for k, v in art.items() if k not in ("name",)}
        return None

    # ------------------------------------------------------------------ execute

    def width(self, sem: Slots | None) -> int:
        """How many children of one group may be under way at once (threads, not pods):
        the template's parallelism, else enough to keep every pod slot busy even when
        children are composite and wait on their own children."""
        if sem is not None:
            return sem.size
        return max(64, 4 * self.run_slots.size)

    def check_running(self) -> None:
        if self.cancel.is_set():
            raise Cancelled

    def execute(
        self,
        name: str,
        display: str,
        holder: Mapping[str, Any],
        args: Mapping[str, Any],
        boundary: str | None,
        *,
        arts_scope: ArtifactScope | None = None,
    ) -> dict[str, Any] | None:
        """Run the template ``holder`` names as node ``name``; None if stopped before it started."""
        nid = node_id(self.name, name)
        if nid in self.reused:
            node = self.book.get(nid)
            if node is not None:
                self._register_globals(node)
                return node
        if self.cancel.is_set():
            return None
        try:
            tmpl_name, tmpl = self.resolve_template(holder)
            tmpl, scope, in_arts = self.process_args(tmpl, args, arts_scope or {})
        except (TemplateError, expr.ExprError) as err:
            return self.book.create(
                name, display, "Skipped", holder.get("template"), boundary, phase="Error", message=str(err)
            )
        retry = tmpl.get("retryStrategy")
        if retry is None:
            retry = self.spec.get("retryStrategy")
        if retry is not None:  # `retryStrategy: {}` retries without limit
            from dflowctl.engines.local.retry import execute_with_retries

            node = execute_with_retries(self, name, display, tmpl_name, tmpl, scope, in_arts, boundary, retry)
        else:
            node = self.execute_once(name, display, tmpl_name, tmpl, scope, in_arts, boundary, None)
        if node is not None:
            self._register_globals(node)
        return node

    def execute_once(
        self,
        name: str,
        display: str,
        tmpl_name: str,
        tmpl: dict[str, Any],
        scope: Scope,
        in_arts: ArtifactScope,
        boundary: str | None,
        retries: int | None,
    ) -> dict[str, Any] | None:
        kind = next((k for k in TEMPLATE_KINDS if tmpl.get(k) is not None), None)
        inputs = tmpl.get("inputs")
        if kind in LEAF_KINDS:
            return self.run_pod(name, display, tmpl_name, tmpl, boundary, retries)
        if kind == "steps":
            from dflowctl.engines.local.flow import run_steps

            return run_steps(self, name, display, tmpl_name, tmpl, scope, in_arts, boundary)
        if kind == "dag":
            from dflowctl.engines.local.flow import run_dag

            return run_dag(self, name, display, tmpl_name, tmpl, scope, in_arts, boundary)
        if kind == "suspend" and (tmpl.get("suspend") or {}).get("duration") is not None:
            return self.run_suspend(name, display, tmpl_name, tmpl, boundary)
        what = f"{kind} templates" if kind else "a template with nothing to run"
        if kind == "suspend":
            what = "suspend templates without a duration"
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

    def run_suspend(
        self, name: str, display: str, tmpl_name: str, tmpl: dict[str, Any], boundary: str | None
    ) -> dict[str, Any]:
        node = self.book.create(name, display, "Suspend", tmpl_name, boundary, inputs=tmpl.get("inputs"))
        seconds = parse_duration(tmpl["suspend"]["duration"])
        if self.cancel.wait(seconds):
            self.book.finish(node, "Failed", self.interrupted_message())
        else:
            self.book.finish(node, "Succeeded")
        return node

    def _register_globals(self, node: Mapping[str, Any]) -> None:
        outputs = node.get("outputs") or {}
        if node.get("phase") != "Succeeded" and node.get("type") != "Pod":
            return
        changed = False
        with self.book.lock:
            gout = self.book.status.setdefault("outputs", {})
            for p in outputs.get("parameters") or []:
                if p.get("globalName") and "value" in p:
                    self.globals[f"workflow.outputs.parameters.{p['globalName']}"] = str(p["value"])
                    _upsert(gout.setdefault("parameters", []), {"name": p["globalName"], "value": p["value"]})
                    changed = True
            for a in outputs.get("artifacts") or []:
                if a.get("globalName"):
                    art = {k: v for k, v in a.items() if k != "globalName"}
                    art["name"] = a["globalName"]
                    self.global_arts[f"workflow.outputs.artifacts.{a['globalName']}"] = art
                    _upsert(gout.setdefault("artifacts", []), art)
                    changed = True
            if not gout:
                self.book.status.pop("outputs", None)
            if changed:
                self.book.touch()

    # ------------------------------------------------------------------ pods

    def run_pod(
        self,
        name: str,
        display: str,
        tmpl_name: str,
        tmpl: dict[str, Any],
        boundary: str | None,
        retries: int | None,
    ) -> dict[str, Any] | None:
        pod = pod_name(self.name, tmpl_name, name)
        local = {"pod.name": pod, "node.name": name, "retries": str(retries or 0)}
        tmpl = walk_strings(tmpl, lambda s: expr.substitute(s, local, strict=False))
        node = self.book.create(
            name, display, "Pod", tmpl_name or None, boundary, phase="Pending", inputs=tmpl.get("inputs")
        )
        nid = node["id"]
        scratch = temp_dir(self.run_dir.work, f"{pod}-")
        try:
            try:
                staged = self._stage_inputs(tmpl, scratch)
            except TemplateError as err:
                self.book.finish(node, "Error", str(err))
                return node
            if not self._acquire(self.pod_slots):
                self.book.finish(node, "Failed", self.interrupted_message())
                return node
            if not self._acquire(self.run_slots):
                if self.pod_slots is not None:
                    self.pod_slots.release()
                self.book.finish(node, "Failed", self.interrupted_message())
                return node
            try:
                self.book.update(node, phase="Running")
                req = self._make_request(
                    pod_name=pod,
                    template=tmpl,
                    work_dir=scratch / "pod",
                    input_artifacts=staged,
                    log_path=self.run_dir.log_path(nid),
                    timeout=self._pod_timeout(tmpl),
                )
                result = self.runner.run(req, self.cancel)
            finally:
                self.run_slots.release()
                if self.pod_slots is not None:
                    self.pod_slots.release()
            self._record_pod(node, tmpl, pod, result)
            return node
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _acquire(self, slots: Slots | None) -> bool:
        if slots is None:
            return not self.cancel.is_set()
        return slots.acquire(self.cancel)

    def _pod_timeout(self, tmpl: Mapping[str, Any]) -> float | None:
        limits = []
        for key in ("timeout", "activeDeadlineSeconds"):
            if tmpl.get(key) not in (None, ""):
                try:
                    limits.append(parse_duration(tmpl[key]))
                except ValueError:
                    raise TemplateError(f"invalid {key} {tmpl[key]!r}") from None
        if self.deadline is not None:
            limits.append(max(self.deadline - time.time(), 0.0))
        return min(limits) if limits else None

    def _stage_inputs(self, tmpl: Mapping[str, Any], scratch: Path) -> list[tuple[str, Path]]:
        staged = []
        for art in (tmpl.get("inputs") or {}).get("artifacts") or []:
            path = art.get("path")
            if not path:
                continue
            if not _plain_name(art["name"]):  # it names a folder of ours
                raise TemplateError(f"invalid input artifact name {art['name']!r}")
            host = self._artifact_host_path(art, scratch / "in" / art["name"])
            if host is None:
                continue
            staged.append((str(path), host))
        return staged

    def _artifact_host_path(self, art: Mapping[str, Any], scratch: Path) -> Path | None:
        if isinstance(art.get("raw"), Mapping):
            scratch.parent.mkdir(parents=True, exist_ok=True)
            scratch.write_text(str(art["raw"].get("data", "")), encoding="utf-8")
            return scratch
        s3 = art.get("s3")
        if isinstance(s3, Mapping) and s3.get("key"):
            try:
                host = self.unpacked.materialize(str(s3["key"]), scratch)
            except FileNotFoundError:
                if art.get("optional"):
                    return None
                raise TemplateError(  # noqa: B904 - the missing key is the whole story
                    f"failed to load artifact {art['name']!r}: key {s3['key']!r} does not exist"
                )
            sub = art.get("subPath")
            if sub:
                host = host / str(sub).lstrip("/")
                if not host.exists():
                    raise TemplateError(f"failed to load artifact {art['name']!r}: subPath {sub!r} not found")
            return host
        if art.get("optional"):
            return None
        kinds = [
            k for k in art if k not in ("name", "path", "mode", "optional", "archive", "subPath", "from")
        ]
        what = kinds[0] if kinds else "unknown"
        raise TemplateError(f"not supported by the local engine: {what} artifacts ({art['name']})")

    def _record_pod(self, node: Mapping[str, Any], tmpl: Mapping[str, Any], pod: str, result: Any) -> None:
        outputs: dict[str, Any] = {}
        phase, message = result.phase, result.message
        spec_out = tmpl.get("outputs") or {}
        params = []
        for p in spec_out.get("parameters") or []:
            entry = dict(p)
            if p["name"] in result.parameters:
                entry["value"] = str(result.parameters[p["name"]])
            elif p.get("value") is not None:
                entry["value"] = param_string(p["value"])
            else:
                continue
            params.append(entry)
        if params:
            outputs["parameters"] = params
        arts = []
        if phase == "Succeeded" or result.artifacts:
            for a in spec_out.get("artifacts") or []:
                host = result.artifacts.get(a["name"])
                if host is None:
                    continue
                try:
                    arts.append(self._store_output(a, Path(host), pod))
                except (OSError, TemplateError) as err:
                    phase, message = "Error", f"failed to save outputs: {err}"
        if arts:
            outputs["artifacts"] = arts
        if result.result is not None:
            outputs["result"] = result.result
        if result.exit_code is not None:
            outputs["exitCode"] = str(result.exit_code)
        if self.cancel.is_set() and phase != "Succeeded":
            message = self.interrupted_message()
            phase = "Failed"
        fields: dict[str, Any] = {}
        if outputs:
            fields["outputs"] = outputs
        fields["startedAt"] = rfc3339(result.started_at) if result.started_at else None
        self.book.finish(node, phase, message or "", **fields)
        if result.finished_at:
            self.book.update(node, finishedAt=rfc3339(result.finished_at))

    def _store_output(self, art: Mapping[str, Any], host: Path, pod: str) -> dict[str, Any]:
        s3 = art.get("s3")
        key = s3.get("key") if isinstance(s3, Mapping) else None
        if key:
            key = expr.substitute(str(key), {**self.globals, "pod.name": pod}, strict=False)
        else:
            key = default_key(self.name, pod, art)
        self.repo.put(str(key), host, art)
        out = {k: v for k, v in art.items() if k not in ("s3", "from", "optional")}
        out["s3"] = {"key": key}
        return out


def _plain_name(name: Any) -> bool:
    """One path component: never a way out of the folder it is joined to."""
    text = str(name)
    return text not in ("", ".", "..") and "/" not in text and "\0" not in text


def _pod_request(**fields: Any) -> Any:
    from dflowctl.engines.local.pods import PodRequest

    return PodRequest(**fields)


def _has_location(art: Mapping[str, Any]) -> bool:
    return any(
        isinstance(art.get(k), Mapping)
        for k in ("s3", "raw", "http", "git", "gcs", "oss", "azure", "artifactory", "hdfs", "plugin")
    )


def _upsert(items: list[dict[str, Any]], entry: dict[str, Any]) -> None:
    for i, old in enumerate(items):
        if old.get("name") == entry["name"]:
            items[i] = entry
            return
    items.append(entry)


def _merge_defaults(defaults: Mapping[str, Any], tmpl: Mapping[str, Any]) -> dict[str, Any]:
    """``spec.templateDefaults`` under a template (the template wins, maps merge)."""
    kind = next((k for k in TEMPLATE_KINDS if tmpl.get(k) is not None), None)
    out = {k: copy.deepcopy(v) for k, v in defaults.items() if k not in TEMPLATE_KINDS or k == kind}
    for key, val in tmpl.items():
        if isinstance(val, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge_defaults(out[key], val)
        else:
            out[key] = val
    return out
