"""What pods cost, as the report's table cells: the CPU time and peak memory the local
engine measured, else Argo's ``resourcesDuration`` per resource (dflowctl/usage.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

from dflowctl.usage import Usage, format_bytes, format_cpu, total, usage_of

MEASURED: tuple[str, ...] = ("CPU time", "peak memory")


def pod_usage(nodes: Iterable[Mapping[str, Any]]) -> Usage:
    """The Pod nodes among ``nodes`` together."""
    return total(usage_of(n) for n in nodes if n.get("type") == "Pod")


class PodCosts:
    """Each node's own usage read once per page (a 10,000-item fan-out's pods appear in
    the timeline, the steps' totals and the fan-out table)."""

    def __init__(
        self, nodes: Mapping[str, Mapping[str, Any]], known: Mapping[str, Usage] | None = None
    ) -> None:
        """``known``: nodes' usage read already (the run's tree holds each node's)."""
        self.nodes = nodes
        self._known: Mapping[str, Usage] = known or {}
        self._own: dict[str, Usage] = {}

    def of(self, nid: str) -> Usage:
        """The node's usage if it is a Pod, else empty."""
        found = self._own.get(nid)
        if found is None:
            raw = self.nodes.get(nid, {})
            if raw.get("type") == "Pod":
                found = self._known.get(nid) or usage_of(raw)
            else:
                found = Usage(None, None, {})
            self._own[nid] = found
        return found

    def together(self, ids: Iterable[str]) -> Usage:
        return total(self.of(n) for n in ids)


class CostColumns:
    """The cost columns of one table, chosen from what its pods recorded."""

    def __init__(self, usages: Iterable[Usage]) -> None:
        found = list(usages)
        if any(u.cpu_seconds is not None or u.peak_memory is not None for u in found):
            self.keys: tuple[str, ...] = MEASURED
        else:  # Argo: seconds of each resource
            self.keys = tuple(sorted({k for u in found for k in u.resources_duration}))
        self._cells: dict[tuple[object, ...], str] = {}  # 10,000 pods: a few distinct values

    def head(self) -> str:
        if self.keys == MEASURED:
            return "".join(f"<th>{k}</th>" for k in MEASURED)
        return "".join(f"<th>{escape(k)} (s)</th>" for k in self.keys)

    def cells(self, u: Usage) -> str:
        measured = self.keys == MEASURED
        key = (
            (u.cpu_seconds, u.peak_memory)
            if measured
            else tuple(u.resources_duration.get(k, 0) for k in self.keys)
        )
        found = self._cells.get(key)
        if found is None:
            if measured:
                shown: tuple[str, ...] = (format_cpu(u.cpu_seconds), format_bytes(u.peak_memory))
            else:
                shown = tuple(str(v) for v in key)
            found = self._cells[key] = "".join(f'<td class="num">{escape(s)}</td>' for s in shown)
        return found
