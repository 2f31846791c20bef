"""evaluate_when(): govaluate semantics as Argo applies them to `when`."""

from __future__ import annotations

import pytest

from dflowctl.expr import ExprError, evaluate_when, substitute


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("heads == heads", True),
        ("tails == heads", False),
        ("heads != tails", True),
        ("true == true", True),
        ("True == true", False),  # `True` is a bare word (a string), not a boolean
        ("true", True),
        ("false", False),
        ("1 < 10", True),
        ("10 < 9", False),
        ("1.0 == 1", True),
        ("01 == 1", True),
        ("2 >= 2 && 3 > 2.5", True),
        ("'1' == 1", False),  # a string never equals a number: no error
        ("\"a b\" == 'a b'", True),
        ("b > a", True),  # two strings compare lexically
        ("heads =~ hea", True),
        ("tails =~ hea", False),
        ("tails !~ hea", True),
        ("'abc' =~ '^a.c$'", True),
        ("!(1 == 2)", True),
        ("!false", True),
        ("( heads == heads && tails == tails ) || ( tails == heads && tails == tails )", True),
        ("(heads == tails && tails == tails) || (tails == heads)", False),
        ("1 + 2 == 3", True),
        ("2 * 3 - 1 == 5", True),
        ("7 % 4 == 3", True),
        ("2 ** 3 == 8", True),
        ("-1 < 0", True),
        ("a + b == ab", True),
        ("'x' + 1 == x1", True),
        ("true ? true : false", True),
        ("false ? true : false", False),
        ("1 in (1, 2, 3)", True),
        ("x in (a, b)", False),
        ("5 != 1 && 5 != 2", True),
        ("1 != 1 && 1 != 2", False),
        ("0x10 == 16", True),
        ("(3 & 1) == 1", True),
        ("3 & 1 == 1", True),  # bitwise binds tighter than comparators
        ("'2024-01-02' > '2024-01-01 23:59:59'", True),
        ("'2024-01-02T00:00:00Z' == '2024-01-02'", True),
        ("'2024-01-02T01:00:00+01:00' == '2024-01-02'", True),
        ("'3:04PM' < '4:00PM'", True),
        ("x =='x'", True),
        ("Succeeded == Succeeded", True),
        ("Failed != Succeeded", True),
        ("[a b] == 'a b'", True),
    ],
)
def test_when(text: str, expected: bool) -> None:
    assert evaluate_when(text) is expected


def test_empty_when_is_true() -> None:
    assert evaluate_when("") is True


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hello world == x", "Cannot transition token types"),
        ("flip-coin == x", "cannot be used with the modifier '-'"),
        ("a.b == c", "Unable to access unexported field 'b'"),
        ("x ==* 1", "Invalid token: '==*'"),
        ("1.2.3 == 1", "Unable to parse numeric value"),
        ("heads", "expected a boolean"),
        ("1 + 1", "expected a boolean"),
        ("heads && true", "not a bool"),
        ("a < 1", "cannot be used with the comparator '<'"),
        ("1 =~ 1", "it is not a string"),
        ("(1 == 1", "Unbalanced parenthesis"),
        ("'abc == abc", "Unclosed string literal"),
        ("1 ==", "Unexpected end of expression"),
        ("   ", "empty expression"),
    ],
)
def test_when_errors(text: str, message: str) -> None:
    with pytest.raises(ExprError) as info:
        evaluate_when(text)
    assert message in str(info.value)
    assert "'when'" in str(info.value)


def test_invalid_token_gets_argo_hint() -> None:
    with pytest.raises(ExprError, match="try wrapping the affected expression in quotes"):
        evaluate_when("a @ b")


def test_when_after_substitution_of_expression_tags() -> None:
    scope = {"inputs.parameters.should-print": "true", "workflow.parameters.json": '[{"value": "true"}]'}
    for when in (
        "{{inputs.parameters.should-print}} == true",
        "{{= inputs.parameters[\"should-print\"] == 'true'}}",
        "{{=jsonpath(workflow.parameters.json, '$[0].value') == 'true'}}",
    ):
        assert evaluate_when(substitute(when, scope)) is True
    scope["inputs.parameters.should-print"] = "false"
    assert evaluate_when(substitute("{{inputs.parameters.should-print}} == true", scope)) is False


def test_numeric_when_from_recursive_for_loop() -> None:
    when = "{{steps.iterate-counter.outputs.result}} < {{inputs.parameters.limit}}"
    assert evaluate_when(
        substitute(when, {"steps.iterate-counter.outputs.result": "9", "inputs.parameters.limit": "10"})
    )
    assert not evaluate_when(
        substitute(when, {"steps.iterate-counter.outputs.result": "10", "inputs.parameters.limit": "10"})
    )
