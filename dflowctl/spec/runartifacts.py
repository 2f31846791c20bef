"""Workflow artifacts chosen when the run starts: ``--artifact NAME=PATH`` (repeatable)
and, in ``--parameter-file``, an entry named after a workflow artifact.

A local path from the command line is relative to the current folder, one from a
parameter file to that file's folder; ``s3://BUCKET/KEY`` and ``http(s)://…`` are
taken as they are. The value replaces the spec's source, so the run uploads
(argo) or links (local) it like a declared one. ``--artifact`` wins over the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from dflowctl.errors import UsageError
from dflowctl.spec import model as m
from dflowctl.spec.values import REMOTE_SCHEMES, artifact_source_problem, did_you_mean, listing


def parse_artifact_pairs(pairs: Iterable[str]) -> dict[str, str]:
    """``["data=./dir"]`` → ``{"data": "./dir"}`` (split at the first ``=``)."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise UsageError(
                f"--artifact expects NAME=PATH, not `{pair}`", hint="e.g. --artifact data=./other-dir"
            )
        out[name.strip()] = value.strip()
    return out


def artifact_names(wf: m.Workflow) -> set[str]:
    return {a.name for a in wf.artifacts}


def _source(wf: m.Workflow, name: str, value: object, origin: str, base: Path) -> str:
    if all(a.name != name for a in wf.artifacts):
        names = sorted(artifact_names(wf))
        raise UsageError(
            f"{origin}: the workflow has no artifact `{name}`",
            hint=did_you_mean(name, names)
            or (f"its artifacts: {listing(names)}" if names else "declare it under spec.artifacts"),
        )
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{origin}: workflow artifact `{name}` needs a path, s3://BUCKET/KEY or http(s)://…")
    text = value.strip()
    problem = artifact_source_problem(text)
    if problem is not None:
        message, hint = problem
        raise UsageError(f"{origin}: workflow artifact `{name}`{message}", hint=hint)
    if text.startswith(REMOTE_SCHEMES):
        return text
    path = Path(text).expanduser()
    path = path if path.is_absolute() else (base / path)
    if not path.exists():
        raise UsageError(f"{origin}: workflow artifact `{name}`: {text} does not exist")
    return str(path.resolve())


def artifact_sources(
    wf: m.Workflow,
    pairs: Mapping[str, str] | None = None,
    file_values: Mapping[str, Any] | None = None,
    parameter_file: Path | None = None,
) -> dict[str, str]:
    """The checked sources given for the workflow's artifacts (local paths made absolute)."""
    sources: dict[str, str] = {}
    if file_values and parameter_file is not None:
        origin = f"--parameter-file {parameter_file}"
        base = Path(parameter_file).resolve().parent
        for name, value in file_values.items():
            sources[name] = _source(wf, name, value, origin, base)
    for name, value in (pairs or {}).items():
        sources[name] = _source(wf, name, value, "--artifact", Path.cwd())
    return sources


def with_artifact_sources(wf: m.Workflow, sources: Mapping[str, str]) -> m.Workflow:
    """``wf`` whose workflow artifacts take ``sources`` (from ``artifact_sources``)."""
    if not sources:
        return wf
    arts = tuple(replace(a, source=sources[a.name]) if a.name in sources else a for a in wf.artifacts)
    return replace(wf, artifacts=arts)


def apply_artifacts(
    wf: m.Workflow, pairs: Mapping[str, str] | None, parameter_file: Path | None
) -> m.Workflow:
    """``wf`` with ``--artifact`` pairs and the artifact entries of ``parameter_file`` applied."""
    if not pairs and (parameter_file is None or not wf.artifacts):
        return wf
    from dflowctl.spec.params import read_parameter_file

    names = artifact_names(wf)
    in_file = (
        {k: v for k, v in read_parameter_file(Path(parameter_file)).items() if k in names}
        if parameter_file is not None
        else {}
    )
    return with_artifact_sources(wf, artifact_sources(wf, pairs, in_file, parameter_file))
