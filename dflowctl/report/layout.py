"""A step graph laid out in layers (top to bottom) and drawn as inline SVG.

Layer = the longest path from a source; within a layer nodes follow the mean
position of their parents (one barycentre pass). Every text is escaped.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from dflowctl.report.graph import Graph, GraphNode

NODE_W = 176
NODE_H = 40
GAP_X = 22
GAP_Y = 54
MARGIN = 16
LABEL_CHARS = 22


@dataclass(frozen=True)
class Placed:
    node: GraphNode
    x: float
    y: float


def layers(graph: Graph) -> dict[str, int]:
    """Each node's layer: 0 for nodes nothing leads to, else 1 + the deepest parent's."""
    incoming: dict[str, list[str]] = {n: [] for n in graph.nodes}
    outgoing: dict[str, list[str]] = {n: [] for n in graph.nodes}
    for a, b in graph.edges:
        if a in incoming and b in incoming:
            incoming[b].append(a)
            outgoing[a].append(b)
    pending = {n: len(v) for n, v in incoming.items()}
    ready = [n for n, k in pending.items() if k == 0]
    layer = dict.fromkeys(graph.nodes, 0)
    done: set[str] = set()
    while ready:
        nid = ready.pop(0)
        done.add(nid)
        for nxt in outgoing[nid]:
            layer[nxt] = max(layer[nxt], layer[nid] + 1)
            pending[nxt] -= 1
            if pending[nxt] == 0:
                ready.append(nxt)
    # a cycle (not expected from Argo): its nodes go below everything placed
    deepest = max((layer[n] for n in done), default=0)
    for nid in graph.nodes:
        if nid not in done:
            deepest += 1
            layer[nid] = deepest
    return layer


def place(graph: Graph) -> tuple[list[Placed], float, float]:
    """Positions (top-left corners) and the drawing's width and height."""
    layer = layers(graph)
    rows: dict[int, list[str]] = {}
    for nid in graph.nodes:
        rows.setdefault(layer[nid], []).append(nid)
    parents: dict[str, list[str]] = {}
    for a, b in graph.edges:
        parents.setdefault(b, []).append(a)
    column: dict[str, float] = {}
    for depth in sorted(rows):
        first = {nid: i for i, nid in enumerate(rows[depth])}

        def key(nid: str, first: dict[str, int] = first) -> tuple[float, int]:
            ps = [column[p] for p in parents.get(nid, []) if p in column]
            return (sum(ps) / len(ps) if ps else float(first[nid]), first[nid])

        rows[depth].sort(key=key)
        for i, nid in enumerate(rows[depth]):
            column[nid] = float(i)
    widest = max((len(v) for v in rows.values()), default=1)
    width = MARGIN * 2 + widest * NODE_W + (widest - 1) * GAP_X
    placed: list[Placed] = []
    for depth in sorted(rows):
        ids = rows[depth]
        row_w = len(ids) * NODE_W + (len(ids) - 1) * GAP_X
        left = (width - row_w) / 2
        y = MARGIN + depth * (NODE_H + GAP_Y)
        for i, nid in enumerate(ids):
            placed.append(Placed(graph.nodes[nid], left + i * (NODE_W + GAP_X), y))
    height = MARGIN * 2 + (max(rows, default=0) + 1) * (NODE_H + GAP_Y) - GAP_Y
    return placed, width, height


def _short(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def svg(graph: Graph, dom_ids: dict[str, str]) -> str:
    """The graph as an ``<svg>`` element; node ``g`` elements carry ``data-step`` (a DOM id
    from ``dom_ids``) for the page's script, and a ``<title>`` with the full name."""
    placed, width, height = place(graph)
    where = {p.node.id: p for p in placed}
    parts = [
        f'<svg class="graph" xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}"'
        f' viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="step graph">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7"'
        ' orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#8a8f98"/></marker></defs>',
    ]
    for a, b in graph.edges:
        pa, pb = where.get(a), where.get(b)
        if pa is None or pb is None:
            continue
        x1, y1 = pa.x + NODE_W / 2, pa.y + NODE_H
        x2, y2 = pb.x + NODE_W / 2, pb.y
        mid = (y1 + y2) / 2
        parts.append(
            f'<path class="edge" d="M {x1:.1f} {y1:.1f} C {x1:.1f} {mid:.1f}, {x2:.1f} {mid:.1f}, '
            f'{x2:.1f} {y2 - 2:.1f}" marker-end="url(#arrow)"/>'
        )
    for p in placed:
        node = p.node
        label = _short(node.label)
        sub = node.note or (node.template or "")
        title = (
            node.label
            + (f" ({node.template})" if node.template else "")
            + (f" — {node.phase}" if node.phase else "")
        )
        if node.counts:
            title += " — " + ", ".join(f"{n} {ph}" for ph, n in sorted(node.counts.items()))
        phase = node.phase or "None"
        parts.append(
            f'<g class="node kind-{escape(node.kind)} phase-{escape(phase)}"'
            f' data-step="{escape(dom_ids[node.id])}"'
            f' transform="translate({p.x:.1f},{p.y:.1f})" tabindex="0">'
            f"<title>{escape(title)}</title>"
            f'<rect width="{NODE_W}" height="{NODE_H}" rx="8" ry="8"/>'
            f'<text x="10" y="17" class="label">{escape(label)}</text>'
            f'<text x="10" y="32" class="sub">{escape(_short(sub, 28))}</text>'
            "</g>"
        )
    parts.append("</svg>")
    return "".join(parts)
