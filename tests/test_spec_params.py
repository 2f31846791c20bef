from __future__ import annotations

from pathlib import Path

import pytest

from dflowctl.errors import UsageError
from dflowctl.spec import load_spec
from dflowctl.spec.params import parse_pairs, require_values
from tests.conftest import REPO

EVERYTHING = REPO / "tests" / "data" / "valid" / "everything.yaml"


def _value(name: str, wf: object) -> object:
    return wf.param(name).default  # type: ignore[attr-defined]


def test_values_are_parsed_per_type() -> None:
    wf = load_spec(
        EVERYTHING,
        {
            "n": "5",
            "ratio": "2",
            "flag": "False",
            "names": '["x", "y"]',
            "config": "{a: 1}",
            "anything": "[1]",
            "mode": "slow",
        },
    )
    assert _value("n", wf) == 5
    assert _value("ratio", wf) == 2.0
    assert _value("flag", wf) is False
    assert _value("names", wf) == ["x", "y"]
    assert _value("config", wf) == {"a": 1}
    assert _value("anything", wf) == [1]
    assert _value("mode", wf) == "slow"


def test_any_keeps_text_that_is_not_json() -> None:
    assert _value("anything", load_spec(EVERYTHING, {"anything": "hello"})) == "hello"


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        ({"n": "abc"}, "-p: parameter `n` is int (an integer); `abc` is not"),
        ({"ratio": "x"}, "-p: parameter `ratio` is float (a number); `x` is not"),
        ({"flag": "yes"}, "-p: parameter `flag` is bool (true or false); `yes` is not"),
        ({"names": "{a: 1}"}, "-p: parameter `names` is list (a list); `{a: 1}` is not"),
        ({"mode": "fats"}, "-p: parameter `mode` must be one of fast, slow; not `fats`"),
        ({"nn": "1"}, "-p: the workflow has no parameter `nn`"),
    ],
)
def test_bad_values(pairs: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError) as info:
        load_spec(EVERYTHING, pairs)
    assert info.value.message == message
    assert info.value.exit_code == 2


def test_unknown_parameter_has_a_hint() -> None:
    with pytest.raises(UsageError) as info:
        load_spec(EVERYTHING, {"nme": "x"})
    assert info.value.hint == "did you mean `names`?" or info.value.hint == "did you mean `n`?"


def test_parameter_file_and_p_wins(tmp_path: Path) -> None:
    pf = tmp_path / "p.yaml"
    pf.write_text("n: 7\nratio: '1.5'\nnames: [q]\nmode: fast\n")
    wf = load_spec(EVERYTHING, {"mode": "slow"}, pf)
    assert (_value("n", wf), _value("ratio", wf), _value("names", wf), _value("mode", wf)) == (
        7,
        1.5,
        ["q"],
        "slow",
    )


def test_parameter_file_json(tmp_path: Path) -> None:
    pf = tmp_path / "p.json"
    pf.write_text('{"n": 2, "config": {"x": [1]}}')
    wf = load_spec(EVERYTHING, None, pf)
    assert (_value("n", wf), _value("config", wf)) == (2, {"x": [1]})


def test_parameter_file_problems(tmp_path: Path) -> None:
    pf = tmp_path / "p.yaml"
    pf.write_text("n: [1]\n")
    with pytest.raises(UsageError) as info:
        load_spec(EVERYTHING, None, pf)
    assert info.value.message == f"--parameter-file {pf}: parameter `n` is int (an integer); a list is not"
    pf.write_text("- 1\n")
    with pytest.raises(UsageError) as info:
        load_spec(EVERYTHING, None, pf)
    assert info.value.message.startswith("parameter file: ") and "must be a mapping" in info.value.message
    with pytest.raises(UsageError, match="no such file"):
        load_spec(EVERYTHING, None, tmp_path / "none.yaml")


def test_parse_pairs() -> None:
    assert parse_pairs(["a=1", "b=x=y", "c="]) == {"a": "1", "b": "x=y", "c": ""}
    with pytest.raises(UsageError, match="NAME=VALUE"):
        parse_pairs(["novalue"])


def test_require_values() -> None:
    wf = load_spec(EVERYTHING)
    with pytest.raises(UsageError, match="`anything` has no value"):
        require_values(wf)
    require_values(load_spec(EVERYTHING, {"anything": "1"}))
