"""A run as one self-contained HTML page: header, graph, timeline, steps, outputs,
files and logs. Inline CSS, JS and SVG; nothing loaded from the network.

Every text that comes from a spec, a run or a log goes through ``escape``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape
from typing import Any

from dflowctl.argo.phases import FAILED_OR_ERROR
from dflowctl.report.assets import CSS, JS
from dflowctl.report.collect import ArtifactPreview, Extras, FilePreview
from dflowctl.report.costs import CostColumns, PodCosts
from dflowctl.report.graph import Graph, run_graph
from dflowctl.report.layout import svg
from dflowctl.stepkey import is_hidden
from dflowctl.tree import (
    TreeNode,
    build_tree,
    format_duration,
    format_span,
    parse_time,
    walk_paths,
)

TIMELINE_ROWS = 400
LOG_PODS = 400
VALUE_CHARS = 300


_SPECIAL = re.compile(r"[&<>\"']")


def e(value: object) -> str:
    """``value`` as HTML text (``html.escape``); most texts of a run (ids, phases, numbers)
    have nothing to escape and are returned as they are."""
    text = value if type(value) is str else str(value)
    return escape(text, quote=True) if _SPECIAL.search(text) else text


def short(text: str, limit: int = VALUE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def page(title: str, body: str, *, live: bool = False) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # no network: nothing but this file's own style, script and data: images
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; connect-src 'self'\">"
        f"<title>{e(title)}</title><style>{CSS}</style></head>"
        f'<body data-live="{1 if live else 0}">{body}<script>{JS}</script></body></html>\n'
    )


def report_page(
    workflow: Mapping[str, Any],
    extras: Extras,
    *,
    engine: str,
    live: bool = False,
    back: str = "",
    root: TreeNode | None = None,
    order: PageOrder | None = None,
) -> str:
    """The whole page for a run (``root``: its tree, and ``order``, when the caller has made them)."""
    name = str((workflow.get("metadata") or {}).get("name") or "")
    graph = run_graph(workflow)
    dom = {nid: f"g{i}" for i, nid in enumerate(graph.nodes)}
    nodes: Mapping[str, Any] = (workflow.get("status") or {}).get("nodes") or {}
    tree = root if root is not None else build_tree(workflow)
    if order is None:
        order = page_order(workflow, tree)
    paths = order.paths
    costs = PodCosts(nodes, {} if tree is None else {node.id: node.usage for _path, node in tree.walk()})
    sections = [
        _header(workflow, engine, back),
        '<nav><a href="#graph">Graph</a><a href="#timeline">Timeline</a><a href="#steps">Steps</a>'
        '<a href="#outputs">Outputs</a><a href="#files">Files</a><a href="#logs">Logs</a></nav>',
        '<main id="content">',
        _graph_section(graph, dom, nodes, paths),
        _timeline(order, costs),
        _steps(graph, dom, nodes, costs),
        _outputs(workflow, graph, dom, nodes, paths, costs),
        _files(extras.artifacts),
        _logs(order, extras),
        "</main>",
    ]
    phase = str((workflow.get("status") or {}).get("phase") or "Pending")
    return page(f"{name} — {phase}", "".join(sections), live=live)


Pods = list[tuple[str, Mapping[str, Any]]]


@dataclass(frozen=True)
class PageOrder:
    """What the page's parts order by, made once per page (``page_order``): each node's
    readable path in the tree's order (siblings by start, then by name with ``item(9)``
    before ``item(10)``), and the Pod nodes by start time, then in the tree's order (one
    cheap key per pod, not a natural sort of 10,000 paths)."""

    paths: dict[str, str]
    pods: Pods

    def started(self) -> Pods:
        return [p for p in self.pods if p[1].get("startedAt")]

    def log_nodes(self) -> list[str]:
        """The pods whose log tails the page shows (the first ``LOG_PODS``): only these
        logs are read."""
        return [nid for nid, _raw in self.pods[:LOG_PODS]]


def page_order(workflow: Mapping[str, Any], root: TreeNode | None) -> PageOrder:
    """``PageOrder`` of ``workflow`` (``root``: its tree)."""
    nodes: Mapping[str, Any] = (workflow.get("status") or {}).get("nodes") or {}
    paths = {} if root is None else {node.id: path for path, node in walk_paths(root)}
    rank = {nid: i for i, nid in enumerate(paths)}
    pods = [(nid, raw) for nid, raw in nodes.items() if raw.get("type") == "Pod"]
    pods.sort(key=lambda p: (str(p[1].get("startedAt") or "~"), rank.get(p[0], len(rank)), p[0]))
    return PageOrder(paths, pods)


def _when(text: str | None) -> str:
    t = parse_time(text)
    return t.strftime("%Y-%m-%d %H:%M:%S UTC") if t else ""


def _header(workflow: Mapping[str, Any], engine: str, back: str) -> str:
    meta = workflow.get("metadata") or {}
    status = workflow.get("status") or {}
    phase = str(status.get("phase") or "Pending")
    now = datetime.now(timezone.utc)
    took = format_span(status.get("startedAt"), status.get("finishedAt"), now)
    pods = [n for n in (status.get("nodes") or {}).values() if n.get("type") == "Pod"]
    done = sum(1 for n in pods if n.get("phase") in ("Succeeded", "Failed", "Error", "Skipped", "Omitted"))
    fields = [
        ("engine", engine),
        ("namespace", meta.get("namespace") or ""),
        ("started", _when(status.get("startedAt"))),
        ("finished", _when(status.get("finishedAt"))),
        ("duration", took),
        ("progress", f"{done}/{len(pods)}"),
    ]
    labels = {
        k: v for k, v in (meta.get("labels") or {}).items() if not str(k).startswith("workflows.argoproj.io/")
    }
    parts = [f"<header>{f'<a href={chr(34)}{e(back)}{chr(34)}>← runs</a>' if back else ''}"]
    parts.append(f'<h1>{e(meta.get("name") or "")} <span class="badge {e(phase)}">{e(phase)}</span></h1>')
    parts.append('<div class="meta">')
    parts.extend(f"<span>{k}: <b>{e(v)}</b></span>" for k, v in fields if v)
    parts.append("</div>")
    if status.get("message"):
        parts.append(f'<p class="ph Failed">{e(status["message"])}</p>')
    params = ((workflow.get("spec") or {}).get("arguments") or {}).get("parameters") or []
    if params or labels:
        parts.append('<div class="meta" id="parameters">')
        parts.extend(
            f"<span>{e(p.get('name'))} = <b>{e(short(str(p.get('value', ''))))}</b></span>"
            for p in params
            if isinstance(p, Mapping)
        )
        parts.extend(f'<span class="muted">{e(k)}={e(v)}</span>' for k, v in labels.items())
        parts.append("</div>")
    parts.append("</header>")
    return "".join(parts)


def _graph_section(
    graph: Graph, dom: Mapping[str, str], nodes: Mapping[str, Any], paths: Mapping[str, str]
) -> str:
    parts = ['<section id="graph"><h2>Graph</h2>']
    if not graph.nodes:
        parts.append('<p class="muted">No steps yet.</p></section>')
        return "".join(parts)
    parts.append(f'<div class="scroll">{svg(graph, dict(dom))}</div>')
    for node in graph.nodes.values():
        if not node.items:
            continue
        counts = ", ".join(f"{n} {ph}" for ph, n in sorted(node.counts.items()))
        parts.append(
            f'<div class="fold" id="fold-{dom[node.id]}" hidden><b>{e(node.label)}</b> '
            f'<span class="muted">{len(node.items)} items: {e(counts)}</span> '
            f'<a href="#fan-{dom[node.id]}">outputs table</a><div class="chips">'
        )
        for nid in node.items:
            raw = nodes.get(nid, {})
            phase = str(raw.get("phase") or "Pending")
            label = paths.get(nid) or str(raw.get("displayName") or nid)
            parts.append(
                f'<a class="chip {e(phase)}" title="{e(label)} — {e(phase)}" href="#log-{e(nid)}"></a>'
            )
        parts.append("</div></div>")
    parts.append("</section>")
    return "".join(parts)


def _timeline(order: PageOrder, spent: PodCosts) -> str:
    pods, paths = order.started(), order.paths
    parts = ['<section id="timeline"><h2>Timeline</h2>']
    if not pods:
        parts.append('<p class="muted">No pod has started.</p></section>')
        return "".join(parts)
    now = datetime.now(timezone.utc)
    starts = [parse_time(raw.get("startedAt")) for _, raw in pods]
    ends = [parse_time(raw.get("finishedAt")) or now for _, raw in pods]
    t0 = min(s for s in starts if s is not None)
    t1 = max(ends)
    span = max((t1 - t0).total_seconds(), 1.0)
    costs = CostColumns(spent.of(nid) for nid, _ in pods[:TIMELINE_ROWS])
    parts.append(
        f'<p class="muted">{len(pods)} pods over {e(format_duration(span))}</p>'
        '<div class="scroll short"><table class="timeline"><tr><th>pod</th><th>phase</th><th>duration</th>'
        f"{costs.head()}<th>when</th></tr>"
    )
    for (nid, raw), start, end in list(zip(pods, starts, ends, strict=True))[:TIMELINE_ROWS]:
        if start is None:
            continue
        left = (start - t0).total_seconds() / span * 100
        width = max((end - start).total_seconds() / span * 100, 0.4)
        phase = str(raw.get("phase") or "Pending")
        dur = format_span(raw.get("startedAt"), raw.get("finishedAt"), now)
        label = paths.get(nid) or str(raw.get("displayName") or nid)
        parts.append(
            f'<tr><td><a href="#log-{e(nid)}">{e(short(label, 80))}</a></td>'
            f'<td class="ph {e(phase)}">{e(phase)}</td><td class="num">{e(dur)}</td>'
            f"{costs.cells(spent.of(nid))}"
            f'<td class="tlcell"><div class="tl"><span class="{e(phase)}" style="left:{left:.2f}%;'
            f'width:{min(width, 100 - left):.2f}%" title="{e(_when(raw.get("startedAt")))} → '
            f'{e(_when(raw.get("finishedAt")))}"></span></div></td></tr>'
        )
    parts.append("</table></div>")
    if len(pods) > TIMELINE_ROWS:
        parts.append(f'<p class="muted">… {len(pods) - TIMELINE_ROWS} more pods</p>')
    parts.append("</section>")
    return "".join(parts)


def _span(members: Sequence[Mapping[str, Any]]) -> tuple[str | None, str | None]:
    starts = [str(m["startedAt"]) for m in members if m.get("startedAt")]
    ends = [str(m["finishedAt"]) for m in members if m.get("finishedAt")]
    unfinished = any(not m.get("finishedAt") for m in members if m.get("startedAt"))
    return (min(starts) if starts else None, None if unfinished or not ends else max(ends))


def _params(items: Any) -> str:
    if not isinstance(items, list):
        return ""
    return "<br>".join(
        f"<code>{e(p.get('name'))}</code> = {e(short(str(p.get('value', ''))))}"
        for p in items
        if isinstance(p, Mapping) and not is_hidden(p.get("name", ""))
    )


def _steps(graph: Graph, dom: Mapping[str, str], nodes: Mapping[str, Any], spent: PodCosts) -> str:
    now = datetime.now(timezone.utc)
    costs = CostColumns(spent.of(m) for n in graph.nodes.values() for m in n.members)
    head = costs.head()
    parts = [
        '<section id="steps"><h2>Steps</h2><div class="scroll"><table><tr><th>step</th><th>template</th>'
        f"<th>phase</th><th>started</th><th>duration</th>{head}<th>inputs</th><th>outputs</th>"
        "<th>message</th></tr>"
    ]
    for node in graph.nodes.values():
        members = [nodes[m] for m in node.members if m in nodes]
        own = nodes.get(node.id, {})
        started, finished = _span(members) if node.items else (own.get("startedAt"), own.get("finishedAt"))
        dur = format_span(started, finished, now)
        marks = ""
        if any((m.get("memoizationStatus") or {}).get("hit") for m in members):
            marks += '<span class="mark">cached</span>'
        if node.note:
            marks += f'<span class="mark">{e(node.note)}</span>'
        failed = [m for m in members if m.get("phase") in FAILED_OR_ERROR and m.get("message")]
        first_failure = failed[0].get("message") if failed and node.phase in FAILED_OR_ERROR else ""
        message = str(own.get("message") or first_failure or "")
        phase = node.phase or "Pending"
        counts = ", ".join(f"{n} {ph}" for ph, n in sorted(node.counts.items()))
        if node.items:
            ins = outs = f'<a href="#fan-{dom[node.id]}">{len(node.items)} items</a>'
        else:
            ins = _params((own.get("inputs") or {}).get("parameters"))
            outs = _params((own.get("outputs") or {}).get("parameters"))
        parts.append(
            f'<tr id="step-{dom[node.id]}"><td>{e(node.label)}{marks}</td><td>{e(node.template or "")}</td>'
            f'<td class="ph {e(phase)}">{e(phase)}{f" ({e(counts)})" if counts else ""}</td>'
            f'<td>{e(_when(started))}</td><td class="num">{e(dur)}</td>'
            + costs.cells(spent.together(node.members))
            + f"<td>{ins}</td><td>{outs}</td><td>{e(short(message))}</td></tr>"
        )
    parts.append("</table></div></section>")
    return "".join(parts)


def _outputs(
    workflow: Mapping[str, Any],
    graph: Graph,
    dom: Mapping[str, str],
    nodes: Mapping[str, Any],
    paths: Mapping[str, str],
    spent: PodCosts,
) -> str:
    from dflowctl.report.fanout import fanout_table
    from dflowctl.runoutputs import run_outputs

    parts = ['<section id="outputs"><h2>Outputs</h2>']
    items = run_outputs(workflow)
    if items:
        parts.append("<table><tr><th>step</th><th>kind</th><th>name</th><th>value</th></tr>")
        for it in items:
            parts.append(
                f"<tr><td>{e(it.step)}</td><td>{e(it.kind)}</td><td>{e(it.name)}</td>"
                f"<td><code>{e(short(it.value))}</code></td></tr>"
            )
        parts.append("</table>")
    else:
        parts.append('<p class="muted">The run has no final outputs (yet).</p>')
    for node in graph.nodes.values():
        if node.items:
            parts.append(fanout_table(node, dom, nodes, spent))
    parts.append("</section>")
    return "".join(parts)


def _files(previews: Sequence[ArtifactPreview]) -> str:
    parts = ['<section id="files"><h2>Files</h2>']
    if not previews:
        parts.append('<p class="muted">No output files.</p></section>')
        return "".join(parts)
    parts.append('<table class="files"><tr><th>step</th><th>artifact</th><th>preview</th></tr>')
    for art in previews:
        if art.skipped:
            body = f'<span class="muted">{e(art.location)} (not previewed)</span>'
        elif art.error:
            body = f'<span class="ph Failed">{e(art.error)}</span>'
        else:
            body = "".join(_file(f) for f in art.files)
            if art.more_files:
                body += f'<p class="muted">… {art.more_files} more files</p>'
        parts.append(f"<tr><td>{e(art.step)}</td><td>{e(art.name)}</td><td>{body}</td></tr>")
    parts.append("</table></section>")
    return "".join(parts)


def _file(f: FilePreview) -> str:
    name = f"<code>{e(f.name)}</code> " if f.name else ""
    size = f'<span class="muted">{f.size:,} bytes</span>'
    more = ' <span class="muted">(first part)</span>' if f.truncated else ""
    if f.kind == "image":
        alt = e(f.name or "image")
        return f'<div>{name}{size}<br><img class="preview" alt="{alt}" src="{e(f.data_uri)}"></div>'
    if f.kind == "csv":
        rows = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in f.rows)
        return f'<div>{name}{size}{more}<table class="csv">{rows}</table></div>'
    if f.kind == "text":
        return f"<div>{name}{size}{more}<pre>{e(f.text)}</pre></div>"
    return f"<div>{name}{size} (binary)</div>"


def _logs(order: PageOrder, extras: Extras) -> str:
    pods, paths = order.pods, order.paths
    parts = ['<section id="logs"><h2>Logs <span class="muted">(last lines of each)</span></h2>']
    if extras.log_error:
        parts.append(f'<p class="ph Failed">logs: {e(extras.log_error)}</p>')
    for nid, raw in pods[:LOG_PODS]:
        phase = str(raw.get("phase") or "Pending")
        lines = extras.logs.get(nid, [])
        label = paths.get(nid) or str(raw.get("displayName") or nid)
        opened = " open" if phase in FAILED_OR_ERROR else ""
        body = f"<pre>{e(chr(10).join(lines))}</pre>" if lines else '<p class="muted">(no output)</p>'
        parts.append(
            f'<details class="log" id="log-{e(nid)}"{opened}><summary>{e(label)} '
            f'<span class="ph {e(phase)}">{e(phase)}</span></summary>{body}</details>'
        )
    if len(pods) > LOG_PODS:
        parts.append(f'<p class="muted">… {len(pods) - LOG_PODS} more pods</p>')
    parts.append("</section>")
    return "".join(parts)
