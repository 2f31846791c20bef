"""The step tree as rows, like ``argo get``: box-drawing prefixes, a node's children
folded to a limit (unfinished and failed ones first, then the latest; a ``… N more``
line where the first hidden one was), and aligned plain-text lines for pipes. No
``rich``: ``console`` draws the rows as a table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dflowctl import usage
from dflowctl.argo.phases import FAILED_OR_ERROR, FULFILLED
from dflowctl.tree import TreeNode, build_tree, format_span, usage_totals
from dflowctl.viewtext import ICONS, LOOP_ITEM, node_message, now_utc


@dataclass(frozen=True)
class Row:
    prefix: str  # tree drawing, e.g. "├─"
    node: TreeNode | None  # None for a "… N more" line
    label: str

    def duration(self, now: datetime) -> str:
        if self.node is None:
            return ""
        return format_span(self.node.started_at, self.node.finished_at, now)


def fold_children(children: list[TreeNode], limit: int | None) -> list[TreeNode | str]:
    """At most ``limit`` children, chosen in this order: unfinished or failed ones,
    then finished steps that are not loop items, then finished items, latest first;
    a "… N more" line stands where the first hidden child was."""
    if limit is None or len(children) <= limit:
        return list(children)

    def rank(item: tuple[int, TreeNode]) -> tuple[int, int]:
        pos, c = item
        if c.phase not in FULFILLED or c.phase in FAILED_OR_ERROR:
            return (0, pos)
        if not LOOP_ITEM.search(c.display_name):
            return (1, -pos)
        return (2, -pos)

    keep = {id(c) for _, c in sorted(enumerate(children), key=rank)[:limit]}
    hidden = [c for c in children if id(c) not in keep]
    counts: dict[str, int] = {}
    for c in hidden:
        counts[c.phase] = counts.get(c.phase, 0) + 1
    detail = ", ".join(f"{n} {phase}" for phase, n in sorted(counts.items()))
    entries: list[TreeNode | str] = []
    for c in children:
        if id(c) in keep:
            entries.append(c)
        elif c is hidden[0]:
            entries.append(f"… {len(hidden)} more ({detail})")
    return entries


def tree_rows(root: TreeNode, *, limit: int | None = None) -> list[Row]:
    """The tree as rows with box-drawing prefixes, like ``argo get``."""
    rows = [Row("", root, root.name)]

    def visit(node: TreeNode, indent: str) -> None:
        entries = fold_children(node.children, limit)
        for i, entry in enumerate(entries):
            last = i == len(entries) - 1
            branch = "└─" if last else "├─"
            if isinstance(entry, str):
                rows.append(Row(indent + branch, None, entry))
                continue
            rows.append(Row(indent + branch, entry, entry.display_name))
            visit(entry, indent + ("  " if last else "│ "))

    visit(root, "")
    return rows


def plain_step_lines(workflow: Mapping[str, Any], now: datetime | None = None) -> list[str]:
    """The step tree as aligned plain-text lines (no colour), for pipes and files."""
    now = now or now_utc()
    root = build_tree(workflow)
    if root is None:
        return []
    spent = usage_totals(root)
    cols = usage.columns(spent.values())
    cells: list[tuple[str, ...]] = [("STEP", "TEMPLATE", "PHASE", "DURATION", *cols, "MESSAGE")]
    for row in tree_rows(root):
        node = row.node
        assert node is not None
        step = f"{row.prefix}{ICONS.get(node.phase, '?')} {row.label}"
        template = (node.template or "") if node.is_leaf_kind else ""
        cost = usage.cells(spent[node.id], cols)
        cells.append((step, template, node.phase, row.duration(now), *cost, node_message(node)))
    n = len(cells[0]) - 1
    widths = [max(len(c[i]) for c in cells) for i in range(n)]
    return [
        "  ".join(c[i].ljust(widths[i]) for i in range(n)).rstrip() + ("  " + c[n] if c[n] else "")
        for c in cells
    ]
