"""Plain Argo ``Workflow`` files: load with positions, check structurally, check
what the local engine can run.

``load(path)`` returns the Workflow as plain dicts and lists, exactly as written
(``-p`` values are applied by ``actions.argo_manifest``); every structural
problem is a ``SpecError`` diagnostic with FILE:LINE:COL. ``check_local(path)``
raises ``NotSupportedError`` listing what the local engine cannot do on this
host (``engines.local.support``), before anything runs. The structural rules
themselves are ``argochecks``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dflowctl.argochecks import API_VERSION, KIND, check, diag_at
from dflowctl.errors import Diagnostic, Location, NotSupportedError, SpecError
from dflowctl.spec.load import YamlDocument, load_yaml


def looks_like_argo_workflow(data: Any) -> bool:
    """A loaded top level that is an Argo object (``apiVersion: argoproj.io/...``)."""
    return isinstance(data, Mapping) and str(data.get("apiVersion", "")).startswith("argoproj.io/")


def load_document(path: Path | str) -> YamlDocument:
    """The file's Workflow document with positions; a file of several YAML documents
    (as some Argo examples are) gives its one ``kind: Workflow`` document."""
    try:
        return load_yaml(path)
    except SpecError as err:
        if not err.diagnostics or "YAML documents" not in err.diagnostics[0].message:
            raise
        return workflow_of_many(Path(path), err)


def workflow_of_many(path: Path, several: SpecError) -> YamlDocument:
    """The ``kind: Workflow`` document of a file of several documents, when one of them
    is an Argo object; else ``several`` (the loader's "several documents" error)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    from dflowctl.spec.load import read_text

    text, source = read_text(path, str(path))
    try:
        docs = [d for d in YAML(typ="rt").load_all(text) if isinstance(d, Mapping)]
    except YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        loc = Location(str(path), mark.line + 1, mark.column + 1) if mark is not None else None
        problem = (getattr(err, "problem", None) or str(err)).strip()
        raise SpecError([source.diagnostic(f"YAML syntax error: {problem}", loc)]) from None
    if not any(looks_like_argo_workflow(d) for d in docs):
        raise several
    flows = [d for d in docs if d.get("kind") == KIND]
    if not flows:
        raise SpecError([Diagnostic(f"{path}: the file holds no `kind: Workflow` document")])
    if len(flows) > 1:
        second = flows[1]
        lc = getattr(second, "lc", None)
        loc = Location(str(path), lc.line + 1 if lc else 1, 1)
        raise NotSupportedError(
            [
                source.diagnostic(
                    f"not supported: {len(flows)} Workflow documents in one file",
                    loc,
                    "put each workflow in its own file",
                )
            ]
        )
    return YamlDocument(data=flows[0], source=source, path=path)


def plain(value: Any) -> Any:
    """ruamel's containers and scalars as plain dicts, lists, str, int, float, bool."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return str(value)  # timestamps and other tagged scalars: text, as Kubernetes' YAML-to-JSON gives


def load(path: Path | str) -> dict[str, Any]:
    """The Workflow in ``path`` as plain data, after the structural checks."""
    return manifest(load_document(path))


def manifest(doc: YamlDocument) -> dict[str, Any]:
    """A loaded Workflow document as plain data, after the structural checks."""
    problems = check(doc)
    if problems:
        raise SpecError(problems)
    out: dict[str, Any] = plain(doc.data)
    return out


def check_local(path: Path | str, extra: Sequence[Path] = ()) -> None:
    """Raise ``NotSupportedError`` (every reason, with positions) when the local engine
    cannot run the Workflow in ``path`` on this host (``extra``: ``--templates`` files)."""
    check_local_document(load_document(path), extra)


def check_local_document(doc: YamlDocument, extra: Sequence[Path] = ()) -> None:
    """``check_local`` for a loaded document."""
    from dflowctl import wftemplates
    from dflowctl.engines.local.machine import oversized_templates
    from dflowctl.engines.local.support import unsupported

    maps, stored = wftemplates.gather(doc.path, extra)

    def held(ref: Any) -> bool:
        return isinstance(ref, Mapping) and wftemplates.key_of(ref) in stored

    problems = unsupported(doc.data, lambda p: diag_at(doc, p), configmaps=maps, held=held)
    # the WorkflowTemplates the run uses, checked the same way at their own places
    used, todo = set(), list(wftemplates.references(doc.data))
    while todo:
        key = todo.pop()
        if key in stored and key not in used:
            used.add(key)
            todo += wftemplates.references(stored[key].data)
    for key in sorted(used):
        at = functools.partial(diag_at, stored[key])
        problems += unsupported(stored[key].data, at, configmaps=maps, held=held)
    if problems:
        raise NotSupportedError(problems)
    spec = doc.data.get("spec") if isinstance(doc.data, Mapping) else None
    templates = spec.get("templates") if isinstance(spec, Mapping) else None
    tlist: list[Any] = templates if isinstance(templates, list) else []
    too_big = []
    for i, where, why in oversized_templates(tlist):
        loc, line = diag_at(doc, ["spec", "templates", i, *where])
        name = tlist[i].get("name")
        too_big.append(Diagnostic(f"template '{name}' {why}", loc, MACHINE_HINT, line))
    if too_big:
        raise SpecError(too_big)


MACHINE_HINT = "the local engine runs every pod on this machine: lower the request, or use `-e argo`"


__all__ = ["API_VERSION", "KIND", "MACHINE_HINT", "check", "load", "manifest", "plain"]
