"""`dflowctl outputs NAME`: output parameters, one row per step and per fan-out item."""

from __future__ import annotations

import typer

from dflowctl.commands._common import (
    CONTEXT_OPT,
    ENGINE_OPT,
    KUBECONFIG_OPT,
    NAMESPACE_OPT,
    complete_run,
    settings_from,
)
from dflowctl.errors import UsageError

FORMATS = ("table", "csv", "json")


def register(app: typer.Typer) -> None:
    @app.command("outputs")
    def outputs_cmd(
        name: str = typer.Argument(..., help="The run's name (or @latest).", autocompletion=complete_run),
        step: str | None = typer.Option(None, "--step", "-s", help="Only this step (all of its items)."),
        output: str = typer.Option("table", "-o", "--output", help="table, csv or json."),
        engine: str | None = ENGINE_OPT,
        namespace: str | None = NAMESPACE_OPT,
        kubeconfig: str | None = KUBECONFIG_OPT,
        context: str | None = CONTEXT_OPT,
    ) -> int:
        """Print output parameters: one row per step, one per item of a fan-out (with the item)."""
        from dflowctl import actions, console, results, runs

        if output not in FORMATS:
            raise UsageError(f"unknown output format {output!r}", hint="use one of: " + ", ".join(FORMATS))
        eng = actions.make_engine(settings_from(engine, namespace, kubeconfig, context))
        workflow = eng.get_run(runs.resolve(eng, name))
        if step is not None:
            from dflowctl.download import find_steps

            find_steps(workflow, step)  # an unknown step: NotFoundError with a did-you-mean
        rows = results.output_rows(workflow, step)
        if output == "json":
            console.print_object(results.as_records(workflow, rows), "json")
            return 0
        cols = results.columns(rows)
        header = ["step", "index", "item", "phase", *cols]
        cells = [
            [r.step, "" if r.index is None else str(r.index), r.item or "", r.phase]
            + [r.values.get(c, "") for c in cols]
            for r in rows
        ]
        if output == "csv":
            console.print_csv([header, *cells])
        else:
            console.print_table(header, cells)
        if not rows:
            console.info("no output parameters" + (f" in step {step!r}" if step else ""))
        return 0
