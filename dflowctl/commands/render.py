"""`dflowctl render SPEC`: print the Argo Workflow that `run -e argo` would submit."""

from __future__ import annotations

from pathlib import Path

import typer

from dflowctl.errors import UsageError

FORMATS = ("yaml", "json")


def register(app: typer.Typer) -> None:
    @app.command("render")
    def render_cmd(
        spec: Path = typer.Argument(..., help="A dflowctl workflow spec, or an Argo Workflow file."),
        parameter: list[str] = typer.Option([], "-p", "--parameter", help="Set a parameter: NAME=VALUE."),
        parameter_file: Path | None = typer.Option(
            None, "--parameter-file", "-f", help="A YAML/JSON file of parameter values."
        ),
        output: str = typer.Option("yaml", "-o", "--output", help="Output format: yaml or json."),
    ) -> int:
        """Print the Argo Workflow (argoproj.io/v1alpha1) rendered from a spec."""
        import sys

        from dflowctl.render.dump import dump_json, dump_yaml

        if output not in FORMATS:
            raise UsageError(f"unknown output format {output!r}", hint="use one of: yaml, json")
        from dflowctl import actions, console

        # an Argo file is printed as it is, with -p applied to its arguments
        manifest, warnings = actions.render_file(spec, parameter, parameter_file)
        for warning in warnings:
            console.info(f"warning: {warning}")
        sys.stdout.write(dump_json(manifest) if output == "json" else dump_yaml(manifest))
        return 0
