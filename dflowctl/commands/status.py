"""`dflowctl status [NAME]`: the list of runs, or one run's step tree."""

from __future__ import annotations

import typer

from dflowctl.argo.phases import is_finished
from dflowctl.commands._common import (
    CONTEXT_OPT,
    ENGINE_OPT,
    KUBECONFIG_OPT,
    NAMESPACE_OPT,
    OUTPUT_OPT,
    Following,
    address_flags,
    check_output,
    interruptible,
    settings_from,
)
from dflowctl.errors import UsageError


def register(app: typer.Typer) -> None:
    @app.command("status")
    def status_cmd(
        name: str | None = typer.Argument(None, help="A run's name; without it, list the runs."),
        engine: str | None = ENGINE_OPT,
        output: str = OUTPUT_OPT,
        watch: bool = typer.Option(False, "-w", "--watch", help="Follow the run until it ends."),
        namespace: str | None = NAMESPACE_OPT,
        kubeconfig: str | None = KUBECONFIG_OPT,
        context: str | None = CONTEXT_OPT,
    ) -> int:
        """List runs, or show one run's steps with phases, durations and messages."""
        from dflowctl import actions, console

        fmt = check_output(output)
        eng = actions.make_engine(settings_from(engine, namespace, kubeconfig, context))
        if name is None:
            if watch:
                raise UsageError("--watch needs a run name", hint="dflowctl status NAME --watch")
            runs = eng.list_runs()
            if fmt == "table":
                console.print_runs(runs)
            else:
                console.print_object(runs, fmt)
            return 0
        workflow = eng.get_run(name)
        if watch and not is_finished(workflow):
            following = Following(name)
            if fmt == "table":
                with interruptible(following), console.RunView() as view:
                    view.named = True  # the name is the argument
                    workflow = eng.watch(name, view.update)
            else:
                with interruptible(following):
                    workflow = eng.watch(name, following.note)
        if fmt == "table":
            console.print_run_detail(workflow, address_flags(engine, namespace, kubeconfig, context))
        else:
            console.print_object(workflow, fmt)
        return 0
