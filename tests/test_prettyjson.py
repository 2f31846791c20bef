"""``prettyjson.dumps`` writes exactly what ``json.dumps(indent=N, default=str)`` does."""

from __future__ import annotations

import enum
import json
from collections import OrderedDict
from datetime import datetime, timezone

import pytest

from dflowctl.prettyjson import dumps

CASES: list[object] = [
    {},
    [],
    0,
    -1.5,
    float("nan"),
    float("inf"),
    None,
    True,
    'line\nbreak \u00e9 \u2028 \x00 "quoted" \\',
    {"a": {}, "b": [], "c": [[]], "d": {"e": {}}},
    {"a": {"b": {"c": [1, 2, {"d": None}]}}},
    [1, [2], "s", {"a": [1]}, [], {}],
    (1, 2, (3,)),
    {2: [2], 1.5: [3], True: [4], None: [5], "x": {7: "y"}},
    {"\u00e9\n": "\t", "nested": [{"name": "x", "value": "3"}, {"name": "y"}]},
    {"when": datetime(2026, 1, 2, tzinfo=timezone.utc), "deep": [{"at": datetime(2026, 1, 3)}]},
]


@pytest.mark.parametrize("indent", [2, 4])
@pytest.mark.parametrize("obj", CASES, ids=range(len(CASES)))
def test_same_text_as_json(obj: object, indent: int) -> None:
    assert dumps(obj, indent) == json.dumps(obj, indent=indent, default=str)


def test_a_run_record_shape() -> None:
    nodes = {
        f"wf-{i}": {
            "id": f"wf-{i}",
            "name": f"wf.square({i}:{i})",
            "phase": "Succeeded",
            "inputs": {"parameters": [{"name": "x", "value": str(i)}]},
            "outputs": {
                "artifacts": [{"name": "result", "s3": {"key": f"wf/{i}/result.tgz"}}],
                "exitCode": "0",
            },
            "children": [f"wf-{i + 1}"],
            "resourcesDuration": {"cpu": 1, "memory": 0},
        }
        for i in range(200)
    }
    wf = {"metadata": {"name": "wf", "labels": {"a": "b"}}, "status": {"phase": "Succeeded", "nodes": nodes}}
    assert dumps(wf) == json.dumps(wf, indent=2, default=str)


def test_keys_json_refuses_are_refused() -> None:
    with pytest.raises(TypeError):
        dumps({(1, 2): [1]})
    with pytest.raises(TypeError):
        json.dumps({(1, 2): [1]}, indent=2)


class _Kind(enum.IntEnum):
    ONE = 1


class _Name(str):
    pass


@pytest.mark.parametrize(
    "obj",
    [
        {"k": _Kind.ONE, "s": _Name("x"), "f": 1.5, "b": False, "n": None, "d": [1, {"e": 2}]},
        [_Kind.ONE, _Name("y"), 2.5e300, True, None, -7, {"z": [_Kind.ONE]}],
        OrderedDict([("a", OrderedDict([("b", [1])])), ("c", (1, (2, {})))]),
        {"at": datetime(2026, 1, 2), "in": [{"at": datetime(2026, 1, 3), "x": [{}]}], "big": 10**30},
        {_Kind.ONE: {"x": [1]}, False: [[]], "": {"": [""]}},
    ],
)
def test_subclasses_and_other_values_where_items_are_written_one_by_one(obj: object) -> None:
    for indent in (0, 1, 2):
        assert dumps(obj, indent) == json.dumps(obj, indent=indent, default=str)


def test_dump_gives_the_same_text_in_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    from dflowctl import prettyjson

    monkeypatch.setattr(prettyjson, "CHUNK", 3)
    record = {"status": {"nodes": {f"n{i}": {"id": f"n{i}", "in": {"p": [{"v": i}]}} for i in range(20)}}}
    for obj in [record, [record, 1], {"a": 1}, 5, []]:
        pieces: list[str] = []
        prettyjson.dump(obj, pieces.append)
        assert "".join(pieces) == json.dumps(obj, indent=2, default=str)
        if obj is record:
            assert len(pieces) > 5  # given out while written, not whole at the end
