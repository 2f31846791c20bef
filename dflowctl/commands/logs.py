"""`dflowctl logs NAME`: step logs, each line prefixed with its step's name."""

from __future__ import annotations

import typer

from dflowctl.commands._common import (
    CONTEXT_OPT,
    ENGINE_OPT,
    KUBECONFIG_OPT,
    NAMESPACE_OPT,
    Following,
    interruptible,
    settings_from,
)


def register(app: typer.Typer) -> None:
    @app.command("logs")
    def logs_cmd(
        name: str = typer.Argument(..., help="The run's name."),
        step: str | None = typer.Option(
            None, "--step", "-s", help="Only this step (all of its items and attempts)."
        ),
        follow: bool = typer.Option(False, "-f", "--follow", help="Keep printing until the run ends."),
        engine: str | None = ENGINE_OPT,
        namespace: str | None = NAMESPACE_OPT,
        kubeconfig: str | None = KUBECONFIG_OPT,
        context: str | None = CONTEXT_OPT,
    ) -> int:
        """Print the logs of a run's steps."""
        from dflowctl import actions, console

        eng = actions.make_engine(settings_from(engine, namespace, kubeconfig, context))
        printer = console.LogPrinter()
        with interruptible(Following(name)):
            for line in actions.logs(eng, name, step, follow):
                printer.line(line.node_name, line.text)
        return 0
