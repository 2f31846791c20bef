"""`dflowctl report NAME`: a run as one self-contained HTML file."""

from __future__ import annotations

from pathlib import Path

import typer

from dflowctl.commands._common import (
    CONTEXT_OPT,
    ENGINE_OPT,
    KUBECONFIG_OPT,
    NAMESPACE_OPT,
    complete_run,
    pause_gc_for_reading,
    settings_from,
)


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report_cmd(
        name: str = typer.Argument(..., help="The run's name (or @latest).", autocompletion=complete_run),
        output: Path | None = typer.Option(
            None, "-o", "--output", help="The HTML file to write (default: NAME.html; - for stdout)."
        ),
        engine: str | None = ENGINE_OPT,
        namespace: str | None = NAMESPACE_OPT,
        kubeconfig: str | None = KUBECONFIG_OPT,
        context: str | None = CONTEXT_OPT,
    ) -> int:
        """Write a run's report: graph, timeline, steps, outputs, file previews and log tails."""
        import sys

        pause_gc_for_reading()

        from dflowctl import actions, runs
        from dflowctl.report import run_report
        from dflowctl.viewtext import print_paths

        eng = actions.make_engine(settings_from(engine, namespace, kubeconfig, context))
        run = runs.resolve(eng, name)
        text = run_report(eng, eng.get_run(run))
        if output is not None and str(output) == "-":
            sys.stdout.write(text)
            return 0
        target = output if output is not None else Path(f"{run}.html")
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)
        print_paths([str(target)])
        return 0
