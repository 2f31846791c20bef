"""A run in words, without ``rich``: the closing summary (phase, reused steps, what
failed and where its log is, outputs), the cost line of ``status NAME`` and the rows
of the run list."""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from dflowctl import usage
from dflowctl.argo.phases import FAILED_OR_ERROR
from dflowctl.errors import redact
from dflowctl.runoutputs import OutputItem, run_outputs
from dflowctl.tree import (
    TreeNode,
    build_tree,
    format_span,
    parse_time,
    progress,
    usage_totals,
    walk_paths,
)
from dflowctl.viewtext import ICONS, node_message, now_utc, printable, workflow_name, workflow_phase


def node_paths(root: TreeNode) -> dict[str, str]:
    """A readable path per node ("inner/square(3:3)"), root excluded."""
    return {node.id: path for path, node in walk_paths(root)}


def failure_lines(root: TreeNode, limit: int = 10, flags: str = "") -> list[str]:
    """What failed, leaving out failures that were recovered (under a node that
    succeeded: a retried attempt, a step with continueOn). A step that ran out of
    retries is one line: its last attempt's message and the number of attempts."""
    paths = node_paths(root)
    lines: list[str] = []
    failed: list[str] = []

    def visit(node: TreeNode) -> None:
        for child in node.children:
            if child.phase == "Succeeded":
                continue
            path = paths.get(child.id, child.display_name)
            attempts = [c for c in child.children if c.is_leaf_kind] if child.type == "Retry" else []
            if (attempts or child.is_leaf_kind) and child.phase in FAILED_OR_ERROR:
                failed.append(path)
            if attempts and child.phase in FAILED_OR_ERROR:
                last = attempts[-1]
                msg = f": {node_message(last)}" if last.message else ""
                lines.append(
                    f"  {ICONS[child.phase]} {path} {child.phase}{msg} (after {len(attempts)} attempts)"
                )
            elif child.is_leaf_kind and child.phase in FAILED_OR_ERROR:
                msg = f": {node_message(child)}" if child.message else ""
                lines.append(f"  {ICONS[child.phase]} {path} {child.phase}{msg}")
            else:
                visit(child)

    visit(root)
    if len(lines) > limit:
        lines = [*lines[:limit], f"  … {len(lines) - limit} more failed (dflowctl status {root.name}{flags})"]
    if failed:
        lines.append(f"See the log with: dflowctl logs {root.name}{flags} --step {shlex.quote(failed[0])}")
    return lines


def summary_lines(workflow: Mapping[str, Any], flags: str = "") -> list[str]:
    """The closing lines of a run: phase, duration, progress, message, failed steps, outputs.

    ``flags`` (e.g. `` -e argo``) go into the commands suggested to the user."""
    status = workflow.get("status") or {}
    name = workflow_name(workflow)
    phase = workflow_phase(workflow)
    done, total = progress(workflow)
    dur = format_span(status.get("startedAt"), status.get("finishedAt"), now_utc())
    took = f" in {dur}" if dur else ""
    lines = [f"{ICONS.get(phase, '?')} {name} {phase}{took} (progress {done}/{total})"]
    reused, without_pods = reused_count(workflow)
    if reused:
        lines.append(f"  reused: {reused} of {total + without_pods} steps from earlier runs (run --reuse)")
    if status.get("message"):
        lines.append(f"  message: {printable(str(status['message']))}")
    root = build_tree(workflow)
    if root is not None:
        lines.extend(failure_lines(root, flags=flags))
    lines.extend(output_lines(run_outputs(workflow), name, flags=flags))
    return lines


def reused_count(workflow: Mapping[str, Any]) -> tuple[int, int]:
    """Steps whose result was taken from an earlier run, and how many of them had no pod:
    Pod nodes that hit the step cache (``memoizationStatus.hit``, local), and steps an
    Argo run rendered without pods (a ``dflowctl-reused`` output, not counted in Argo's
    progress)."""
    from dflowctl.stepkey import REUSED_PARAM

    nodes = ((workflow.get("status") or {}).get("nodes") or {}).values()
    hits = sum(1 for n in nodes if n.get("type") == "Pod" and (n.get("memoizationStatus") or {}).get("hit"))
    podless = sum(
        1
        for n in nodes
        if n.get("type") != "Pod"
        and any(p.get("name") == REUSED_PARAM for p in (n.get("outputs") or {}).get("parameters") or [])
    )
    return hits + podless, podless


def output_lines(items: Sequence[OutputItem], run_name: str, limit: int = 20, flags: str = "") -> list[str]:
    if not items:
        return []
    lines = ["Outputs:"]
    width = max(len(i.step) for i in items[:limit])
    for item in items[:limit]:
        step = item.step.ljust(width)
        value = printable(redact(item.value) if item.kind == "artifact" else item.value)
        if len(value) > 200:
            value = value[:197] + "..."
        arrow = "->" if item.kind == "artifact" else "="
        lead = f"{step}  " if width else ""
        lines.append(f"  {lead}{printable(item.name)} {arrow} {value}")
    if len(items) > limit:
        lines.append(f"  … {len(items) - limit} more (dflowctl status {run_name}{flags} -o yaml)")
    if any(i.kind == "artifact" for i in items):
        lines.append(f"Fetch artifacts with: dflowctl download {run_name}{flags}")
    return lines


def resources_text(workflow: Mapping[str, Any]) -> str:
    """The run's cost for its header: measured CPU time and the largest peak of one pod
    (local engine), else Argo's ``resourcesDuration`` of the workflow."""
    root = build_tree(workflow)
    spent = usage_totals(root)[root.id] if root is not None else usage.Usage()
    if spent.cpu_seconds is not None or spent.peak_memory is not None:
        parts = []
        if spent.cpu_seconds is not None:
            parts.append(f"{usage.format_cpu(spent.cpu_seconds)} CPU")
        if spent.peak_memory is not None:
            parts.append(f"{usage.format_bytes(spent.peak_memory)} peak memory (one pod)")
        return ", ".join(parts)
    rd = usage.usage_of(workflow.get("status") or {}).resources_duration or spent.resources_duration
    return usage.format_resources_duration(rd)


def age(started: str | None, now: datetime | None = None) -> str:
    """How long ago: ``12s``, ``5m``, ``3h``, ``2d``."""
    start = parse_time(started)
    if start is None:
        return ""
    secs = int(((now or now_utc()) - start).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{max(secs, 0)}s"


def run_rows(runs: Iterable[Mapping[str, Any]], now: datetime | None = None) -> list[tuple[str, ...]]:
    """Rows of the run list: NAME, PHASE, STARTED, DURATION, PROGRESS, MESSAGE (newest first)."""
    now = now or now_utc()
    ordered = sorted(runs, key=lambda w: str((w.get("status") or {}).get("startedAt") or ""), reverse=True)
    rows: list[tuple[str, ...]] = []
    for wf in ordered:
        status = wf.get("status") or {}
        done, total = progress(wf)
        started = age(status.get("startedAt"), now)
        rows.append(
            (
                workflow_name(wf),
                workflow_phase(wf),
                f"{started} ago" if started else "",
                format_span(status.get("startedAt"), status.get("finishedAt"), now),
                f"{done}/{total}",
                str(status.get("message") or "").replace("\n", " "),
            )
        )
    return rows
