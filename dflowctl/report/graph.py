"""The step graph of a run (from ``status.nodes``) or of a manifest (before it runs).

A run's graph follows Argo's ``children`` links with step groups (``[0]``) passed
through, the items of a fan-out folded into one node (``square ×50``) and retry
attempts folded into their step. A manifest's graph is its templates' steps and
DAG tasks from the entrypoint down, composite steps holding their own steps.
Pure; no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dflowctl.results import split_item
from dflowctl.tree import root_id

HIDDEN = frozenset({"StepGroup"})
MAX_DEPTH = 8  # composite templates expanded at most this deep in a manifest's graph


@dataclass
class GraphNode:
    id: str
    label: str
    kind: str  # "step" (a pod), "fanout", "group" (Steps/DAG), "retry", "other"
    phase: str = ""
    template: str | None = None
    parent: str | None = None  # the composite node this one sits in (manifest graphs)
    members: list[str] = field(default_factory=list)  # node ids it stands for
    counts: dict[str, int] = field(default_factory=dict)  # phases of a fan-out's items
    items: list[str] = field(default_factory=list)  # ids of a fan-out's item nodes
    note: str = ""  # e.g. "withItems", "×50"


@dataclass
class Graph:
    nodes: dict[str, GraphNode] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)

    def add_edge(self, a: str, b: str) -> None:
        if a != b and (a, b) not in self._seen:
            self._seen.add((a, b))
            self.edges.append((a, b))

    def __post_init__(self) -> None:
        self._seen: set[tuple[str, str]] = set(self.edges)


PHASE_ORDER = ("Failed", "Error", "Running", "Pending", "Succeeded", "Skipped", "Omitted")


def summary_phase(counts: Mapping[str, int]) -> str:
    """The phase a folded node shows: the worst of its members'."""
    for phase in PHASE_ORDER:
        if counts.get(phase):
            return phase
    return next(iter(counts), "Pending")


def _kind(node_type: str) -> str:
    return {"Pod": "step", "Steps": "group", "DAG": "group", "Retry": "retry", "TaskGroup": "fanout"}.get(
        node_type, "other"
    )


def run_graph(workflow: Mapping[str, Any]) -> Graph:
    """The graph of a run: one node per step, fan-outs folded, attempts under their step."""
    nodes: Mapping[str, Any] = (workflow.get("status") or {}).get("nodes") or {}
    graph = Graph()
    rid = root_id(workflow)
    if rid is None:
        return graph
    parents: dict[str, str] = {}
    for owner, raw in nodes.items():
        for child in raw.get("children") or []:
            parents.setdefault(child, owner)
    rep: dict[str, str] = {}
    items: set[str] = set()  # the loop items (folded into their fan-out)
    # loop items: children of a TaskGroup, or siblings in a step group sharing a base name
    for nid, raw in nodes.items():
        base, index, _item = split_item(str(raw.get("displayName") or ""))
        if index is None:
            continue
        pid = parents.get(nid)
        parent = nodes.get(pid or "", {})
        if parent.get("type") == "TaskGroup":
            rep[nid] = str(pid)
            items.add(nid)
        elif parent.get("type") in HIDDEN or pid is None:
            rep[nid] = f"{pid or rid}/{base}"
            items.add(nid)
            if rep[nid] not in graph.nodes:
                graph.nodes[rep[nid]] = GraphNode(rep[nid], base, "fanout", template=raw.get("templateName"))
    # retry attempts stand for their step; what sits inside a folded item stands for the fold
    for nid in nodes:
        parent_id = parents.get(nid)
        if parent_id and nodes.get(parent_id, {}).get("type") == "Retry" and nid not in rep:
            rep[nid] = parent_id

    found: dict[str, str] = {}  # asked once per node and once per edge to it: answered once

    def representative(nid: str) -> str:
        answer = found.get(nid)
        if answer is None:
            answer = found[nid] = _representative(nid)
        return answer

    def _representative(nid: str) -> str:
        seen = 0
        current = nid
        while seen < 64:
            seen += 1
            if current in rep and rep[current] != current:
                current = rep[current]
                continue
            boundary = nodes.get(current, {}).get("boundaryID")
            folded = _folded_boundary(boundary)
            if folded is not None:
                current = folded
                continue
            return current
        return current

    def _folded_boundary(boundary: Any) -> str | None:
        hops = 0
        while boundary and boundary in nodes and hops < 64:
            if boundary in rep:
                return str(boundary)
            boundary = nodes[boundary].get("boundaryID")
            hops += 1
        return None

    for nid, raw in nodes.items():
        if raw.get("type") in HIDDEN:
            continue
        target = representative(nid)
        if target == nid:
            if nid not in graph.nodes:
                label = str(raw.get("displayName") or raw.get("name") or nid)
                kind = _kind(str(raw.get("type") or ""))
                graph.nodes[nid] = GraphNode(
                    nid, label, kind, str(raw.get("phase") or "Pending"), raw.get("templateName")
                )
            graph.nodes[nid].members.append(nid)
        else:
            fold = graph.nodes.get(target)
            if fold is None:
                continue
            fold.members.append(nid)
            if nid in items:
                phase = str(raw.get("phase") or "Pending")
                fold.counts[phase] = fold.counts.get(phase, 0) + 1
                fold.items.append(nid)
    for node in graph.nodes.values():
        if node.kind == "retry":
            attempts = len(nodes.get(node.id, {}).get("children") or [])
            node.note = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        if node.counts:
            node.phase = summary_phase(node.counts)
            node.kind = "fanout"
            node.note = f"×{sum(node.counts.values())}"
            if node.label.endswith(")") and node.id in nodes:  # a TaskGroup keeps its own name
                node.label = split_item(node.label)[0]
    # edges: each shown node to the shown nodes its children lead to (step groups passed through)
    for nid, raw in nodes.items():
        if raw.get("type") in HIDDEN:
            continue
        src = representative(nid)
        if src not in graph.nodes:
            continue
        stack = list(raw.get("children") or [])
        visited: set[str] = set()
        while stack:
            child = stack.pop()
            if child in visited or child not in nodes:
                continue
            visited.add(child)
            if nodes[child].get("type") in HIDDEN:
                stack.extend(nodes[child].get("children") or [])
                continue
            dst = representative(child)
            if dst in graph.nodes:
                graph.add_edge(src, dst)
    _order_from_root(graph, rid)
    return graph


def _order_from_root(graph: Graph, rid: str) -> None:
    """Nodes in breadth-first order from the root (unreached ones last), the successors of a
    node by label: a stable reading order (the record's order is the order the nodes were
    created in, which parallel steps race for)."""
    out: dict[str, list[str]] = {}
    for a, b in graph.edges:
        out.setdefault(a, []).append(b)
    for succ in out.values():
        succ.sort(key=lambda n: (graph.nodes[n].label, n))  # (run_graph draws edges between its nodes only)
    order: list[str] = []
    seen: set[str] = set()
    queue = [rid] if rid in graph.nodes else []
    while queue:
        nid = queue.pop(0)
        if nid in seen:
            continue
        seen.add(nid)
        order.append(nid)
        queue.extend(out.get(nid, []))
    order.extend(n for n in graph.nodes if n not in seen)
    graph.nodes = {n: graph.nodes[n] for n in order}


# ---------------------------------------------------------------- before running


_TASK_REF = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
LOOP_KEYS = ("withItems", "withParam", "withSequence")


def _loop_note(step: Mapping[str, Any]) -> str:
    if isinstance(step.get("withItems"), list):
        return f"×{len(step['withItems'])}"
    seq = step.get("withSequence")
    if isinstance(seq, Mapping) and str(seq.get("count", "")).isdigit():
        return f"×{seq['count']}"
    for key in LOOP_KEYS:
        if key in step:
            return key
    return ""


def manifest_graph(manifest: Mapping[str, Any]) -> Graph:
    """The graph of a Workflow manifest: the entrypoint's steps (each group after the one
    before it) or DAG tasks (after what they depend on); a composite step holds its own."""
    spec = manifest.get("spec") or {}
    templates = {
        str(t.get("name")): t for t in spec.get("templates") or [] if isinstance(t, Mapping) and t.get("name")
    }
    graph = Graph()
    entry = str(spec.get("entrypoint") or "")
    name = str((manifest.get("metadata") or {}).get("name") or "").strip() or str(
        (manifest.get("metadata") or {}).get("generateName") or "workflow"
    ).rstrip("-")
    graph.nodes["root"] = GraphNode("root", name, "group", template=entry)
    _expand(graph, templates, entry, "root", "", 0)
    return graph


def _expand(
    graph: Graph, templates: Mapping[str, Mapping[str, Any]], tname: str, owner: str, prefix: str, depth: int
) -> None:
    tmpl = templates.get(tname)
    if tmpl is None or depth > MAX_DEPTH:
        return
    if isinstance(tmpl.get("steps"), list):
        previous = [owner]
        for group in tmpl["steps"]:
            current: list[str] = []
            for step in group if isinstance(group, list) else []:
                if isinstance(step, Mapping) and step.get("name"):
                    nid = _add_step(graph, templates, step, owner, prefix, depth)
                    for p in previous:
                        graph.add_edge(p, nid)
                    current.append(nid)
            previous = current or previous
        return
    dag = tmpl.get("dag")
    if isinstance(dag, Mapping) and isinstance(dag.get("tasks"), list):
        tasks = [t for t in dag["tasks"] if isinstance(t, Mapping) and t.get("name")]
        names = {str(t["name"]) for t in tasks}
        ids = {str(t["name"]): _add_step(graph, templates, t, owner, prefix, depth) for t in tasks}
        for task in tasks:
            deps = _task_deps(task, names)
            for dep in deps:
                graph.add_edge(ids[dep], ids[str(task["name"])])
            if not deps:
                graph.add_edge(owner, ids[str(task["name"])])


def _task_deps(task: Mapping[str, Any], names: set[str]) -> list[str]:
    found = [str(d) for d in task.get("dependencies") or [] if str(d) in names]
    depends = task.get("depends")
    if isinstance(depends, str):
        for word in _TASK_REF.findall(depends):
            base = word.split(".")[0]
            if base in names and base not in found:
                found.append(base)
    return found


def _add_step(
    graph: Graph,
    templates: Mapping[str, Mapping[str, Any]],
    step: Mapping[str, Any],
    owner: str,
    prefix: str,
    depth: int,
) -> str:
    name = str(step["name"])
    nid = f"{prefix}{name}"
    while nid in graph.nodes:
        nid += "'"
    tname = str(step.get("template") or "")
    tmpl = templates.get(tname) or {}
    composite = isinstance(tmpl.get("steps"), list) or isinstance(tmpl.get("dag"), Mapping)
    note = _loop_note(step)
    kind = "fanout" if note else "group" if composite else "step"
    graph.nodes[nid] = GraphNode(nid, name, kind, template=tname or None, parent=owner, note=note)
    if composite:
        _expand(graph, templates, tname, nid, f"{nid}/", depth + 1)
    return nid


# ---------------------------------------------------------------- text formats


PHASE_FILL = {
    "Succeeded": "#d4f4dd",
    "Failed": "#fbd5d5",
    "Error": "#fbd5d5",
    "Running": "#fff3c4",
    "Pending": "#eeeeee",
    "Skipped": "#f5f5f5",
    "Omitted": "#f5f5f5",
}


def _text_label(node: GraphNode) -> str:
    label = node.label
    if node.note:
        label += f" {node.note}"
    if node.phase:
        label += f" ({node.phase})"
    return label


def to_mermaid(graph: Graph) -> str:
    """Mermaid ``flowchart TD`` text; labels quoted, ``"`` as ``#quot;``."""
    ids = {nid: f"n{i}" for i, nid in enumerate(graph.nodes)}
    lines = ["flowchart TD"]
    for nid, node in graph.nodes.items():
        label = _text_label(node).replace('"', "#quot;").replace("\n", " ")
        shape = (
            ('[["', '"]]')
            if node.kind == "fanout"
            else ('("', '")')
            if node.kind == "group"
            else ('["', '"]')
        )
        lines.append(f"  {ids[nid]}{shape[0]}{label}{shape[1]}")
    for a, b in graph.edges:
        lines.append(f"  {ids[a]} --> {ids[b]}")
    phases = sorted({n.phase for n in graph.nodes.values() if n.phase in PHASE_FILL})
    for phase in phases:
        lines.append(f"  classDef {phase.lower()} fill:{PHASE_FILL[phase]}")
        members = ",".join(ids[n] for n, node in graph.nodes.items() if node.phase == phase)
        lines.append(f"  class {members} {phase.lower()}")
    return "\n".join(lines) + "\n"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(graph: Graph) -> str:
    """Graphviz ``digraph`` text."""
    ids = {nid: f"n{i}" for i, nid in enumerate(graph.nodes)}
    lines = [
        "digraph workflow {",
        "  rankdir=TB;",
        '  node [shape=box, style="rounded,filled", fillcolor=white];',
    ]
    for nid, node in graph.nodes.items():
        attrs = [f"label={_dot_quote(_text_label(node))}"]
        if node.phase in PHASE_FILL:
            attrs.append(f'fillcolor="{PHASE_FILL[node.phase]}"')
        if node.kind == "fanout":
            attrs.append("peripheries=2")
        lines.append(f"  {ids[nid]} [{', '.join(attrs)}];")
    for a, b in graph.edges:
        lines.append(f"  {ids[a]} -> {ids[b]};")
    lines.append("}")
    return "\n".join(lines) + "\n"
