"""Everything users see, and the only module that imports ``rich``.

What the views say is worked out without ``rich`` beside it: ``viewtext`` (icons,
printable text), ``steprows`` (the step tree as folded rows), ``plainevents`` (a run
followed in a log), ``runsummary`` (the closing summary, the run list's rows).

Results go to stdout, progress and diagnostics to stderr. On a terminal a run
is followed with a live tree; elsewhere (CI, pipes) with one plain line per
event: no ANSI codes, no carriage returns. ``NO_COLOR`` is honoured.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import IO, Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from dflowctl import usage
from dflowctl.machineout import dump_object, print_object  # noqa: F401 (-o json/yaml: here for the commands)
from dflowctl.plainevents import PlainEvents
from dflowctl.runoutputs import run_outputs
from dflowctl.runsummary import output_lines, resources_text, run_rows, summary_lines
from dflowctl.steprows import Row, plain_step_lines, tree_rows
from dflowctl.tree import build_tree, format_span, parse_time, progress, usage_totals
from dflowctl.viewtext import (  # noqa: F401 (print_paths: here for the commands)
    ICONS,
    STYLES,
    node_message,
    now_utc,
    print_paths,
    printable,
    workflow_name,
    workflow_phase,
)

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


# ---------------------------------------------------------------- the step table


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
            step, template or "", Text(node.phase, style=style), row.duration(now), *cost, node_message(node)
        )
    return table


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


def print_summary(workflow: Mapping[str, Any], flags: str = "") -> None:
    console = out()
    phase = workflow_phase(workflow)
    for i, line in enumerate(summary_lines(workflow, flags)):
        style = STYLES.get(phase, "") if i == 0 else ""
        console.print(Text(line, style=style))


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
        ("Resources", resources_text(workflow)),
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
