"""Daemon templates (``daemon: true``): a pod kept running beside the steps that follow it.

As Argo runs them: once the daemon's pod is up its node is ``Running`` with
``daemoned: true`` and its step or task counts as done (``Daemoned`` in
``depends``; with a ``readinessProbe`` on a port, once that port answers), so the
next ones start while it runs; ``{{steps.x.ip}}`` /
``{{tasks.x.ip}}`` is its pod IP, here the host's loopback (local pods share the
host's network). When the scope that started it ends (its steps or DAG template,
or the workflow, or a ``stop``), the daemon is killed and its node is
``Succeeded`` (Argo's ``killDaemonedChildren``; e2e TestMarkDaemonedPodSucceeded);
its ``finishedAt`` stays the time it was up, as on Argo's controller (v4.0.5, compared
on the test cluster).
A daemon that ends on its own before that ends as any pod does (its exit code);
retried (``engines.local.retry``) when it fails while its scope goes on.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dflowctl.argo import rfc3339
from dflowctl.engines.local.podapi import PodRequest, PodResult, PodRunnerLike
from dflowctl.engines.local.status import NodeBook
from dflowctl.engines.local.volumes import Sidecars

POD_IP = "127.0.0.1"  # what `{{steps.x.ip}}` of a daemon gives: local pods share the host's network
KILL_WAIT = 15.0  # seconds a scope waits for its killed daemons to end


@dataclass
class _Daemon:
    node: dict[str, Any]
    kill: threading.Event = field(default_factory=threading.Event)
    killed: bool = False
    ready_at: str | None = None
    ended: threading.Event = field(default_factory=threading.Event)


def _probe_port(tmpl: Mapping[str, Any]) -> int | None:
    """The port of the container's ``readinessProbe`` (``tcpSocket`` or ``httpGet``), if numeric."""
    body = tmpl.get("container") or tmpl.get("script") or {}
    probe = body.get("readinessProbe") if isinstance(body, Mapping) else None
    for kind in ("tcpSocket", "httpGet"):
        port = (probe or {}).get(kind, {}).get("port") if isinstance(probe, Mapping) else None
        if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
            return int(port)
    return None


class Daemons:
    """The daemon pods of one run, by the id of the scope (steps/DAG node) that started them."""

    def __init__(self, runner: PodRunnerLike, book: NodeBook) -> None:
        self.runner = runner
        self.book = book
        self._lock = threading.Lock()
        self._by_scope: dict[str | None, list[_Daemon]] = {}
        self._closed: set[str | None] = set()  # scopes ended: a daemon starting in one is killed
        self._kept: dict[str | None, list[dict[str, Any]]] = {}  # Retry nodes daemoned till then

    def start(
        self,
        node: dict[str, Any],
        scope: str | None,
        req: PodRequest,
        sidecars: Sidecars,
        cancel: threading.Event,
        done: Callable[[PodResult], None],
    ) -> PodResult | None:
        """Run the daemon's pod. None once it is up (the node Running, daemoned; ``done``
        records it when it ends); the pod's result if it ended before it was up."""
        d = _Daemon(node)
        up = threading.Event()
        state: dict[str, Any] = {"handed": False, "result": None}
        lock = threading.Lock()

        probe = _probe_port(req.template)

        def on_start() -> None:
            self.book.update(node, phase="Running")
            sidecars.start()
            threading.Thread(target=ready, name="dflowctl-daemon-ready", daemon=True).start()

        def ready() -> None:  # Running; up once its readinessProbe's port answers, if it has one
            while probe is not None and not d.ended.is_set() and not d.kill.is_set():
                try:
                    socket.create_connection((POD_IP, probe), timeout=1).close()
                    break
                except OSError:
                    d.ended.wait(0.2)
            if not d.ended.is_set():  # Argo's record: finished (fulfilled) now, Running while daemoned
                d.ready_at = rfc3339()
                self.book.update(node, daemoned=True, podIP=POD_IP, finishedAt=d.ready_at)
                up.set()

        def go() -> None:
            try:
                result = self.runner.run(req, d.kill, on_start)
            finally:
                sidecars.stop()
            with lock:
                handed = state["handed"]
                state["result"] = result
            if handed:
                if d.killed or cancel.is_set():  # killed with its scope or the run: Argo marks it Succeeded
                    self.book.update(node, daemoned=None)
                    self.book.finish(node, "Succeeded", "")
                    self.book.update(node, finishedAt=d.ready_at)  # (the time it was up, as Argo keeps it)
                else:
                    self.book.update(node, daemoned=None)
                    done(result)
            d.ended.set()

        def follow_cancel() -> None:  # the workflow stopped: its daemons go with it
            while not d.ended.wait(0.25):
                if cancel.is_set():
                    self._kill(d)
                    return

        threading.Thread(target=go, name="dflowctl-daemon", daemon=True).start()
        threading.Thread(target=follow_cancel, name="dflowctl-daemon-cancel", daemon=True).start()
        while not up.wait(0.05):
            if d.ended.is_set():
                break
        with lock:
            if state["result"] is not None:  # it ended before it was up: an ordinary pod result
                return state["result"]  # type: ignore[no-any-return]
            state["handed"] = True
        with self._lock:
            closed = scope in self._closed
            if not closed:
                self._by_scope.setdefault(scope, []).append(d)
        if closed:  # (a retried daemon up just as its scope ended: it goes with it)
            self._kill(d)
        return None

    def _kill(self, d: _Daemon) -> None:
        d.killed = True
        d.kill.set()

    def end_scope(self, scope: str | None) -> None:
        """Kill the daemons ``scope`` started and wait for their nodes to end."""
        with self._lock:
            self._closed.add(scope)
            daemons = self._by_scope.pop(scope, [])
            kept = self._kept.pop(scope, [])
        for d in daemons:
            if not d.ended.is_set():
                self._kill(d)
        for d in daemons:
            d.ended.wait(KILL_WAIT)
        for node in kept:
            self._succeed(node)

    def keep_daemoned(self, scope: str | None, node: dict[str, Any]) -> None:
        """A Retry node whose daemon failed after it was up, its retries over: Argo keeps it
        daemoned (the last attempt's phase and message shown) until its scope kills its
        daemoned nodes, and it ends ``Succeeded`` then (at once if the scope has ended)."""
        self.book.update(node, daemoned=True)
        with self._lock:
            closed = scope in self._closed
            if not closed:
                self._kept.setdefault(scope, []).append(node)
        if closed:
            self._succeed(node)

    def _succeed(self, node: dict[str, Any]) -> None:
        current = self.book.get(node["id"]) or node
        message, finished = current.get("message"), current.get("finishedAt")
        self.book.update(node, daemoned=None)
        self.book.finish(node, "Succeeded", message)
        self.book.update(node, finishedAt=finished)  # (when it failed, as Argo keeps it)

    def scope_open(self, scope: str | None) -> bool:
        with self._lock:
            return scope not in self._closed

    def end_all(self) -> None:
        """Kill every daemon still up (the workflow ended)."""
        with self._lock:
            scopes = list({*self._by_scope, *self._kept})
        for scope in scopes:
            self.end_scope(scope)


class DaemonScopes:
    """The ``Runtime`` methods a run's daemons answer (``Controller`` has them)."""

    daemons: Daemons

    def end_scope(self, scope_id: str) -> None:
        self.daemons.end_scope(scope_id)

    def scope_open(self, scope_id: str) -> bool:
        return self.daemons.scope_open(scope_id)

    def keep_daemoned(self, scope_id: str | None, node: dict[str, Any]) -> None:
        self.daemons.keep_daemoned(scope_id, node)


__all__ = ["POD_IP", "DaemonScopes", "Daemons"]
