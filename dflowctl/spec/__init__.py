"""The spec front end: load → JSON Schema → typed model → semantic checks.

``load_spec`` is the one entry point; it raises ``SpecError`` holding every
problem found (each with FILE:LINE:COL), or ``UsageError`` for bad ``-p`` /
``--parameter-file`` values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from dflowctl.errors import Diagnostic, SpecError
from dflowctl.spec import model
from dflowctl.spec.load import YamlDocument, load_yaml
from dflowctl.spec.locate import gc_paused

if TYPE_CHECKING:
    from dflowctl.pyenv.choose import Context

__all__ = ["YamlDocument", "load_spec", "load_yaml", "validate_document"]


def validate_document(
    doc: YamlDocument, spec_path: Path | None = None, python: Context | None = None
) -> model.Workflow:
    """A loaded document → the checked model; ``SpecError`` with all problems. ``python``:
    the settings' part of the rule for which Python runs a local op (an installed op
    library is looked up in it)."""
    from dflowctl.spec.build import build_workflow
    from dflowctl.spec.checks import check_workflow
    from dflowctl.spec.schema import schema_diagnostics

    with gc_paused():
        problems = schema_diagnostics(doc)
        if problems:
            raise SpecError(problems)
        from dflowctl.spec.metachecks import metadata_diagnostics

        meta_problems = metadata_diagnostics(doc)
        wf, problems = build_workflow(doc, (spec_path or doc.path).absolute())
        warnings: list[Diagnostic] = []
        if not problems:
            from dflowctl.spec.opcode import apply_code

            wf, code_problems, warnings = apply_code(wf, doc.source, python)
            problems += code_problems
        problems += meta_problems
        problems += check_workflow(wf, doc.source)
    if problems:
        raise SpecError(problems)
    return replace(wf, warnings=tuple(warnings)) if warnings else wf


def load_spec(
    path: Path | str,
    overrides: Mapping[str, str] | None = None,
    parameter_file: Path | None = None,
    artifacts: Mapping[str, str] | None = None,
) -> model.Workflow:
    """Load, validate and check a spec file; apply ``-p`` / ``--parameter-file`` values
    and ``--artifact NAME=PATH`` sources (``artifacts``; also read from the file)."""
    doc = load_yaml(path)
    wf = validate_document(doc)
    if overrides or parameter_file is not None:
        from dflowctl.spec.params import apply_parameters

        wf = apply_parameters(wf, overrides, parameter_file)
    if artifacts or parameter_file is not None:
        from dflowctl.spec.runartifacts import apply_artifacts

        wf = apply_artifacts(wf, artifacts, parameter_file)
    return wf
