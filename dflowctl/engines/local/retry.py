"""``retryStrategy``: a Retry node whose children are the attempts ``<name>(<n>)``.

As Argo's ``processNodeRetries``: ``limit`` more attempts after the first,
``retryPolicy`` (OnFailure by default, Always when only ``expression`` is given),
``expression`` over ``lastRetry.*``, and ``backoff`` (duration * factor^n,
capped, within maxDuration).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from dflowctl import expr
from dflowctl.argo import FAILED_OR_ERROR, SUCCESSFUL, node_id, parse_duration, parse_rfc3339
from dflowctl.engines.local.runtime import Node, Runtime
from dflowctl.engines.local.scope import ArtifactScope, Scope, TemplateError, walk_strings
from dflowctl.engines.local.status import NodeBook


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


def execute_with_retries(
    rt: Runtime,
    name: str,
    display: str,
    tmpl_name: str,
    tmpl: dict[str, Any],
    scope: Scope,
    in_arts: ArtifactScope,
    boundary: str | None,
    strategy: Mapping[str, Any],
) -> Node | None:
    book = rt.book
    node = book.create(name, display, "Retry", tmpl_name or None, boundary, inputs=tmpl.get("inputs"))
    try:
        strategy = walk_strings(dict(strategy), lambda s: expr.substitute(s, scope, strict=False))
        limit = None if strategy.get("limit") in (None, "") else int(str(strategy["limit"]).strip())
        backoff = strategy.get("backoff") or {}
        base = _seconds(backoff["duration"], "backoff.duration") if backoff.get("duration") else 0.0
        factor = float(str(backoff.get("factor", 1) or 1))
        cap = _seconds(backoff["cap"], "backoff.cap") if backoff.get("cap") else None
        max_duration = (
            _seconds(backoff["maxDuration"], "backoff.maxDuration") if backoff.get("maxDuration") else None
        )
    except (ValueError, TemplateError) as err:
        book.finish(node, "Error", f"invalid retryStrategy: {err}")
        return node
    policy = _policy(strategy)
    started = time.time()
    attempt = 0
    while True:
        book.flag_on_create(node_id(rt.name, f"{name}({attempt})"), {"retried": True})
        child = rt.execute_once(
            f"{name}({attempt})", f"{display}({attempt})", tmpl_name, tmpl, scope, in_arts, boundary, attempt
        )
        if child is None:
            book.finish(node, "Failed", rt.interrupted_message())
            return node
        book.add_child(node["id"], child["id"])
        if child.get("daemoned"):  # a daemon that is up: done as a step; the node follows it
            _follow_daemon(book, node, child)
            return node
        phase = child.get("phase", "Error")
        if phase in SUCCESSFUL:
            book.finish(node, phase, "", outputs=child.get("outputs"))
            return node
        message = child.get("message", "")
        if rt.cancel.is_set():
            book.finish(node, phase, rt.interrupted_message())
            return node
        if not _should_retry(policy, phase):
            book.finish(node, phase, message)
            return node
        if strategy.get("expression"):
            outputs = child.get("outputs") or {}
            last = {
                "exitCode": str(outputs.get("exitCode", "-1")),
                "status": phase,
                "duration": _duration_of(child),
                "message": message,
            }
            try:
                again = expr.evaluate_retry_expression(str(strategy["expression"]), last, scope)
            except expr.ExprError as err:
                book.finish(node, "Error", f"retryStrategy.expression: {err}")
                return node
            if not again:
                book.finish(node, phase, message)
                return node
        if limit is not None and attempt >= limit:
            book.finish(node, phase, "No more retries left")
            return node
        wait = base * factor**attempt if base else 0.0
        if cap is not None:
            wait = min(wait, cap)
        if max_duration is not None and time.time() - started + wait > max_duration:
            book.finish(node, phase, "Max duration limit exceeded")
            return node
        if wait and rt.cancel.wait(wait):
            book.finish(node, phase, rt.interrupted_message())
            return node
        attempt += 1


def _follow_daemon(book: NodeBook, node: Node, child: Node) -> None:
    """Argo's processNodeRetries for a daemoned attempt: the Retry node is Running and
    daemoned (its ``ip`` the attempt's) until the attempt ends, then ends as it did."""
    book.update(node, phase="Running", daemoned=True, podIP=child.get("podIP"))

    def ended(attempt: Mapping[str, Any]) -> None:
        book.update(node, daemoned=None)
        phase, message = str(attempt.get("phase")), attempt.get("message") or ""
        book.finish(node, phase, message, outputs=attempt.get("outputs"))
        book.update(node, finishedAt=attempt.get("finishedAt"))

    with book.lock:  # (it may end meanwhile)
        current = book.get(child["id"]) or child
        if current.get("phase") in ("Running", "Pending"):
            book.when_finished(child["id"], ended)
            return
    ended(current)
