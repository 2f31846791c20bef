"""evaluate_expr(): the expr-lang subset, Argo's functions and sprig."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest

from dflowctl.expr import ExprError, build_env, evaluate_expr, go_json, go_sprint, render_value


def ev(expr: str, **env: Any) -> Any:
    return evaluate_expr(expr, env)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("7 / 2", 3.5),
        ("6 / 3", 2.0),
        ("7 % 3", 1),
        ("-7 % 3", -1),
        ("2 ** 10", 1024.0),
        ("2 ^ 3 ^ 2", 512.0),
        ("-2 ** 2", -4.0),
        ("1_000 + 0x10", 1016),
        ("1.5e2", 150.0),
        ("'a' + \"b\" + `c\\n`", "abc\\n"),
        ("'tab\\there'", "tab\there"),
        ("1 < 2 && 2 <= 2 and 3 > 2 || false", True),
        ("not true", False),
        ("!false && !(1 == 2)", True),
        ("1 == 1.0", True),
        ("'1' == 1", False),
        ("nil == nil", True),
        ("[1, 2] == [1, 2]", True),
        ("'b' > 'a'", True),
        ("2 in [1, 2, 3]", True),
        ("4 not in [1, 2, 3]", True),
        ("'a' in {a: 1}", True),
        ("'hello' matches '^h.*o$'", True),
        ("'hello' not matches 'x'", True),
        ("'hello' contains 'ell'", True),
        ("'hello' startsWith 'he' && 'hello' endsWith 'lo'", True),
        ("true ? 'y' : 'n'", "y"),
        ("false ? 'y' : 1 == 2 ? 'a' : 'b'", "b"),
        ("nil ?? 'd'", "d"),
        ("'v' ?? 'd'", "v"),
        ("1..4", [1, 2, 3, 4]),
        ("[1, 2, 3][-1]", 3),
        ("[1, 2, 3, 4][1:3]", [2, 3]),
        ("[1, 2, 3, 4][:2]", [1, 2]),
        ("'hello'[1:]", "ello"),
        ("{a: 1, 'b-c': [2]}['b-c'][0]", 2),
        ("{a: {b: 5}}.a.b", 5),
        ("[1, 2,]", [1, 2]),
        ("let x = 2; x * x", 4),
        ("len('héllo') + len([1]) + len({a: 1})", 7),
        ("filter([1, 2, 3, 4], # % 2 == 0)", [2, 4]),
        ("filter([1, 3], {# > 1})", [3]),
        ("map([1, 2], {# * 10})", [10, 20]),
        ("map([1, 2], #index)", [0, 1]),
        ("map([{n: 1}, {n: 2}], .n)", [1, 2]),
        ("all([1, 2], # > 0) && any([1, 2], # > 1) && none([1], # > 5) && one([1, 2], # == 2)", True),
        ("count([1, 2, 3], # > 1)", 2),
        ("sum([1, 2, 3])", 6),
        ("find([1, 2, 3], # > 1)", 2),
        ("findIndex([1, 2, 3], # > 1)", 1),
        ("findLast([1, 2, 3], # > 1)", 3),
        ("reduce([1, 2, 3], #acc + #, 10)", 16),
        ("sortBy([{a: 2}, {a: 1}], .a)[0].a", 1),
        ("groupBy([1, 2, 3], # % 2 == 0)[true]", [2]),
        ("[1, 2, 3] | filter(# > 1) | map(# * 2)", [4, 6]),
        ("int('42') + int(3.9)", 45),
        ("float('2.5') * 2", 5.0),
        ("string(12) + string(true)", "12true"),
        ("abs(-3) + ceil(1.2) + floor(1.8) + round(2.5)", 3 + 2.0 + 1.0 + 3.0),
        ("max(1, 5, 3) + min([4, 2])", 7),
        ("mean([1, 2, 3]) + median([1, 5, 9])", 7.0),
        ("upper('a') + lower('B') + trim('  c  ') + trim('xxdxx', 'x')", "Abcd"),
        ("trimPrefix('prefix-x', 'prefix-') + trimSuffix('y.txt', '.txt')", "xy"),
        ("split('a,b,c', ',')", ["a", "b", "c"]),
        ("split('a,b,c', ',', 2)", ["a", "b,c"]),
        ("splitAfter('a,b', ',')", ["a,", "b"]),
        ("replace('aaa', 'a', 'b')", "bbb"),
        ("repeat('ab', 2)", "abab"),
        ("indexOf('hello', 'l') + lastIndexOf('hello', 'l')", 5),
        ("hasPrefix('abc', 'a') && hasSuffix('abc', 'c')", True),
        ("join(['a', 'b'], '-')", "a-b"),
        ("first([7, 8]) + last([7, 8])", 15),
        ("first([])", None),
        ("keys({a: 1})", ["a"]),
        ("values({a: 1})", [1]),
        ("get({a: 1}, 'b') ?? 'none'", "none"),
        ("reverse([1, 2])", [2, 1]),
        ("sort([3, 1, 2])", [1, 2, 3]),
        ("sort(['b', 'a'], 'desc')", ["b", "a"]),
        ("uniq([1, 1, 2])", [1, 2]),
        ("concat([1], [2, 3])", [1, 2, 3]),
        ("flatten([1, [2, [3]]])", [1, 2, 3]),
        ("type(1) + type('') + type([]) + type({}) + type(nil)", "intstringarraymapnil"),
        ("toPairs({a: 1})", [["a", 1]]),
        ("fromPairs([['a', 1]])", {"a": 1}),
        ("fromJSON('{\"a\": [1, 2]}').a[1]", 2.0),
        ("toJSON({b: 1, a: [true]})", '{\n  "a": [\n    true\n  ],\n  "b": 1\n}'),
        ("toBase64('hi') + fromBase64('aGk=')", "aGk=hi"),
        ("bitand(6, 3) + bitor(4, 1) + bitxor(3, 1) + bitshl(1, 3)", 2 + 5 + 2 + 8),
        ("duration('1h30m').Minutes()", 90.0),
        ("(date('2024-01-02T00:00:00Z') - date('2024-01-01T00:00:00Z')).Hours()", 24.0),
        ("date('2024-03-04T05:06:07Z').Format('2006-01-02 15:04:05')", "2024-03-04 05:06:07"),
        ("date('2024-03-04T05:06:07Z').Year()", 2024),
        ("take([1, 2, 3], 2)", [1, 2]),
        ("$env.x", None),
        ("// comment\n 1 /* inline */ + 1", 2),
    ],
)
def test_expressions(expr: str, expected: Any) -> None:
    result = ev(expr)
    assert result == expected
    assert type(result) is type(expected)


def test_division_by_zero_is_infinity_like_go() -> None:
    assert ev("1 / 0") == math.inf
    assert math.isnan(ev("0 / 0"))
    with pytest.raises(ExprError, match="divide by zero"):
        ev("1 % 0")


def test_environment_lookup() -> None:
    env = build_env(
        {
            "inputs.parameters.x": "4",
            "inputs.parameters.should-print": "true",
            "steps.flip-coin.outputs.result": "heads",
            "workflow.parameters.p": "v",
        }
    )
    assert evaluate_expr("asInt(inputs.parameters.x) + 1", env) == 5
    assert evaluate_expr("inputs.parameters['should-print'] == 'true'", env) is True
    assert evaluate_expr("steps['flip-coin'].outputs.result", env) == "heads"
    assert evaluate_expr("workflow.parameters.p", env) == "v"
    assert evaluate_expr("workflow.parameters.missing", env) is None
    assert evaluate_expr("workflow.parameters.missing ?? 'd'", env) == "d"
    assert evaluate_expr("workflow.nothing?.deeper", env) is None
    assert evaluate_expr("workflow.nothing.deeper ?? 'safe'", env) == "safe"


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("unknown + 1", "unknown name unknown"),
        ("'a' + 1", "mismatched types string and int"),
        ("'a' < 1", "mismatched types string and int"),
        ("1 && true", "boolean"),
        ("not 'x'", "boolean"),
        ("{}.a.b", "cannot fetch b from nil"),
        ("[1][5]", "index out of range"),
        ("asInt('3.5')", "invalid syntax"),
        ("asFloat('x')", "invalid syntax"),
        ("nosuchfunc(1)", "unknown func nosuchfunc"),
        ("1 +", "found end of expression"),
        ("(1", "expected ')'"),
        ("'abc", "not terminated"),
        ("1 ? 2 : 3", "boolean"),
        ("jsonpath('{', '$.a')", "invalid JSON"),
        ("jsonpath('{\"a\": 1}', '$.b')", "not found"),
        ("1 @ 2", "unexpected character"),
        ("", "empty expression"),
    ],
)
def test_errors_name_the_expression(expr: str, message: str) -> None:
    with pytest.raises(ExprError) as info:
        ev(expr)
    assert message in str(info.value)
    if expr:
        assert repr(expr.strip()) in str(info.value)


def test_asint_and_asfloat_match_expr_int_float() -> None:
    assert ev("asInt('-12')") == -12
    assert ev("asInt(3.9)") == 3
    assert ev("asFloat('1e3')") == 1000.0
    assert ev("asFloat(2)") == 2.0


def test_jsonpath_examples() -> None:
    cfg = '{"employees": [{"name": "Baris", "age":43},{"name": "Mo", "age": 42}, {"name": "Jai", "age" :44}]}'
    env = {"c": cfg}
    assert evaluate_expr("jsonpath(c, '$.employees[?(@.name==\"Baris\")].age')", env) == [43.0]
    assert evaluate_expr("jsonpath(c, '$.employees[?(@.age>42 && @.age<44)].age')", env) == [43.0]
    assert evaluate_expr("jsonpath(c, '$.employees[0:1]')", env) == [{"name": "Baris", "age": 43.0}]
    assert evaluate_expr("jsonpath(c, '$.employees[*].name')", env) == ["Baris", "Mo", "Jai"]
    assert evaluate_expr("jsonpath(c, '$.employees[-1].name')", env) == "Jai"
    assert evaluate_expr("jsonpath(c, '$..name')", env) == ["Baris", "Mo", "Jai"]
    assert evaluate_expr("jsonpath(c, \"$['employees'][1]['name']\")", env) == "Mo"
    assert evaluate_expr("jsonpath(c, '$.employees[0,2].age')", env) == [43.0, 44.0]
    assert evaluate_expr("jsonpath(c, '$.employees[?(@.name =~ /^J/)].name')", env) == ["Jai"]
    assert evaluate_expr("jsonpath(c, '$.employees[?(!(@.age > 42))].name')", env) == ["Mo"]
    assert evaluate_expr("jsonpath(c, '$.employees.length')", env) == 3
    assert evaluate_expr("jsonpath('[{\"value\": \"true\"}]', '$[0].value')", env) == "true"


def test_toJson_is_go_json_marshal() -> None:
    assert (
        ev("toJson({b: 1, a: 'x&y', c: [1.5, 2.0, nil, true]})")
        == '{"a":"x\\u0026y","b":1,"c":[1.5,2,null,true]}'
    )
    assert ev("toJson(filter([1, 3], {# > 1}))") == "[3]"


def test_sprig_functions() -> None:
    assert ev("sprig.add(1, '2', 3.7)") == 6
    assert ev("sprig.add(34.0, 27.0) / 2") == 30.5
    assert ev("sprig.max(1, 9.0, '3') + sprig.min(4, 2)") == 11
    assert ev("sprig.div(7, 2) + sprig.mod(-7, 2)") == 2
    assert ev("sprig.b64dec(sprig.b64enc('hé'))") == "hé"
    assert ev("sprig.upper('a') + sprig.trimPrefix('x', 'xy') + sprig.replace('a', 'b', 'aa')") == "Ayb" + "b"
    assert ev("sprig.default('d', '') + sprig.default('d', 'v')") == "dv"
    assert ev("sprig.splitList(',', 'a,b')") == ["a", "b"]
    assert ev("sprig.join('-', ['a', 1])") == "a-1"
    assert ev("sprig.regexReplaceAll('a(x*)b', '-ab-axxb-', '${1}W')") == "-W-xxW-"
    assert ev("sprig.regexMatch('^[a-z]+$', 'abc')") is True
    assert ev("sprig.toString(5) + sprig.quote('q')") == '5"q"'
    assert ev("sprig.atoi('12') + sprig.int('x')") == 12
    assert ev("sprig.sha256sum('')").startswith("e3b0c442")
    assert ev("sprig.date('2006-01-02', sprig.toDate('2006-01-02', '2024-05-06'))") == "2024-05-06"
    assert len(ev("sprig.randAlphaNum(8)")) == 8


def test_sprig_date_of_a_string_formats_now_like_sprig() -> None:
    year = ev(
        "sprig.date('2006', workflow.creationTimestamp)",
        workflow={"creationTimestamp": "2001-01-01T00:00:00Z"},
    )
    assert year == str(dt.datetime.now().year)


def test_map_closure_with_map_literal_inside() -> None:
    weather = '{"weekWeather": "eyJ0ZW1wcyI6IFszNCwgMjcsIDE1LCA1NywgNDZdfQo="}'
    expr = """
        map([
            jsonpath(sprig.b64dec(jsonpath(workflow.parameters.weather, '$.weekWeather')), '$.temps')
          ], {
            toJson({
              avg: sprig.add(#[0], #[1], #[2], #[3], #[4]) / 5,
              min: sprig.min(#[0], #[1], #[2], #[3], #[4]),
              max: sprig.max(#[0], #[1], #[2], #[3], #[4])
            })
        })[0]
    """
    env = build_env({"workflow.parameters.weather": weather})
    assert evaluate_expr(expr, env) == '{"avg":35.8,"max":57,"min":15}'


def test_time_arithmetic_like_cron_when() -> None:
    expr = "cronworkflow.lastScheduledTime == nil || (now() - cronworkflow.lastScheduledTime).Seconds() > 360"
    assert evaluate_expr(expr, {"cronworkflow": {"lastScheduledTime": None}}) is True
    recent = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=10)
    assert evaluate_expr(expr, {"cronworkflow": {"lastScheduledTime": recent}}) is False
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    assert evaluate_expr(expr, {"cronworkflow": {"lastScheduledTime": old}}) is True


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "<nil>"),
        (True, "true"),
        (3, "3"),
        (35.8, "35.8"),
        (15.0, "15"),
        (123456.0, "123456"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (-2.5, "-2.5"),
        (float("inf"), "+Inf"),
        ([1, "a", [2.0]], "[1 a [2]]"),
        ({"b": 1, "a": {"c": None}}, "map[a:map[c:<nil>] b:1]"),
        (dt.timedelta(hours=1, minutes=2, seconds=3.5), "1h2m3.5s"),
        (dt.timedelta(milliseconds=1.5), "1.5ms"),
    ],
)
def test_go_sprint(value: Any, text: str) -> None:
    assert go_sprint(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (15.0, "15"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1e-7, "1e-7"),
        (0.5, "0.5"),
        ('a\n"<>\u2028', '"a\\n\\"\\u003c\\u003e\\u2028"'),
        ({"z": [], "a": {}}, '{"a":{},"z":[]}'),
    ],
)
def test_go_json(value: Any, text: str) -> None:
    assert go_json(value) == text


def test_render_value() -> None:
    assert render_value("s") == "s"
    assert render_value(None) == "null"
    assert render_value([{"b": 1, "a": 2}]) == '[{"a":2,"b":1}]'


def test_chained_comparisons() -> None:
    assert ev("1 < 2 < 3") is True
    assert ev("1 < 3 < 2") is False
    assert ev("1 < 2 <= 2 == true") is False  # (1<2) && (2<=2) && (2==true)


def test_optional_chain_short_circuits() -> None:
    assert ev("a?.b.c.d", a=None) is None
    assert ev("a?.b[0]", a=None) is None
    assert ev("a?.['b']", a={"b": 1}) == 1


def test_coalesce_cannot_mix_with_other_operators() -> None:
    with pytest.raises(ExprError, match="cannot be mixed"):
        ev("nil ?? 1 + 2")
    assert ev("(nil ?? 1) + 2") == 3
    assert ev("nil ?? nil ?? 4") == 4


def test_render_value_times() -> None:
    t = dt.datetime(2024, 5, 6, 7, 8, 9, 500000, tzinfo=dt.timezone.utc)
    assert render_value(t) == "2024-05-06T07:08:09Z"
    assert render_value(dt.datetime(2024, 5, 6)) == "2024-05-06T00:00:00Z"
    assert render_value(dt.timedelta(seconds=90)) == "1m30s"
    assert go_json(t) == '"2024-05-06T07:08:09.5Z"'
    tz = dt.timezone(dt.timedelta(hours=2))
    assert render_value(dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=tz)) == "2024-05-06T07:08:09+02:00"


def test_map_literal_keys() -> None:
    assert ev("{1: 'a', b: 2, 'c d': 3, ('e' + 'f'): 4}") == {"1": "a", "b": 2, "c d": 3, "ef": 4}
    assert ev("{a: 1,}.a") == 1


def test_env_functions_override_builtins_and_argo_functions_are_always_there() -> None:
    assert evaluate_expr("upper('x')", {"upper": lambda s: s + "!"}) == "x!"
    assert evaluate_expr("asInt('2') + len(x)", {"x": [1, 2]}) == 4


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    from dflowctl.expr import evaluate_depends, evaluate_when, substitute

    deep = "(" * 3000 + "1" + ")" * 3000
    with pytest.raises(ExprError):
        ev(deep)
    with pytest.raises(ExprError):
        substitute("{{=" + deep + "}}", {})
    with pytest.raises(ExprError):
        evaluate_when("(" * 3000 + "true" + ")" * 3000)
    with pytest.raises(ExprError):
        evaluate_depends("(" * 3000 + "A" + ")" * 3000, {})


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1h30m", 5400.0),
        ("-1.5s", -1.5),
        ("300ms", 0.3),
        ("1.s", 1.0),
        (".5m", 30.0),
        ("0", 0.0),
        ("-0", 0.0),
    ],
)
def test_go_parse_duration(text: str, seconds: float) -> None:
    from dflowctl.expr.gotime import parse_duration

    assert parse_duration(text).total_seconds() == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", " ", "90", "1.5", "00", "1d", "1h-1m", "--1s", "s"])
def test_go_parse_duration_wants_units(text: str) -> None:
    """Go's ``time.ParseDuration``: a number needs a unit (a lone zero aside)."""
    from dflowctl.expr.gotime import parse_duration

    with pytest.raises(ExprError, match="time: invalid duration"):
        parse_duration(text)
