"""spec.fastschema must agree with jsonschema: its yes skips jsonschema entirely.

Checked on every spec the repository holds, on many mutations of them (a key
removed or added, a value of another type), and keyword by keyword.
"""

from __future__ import annotations

import copy
import random
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from dflowctl.errors import SpecError
from dflowctl.spec import load_yaml
from dflowctl.spec.fastschema import compile_schema, equal
from dflowctl.spec.schema import _inlined, conforms
from tests.conftest import REPO

SPEC_FILES = sorted(
    [*(REPO / "specs").glob("*.yaml"), *(REPO / "tests" / "data").glob("*/*.yaml")],
    key=str,
)
ODD_VALUES: list[Any] = [
    None,
    0,
    1,
    -1,
    2.0,
    1.5,
    True,
    False,
    "",
    "x",
    "1",
    "Workflow",
    [],
    [1],
    {},
    {"a": 1},
]


def _documents() -> Iterator[Any]:
    for path in SPEC_FILES:
        try:
            yield load_yaml(path).data
        except SpecError:  # not loadable YAML: nothing to validate
            continue


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*prefix, i))


def _mutants(doc: Any, rng: random.Random, count: int) -> Iterator[Any]:
    paths = list(_paths(doc))
    for _ in range(count):
        path = rng.choice(paths)
        mutant = copy.deepcopy(doc)
        if not path:
            yield rng.choice(ODD_VALUES)
            continue
        parent = mutant
        for part in path[:-1]:
            parent = parent[part]
        action = rng.randrange(3)
        if action == 0:
            del parent[path[-1]]
        elif action == 1:
            parent[path[-1]] = copy.deepcopy(rng.choice(ODD_VALUES))
        else:
            target = parent[path[-1]]
            if isinstance(target, dict):
                target[rng.choice(["bogus", "name", "type", "value", "op", "when"])] = copy.deepcopy(
                    rng.choice(ODD_VALUES)
                )
            elif isinstance(target, list):
                target.append(copy.deepcopy(rng.choice(ODD_VALUES)))
            else:
                del parent[path[-1]]
        yield mutant


def test_the_packaged_schema_compiles() -> None:
    # None would mean every spec pays for importing jsonschema: extend spec.fastschema
    assert compile_schema(_inlined()) is not None


def test_agrees_with_jsonschema_on_every_spec_and_its_mutants() -> None:
    validator = Draft202012Validator(_inlined())
    rng = random.Random(20261122)
    verdicts = {True: 0, False: 0}
    docs = list(_documents())
    assert len(docs) > 40
    for doc in docs:
        for data in [doc, *_mutants(doc, rng, 25)]:
            expected = validator.is_valid(data)
            assert conforms(data) == expected, data
            verdicts[expected] += 1
    assert verdicts[True] > 50 and verdicts[False] > 500, verdicts


KEYWORD_CASES: list[tuple[Any, Any]] = [
    ({"type": "integer"}, 3),
    ({"type": "integer"}, 3.0),
    ({"type": "integer"}, 3.5),
    ({"type": "integer"}, True),
    ({"type": "number"}, False),
    ({"type": ["string", "null"]}, None),
    ({"type": "object"}, []),
    ({"enum": [1, "a"]}, True),
    ({"enum": [1, "a"]}, 1.0),
    ({"enum": [[1, 2]]}, [1, 2]),
    ({"enum": [[1]]}, [True]),
    ({"const": False}, 0),
    ({"const": {"a": [1]}}, {"a": [1]}),
    ({"minimum": 1}, 0),
    ({"minimum": 1}, "0"),
    ({"maximum": 1}, 2),
    ({"exclusiveMinimum": 1}, 1),
    ({"exclusiveMaximum": 1}, 0.5),
    ({"minLength": 2}, "é"),
    ({"maxLength": 1}, "ab"),
    ({"minItems": 1}, []),
    ({"maxItems": 1}, [1, 2]),
    ({"minProperties": 1}, {}),
    ({"maxProperties": 0}, {"a": 1}),
    ({"pattern": "^a"}, "ba"),
    ({"pattern": "b"}, "ab"),
    ({"required": ["a"]}, {"b": 1}),
    ({"required": ["a"]}, "a"),
    ({"properties": {"a": {"type": "string"}}, "additionalProperties": False}, {"a": "x", "b": 1}),
    (
        {"properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "integer"}},
        {"a": "x", "b": 1},
    ),
    ({"items": {"type": "string"}}, ["a", 1]),
    ({"items": False}, []),
    ({"allOf": [{"type": "string"}, {"minLength": 1}]}, ""),
    ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, 1),
    ({"oneOf": [{"type": "number"}, {"type": "integer"}]}, 1),
    ({"not": {"type": "string"}}, 1),
    ({"if": {"type": "string"}, "then": {"minLength": 2}, "else": {"minimum": 3}}, "a"),
    ({"if": {"type": "string"}, "then": {"minLength": 2}, "else": {"minimum": 3}}, 2),
    ({"if": {"type": "string"}, "else": {"minimum": 3}}, "a"),
    (True, {"anything": 1}),
    (False, None),
]


@pytest.mark.parametrize(("schema", "instance"), KEYWORD_CASES)
def test_keyword_by_keyword(schema: Any, instance: Any) -> None:
    check = compile_schema(schema)
    assert check is not None
    assert check(instance) == Draft202012Validator(schema).is_valid(instance)


@pytest.mark.parametrize(
    "schema",
    [{"$ref": "#/$defs/x"}, {"uniqueItems": True}, {"format": "date"}, {"type": "any"}, {"pattern": "("}],
)
def test_an_unknown_keyword_is_not_compiled(schema: Any) -> None:
    assert compile_schema(schema) is None


def test_a_check_that_fails_is_no_yes() -> None:
    check = compile_schema({"minimum": 1})
    assert check is not None
    assert check(2) is True
    assert check(complex(2, 1)) is False  # `<` raises: jsonschema is left to say what it thinks


def test_equal_keeps_booleans_apart() -> None:
    assert equal(1, 1.0) and not equal(True, 1) and not equal([0], [False]) and equal({"a": [1]}, {"a": [1]})


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("spec", "uses_jsonschema"),
    [("specs/hello.yaml", False), ("tests/data/invalid/unknown_key_argo_alias.yaml", True)],
)
def test_jsonschema_is_imported_only_for_a_spec_the_schema_refuses(spec: str, uses_jsonschema: bool) -> None:
    res = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "dflowctl", "validate", spec],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == (2 if uses_jsonschema else 0), res.stderr
    imported = {
        line.split("|")[-1].strip() for line in res.stderr.splitlines() if line.startswith("import time:")
    }
    assert "dflowctl.spec.fastschema" in imported
    assert ("jsonschema" in imported) == uses_jsonschema
