"""A fast yes-or-unsure check of a document against the spec's JSON Schema.

Valid specs are the common case, and importing ``jsonschema`` (with
``referencing``, ``rpds`` and ``attrs``) costs more than the whole check. So
the schema is compiled here into plain closures that answer one question: does
the document conform? They follow Draft 2020-12 exactly as ``jsonschema``
applies it (its type checker, its ``equal`` for ``enum`` / ``const``), for the
keywords the schema uses. Only a yes is trusted: a no (or anything odd: an
exception, a deep document) sends the caller to ``jsonschema`` for the errors,
and a schema with a keyword not implemented here is not compiled at all.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Check = Callable[[Any], bool]

# keywords that never make a document invalid (`then`/`else` are read by `if`)
ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "$defs",
        "title",
        "description",
        "default",
        "examples",
        "deprecated",
        "readOnly",
        "writeOnly",
        "then",
        "else",
    }
)


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, bool)


TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": _is_integer,
    "number": _is_number,
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


class Unsupported(Exception):
    """The schema uses something this module does not implement."""


def compile_schema(schema: Any) -> Check | None:
    """``check(document) -> True`` when the document conforms to ``schema``;
    ``False`` when it does not, or may not. ``None`` when the schema (with no
    ``$ref`` left) uses a keyword not implemented here."""
    try:
        check = _compile(schema)
    except (Unsupported, re.error, RecursionError):
        return None

    def conforms(document: Any) -> bool:
        try:
            return check(document)
        except Exception:  # unhashable keys, too deep, ...: let jsonschema tell
            return False

    return conforms


def _unbool(value: Any, true: object = object(), false: object = object()) -> Any:
    if value is True:
        return true
    if value is False:
        return false
    return value


def equal(one: Any, two: Any) -> bool:
    """Equality as JSON Schema (and ``jsonschema``) sees it: ``true`` is not ``1``."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, Sequence) and isinstance(two, Sequence):
        return len(one) == len(two) and all(equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, Mapping) and isinstance(two, Mapping):
        return len(one) == len(two) and all(k in two and equal(v, two[k]) for k, v in one.items())
    return bool(_unbool(one) == _unbool(two))


def _compile(schema: Any) -> Check:
    if schema is True:
        return lambda v: True
    if schema is False:
        return lambda v: False
    if not isinstance(schema, dict):
        raise Unsupported(f"schema {schema!r}")
    checks: list[Check] = []
    for key, value in schema.items():
        if key in ANNOTATIONS:
            continue
        make = _KEYWORDS.get(key)
        if make is None:
            raise Unsupported(key)
        checks.append(make(value, schema))
    if not checks:
        return lambda v: True
    if len(checks) == 1:
        return checks[0]
    return lambda v: all(check(v) for check in checks)


def _type(types: Any, schema: dict[str, Any]) -> Check:
    names = types if isinstance(types, list) else [types]
    if any(name not in TYPES for name in names):
        raise Unsupported(f"type {types!r}")
    tests = [TYPES[name] for name in names]
    if len(tests) == 1:
        return tests[0]
    return lambda v: any(test(v) for test in tests)


def _properties(properties: Any, schema: dict[str, Any]) -> Check:
    if not isinstance(properties, dict):
        raise Unsupported("properties")
    subs = [(name, _compile(sub)) for name, sub in properties.items()]

    def check(v: Any) -> bool:
        if not isinstance(v, dict):
            return True
        return all(check_one(v[name]) for name, check_one in subs if name in v)

    return check


def _additional_properties(extra: Any, schema: dict[str, Any]) -> Check:
    if "patternProperties" in schema:
        raise Unsupported("patternProperties")
    known = schema.get("properties", {})
    if extra is False:
        return lambda v: not isinstance(v, dict) or all(key in known for key in v)
    sub = _compile(extra)

    def check(v: Any) -> bool:
        if not isinstance(v, dict):
            return True
        return all(sub(value) for key, value in v.items() if key not in known)

    return check


def _required(names: Any, schema: dict[str, Any]) -> Check:
    if not isinstance(names, list):
        raise Unsupported("required")
    return lambda v: not isinstance(v, dict) or all(name in v for name in names)


def _enum(choices: Any, schema: dict[str, Any]) -> Check:
    if not isinstance(choices, list):
        raise Unsupported("enum")
    return lambda v: any(equal(choice, v) for choice in choices)


def _const(value: Any, schema: dict[str, Any]) -> Check:
    return lambda v: equal(v, value)


def _items(items: Any, schema: dict[str, Any]) -> Check:
    if "prefixItems" in schema:
        raise Unsupported("prefixItems")
    sub = _compile(items)
    return lambda v: not isinstance(v, list) or all(sub(item) for item in v)


def _min_items(least: Any, schema: dict[str, Any]) -> Check:
    return lambda v: not isinstance(v, list) or len(v) >= least


def _min_length(least: Any, schema: dict[str, Any]) -> Check:
    return lambda v: not isinstance(v, str) or len(v) >= least


def _minimum(least: Any, schema: dict[str, Any]) -> Check:
    return lambda v: not _is_number(v) or not v < least


def _max_items(most: Any, schema: dict[str, Any]) -> Check:
    return lambda v: not isinstance(v, list) or len(v) <= most


def _max_length(most: Any, schema: dict[str, Any]) -> Check:
    return lambda v: not isinstance(v, str) or len(v) <= most


def _min_properties(least: Any, schema: dict[str, Any]) -> Check:
    return lambda v: not isinstance(v, dict) or len(v) >= least


def _max_properties(most: Any, schema: dict[str, Any]) -> Check:
    return lambda v: not isinstance(v, dict) or len(v) <= most


def _maximum(most: Any, schema: dict[str, Any]) -> Check:
    return lambda v: not _is_number(v) or not v > most


def _exclusive_minimum(bound: Any, schema: dict[str, Any]) -> Check:
    return lambda v: not _is_number(v) or not v <= bound


def _exclusive_maximum(bound: Any, schema: dict[str, Any]) -> Check:
    return lambda v: not _is_number(v) or not v >= bound


def _pattern(pattern: Any, schema: dict[str, Any]) -> Check:
    if not isinstance(pattern, str):
        raise Unsupported("pattern")
    search = re.compile(pattern).search
    return lambda v: not isinstance(v, str) or search(v) is not None


def _subschemas(subs: Any) -> list[Check]:
    if not isinstance(subs, list):
        raise Unsupported("a list of subschemas")
    return [_compile(sub) for sub in subs]


def _all_of(subs: Any, schema: dict[str, Any]) -> Check:
    checks = _subschemas(subs)
    return lambda v: all(check(v) for check in checks)


def _any_of(subs: Any, schema: dict[str, Any]) -> Check:
    checks = _subschemas(subs)
    return lambda v: any(check(v) for check in checks)


def _one_of(subs: Any, schema: dict[str, Any]) -> Check:
    checks = _subschemas(subs)
    return lambda v: sum(1 for check in checks if check(v)) == 1


def _not(sub: Any, schema: dict[str, Any]) -> Check:
    check = _compile(sub)
    return lambda v: not check(v)


def _if(condition: Any, schema: dict[str, Any]) -> Check:
    test = _compile(condition)
    then = _compile(schema["then"]) if "then" in schema else None
    otherwise = _compile(schema["else"]) if "else" in schema else None

    def check(v: Any) -> bool:
        branch = then if test(v) else otherwise
        return branch is None or branch(v)

    return check


_KEYWORDS: dict[str, Callable[[Any, dict[str, Any]], Check]] = {
    "type": _type,
    "properties": _properties,
    "additionalProperties": _additional_properties,
    "required": _required,
    "enum": _enum,
    "const": _const,
    "items": _items,
    "minItems": _min_items,
    "minLength": _min_length,
    "minimum": _minimum,
    "maxItems": _max_items,
    "maxLength": _max_length,
    "minProperties": _min_properties,
    "maxProperties": _max_properties,
    "maximum": _maximum,
    "exclusiveMinimum": _exclusive_minimum,
    "exclusiveMaximum": _exclusive_maximum,
    "pattern": _pattern,
    "allOf": _all_of,
    "anyOf": _any_of,
    "oneOf": _one_of,
    "not": _not,
    "if": _if,
}
