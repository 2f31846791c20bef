"""A run followed in a log that is not a terminal: one plain line per event, a big
update's loop items counted per step and phase so the lines a second stay bounded."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from dflowctl.argo.phases import FAILED_OR_ERROR, FULFILLED, Phase
from dflowctl.tree import GROUP_TYPES, TreeNode, format_span, make_node, node_path
from dflowctl.viewtext import LOOP_ITEM, node_message, workflow_name, workflow_phase


class PlainEvents:
    """One line per event for logs that are not a terminal: a work node starting or
    finishing (phase, duration, message) and the run starting. When one update brings
    more than ``fold`` changes (a big fan-out), loop items are counted per step and
    phase (``square(…)  812 Succeeded``) and failures are shown first, at most ``fold``
    lines in all: the number of lines a second stays bounded however large the run."""

    def __init__(self, stream: IO[str], fold: int = 20) -> None:
        self.stream = stream
        self.seen: dict[str, str] = {}
        self.started = False
        self.fold = fold

    def update(self, workflow: Mapping[str, Any]) -> None:
        lines: list[str] = []
        name = workflow_name(workflow)
        if not self.started and name:
            self.started = True
            lines.append(f"{name} {workflow_phase(workflow)}")
        # straight from the nodes, not the tree: cheap enough for every update of a big fan-out
        changed: list[TreeNode] = []
        for nid, raw in ((workflow.get("status") or {}).get("nodes") or {}).items():
            if nid == name or raw.get("type") in GROUP_TYPES:
                continue
            phase = str(raw.get("phase") or Phase.PENDING)
            before = self.seen.get(nid)
            if before == phase or (phase == Phase.PENDING and before is None):
                continue
            self.seen[nid] = phase
            node = make_node(nid, raw)
            node.display_name = node_path(name, raw)
            changed.append(node)
        # in the order things happened; within one second, in the order the nodes were created
        order = {node.id: i for i, node in enumerate(changed)}
        changed.sort(key=lambda n: (n.finished_at or n.started_at or "", order[n.id]))
        if len(changed) > self.fold:
            lines.extend(self._folded(changed))
        else:
            lines.extend(self._event(n.display_name, n) for n in changed)
        if lines:
            self.stream.write("".join(line + "\n" for line in lines))
            self.stream.flush()

    def _folded(self, changed: list[TreeNode]) -> list[str]:
        """Failures one by one (as many as fit), loop items counted, the rest one by one."""
        failed = [n for n in changed if n.phase in FAILED_OR_ERROR]
        single: list[TreeNode] = []
        counts: dict[tuple[str, str], int] = {}
        for node in changed:
            if node.phase in FAILED_OR_ERROR:
                continue
            step = LOOP_ITEM.sub("(…)", node.display_name, count=1)
            if step != node.display_name:
                counts[(step, node.phase)] = counts.get((step, node.phase), 0) + 1
            else:
                single.append(node)
        room = max(self.fold - len(counts), 1)
        shown = (failed + single)[:room]
        lines = [self._event(n.display_name, n) for n in shown]
        lines.extend(f"{step}  {n} {phase}" for (step, phase), n in counts.items())
        hidden = len(failed) + len(single) - len(shown)
        if hidden:
            lines.append(f"… {hidden} more changes")
        return lines

    @staticmethod
    def _event(path: str, node: TreeNode) -> str:
        parts = [path, node.phase]
        if node.phase in FULFILLED:
            dur = format_span(node.started_at, node.finished_at)
            if dur:
                parts.append(dur)
        if node.message:
            parts.append(node_message(node))
        return "  ".join(parts)
