"""The step tree of a run, built from an Argo ``status`` dict. Pure; no I/O.

Both engines record runs in Argo's shape, so this one builder serves both.
It follows what ``argo get`` shows: step groups (``[0]``) are hidden, nodes
sit under their boundary (the Steps/DAG node that contains them), retry
attempts sit under their Retry node and loop items under their TaskGroup.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dflowctl.argo.phases import FULFILLED, Phase
from dflowctl.argo.times import parse_rfc3339_time
from dflowctl.stepkey import REUSED_PARAM
from dflowctl.usage import Usage, total, usage_of

HIDDEN_TYPES = frozenset({"StepGroup"})
GROUP_TYPES = frozenset({"Steps", "StepGroup", "DAG", "TaskGroup", "Retry"})


@dataclass
class TreeNode:
    id: str
    name: str
    display_name: str
    type: str
    phase: str
    template: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    message: str | None = None
    outputs: Mapping[str, Any] | None = None
    usage: Usage = field(default_factory=Usage)  # what a pod cost (usage.py)
    children: list[TreeNode] = field(default_factory=list)

    @property
    def is_leaf_kind(self) -> bool:
        """A node that does work itself (a pod, a skipped step...), not a group."""
        return self.type not in GROUP_TYPES

    def walk(self, depth: int = 0) -> Iterator[tuple[int, TreeNode]]:
        yield depth, self
        for child in self.children:
            yield from child.walk(depth + 1)


def usage_totals(root: TreeNode) -> dict[str, Usage]:
    """What each node's pods cost, in one pass: a leaf its own, a group those under it
    together (``usage.total``), by node id."""
    out: dict[str, Usage] = {}

    def visit(node: TreeNode) -> Usage:
        if node.is_leaf_kind:
            spent = node.usage
            for child in node.children:
                visit(child)
        else:
            spent = total(visit(child) for child in node.children)
        out[node.id] = spent
        return spent

    visit(root)
    return out


def parse_time(text: str | None) -> datetime | None:
    """An Argo timestamp (RFC 3339, ``Z`` or offset, optional fraction) as aware UTC."""
    if not text:
        return None
    return _parse_time(text)


@functools.lru_cache(maxsize=4096)  # a big fan-out's nodes share their (whole second) times
def _parse_time(text: str) -> datetime | None:
    try:
        return parse_rfc3339_time(text)
    except ValueError:
        return None


def duration_seconds(started: str | None, finished: str | None, now: datetime | None = None) -> float | None:
    """Seconds from ``started`` to ``finished`` (or to ``now`` when still running)."""
    start = parse_time(started)
    if start is None:
        return None
    end = parse_time(finished) or now
    if end is None:
        return None
    return max((end - start).total_seconds(), 0.0)


def format_duration(seconds: float | None) -> str:
    """``0.4s``, ``12s``, ``3m05s``, ``1h02m`` (empty when unknown)."""
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{(whole % 3600) // 60:02d}m"


def format_span(started: str | None, finished: str | None, now: datetime | None = None) -> str:
    """The duration between two Argo timestamps, no more precise than they are
    (Argo records whole seconds: ``3s``; with fractions: ``0.4s``)."""
    seconds = duration_seconds(started, finished, now)
    if seconds is None:
        return ""
    whole_seconds = "." not in (started or "") and (finished is None or "." not in finished)
    if whole_seconds and seconds < 10:
        return f"{int(seconds)}s"
    return format_duration(seconds)


def natural_key(text: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _sort_key(node: TreeNode) -> tuple[int, str, list[Any]]:
    # started nodes first in start order, then the rest by name (as `argo get` does)
    return (0 if node.started_at else 1, node.started_at or "", natural_key(node.name))


def make_node(node_id: str, raw: Mapping[str, Any]) -> TreeNode:
    return TreeNode(
        id=node_id,
        name=str(raw.get("name") or node_id),
        display_name=str(raw.get("displayName") or raw.get("name") or node_id),
        type=str(raw.get("type") or ""),
        phase=str(raw.get("phase") or Phase.PENDING),
        template=raw.get("templateName"),
        started_at=raw.get("startedAt") or None,
        finished_at=raw.get("finishedAt") or None,
        message=raw.get("message") or _reused_message(raw),
        outputs=raw.get("outputs") or None,
        usage=usage_of(raw),
    )


def _reused_message(raw: Mapping[str, Any]) -> str | None:
    """``reused from RUN`` for a step an Argo run took from RUN without a pod (the local
    engine writes the same message on the node itself)."""
    for p in (raw.get("outputs") or {}).get("parameters") or []:
        if p.get("name") == REUSED_PARAM and p.get("value"):
            return f"reused from {p['value']}"
    return None


def _display_parent(
    node_id: str, raw: Mapping[str, Any], nodes: Mapping[str, Any], parents: Mapping[str, list[str]]
) -> str | None:
    name = str(raw.get("name") or "")
    for pid in parents.get(node_id, []):
        parent = nodes[pid]
        # retry attempts are "<name>(<n>)", loop items of a DAG task "<name>(<i>:<item>)"
        if parent.get("type") in ("Retry", "TaskGroup") and name.startswith(f"{parent.get('name')}("):
            return pid
    boundary = raw.get("boundaryID")
    if boundary and boundary in nodes and boundary != node_id:
        return str(boundary)
    for pid in parents.get(node_id, []):
        if nodes[pid].get("type") not in HIDDEN_TYPES:
            return pid
    return None


def node_path(workflow_name: str, raw: Mapping[str, Any]) -> str:
    """A readable path for a node from its Argo name, without building the tree:
    ``wf[0].inner[1].b`` → ``inner/b``, ``wf.square(1:1)(0)`` → ``square(1:1)(0)``.

    Step-group markers (``[0]``) are dropped, dots outside parentheses separate
    levels. A name that does not parse (unbalanced brackets in a loop item) gives
    the node's display name.
    """
    name = str(raw.get("name") or "")
    fallback = str(raw.get("displayName") or name)
    if not name.startswith(workflow_name) or name == workflow_name:
        return fallback
    rest = name[len(workflow_name) :]
    segments: list[str] = []
    current: list[str] = []
    depth = 0
    i = 0
    while i < len(rest):
        ch = rest[i]
        if depth == 0 and ch == "[":
            end = rest.find("]", i)
            if end < 0 or not rest[i + 1 : end].isdigit():
                return fallback
            i = end + 1
            continue
        if depth == 0 and ch == ".":
            if current:
                segments.append("".join(current))
            current = []
        else:
            depth += 1 if ch == "(" else -1 if ch == ")" else 0
            if depth < 0:
                return fallback
            current.append(ch)
        i += 1
    if current:
        segments.append("".join(current))
    if depth != 0 or not segments:
        return fallback
    return "/".join(segments)


def root_id(workflow: Mapping[str, Any]) -> str | None:
    """The id of the workflow's root node (its id is the workflow's name)."""
    nodes = (workflow.get("status") or {}).get("nodes") or {}
    name = (workflow.get("metadata") or {}).get("name")
    if name in nodes:
        return str(name)
    children = {c for raw in nodes.values() for c in raw.get("children") or []}
    tops = [nid for nid, raw in nodes.items() if nid not in children and not raw.get("boundaryID")]
    return tops[0] if tops else None


def build_tree(workflow: Mapping[str, Any]) -> TreeNode | None:
    """The display tree of a Workflow object, or None when it has no nodes yet.

    Nodes that belong nowhere else (an ``onExit`` handler) hang off the root.
    """
    nodes: Mapping[str, Any] = (workflow.get("status") or {}).get("nodes") or {}
    rid = root_id(workflow)
    if rid is None:
        return None
    parents: dict[str, list[str]] = {}
    for parent_id, raw in nodes.items():
        for child in raw.get("children") or []:
            if child in nodes:
                parents.setdefault(child, []).append(parent_id)
    made = {nid: make_node(nid, raw) for nid, raw in nodes.items()}
    root = made[rid]
    for nid, raw in nodes.items():
        if nid == rid or raw.get("type") in HIDDEN_TYPES:
            continue
        pid: str | None = _display_parent(nid, raw, nodes, parents)
        # a hidden parent's children sit under the hidden node's own display parent
        hops = 0
        while pid is not None and nodes[pid].get("type") in HIDDEN_TYPES and hops < len(nodes):
            pid = _display_parent(pid, nodes[pid], nodes, parents)
            hops += 1
        (made[pid] if pid is not None and pid != nid else root).children.append(made[nid])
    for node in made.values():
        node.children.sort(key=_sort_key)
    return root


def child_paths(
    node: TreeNode, path: str, label: Callable[[TreeNode], str] = lambda n: n.display_name
) -> list[tuple[str, TreeNode]]:
    """``node``'s children with their readable paths ("inner/b"); retry attempts and
    loop items of a DAG task sit beside their group's name, not under it
    (``square(3:3)``, not ``square/square(3:3)``). ``path`` is ``node``'s own ("" for the root)."""
    if not path:
        prefix = ""
    elif node.type in ("Retry", "TaskGroup"):
        prefix = path.rpartition("/")[0] + "/" if "/" in path else ""
    else:
        prefix = f"{path}/"
    return [(f"{prefix}{label(c)}", c) for c in node.children]


def walk_paths(
    root: TreeNode, label: Callable[[TreeNode], str] = lambda n: n.display_name
) -> Iterator[tuple[str, TreeNode]]:
    """Every node under ``root`` (depth first) with its readable path."""

    def visit(node: TreeNode, path: str) -> Iterator[tuple[str, TreeNode]]:
        for child_path, child in child_paths(node, path, label):
            yield child_path, child
            yield from visit(child, child_path)

    yield from visit(root, "")


def progress(workflow: Mapping[str, Any]) -> tuple[int, int]:
    """(finished, total) work nodes: Argo's ``status.progress`` or counted from the nodes."""
    status = workflow.get("status") or {}
    text = status.get("progress")
    if isinstance(text, str) and re.fullmatch(r"\d+/\d+", text):
        done, total = text.split("/")
        return int(done), int(total)
    pods = [n for n in (status.get("nodes") or {}).values() if n.get("type") == "Pod"]
    return sum(1 for n in pods if n.get("phase") in FULFILLED), len(pods)


# Output parameters dflowctl adds to a Pod node for the record (status -o json|yaml), not
# outputs of the workflow: left out of the usual views, as every ``dflowctl-…`` name is
# (``stepkey.is_hidden``, the one rule).
PYTHON_OUTPUT = "dflowctl-python"  # the interpreter of a Python pod (engines/local/interpreter.py)
INDEX_OUTPUT = "dflowctl-index"  # a fan-out item's index (render.fanin: aligned fan-in)
SLICE_OUTPUTS = ("dflowctl-ok", "dflowctl-count")  # an item succeeded; how many entries (render.slices)
