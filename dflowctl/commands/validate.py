"""`dflowctl validate SPEC...`: check specs; every problem as FILE:LINE:COL, exit 2 if any."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from dflowctl.errors import EXIT_BAD_INPUT, Diagnostic

if TYPE_CHECKING:
    from dflowctl.pyenv.choose import Context

FORMATS = ("text", "json", "github")


def validate_files(
    specs: list[Path], warnings: list[tuple[str, Diagnostic]] | None = None
) -> list[tuple[str, list[Diagnostic]]]:
    """(file as given, its problems) for each spec; no problems means valid.
    What is worth saying but not wrong (unreadable op code, ...) goes to ``warnings``."""
    from dflowctl.errors import SpecError
    from dflowctl.pyenv.choose import context_of
    from dflowctl.settings import load_settings

    python = context_of(load_settings())  # an installed op library is looked up in the op's Python
    results: list[tuple[str, list[Diagnostic]]] = []
    for spec in specs:
        try:
            found = _check_one(spec, python)
            results.append((str(spec), []))
            if warnings is not None:
                warnings.extend((str(spec), w) for w in found)
        except SpecError as err:
            results.append((str(spec), err.diagnostics))
    return results


def _check_one(spec: Path, python: Context) -> tuple[Diagnostic, ...]:
    """Load the file once (``inputs.load_input``); an Argo Workflow file gets Argo's
    structural checks (``argofile``), anything else is a dflowctl spec (its warnings
    are returned)."""
    from dflowctl.errors import SpecError
    from dflowctl.inputs import load_input
    from dflowctl.spec import validate_document

    loaded = load_input(spec)
    if loaded.argo:
        from dflowctl import argofile

        problems = argofile.check(loaded.doc)
        if problems:
            raise SpecError(problems)
        return ()
    return validate_document(loaded.doc, python=python).warnings


def _github_escape(text: str, *, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def _github_line(file: str, diag: Diagnostic) -> str:
    props = [f"file={_github_escape(diag.location.file if diag.location else file, prop=True)}"]
    if diag.location is not None:
        props += [f"line={diag.location.line}", f"col={diag.location.col}"]
    message = diag.message + (f" (hint: {diag.hint})" if diag.hint else "")
    return f"::error {','.join(props)}::{_github_escape(message)}"


def _json_item(file: str, diag: Diagnostic) -> dict[str, object]:
    loc = diag.location
    return {
        "file": loc.file if loc else file,
        "line": loc.line if loc else None,
        "col": loc.col if loc else None,
        "message": diag.message,
        "hint": diag.hint,
    }


def report(
    results: list[tuple[str, list[Diagnostic]]],
    fmt: str,
    warnings: list[tuple[str, Diagnostic]] | None = None,
) -> int:
    """Print the results in ``fmt``; the exit code (0, or 2 when any spec has a problem)."""
    problems = sum(len(d) for _, d in results)
    warned = warnings or []
    if fmt == "json":
        items = [_json_item(file, d) for file, diags in results for d in diags]
        items += [{**_json_item(file, w), "severity": "warning"} for file, w in warned]
        sys.stdout.write(json.dumps(items, indent=2) + "\n")
    elif fmt == "github":
        for file, diags in results:
            for d in diags:
                sys.stdout.write(_github_line(file, d) + "\n")
        for file, w in warned:
            sys.stdout.write(_github_line(file, w).replace("::error", "::warning", 1) + "\n")
    else:
        for _, w in warned:
            sys.stderr.write("warning: " + w.format() + "\n")
        for file, diags in results:
            if diags:
                sys.stderr.write("\n".join(d.format() for d in diags) + "\n")
            else:
                sys.stdout.write(f"{file}: ok\n")
        if problems > 1:
            bad = sum(1 for _, d in results if d)
            sys.stderr.write(f"{problems} problems found" + (f" in {bad} files" if bad > 1 else "") + "\n")
    sys.stdout.flush()
    return EXIT_BAD_INPUT if problems else 0


def register(app: typer.Typer) -> None:
    @app.command("validate")
    def validate_cmd(
        specs: list[Path] = typer.Argument(..., help="Spec files to check.", show_default=False),
        fmt: str = typer.Option("text", "--format", "-f", help="Output: text, json or github (annotations)."),
    ) -> None:
        """Check specs: every problem with FILE:LINE:COL; exit 2 if any."""
        if fmt not in FORMATS:
            from dflowctl.errors import UsageError

            raise UsageError(f"--format must be one of {', '.join(FORMATS)}, not `{fmt}`")
        warnings: list[tuple[str, Diagnostic]] = []
        code = report(validate_files(specs, warnings), fmt, warnings)
        if code:
            raise typer.Exit(code)
