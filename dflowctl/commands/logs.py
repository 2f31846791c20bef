"""`dflowctl logs NAME`: step logs, each line prefixed with its step's name."""

from __future__ import annotations

import typer

from dflowctl.commands._common import (
    CONTEXT_OPT,
    ENGINE_OPT,
    KUBECONFIG_OPT,
    NAMESPACE_OPT,
    Following,
    check_run_name,
    complete_run,
    interruptible,
    pause_gc_for_reading,
    settings_from,
)
from dflowctl.errors import UsageError


def register(app: typer.Typer) -> None:
    @app.command("logs")
    def logs_cmd(
        name: str = typer.Argument(
            ..., help="The run's name (or @latest).", autocompletion=complete_run, callback=check_run_name
        ),
        step: str | None = typer.Option(
            None, "--step", "-s", help="Only this step (all of its items and attempts; STEP[N]: item N)."
        ),
        item: int | None = typer.Option(None, "--item", help="Only the item of index N of --step."),
        follow: bool = typer.Option(False, "-f", "--follow", help="Keep printing until the run ends."),
        tail: int | None = typer.Option(None, "--tail", min=0, help="Only the last N lines of each step."),
        since: str | None = typer.Option(
            None, "--since", help="Only steps that ran within this long (30s, 10m, 2h): whole logs of them."
        ),
        grep: str | None = typer.Option(None, "--grep", help="Only lines matching this regular expression."),
        timestamps: bool = typer.Option(
            False, "--timestamps", help="Prefix each line with its time (RFC 3339)."
        ),
        engine: str | None = ENGINE_OPT,
        namespace: str | None = NAMESPACE_OPT,
        kubeconfig: str | None = KUBECONFIG_OPT,
        context: str | None = CONTEXT_OPT,
    ) -> int:
        """Print the logs of a run's steps."""
        import re
        from collections import deque
        from itertools import repeat

        from dflowctl import actions, console, runs
        from dflowctl.download import with_item

        if tail is not None and follow:
            raise UsageError("--tail and --follow cannot be combined", hint="use one of them")
        if not follow:
            pause_gc_for_reading()
        pattern = None
        if grep is not None:
            try:
                pattern = re.compile(grep)
            except re.error as err:
                raise UsageError(f"invalid --grep pattern {grep!r}: {err}") from None
        window = runs.parse_since(since) if since is not None else None
        step = with_item(step, item)
        eng = actions.make_engine(settings_from(engine, namespace, kubeconfig, context))
        run = runs.resolve(eng, name)
        recent: set[str] | None = None
        if window is not None:
            recent = runs.nodes_within(eng.get_run(run), window)
        printer = console.LogPrinter()
        tails: dict[str, deque[tuple[str, str]]] = {}
        filtered = pattern is not None or tail is not None or timestamps
        with interruptible(Following(run)):
            for block in actions.logs(eng, run, step, follow, timestamps):
                if recent is not None and block.node_id not in recent:
                    continue
                if not filtered:  # whole lines a chunk at a time: a large log prints fast
                    printer.lines(block.node_name, block.text)
                    continue
                shown = []
                for text, when in zip(block.text.split("\n"), block.times or repeat(None), strict=False):
                    if pattern is not None and not pattern.search(text):
                        continue
                    shown.append(f"{when or '-'} {text}" if timestamps else text)
                if tail is not None:
                    tails.setdefault(block.node_id, deque(maxlen=tail)).extend(
                        (block.node_name, text) for text in shown
                    )
                elif shown:  # one write per block: a large log prints fast
                    printer.lines(block.node_name, "\n".join(shown))
        for lines in tails.values():
            for node_name, text in lines:
                printer.line(node_name, text)
        return 0
