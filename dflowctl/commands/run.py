"""`dflowctl run SPEC`: validate, render, submit; with --wait follow it and exit with its result."""

from __future__ import annotations

from pathlib import Path

import typer

from dflowctl.commands._common import (
    CONTEXT_OPT,
    ENGINE_OPT,
    KUBECONFIG_OPT,
    NAMESPACE_OPT,
    OUTPUT_OPT,
    address_flags,
    check_output,
    default_wait,
    follow,
    settings_from,
)
from dflowctl.errors import UsageError


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run_cmd(
        spec: Path = typer.Argument(..., help="A dflowctl spec, or an Argo Workflow file."),
        parameter: list[str] = typer.Option([], "-p", "--parameter", help="Set a parameter: NAME=VALUE."),
        parameter_file: Path | None = typer.Option(
            None, "--parameter-file", "-f", help="A YAML/JSON file of parameter values."
        ),
        engine: str | None = ENGINE_OPT,
        parallelism: int | None = typer.Option(
            None, "--parallelism", min=1, help="Steps at once (local engine; default: CPU count)."
        ),
        wait: bool | None = typer.Option(
            None,
            "--wait/--no-wait",
            help="Follow the run to its end (default: always for local; for argo on a terminal and in CI).",
        ),
        output: str = OUTPUT_OPT,
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the manifest; submit nothing."),
        server_dry_run: bool = typer.Option(
            False, "--server-dry-run", help="Ask the API server to check the Workflow (argo engine)."
        ),
        python: str | None = typer.Option(
            None,
            "--python",
            help="The Python that runs Python ops (local engine; env DFLOWCTL_PYTHON). "
            "An op's `local:` and the config's image mapping come first.",
        ),
        namespace: str | None = NAMESPACE_OPT,
        kubeconfig: str | None = KUBECONFIG_OPT,
        context: str | None = CONTEXT_OPT,
    ) -> int:
        """Run a workflow and show it live; exit 0 if it succeeded, 1 if it failed."""
        from dflowctl import actions, console
        from dflowctl.engines import OnUpdate, RunOptions, Workflow

        fmt = check_output(output)
        settings = settings_from(engine, namespace, kubeconfig, context, python=python)
        if server_dry_run and settings.engine != "argo":
            raise UsageError("--server-dry-run needs the argo engine", hint="add -e argo")
        with actions.prepared_manifest(spec, parameter, parameter_file, settings.engine) as prepared:
            for warning in prepared.warnings:
                console.info(f"warning: {warning}")
            if dry_run:
                console.print_object(prepared.manifest, "json" if fmt == "json" else "yaml")
                return 0
            eng = actions.make_engine(settings)
            if server_dry_run:
                options = RunOptions(wait=False, server_dry_run=True)
                console.print_object(
                    actions.submit(eng, prepared, options), "json" if fmt == "json" else "yaml"
                )
                return 0
            do_wait = default_wait(settings.engine) if wait is None else wait
            pythons = {}
            if settings.engine == "local":
                chosen = actions.python_plan(prepared, settings, python_flag=python is not None)
                pythons = {name: i.to_json() for name, i in chosen.items()}

            def start(on_update: OnUpdate | None) -> Workflow:
                options = RunOptions(
                    wait=do_wait, parallelism=parallelism, on_update=on_update, pythons=pythons
                )
                return actions.submit(eng, prepared, options)

            flags = address_flags(engine, namespace, kubeconfig, context)
            return follow(start, fmt, do_wait, settings.engine, flags)
