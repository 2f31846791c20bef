"""``containerSet`` templates: the containers of one pod, in dependency order.

As Argo's emissary runs them: each container starts once every container it names in
``dependencies`` has ended with exit code 0 (containers without any start at once); one
whose dependency failed does not run (``Error``, Argo's emissary exit code 64). The
containers share the pod's volumes (``emptyDir`` folders of the pod, as a container's
own ``volumeMounts``) and the set's ``volumeMounts``, which every container gets. The
first container that fails fails the pod: the others still running are stopped, as
Kubernetes ends a pod whose main container failed. Each container is a ``Container``
node under the Pod node (``<pod node>.<container>``, children of the pod or of the
containers they depend on), with its own log. The template's outputs (parameters,
artifacts, ``result``) and the pod's exit code are the container named ``main``'s
(Argo's validator asks for one when there are outputs).

``containerSet.retryStrategy`` (``retries``, ``duration``) retries a failed container in
place (Argo's backoff: ``retries`` attempts in all, ``duration`` apart); a program the
image lacks is not retried (the emissary looks it up before its retry loop).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from dflowctl.argo import parse_duration, rfc3339
from dflowctl.argochecks import container_set_problem
from dflowctl.engines.local.podapi import PodRequest, PodResult, PodRunnerLike
from dflowctl.engines.local.podfs import norm
from dflowctl.engines.local.podoutputs import ARGO_OUT
from dflowctl.engines.local.runtime import Node
from dflowctl.engines.local.scope import param_string
from dflowctl.engines.local.status import NodeBook
from dflowctl.engines.local.volumes import VolumeError, plan_mounts, volume_path

MAIN = "main"
EMISSARY_ERROR = 64  # Argo's emissary exits 64 when it fails itself (a dependency, a lookup)
_NOT_FOUND = "executable file not found in $PATH"
Late = list[tuple[str, Mapping[str, Any], Path]]  # (parameters|artifacts, the output, its host path)


def containers(tmpl: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The containers of a ``containerSet`` template (mappings only)."""
    cset = tmpl.get("containerSet")
    items = cset.get("containers") if isinstance(cset, Mapping) else None
    return [c for c in items or [] if isinstance(c, Mapping)]


def attempts_of(tmpl: Mapping[str, Any]) -> tuple[int, float]:
    """How many times a failed container runs in all, and the seconds between attempts.
    Argo's ``wait.Backoff{Steps: retries, Duration: duration}``; no retryStrategy: once."""
    cset = tmpl.get("containerSet")
    rs = cset.get("retryStrategy") if isinstance(cset, Mapping) else None
    if not isinstance(rs, Mapping) or rs.get("retries") in (None, ""):
        return 1, 0.0
    try:
        steps = int(str(rs["retries"]))
    except ValueError:
        raise ValueError(f"retries {rs['retries']!r} is not a number") from None
    pause = parse_duration(rs["duration"]) if rs.get("duration") not in (None, "") else 0.0
    return max(1, steps), pause


class ContainerSet:
    """One run of a containerSet pod: its containers as requests and Container nodes."""

    def __init__(
        self,
        runner: PodRunnerLike,
        book: NodeBook,
        pod_node: Node,
        req: PodRequest,
        log_of: Callable[[str], Path],
        cancel: threading.Event,
    ) -> None:
        self.runner = runner
        self.book = book
        self.pod_node = pod_node
        self.req = req
        self.cancel = cancel
        self.stop = threading.Event()  # the pod has failed (or is cancelled): end the rest
        self.specs = containers(req.template)
        self.names = [str(c.get("name")) for c in self.specs]
        self.late: Late = []  # main's outputs in a volume
        self.results: dict[str, PodResult] = {}
        self.failed: list[str] = []  # containers that failed, in the order they did
        self.lock = threading.Lock()
        self._started = threading.Event()
        self.nodes: dict[str, Node] = {}
        problem = container_set_problem(req.template)  # (a template a workflowTemplateRef joined)
        self.problem = None if problem is None else f"invalid containerSet: {problem[0]}"
        self.attempts, self.pause = 1, 0.0
        try:
            self.attempts, self.pause = attempts_of(req.template)
        except ValueError as err:
            self.problem = self.problem or f"invalid containerSet.retryStrategy: {err}"
        if self.problem is not None:
            self.specs, self.names = [], []
        pod_name = str(pod_node["name"])
        for name in self.names:
            node = book.create(
                f"{pod_name}.{name}", name, "Container", pod_node.get("templateName"),
                pod_node.get("boundaryID"), phase="Pending",
            )  # fmt: skip
            self.nodes[name] = node
        for spec, name in zip(self.specs, self.names, strict=True):
            deps = [str(d) for d in spec.get("dependencies") or []]
            parents = [self.nodes[d]["id"] for d in deps] or [pod_node["id"]]
            for pid in parents:
                book.add_child(pid, self.nodes[name]["id"])

    # ------------------------------------------------------------------ requests

    def request(self, spec: Mapping[str, Any], index: int) -> PodRequest:
        tmpl = self.req.template
        cset = tmpl.get("containerSet") or {}
        name = str(spec.get("name"))
        body = {k: v for k, v in spec.items() if k not in ("name", "dependencies")}
        body["volumeMounts"] = [*(spec.get("volumeMounts") or []), *(cset.get("volumeMounts") or [])]
        step = {k: v for k, v in tmpl.items() if k not in ("containerSet", "initContainers", "sidecars")}
        step["container"] = body
        if name != MAIN:  # (Argo: "not saving outputs - not main container")
            step.pop("outputs", None)
        else:  # outputs in a volume are read once every container ended (Argo's wait container)
            step["outputs"], self.late = self._split_outputs(step, body)
        work = (
            self.req.work_dir
            if name == MAIN
            else self.req.work_dir.with_name(f"{self.req.work_dir.name}-{index}")
        )
        log = self.req.log_path.with_name(f"{self.nodes[name]['id']}.log")
        return replace(self.req, template=step, work_dir=work, log_path=log, python=None)

    def _split_outputs(self, step: Mapping[str, Any], body: Mapping[str, Any]) -> tuple[dict[str, Any], Late]:
        outputs = dict(step.get("outputs") or {})
        try:
            mounts = plan_mounts(step, body, self.req.work_dir)
        except VolumeError:
            return outputs, []  # the main container fails on it
        late: Late = []
        for kind in ("parameters", "artifacts"):
            mine = []
            for item in outputs.get(kind) or []:
                path = (item.get("valueFrom") or {}).get("path") if kind == "parameters" else item.get("path")
                host = volume_path(mounts, str(path)) if path else None
                if host is None:
                    mine.append(item)
                else:
                    late.append((kind, item, host))
            if kind in outputs:
                outputs[kind] = mine
        return outputs, late

    def _late_outputs(self, main: PodResult) -> tuple[dict[str, str], dict[str, Path], str | None]:
        params, arts = dict(main.parameters), dict(main.artifacts)
        problem = None
        for kind, item, host in self.late:
            path = norm(str((item.get("valueFrom") or {}).get("path") or item.get("path")))
            if kind == "parameters":
                default = (item.get("valueFrom") or {}).get("default")
                if host.is_file():
                    value = host.read_bytes().decode("utf-8", "replace")
                    params[item["name"]] = value[:-1] if value.endswith("\n") else value
                elif default is not None:
                    params[item["name"]] = param_string(default)
                else:
                    problem = problem or f"open {ARGO_OUT}/parameters{path}: no such file or directory"
            elif host.exists():
                arts[item["name"]] = host
            elif not item.get("optional"):
                problem = problem or f"open {ARGO_OUT}/artifacts{path}.tgz: no such file or directory"
        return params, arts, problem

    # ------------------------------------------------------------------ running

    def run(self, on_start: Callable[[], None] | None = None) -> PodResult:
        """Run the containers to their end; the pod's result (outputs: ``main``'s)."""
        started = time.time()
        if self.problem is not None:
            return replace(_never_ran("Error", None, self.problem), started_at=started)
        ends = {name: threading.Event() for name in self.names}
        threads = []
        for i, (spec, name) in enumerate(zip(self.specs, self.names, strict=True)):
            deps = [str(d) for d in spec.get("dependencies") or []]
            thread = threading.Thread(
                target=self._container,
                args=(name, self.request(spec, i), deps, ends, on_start),
                name="dflowctl-container",
                daemon=True,
            )
            thread.start()
            threads.append(thread)
        watcher = threading.Thread(target=self._watch, name="dflowctl-cset-cancel", daemon=True)
        watcher.start()
        for thread in threads:
            thread.join()
        self.stop.set()
        watcher.join()
        self._join_logs()
        return self._pod_result(started)

    def _watch(self) -> None:
        while not self.stop.is_set():
            if self.cancel.wait(0.1):
                self.stop.set()

    def _container(
        self,
        name: str,
        req: PodRequest,
        deps: list[str],
        ends: Mapping[str, threading.Event],
        on_start: Callable[[], None] | None,
    ) -> None:
        node = self.nodes[name]
        try:
            for dep in deps:
                while not ends[dep].wait(0.05):
                    if self.stop.is_set():
                        break
                bad = self.results.get(dep)
                if bad is None:  # the pod ended before it did
                    self._end(
                        name, node, _never_ran("Failed", None), f"{name}: Pod Failed whilst container running"
                    )
                    return
                if bad.phase != "Succeeded":
                    code = EMISSARY_ERROR if bad.exit_code is None else bad.exit_code
                    why = f'dependency "{dep}" exited with non-zero code: {code}'
                    res = _never_ran("Error", EMISSARY_ERROR, why)
                    self._end(name, node, res, f"{name}: Error (exit code {EMISSARY_ERROR}): {why}")
                    return
            res = self._attempts(name, node, req, on_start)
            if res.phase != "Succeeded" and self.failed and not self.cancel.is_set():
                res = replace(res, phase="Failed", message="Pod Failed whilst container running")
            self._end(name, node, res, f"{name}: {res.message}" if res.message else None)
        finally:
            ends[name].set()

    def _attempts(
        self, name: str, node: Node, req: PodRequest, on_start: Callable[[], None] | None
    ) -> PodResult:
        def running() -> None:
            self.book.update(node, phase="Running")
            if on_start is not None and not self._started.is_set():
                self._started.set()
                on_start()

        res: PodResult | None = None
        earlier = b""  # the log of the attempts before (each run starts its log afresh)
        for attempt in range(self.attempts):
            if attempt and self.stop.wait(self.pause):
                break
            if attempt:
                earlier += _read(req.log_path)
            res = self.runner.run(replace(req, keep_root=attempt > 0), self.stop, running)
            if res.phase == "Succeeded" or _NOT_FOUND in res.message:  # (looked up before retries)
                break
        if earlier:
            try:
                req.log_path.write_bytes(earlier + _read(req.log_path))
            except OSError:
                pass
        assert res is not None
        return res

    def _end(self, name: str, node: Node, res: PodResult, message: str | None) -> None:
        with self.lock:
            self.results[name] = res
            if res.phase != "Succeeded":
                self.failed.append(name)
                self.stop.set()  # Kubernetes ends the pod: the other containers are stopped
        self.book.finish(node, res.phase, message or "", startedAt=rfc3339(res.started_at))
        self.book.update(node, finishedAt=rfc3339(res.finished_at))

    def _join_logs(self) -> None:
        """The pod's log: its containers' logs, one after the other (``argo logs``)."""
        try:
            with self.req.log_path.open("ab") as out:
                for name in self.names:
                    part = self.req.log_path.with_name(f"{self.nodes[name]['id']}.log")
                    if part.exists():
                        out.write(part.read_bytes())
        except OSError:
            pass

    def _pod_result(self, started: float) -> PodResult:
        main = self.results.get(MAIN)
        first = self.results[self.failed[0]] if self.failed else None
        ends = [r.finished_at for r in self.results.values() if r.finished_at]
        starts = [r.started_at for r in self.results.values() if r.started_at]
        phase = "Succeeded" if first is None else ("Error" if first.phase == "Error" else "Failed")
        message = "" if first is None else first.message
        params: Mapping[str, str] = {}
        arts: Mapping[str, Path] = {}
        if main is not None:
            params, arts, problem = self._late_outputs(main)
            if problem and phase == "Succeeded":
                phase, message = "Error", problem
        return PodResult(
            phase=phase,
            exit_code=main.exit_code if main is not None else None,
            message=message,
            result=main.result if main is not None else None,
            parameters=params,
            artifacts=arts,
            started_at=min(starts, default=started),
            finished_at=max(ends, default=time.time()),
        )


def _never_ran(phase: str, exit_code: int | None, message: str = "") -> PodResult:
    now = time.time()
    return PodResult(phase, exit_code, message, None, {}, {}, now, now)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""
