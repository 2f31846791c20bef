"""Everything users see, and the only module that imports ``rich``.

Results go to stdout, progress and diagnostics to stderr. On a terminal a run
is followed with a live tree; elsewhere (CI, pipes) with one plain line per
event: no ANSI codes, no carriage returns. ``NO_COLOR`` is honoured.
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from types import TracebackType
from typing import IO, Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from dflowctl import usage
from dflowctl.argo.phases import FAILED_OR_ERROR, FULFILLED, Phase
from dflowctl.errors import redact
from dflowctl.tree import (
    GROUP_TYPES,
    OutputItem,
    TreeNode,
    build_tree,
    format_span,
    make_node,
    node_path,
    parse_time,
    progress,
    run_outputs,
    usage_totals,
    walk_paths,
)

ICONS = {
    "Succeeded": "✔",
    "Failed": "✖",
    "Error": "⚠",
    "Running": "●",
    "Pending": "◷",
    "Skipped": "○",
    "Omitted": "○",
}
STYLES = {
    "Succeeded": "green",
    "Failed": "red",
    "Error": "red",
    "Running": "yellow",
    "Pending": "dim",
    "Skipped": "dim",
    "Omitted": "dim",
}
STEP_COLOURS = ("cyan", "magenta", "blue", "green", "yellow", "bright_cyan", "bright_magenta", "bright_blue")


def is_terminal(stream: IO[str]) -> bool:
    """True when ``stream`` is an interactive terminal that can show a live view."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        return False
    return tty and os.environ.get("TERM") != "dumb"


def _console(stream: IO[str]) -> Console:
    no_color = bool(os.environ.get("NO_COLOR"))
    if is_terminal(stream):
        return Console(file=stream, no_color=no_color, highlight=False)
    # not a terminal: no colour codes, no wrapping of long lines
    return Console(file=stream, color_system=None, highlight=False, soft_wrap=True, width=10_000)


def out() -> Console:
    return _console(sys.stdout)


def err() -> Console:
    return _console(sys.stderr)


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def workflow_name(workflow: Mapping[str, Any]) -> str:
    return str((workflow.get("metadata") or {}).get("name") or "")


def workflow_phase(workflow: Mapping[str, Any]) -> str:
    return str((workflow.get("status") or {}).get("phase") or Phase.PENDING)


# ---------------------------------------------------------------- the step table


@dataclass(frozen=True)
class Row:
    prefix: str  # tree drawing, e.g. "├─"
    node: TreeNode | None  # None for a "… N more" line
    label: str

    def duration(self, now: datetime) -> str:
        if self.node is None:
            return ""
        return format_span(self.node.started_at, self.node.finished_at, now)


_LOOP_ITEM = re.compile(r".*\(\d+(:.*)?\)$")


def _collapse(children: list[TreeNode], limit: int | None) -> list[TreeNode | str]:
    """At most ``limit`` children, chosen in this order: unfinished or failed ones,
    then finished steps that are not loop items, then finished items, latest first;
    a "… N more" line stands where the first hidden child was."""
    if limit is None or len(children) <= limit:
        return list(children)

    def rank(item: tuple[int, TreeNode]) -> tuple[int, int]:
        pos, c = item
        if c.phase not in FULFILLED or c.phase in FAILED_OR_ERROR:
            return (0, pos)
        if not _LOOP_ITEM.match(c.display_name):
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
        entries = _collapse(node.children, limit)
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


# C0 and C1 control characters (ESC starts terminal escape sequences), DEL
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """``text`` safe to print on a terminal: control characters (escape sequences,
    bells, line breaks) shown as ``\\n``, ``\\x1b`` …, never sent raw. Values a run
    produced (outputs, messages) always pass through here."""
    return _CONTROL.sub(lambda m: _NAMED.get(m.group(), f"\\x{ord(m.group()):02x}"), text)


def _message(node: TreeNode | None) -> str:
    return printable((node.message or "").replace("\r", " ").replace("\n", " ")) if node else ""


def step_table(
    workflow: Mapping[str, Any], *, limit: int | None = None, now: datetime | None = None
) -> Table:
    """The step tree as a rich table: STEP, TEMPLATE, PHASE, DURATION, [what the steps
    cost: CPU, MEMORY or Argo's RESOURCES,] MESSAGE."""
    root = build_tree(workflow)
    if root is None:
        return _rows_table([], now or now_utc(), {})
    return _rows_table(tree_rows(root, limit=limit), now or now_utc(), usage_totals(root))


def _rows_table(rows: list[Row], now: datetime, spent: Mapping[str, usage.Usage]) -> Table:
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    cols = usage.columns(spent.values())
    for col in ("STEP", "TEMPLATE", "PHASE", "DURATION", *cols, "MESSAGE"):
        table.add_column(col, no_wrap=col != "MESSAGE", justify="right" if col in cols else "left")
    for row in rows:
        node = row.node
        if node is None:
            table.add_row(Text(f"{row.prefix}{row.label}", style="dim"), "", "", "", *("" for _ in cols), "")
            continue
        style = STYLES.get(node.phase, "")
        step = Text(row.prefix)
        step.append(ICONS.get(node.phase, "?"), style=style)
        step.append(" " + row.label)
        template = node.template if node.is_leaf_kind else ""
        cost = usage.cells(spent[node.id], cols)
        table.add_row(
            step, template or "", Text(node.phase, style=style), row.duration(now), *cost, _message(node)
        )
    return table


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
        cells.append((step, template, node.phase, row.duration(now), *cost, _message(node)))
    n = len(cells[0]) - 1
    widths = [max(len(c[i]) for c in cells) for i in range(n)]
    return [
        "  ".join(c[i].ljust(widths[i]) for i in range(n)).rstrip() + ("  " + c[n] if c[n] else "")
        for c in cells
    ]


# ---------------------------------------------------------------- following a run


def _header(workflow: Mapping[str, Any], now: datetime) -> Text:
    status = workflow.get("status") or {}
    phase = workflow_phase(workflow)
    done, total = progress(workflow)
    text = Text()
    text.append(f"{ICONS.get(phase, '?')} ", style=STYLES.get(phase, ""))
    text.append(workflow_name(workflow), style="bold")
    text.append(f"  {phase}", style=STYLES.get(phase, ""))
    text.append(f"  {done}/{total}")
    elapsed = format_span(status.get("startedAt"), status.get("finishedAt"), now)
    if elapsed:
        text.append(f"  {elapsed}")
    return text


class _LiveRenderable:
    """Re-rendered by rich on every refresh, so running durations keep ticking. The tree
    and its folded rows are built once per update (a fan-out of 10,000 items takes
    longer than a refresh), only durations are taken at each refresh."""

    def __init__(self, limit: int) -> None:
        self.workflow: Mapping[str, Any] = {}
        self.limit = limit
        self._rows: tuple[Mapping[str, Any], list[Row], Mapping[str, usage.Usage]] | None = None

    def __rich__(self) -> Group:
        now = now_utc()
        workflow = self.workflow
        if not workflow:
            return Group(Text("submitting…", style="dim"))
        if self._rows is None or self._rows[0] is not workflow:
            root = build_tree(workflow)
            if root is None:
                self._rows = (workflow, [], {})
            else:
                self._rows = (workflow, tree_rows(root, limit=self.limit), usage_totals(root))
        return Group(_header(workflow, now), _rows_table(self._rows[1], now, self._rows[2]))


def _node_paths(root: TreeNode) -> dict[str, str]:
    """A readable path per node ("inner/square(3:3)"), root excluded."""
    return {node.id: path for path, node in walk_paths(root)}


_ITEM_SUFFIX = re.compile(r"\(\d+(:.*)?\)$")


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
            step = _ITEM_SUFFIX.sub("(…)", node.display_name, count=1)
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
            parts.append(_message(node))
        return "  ".join(parts)


class RunView:
    """Follows a run: ``with RunView() as view: engine.submit(..., on_update=view.update)``.

    The first update prints ``Name: <run>`` on stdout; then, on a terminal
    (stderr, and not in CI), a live tree, otherwise plain event lines on stderr.
    """

    def __init__(self, *, live: bool | None = None, stream: IO[str] | None = None, limit: int = 12) -> None:
        self.stream = stream or sys.stderr
        # CI logs are files even when the runner gives a pseudo-terminal: plain lines there
        auto = is_terminal(self.stream) and not os.environ.get("CI")
        self.live_mode = auto if live is None else live
        self.named = False
        self._plain = PlainEvents(self.stream)
        self._renderable = _LiveRenderable(limit)
        self._live: Live | None = None

    def __enter__(self) -> RunView:
        return self

    def update(self, workflow: Mapping[str, Any]) -> None:
        if not self.named and workflow_name(workflow):
            self.named = True
            print_name(workflow_name(workflow))
        if not self.live_mode:
            self._plain.update(workflow)
            return
        self._renderable.workflow = workflow
        if self._live is None:
            # started after the name is printed, so stdout and the live view do not mix;
            # it redraws itself a few times a second (not on every update: big fan-outs
            # send many, and drawing competes with the engine for the interpreter)
            self._live = Live(
                self._renderable,
                console=_console(self.stream),
                refresh_per_second=4,
                transient=False,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._live.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


# ---------------------------------------------------------------- results


def print_name(name: str) -> None:
    sys.stdout.write(f"Name: {name}\n")
    sys.stdout.flush()


def failure_lines(root: TreeNode, limit: int = 10, flags: str = "") -> list[str]:
    """What failed, leaving out failures that were recovered (under a node that
    succeeded: a retried attempt, a step with continueOn). A step that ran out of
    retries is one line: its last attempt's message and the number of attempts."""
    paths = _node_paths(root)
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
                msg = f": {_message(last)}" if last.message else ""
                lines.append(
                    f"  {ICONS[child.phase]} {path} {child.phase}{msg} (after {len(attempts)} attempts)"
                )
            elif child.is_leaf_kind and child.phase in FAILED_OR_ERROR:
                msg = f": {_message(child)}" if child.message else ""
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


def print_summary(workflow: Mapping[str, Any], flags: str = "") -> None:
    console = out()
    phase = workflow_phase(workflow)
    for i, line in enumerate(summary_lines(workflow, flags)):
        style = STYLES.get(phase, "") if i == 0 else ""
        console.print(Text(line, style=style))


def print_object(obj: Any, fmt: str) -> None:
    """A Workflow object (or a list of them) as JSON or YAML on stdout (for machines)."""
    sys.stdout.write(dump_object(obj, fmt))
    sys.stdout.flush()


def dump_object(obj: Any, fmt: str) -> str:
    if fmt == "json":  # json.dumps(obj, indent=2, default=str), faster for a big run's record
        from dflowctl.prettyjson import dumps

        return dumps(obj) + "\n"
    from dflowctl.render.dump import dump_yaml

    return dump_yaml(json.loads(json.dumps(obj, default=str)))


def print_run_detail(workflow: Mapping[str, Any], flags: str = "") -> None:
    """``status NAME``: a header (name, phase, times, progress, message) and the step tree."""
    status = workflow.get("status") or {}
    now = now_utc()
    started = parse_time(status.get("startedAt"))
    finished = parse_time(status.get("finishedAt"))
    done, total = progress(workflow)
    took = format_span(status.get("startedAt"), status.get("finishedAt"), now)
    fields = [
        ("Name", workflow_name(workflow)),
        ("Namespace", str((workflow.get("metadata") or {}).get("namespace") or "")),
        ("Phase", workflow_phase(workflow)),
        ("Message", str(status.get("message") or "")),
        ("Started", started.strftime("%Y-%m-%d %H:%M:%S UTC") if started else ""),
        ("Finished", finished.strftime("%Y-%m-%d %H:%M:%S UTC") if finished else ""),
        ("Duration", took),
        ("Progress", f"{done}/{total}"),
        ("Resources", _resources(workflow)),
    ]
    console = out()
    for key, value in fields:
        if value:
            console.print(f"{key + ':':<11}{printable(value)}", markup=False)
    items = run_outputs(workflow)
    if items:
        for line in output_lines(items, workflow_name(workflow), flags=flags):
            console.print(line, markup=False)
    console.print()
    if is_terminal(sys.stdout):
        console.print(step_table(workflow, now=now))
    else:  # a big fan-out's table is long: one write, not a rich print a line
        console.file.flush()
        sys.stdout.write("".join(line + "\n" for line in plain_step_lines(workflow, now)))
        sys.stdout.flush()


def _resources(workflow: Mapping[str, Any]) -> str:
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


def print_runs(runs: Iterable[Mapping[str, Any]]) -> None:
    rows = run_rows(runs)
    console = out()
    if not rows:
        err().print("No runs found.", markup=False)
        return
    headers = ("NAME", "PHASE", "STARTED", "DURATION", "PROGRESS", "MESSAGE")
    if is_terminal(sys.stdout):
        table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
        for h in headers:
            table.add_column(h, no_wrap=h != "MESSAGE")
        for row in rows:
            table.add_row(row[0], Text(row[1], style=STYLES.get(row[1], "")), *row[2:])
        console.print(table)
        return
    cells = [headers, *rows]
    widths = [max(len(c[i]) for c in cells) for i in range(5)]
    for c in cells:
        line = "  ".join(c[i].ljust(widths[i]) for i in range(5)) + ("  " + c[5] if c[5] else "")
        console.print(line.rstrip(), markup=False)


class LogPrinter:
    """Log lines prefixed with the step's display name (as ``argo logs`` prefixes pods).

    Written straight to the stream (a log can be hundreds of megabytes): the prefix is
    styled once per step, the line itself is printed as it is (``\r`` removed)."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stdout
        self.colour = is_terminal(self.stream) and not os.environ.get("NO_COLOR")
        self.prefixes: dict[str, str] = {}

    def _prefix(self, step: str) -> str:
        if not self.colour:
            return f"{step}: "
        colour = STEP_COLOURS[len(self.prefixes) % len(STEP_COLOURS)]
        buf = io.StringIO()
        Console(file=buf, force_terminal=True, no_color=False, highlight=False, width=10_000).print(
            Text(f"{step}: ", style=colour), end=""
        )
        return buf.getvalue()

    def line(self, step: str, text: str) -> None:
        self.lines(step, text)

    def lines(self, step: str, text: str) -> None:
        """One or more lines (joined by ``\\n``), each with the step's prefix."""
        prefix = self.prefixes.get(step)
        if prefix is None:
            prefix = self.prefixes[step] = self._prefix(step)
        self.stream.write(prefix + text.replace("\r", "").replace("\n", "\n" + prefix) + "\n")


class DownloadProgress:
    """A progress bar on stderr while artifacts arrive (on a terminal, not in CI);
    nothing otherwise. ``advance`` may be called from worker threads."""

    def __init__(self, total: int, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.total = total
        self._progress: Progress | None = None
        self._task: Any = None

    def __enter__(self) -> DownloadProgress:
        if self.total > 1 and is_terminal(self.stream) and not os.environ.get("CI"):
            self._progress = Progress(
                TextColumn("downloading"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=_console(self.stream),
                transient=True,
            )
            self._task = self._progress.add_task("artifacts", total=self.total)
            self._progress.start()
        return self

    def advance(self, _item: object = None) -> None:
        if self._progress is not None:
            self._progress.advance(self._task)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()


def print_paths(paths: Iterable[str]) -> None:
    console = out()
    for p in paths:
        console.print(p, markup=False, highlight=False)


def info(message: str) -> None:
    """A note for the user on stderr (not a result)."""
    err().print(message, markup=False, highlight=False)


def print_csv(rows: Sequence[Sequence[str]]) -> None:
    """Rows as CSV on stdout (RFC 4180 quoting)."""
    import csv

    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerows(rows)
    sys.stdout.flush()


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A table on stdout: aligned plain columns (a rich table on a terminal); newlines shown as ``\\n``."""
    clean = [[c.replace("\r", "\\r").replace("\n", "\\n") for c in row] for row in rows]
    console = out()
    if is_terminal(sys.stdout):
        table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
        for h in header:
            table.add_column(h)
        for row in clean:
            table.add_row(*(Text(c) for c in row))
        console.print(table)
        return
    cells = [list(header), *clean]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    for c in cells:
        console.print("  ".join(c[i].ljust(widths[i]) for i in range(len(header))).rstrip(), markup=False)
