"""``retryStrategy``: a Retry node whose children are the attempts ``<name>(<n>)``.

As Argo's ``processNodeRetries``: ``limit`` more attempts after the first,
``retryPolicy`` (OnFailure by default, Always when only ``expression`` is given),
``expression`` over ``lastRetry.*``, and ``backoff`` (duration * factor^n,
capped, within maxDuration). A daemon's attempt that is up ends the loop (its step
is done); if it fails on its own while its scope goes on, the attempts go on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from dflowctl import expr
from dflowctl.argo import FAILED_OR_ERROR, SUCCESSFUL, node_id, parse_duration, parse_rfc3339
from dflowctl.engines.local.runtime import Call, Node, Runtime
from dflowctl.engines.local.scope import TemplateError, walk_strings


def _policy(strategy: Mapping[str, Any]) -> str:
    policy = strategy.get("retryPolicy")
    if policy:
        return str(policy)
    return "Always" if strategy.get("expression") else "OnFailure"


def _should_retry(policy: str, phase: str) -> bool:
    if policy == "Always":
        return phase in FAILED_OR_ERROR
    if policy == "OnError":
        return phase == "Error"
    if policy == "OnFailure":
        return phase == "Failed"
    return False  # OnTransientError: nothing on a host is a transient Kubernetes error


def _seconds(value: Any, what: str) -> float:
    try:
        return parse_duration(value)
    except ValueError:
        raise TemplateError(f"invalid {what} {value!r}") from None


def _duration_of(node: Mapping[str, Any]) -> str:
    try:
        return str(int(parse_rfc3339(node["finishedAt"]) - parse_rfc3339(node["startedAt"])))
    except (KeyError, ValueError):
        return "0"


def execute_with_retries(rt: Runtime, call: Call, strategy: Mapping[str, Any]) -> Node | None:
    book = rt.book
    node = call.create(book, "Retry")
    try:
        strategy = walk_strings(dict(strategy), lambda s: expr.substitute(s, call.scope, strict=False))
        retrier = _Retrier(rt, node, call, strategy)
    except (ValueError, TemplateError) as err:
        book.finish(node, "Error", f"invalid retryStrategy: {err}")
        return node
    retrier.attempts(0)
    return node


class _Retrier:
    """The attempts of one Retry node, from the first or (a daemon that failed after it
    was up) from the next."""

    def __init__(self, rt: Runtime, node: Node, call: Call, strategy: Mapping[str, Any]) -> None:
        self.rt, self.node, self.call, self.boundary = rt, node, call, call.boundary
        self.strategy = strategy
        self.limit = None if strategy.get("limit") in (None, "") else int(str(strategy["limit"]).strip())
        backoff = strategy.get("backoff") or {}
        self.base = _seconds(backoff["duration"], "backoff.duration") if backoff.get("duration") else 0.0
        self.factor = float(str(backoff.get("factor", 1) or 1))
        self.cap = _seconds(backoff["cap"], "backoff.cap") if backoff.get("cap") else None
        self.max_duration = (
            _seconds(backoff["maxDuration"], "backoff.maxDuration") if backoff.get("maxDuration") else None
        )
        self.policy = _policy(strategy)
        self.started = time.time()

    def attempts(self, attempt: int, last: Mapping[str, Any] | None = None) -> None:
        """Run attempts from ``attempt`` on; ``last``: the daemon's attempt that failed after
        it was up (the attempts then go on only while the daemon's scope does)."""
        rt, book, node, name = self.rt, self.rt.book, self.node, self.call.name
        while True:
            if last is not None and not (self.boundary is not None and rt.scope_open(self.boundary)):
                book.finish(node, str(last.get("phase")), last.get("message") or "")
                rt.keep_daemoned(self.boundary, node)  # (its scope ended: Succeeded at once)
                return
            book.flag_on_create(node_id(rt.name, f"{name}({attempt})"), {"retried": True})
            child = rt.execute_once(self.call.attempt(attempt), attempt)
            if child is None:
                book.finish(node, "Failed", rt.interrupted_message())
                return
            book.add_child(node["id"], child["id"])
            if child.get("daemoned"):  # a daemon that is up: done as a step; the node follows it
                self._follow_daemon(child, attempt)
                return
            if not self._again(child, attempt):
                if last is not None and child.get("phase") in FAILED_OR_ERROR:  # (a daemon that was up)
                    rt.keep_daemoned(self.boundary, node)
                return
            attempt += 1
            last = child if last is not None else None

    def _again(self, child: Node, attempt: int) -> bool:
        """After attempt ``child`` ended: True to run the next one (after the backoff);
        else the Retry node is finished."""
        book, node, strategy = self.rt.book, self.node, self.strategy
        phase = child.get("phase", "Error")
        if phase in SUCCESSFUL:
            book.finish(node, phase, "", outputs=child.get("outputs"))
            return False
        message = child.get("message", "")
        if self.rt.cancel.is_set():
            book.finish(node, phase, self.rt.interrupted_message())
            return False
        if not _should_retry(self.policy, phase):
            book.finish(node, phase, message)
            return False
        if strategy.get("expression"):
            outputs = child.get("outputs") or {}
            last = {
                "exitCode": str(outputs.get("exitCode", "-1")),
                "status": phase,
                "duration": _duration_of(child),
                "message": message,
            }
            try:
                again = expr.evaluate_retry_expression(str(strategy["expression"]), last, self.call.scope)
            except expr.ExprError as err:
                book.finish(node, "Error", f"retryStrategy.expression: {err}")
                return False
            if not again:
                book.finish(node, phase, message)
                return False
        if self.limit is not None and attempt >= self.limit:
            book.finish(node, phase, "No more retries left")
            return False
        wait = self.base * self.factor**attempt if self.base else 0.0
        if self.cap is not None:
            wait = min(wait, self.cap)
        if self.max_duration is not None and time.time() - self.started + wait > self.max_duration:
            book.finish(node, phase, "Max duration limit exceeded")
            return False
        if wait and self.rt.cancel.wait(wait):
            book.finish(node, phase, self.rt.interrupted_message())
            return False
        return True

    def _follow_daemon(self, child: Node, attempt: int) -> None:
        """Argo's processNodeRetries for a daemoned attempt: the Retry node is Running and
        daemoned (its ``ip`` the attempt's) until the attempt ends. Killed with its scope,
        it ends as the attempt did (Succeeded); failing on its own while its scope goes on,
        it is retried as any attempt (a new pod, the Retry node Running meanwhile); with no
        retry left, it stays daemoned until its scope ends (``Runtime.keep_daemoned``)."""
        book, node = self.rt.book, self.node
        book.update(node, phase="Running", daemoned=True, podIP=child.get("podIP"))

        def ended(last: Mapping[str, Any]) -> None:
            book.update(node, daemoned=None)
            phase = str(last.get("phase"))
            if phase in FAILED_OR_ERROR and not self.rt.cancel.is_set():
                threading.Thread(
                    target=self._retry_daemon, args=(last, attempt), name="dflowctl-daemon-retry", daemon=True
                ).start()
                return
            book.finish(node, phase, last.get("message") or "", outputs=last.get("outputs"))
            book.update(node, finishedAt=last.get("finishedAt"))

        with book.lock:  # (it may end meanwhile)
            current = book.get(child["id"]) or child
            if current.get("phase") in ("Running", "Pending"):
                book.when_finished(child["id"], ended)
                return
        ended(current)

    def _retry_daemon(self, last: Mapping[str, Any], attempt: int) -> None:
        open_scope = self.boundary is not None and self.rt.scope_open(self.boundary)
        if open_scope and self._again(dict(last), attempt):
            self.attempts(attempt + 1, last)
            return
        if not open_scope:
            self.rt.book.finish(self.node, str(last.get("phase")), last.get("message") or "")
        self.rt.keep_daemoned(self.boundary, self.node)
