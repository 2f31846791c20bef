"""`dflowctl schema`: print the spec JSON Schema (for editors and CI)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("schema")
    def schema_cmd() -> None:
        """Print the JSON Schema of dflowctl workflow specs."""
        from dflowctl.spec.schema import schema_text

        typer.echo(schema_text(), nl=False)
