"""``WorkflowTemplate`` / ``ClusterWorkflowTemplate`` documents in an Argo file, for local runs.

On a cluster, ``spec.workflowTemplateRef`` and a step's or task's ``templateRef`` name
templates stored there. A file may carry them as documents of its own; before a local
run, ``resolve`` does what Argo's controller does with them:

- ``workflowTemplateRef``: the Workflow's spec is joined over the template's
  (Argo's ``JoinWorkflowSpec``): maps merge, the Workflow's values win,
  ``templates`` and ``arguments`` parameters/artifacts merge by name, other lists are
  the Workflow's when it gives them; its entrypoint, else the template's;
- ``templateRef: {name, template, clusterScope}``: the referenced template is copied
  into the Workflow (as ``<template-name>-<template>``, made unique) and the step
  or task calls it; the copy's own steps and tasks call the copies of templates of
  the same WorkflowTemplate, as they would in it. ``workflow.*`` variables stay the
  Workflow's, as in Argo.

A reference to a template the file does not hold stays as it is (the local engine
refuses it up front: ``engines.local.support``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from dflowctl.configmaps import ConfigMaps, of_file
from dflowctl.errors import Location, SpecError, UsageError
from dflowctl.spec.load import YamlDocument
from dflowctl.spec.locate import Source

KINDS = ("WorkflowTemplate", "ClusterWorkflowTemplate")
Key = tuple[bool, str]  # (cluster scope, name)


def key_of(ref: Mapping[str, Any]) -> Key:
    return bool(ref.get("clusterScope")), str(ref.get("name"))


def template_files(given: Sequence[Path]) -> list[Path]:
    """``--templates`` as files: a folder's ``*.yaml``/``*.yml``/``*.json``, sorted."""
    out: list[Path] = []
    for path in given:
        if path.is_dir():
            out += sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml", ".json") and p.is_file())
        elif path.is_file():
            out.append(path)
        else:
            raise UsageError(f"--templates {path}: no such file or folder")
    return out


def gather(path: Path, extra: Sequence[Path] = ()) -> tuple[ConfigMaps, dict[Key, YamlDocument]]:
    """The ConfigMaps and WorkflowTemplates a run of the Workflow in ``path`` can use: its
    own file's, then those of the ``--templates`` files (the first of a name wins)."""
    maps: ConfigMaps = {}
    stored: dict[Key, YamlDocument] = {}
    for i, one in enumerate([path, *extra]):
        for name, data in of_file(one).items():
            maps.setdefault(name, data)
        for key, doc in documents(one, strict=i > 0).items():
            stored.setdefault(key, doc)
    return maps, stored


def documents(path: Path | str, strict: bool = False) -> dict[Key, YamlDocument]:
    """The file's WorkflowTemplate and ClusterWorkflowTemplate documents, with positions.
    A YAML error is a ``SpecError`` when ``strict`` (else the Workflow's loader reports it)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"{path}: cannot read it: {err}") from None
    if "WorkflowTemplate" not in text:
        return {}
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    source = Source(str(path), tuple(text.splitlines()))
    try:
        docs = list(YAML(typ="rt").load_all(text))
    except YAMLError as err:
        if not strict:
            return {}
        mark = getattr(err, "problem_mark", None)
        loc = Location(str(path), mark.line + 1, mark.column + 1) if mark is not None else None
        problem = (getattr(err, "problem", None) or str(err)).strip()
        raise SpecError([source.diagnostic(f"YAML syntax error: {problem}", loc)]) from None
    out: dict[Key, YamlDocument] = {}
    for doc in docs:
        if not isinstance(doc, Mapping) or doc.get("kind") not in KINDS:
            continue
        name = (doc.get("metadata") or {}).get("name")
        if isinstance(name, str) and isinstance(doc.get("spec"), Mapping):
            out[(doc["kind"] == KINDS[1], name)] = YamlDocument(data=doc, source=source, path=Path(path))
    return out


def references(data: Any) -> Iterator[Key]:
    """The WorkflowTemplates ``data`` (a Workflow or a template's tree) refers to."""
    if isinstance(data, list):
        for item in data:
            yield from references(item)
    elif isinstance(data, Mapping):
        for key, value in data.items():
            if key in ("templateRef", "workflowTemplateRef") and isinstance(value, Mapping):
                yield key_of(value)
            else:
                yield from references(value)


def resolve(manifest: dict[str, Any], stored: Mapping[Key, Mapping[str, Any]]) -> None:
    """Join ``workflowTemplateRef`` and inline ``templateRef``s to ``stored`` templates (plain
    documents by key), in place."""
    spec = manifest.get("spec")
    if not isinstance(spec, dict):
        return
    ref = spec.get("workflowTemplateRef")
    if isinstance(ref, Mapping) and key_of(ref) in stored:
        own = {k: v for k, v in spec.items() if k != "workflowTemplateRef"}
        spec = manifest["spec"] = _join(copy.deepcopy(dict(stored[key_of(ref)]["spec"])), own)
    templates = spec.setdefault("templates", [])
    taken = {str(t.get("name")) for t in templates if isinstance(t, Mapping)}
    copies: dict[tuple[Key, str], str] = {}

    def copy_of(key: Key, name: str) -> str | None:
        if (key, name) in copies:
            return copies[(key, name)]
        found = next(
            (
                t
                for t in stored[key]["spec"].get("templates") or []
                if isinstance(t, Mapping) and t.get("name") == name
            ),
            None,
        )
        if found is None:
            return None  # the run reports the missing template, as Argo's controller does
        new = f"{key[1]}-{name}"[:120]
        n = 2
        while new in taken:
            new, n = f"{key[1]}-{name}"[:120] + f"-{n}", n + 1
        taken.add(new)
        copies[(key, name)] = new
        tmpl = copy.deepcopy(dict(found))
        tmpl["name"] = new
        templates.append(tmpl)
        _calls(tmpl, key, copy_of, stored)
        return new

    for tmpl in list(templates):
        if isinstance(tmpl, dict):
            _calls(tmpl, None, copy_of, stored)


def _calls(tmpl: dict[str, Any], home: Key | None, copy_of: Any, stored: Mapping[Key, Any]) -> None:
    """Point each call of ``tmpl`` (a template of the Workflow, or a copy of one of
    WorkflowTemplate ``home``) at the Workflow's copy of what it calls."""
    for holder in _holders(tmpl):
        ref = holder.get("templateRef")
        if isinstance(ref, Mapping) and key_of(ref) in stored:
            name = copy_of(key_of(ref), str(ref.get("template")))
            if name is not None:
                holder.pop("templateRef")
                holder["template"] = name
        elif home is not None and isinstance(holder.get("template"), str):
            name = copy_of(home, holder["template"])
            if name is not None:
                holder["template"] = name
        if isinstance(holder.get("inline"), dict):
            _calls(holder["inline"], home, copy_of, stored)


def _holders(tmpl: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Steps, DAG tasks and their hooks: whatever names a template to run."""
    items: list[Any] = [s for group in tmpl.get("steps") or [] for s in (group or [])]
    items += list((tmpl.get("dag") or {}).get("tasks") or [])
    for item in items:
        if not isinstance(item, dict):
            continue
        yield item
        for hook in (item.get("hooks") or {}).values():
            if isinstance(hook, dict):
                yield hook


_BY_NAME = {("templates",), ("arguments", "parameters"), ("arguments", "artifacts")}


def _join(base: dict[str, Any], over: Mapping[str, Any], at: tuple[str, ...] = ()) -> dict[str, Any]:
    """``over`` joined onto ``base`` (Argo's strategic merge of a Workflow onto its template)."""
    for key, value in over.items():
        here = (*at, key)
        old = base.get(key)
        if isinstance(value, Mapping) and isinstance(old, dict):
            base[key] = _join(old, value, here)
        elif here in _BY_NAME and isinstance(value, list) and isinstance(old, list):
            merged = {str(i.get("name")): i for i in old if isinstance(i, Mapping)}
            for item in value:
                if isinstance(item, Mapping):
                    name = str(item.get("name"))
                    prev = merged.get(name)
                    merged[name] = _join(dict(prev), item) if isinstance(prev, Mapping) else dict(item)
            base[key] = list(merged.values())
        else:
            base[key] = copy.deepcopy(value)
    return base
