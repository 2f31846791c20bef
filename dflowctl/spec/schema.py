"""The packaged JSON Schema of specs, one cached validator, and its errors
turned into readable diagnostics (worded by ``spec.schemawords``).

The schema ships in the wheel as ``dflowctl/_schemas/workflow.schema.json``
(force-included from the repository's ``schemas/``); an editable install reads
the repository's file directly.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dflowctl.errors import Diagnostic

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

    from dflowctl.spec.load import YamlDocument

SCHEMA_NAME = "workflow.schema.json"


def _schema_path() -> Path:
    # beside the package's files, as pip installs a wheel (no importlib.resources:
    # its import costs more than the whole schema check)
    package = Path(__file__).resolve().parents[1]
    packaged = package / "_schemas" / SCHEMA_NAME
    if packaged.is_file():
        return packaged
    return package.parent / "schemas" / SCHEMA_NAME


@lru_cache(maxsize=1)
def schema_text() -> str:
    """The schema file's text, as shipped."""
    return _schema_path().read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    return json.loads(schema_text())  # type: ignore[no-any-return]


@lru_cache(maxsize=1)
def _inlined() -> dict[str, Any]:
    # local `$ref`s inlined: the same schema, validated about twice as fast
    return _inline({k: v for k, v in schema().items() if k != "$defs"}, schema().get("$defs", {}))  # type: ignore[no-any-return]


@lru_cache(maxsize=1)
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(_inlined())


@lru_cache(maxsize=1)
def _fast_check() -> Callable[[Any], bool] | None:
    from dflowctl.spec.fastschema import compile_schema

    return compile_schema(_inlined())


def conforms(data: Any) -> bool:
    """True when ``data`` surely conforms to the schema, without importing
    ``jsonschema`` (``spec.fastschema``); False when it may not."""
    check = _fast_check()
    return check is not None and check(data)


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """Replace each ``{"$ref": "#/$defs/X", ...}`` by X merged with the siblings
    (the schema only puts annotations such as ``description`` beside a ``$ref``,
    and has no recursive definition)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            merged = dict(_inline(defs[ref[len("#/$defs/") :]], defs))
            merged.update({k: _inline(v, defs) for k, v in node.items() if k != "$ref"})
            return merged
        return {k: _inline(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def schema_diagnostics(doc: YamlDocument) -> list[Diagnostic]:
    """Every schema problem of a loaded spec, one diagnostic each."""
    foreign = _foreign_document(doc)
    if foreign is not None:
        return [foreign]
    if conforms(doc.data):
        return []
    from dflowctl.spec.schemawords import error_diagnostics, suggest

    errors = list(_flatten(_validator().iter_errors(doc.data)))
    typed = {tuple(e.absolute_path) for e in errors if e.validator == "type"}
    # a missing key that an unknown key next to it is a misspelling of is one problem, not two
    misspelt: set[tuple[Any, ...]] = set()
    for e in errors:
        if e.validator == "additionalProperties" and isinstance(e.instance, dict):
            allowed = list((e.schema.get("properties") or {}).keys())
            for key in e.instance:
                if key not in allowed:
                    guess = suggest(str(key), allowed)
                    if guess is not None:
                        misspelt.add((*e.absolute_path, guess))
    seen: set[tuple[Any, ...]] = set()
    out: list[Diagnostic] = []
    for err in errors:
        path = tuple(err.absolute_path)
        if path in typed and err.validator != "type":
            continue
        if err.validator == "required" and isinstance(err.instance, dict):
            names = [n for n in err.validator_value if n not in err.instance and (*path, n) not in misspelt]
            if not names:
                continue
        for diag in error_diagnostics(err, doc, misspelt):
            key = (diag.location, diag.message)
            if key not in seen:
                seen.add(key)
                out.append(diag)
    return out


def _foreign_document(doc: YamlDocument) -> Diagnostic | None:
    """Another kind of YAML document (a Kubernetes object, ...): one problem, not a
    list of every key that a spec does not have."""
    api = doc.data.get("apiVersion")
    if not isinstance(api, str) or api.startswith("dflowctl/") or api.startswith("argoproj.io"):
        return None
    kind = doc.data.get("kind")
    what = f"apiVersion `{api}`" + (f", kind `{kind}`" if isinstance(kind, str) else "")
    return doc.diagnostic(
        f"not a dflowctl spec ({what})",
        doc.loc(["apiVersion"]),
        "a dflowctl spec starts with `apiVersion: dflowctl/v1alpha1` and `kind: Workflow`",
    )


def _flatten(errors: Iterator[ValidationError]) -> Iterator[ValidationError]:
    """anyOf/oneOf are not used by the schema (if/then/else on the type is), but
    keep their most relevant branch errors if one ever appears."""
    for err in errors:
        if err.validator in ("anyOf", "oneOf") and err.context:
            from jsonschema.exceptions import best_match

            best = best_match(err.context)
            yield best if best is not None else err
        else:
            yield err
