"""The report's table of a fan-out's outputs: one row per item (10,000 for a
10,000-item run), what rows share (a phase, a span) written once."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from dflowctl.report.costs import CostColumns, PodCosts
from dflowctl.report.graph import GraphNode
from dflowctl.report.html import e, short
from dflowctl.results import split_item
from dflowctl.runoutputs import artifact_location
from dflowctl.stepkey import is_hidden
from dflowctl.tree import format_span


def fanout_table(node: GraphNode, dom: Mapping[str, str], nodes: Mapping[str, Any], spent: PodCosts) -> str:
    """A fan-out's items, one row each, by loop index."""
    now = datetime.now(timezone.utc)
    rows = []
    params: dict[str, None] = {}
    arts: dict[str, None] = {}
    seen: set[str] = set()  # parameter names looked at (is_hidden once per name)
    for nid in node.items:
        raw = nodes.get(nid, {})
        outputs = raw.get("outputs") or {}
        for p in outputs.get("parameters") or []:
            name = p.get("name")
            if str(name) not in seen:
                seen.add(str(name))
                if not is_hidden(name):
                    params.setdefault(str(name), None)
        for a in outputs.get("artifacts") or []:
            arts.setdefault(str(a.get("name")), None)
        rows.append((split_item(str(raw.get("displayName") or "")), nid, raw, outputs))
    rows.sort(key=lambda r: (r[0][1] or 0, r[1]))  # by loop index
    head = "".join(f"<th>{e(p)}</th>" for p in params) + "".join(f"<th>{e(a)} (file)</th>" for a in arts)
    costs = CostColumns(spent.of(r[1]) for r in rows)
    parts = [
        f'<details class="fanout" id="fan-{dom[node.id]}" open><summary><b>{e(node.label)}</b>: '
        f"{len(rows)} items, one row each</summary>"
        f'<div class="scroll"><table class="fanout-table"><tr><th>#</th><th>item</th><th>phase</th>'
        f"<th>duration</th>{costs.head()}{head}<th>log</th></tr>"
    ]
    # 10,000 rows: what many rows share (a phase, a span of whole seconds) is written once
    phases: dict[str, str] = {}
    spans: dict[tuple[str | None, str | None], str] = {}
    for (_base, index, item), nid, raw, outputs in rows:
        values = (
            {str(p.get("name")): str(p.get("value", "")) for p in outputs.get("parameters") or []}
            if params
            else {}
        )
        places = {str(a.get("name")): artifact_location(a) for a in outputs.get("artifacts") or []}
        phase = str(raw.get("phase") or "Pending")
        shown = phases.get(phase)
        if shown is None:
            shown = phases[phase] = f'<td class="ph {e(phase)}">{e(phase)}</td>'
        when = (raw.get("startedAt"), raw.get("finishedAt"))
        plain = all(t is None or type(t) is str for t in when)
        dur = spans.get(when) if plain else None
        if dur is None:
            dur = e(format_span(when[0], when[1], now))
            if plain:
                spans[when] = dur
        cells = "".join([f"<td><code>{e(short(values.get(p, '')))}</code></td>" for p in params])
        cells += "".join([f'<td class="muted">{e(short(places.get(a, ""), 120))}</td>' for a in arts])
        ref = e(nid)
        parts.append(
            f'<tr><td class="num">{"" if index is None else index}</td><td>{e(short(item or ""))}</td>'
            f'{shown}<td class="num">{dur}</td>'
            f"{costs.cells(spent.of(nid))}{cells}"
            f'<td><a href="#log-{ref}">log</a></td></tr>'
        )
    parts.append("</table></div></details>")
    return "".join(parts)
