"""Random input never crashes the evaluators: a value or an ExprError, nothing else."""

from __future__ import annotations

import random

from dflowctl.expr import ExprError, TaskResult, evaluate_depends, evaluate_expr, evaluate_when, substitute

_PIECES = [
    "1",
    "2.5",
    "'a'",
    '"b"',
    "x",
    "y.z",
    "a-b",
    "true",
    "false",
    "nil",
    "[",
    "]",
    "{",
    "}",
    "(",
    ")",
    ",",
    ":",
    "?",
    "??",
    "?.",
    ".",
    "..",
    "+",
    "-",
    "*",
    "/",
    "%",
    "**",
    "^",
    "==",
    "!=",
    "<",
    ">",
    "<=",
    ">=",
    "&&",
    "||",
    "!",
    "not",
    "in",
    "matches",
    "contains",
    "#",
    "#index",
    "|",
    ";",
    "let",
    "=",
    "=~",
    "!~",
    "map(",
    "filter(",
    "len(",
    "asInt(",
    "sprig.add(",
    "jsonpath(",
    "'$.a'",
    "\\",
    "{{",
    "}}",
    "{{=",
    "A",
    "B.Failed",
    "C.AnySucceeded",
    " ",
    "\n",
    "0x1f",
    "1e3",
    "'",
    '"',
    "`",
]


def _random_text(rng: random.Random) -> str:
    return "".join(rng.choice(_PIECES) + rng.choice(["", " "]) for _ in range(rng.randint(1, 12)))


def test_random_input_gives_a_value_or_an_expr_error() -> None:
    rng = random.Random(20240506)
    env = {"x": 1, "y": {"z": [1, 2]}, "a": "s", "b": 2}
    scope = {"x": "1", "y.z": "2", "item": "3"}
    results = {n: TaskResult("Succeeded") for n in ("A", "B", "C", "a-b", "x", "y")}
    for _ in range(3000):
        text = _random_text(rng)
        for fn in (
            lambda t: evaluate_expr(t, env),
            evaluate_when,
            lambda t: substitute(t, scope),
            lambda t: substitute(t, scope, strict=False),
            lambda t: evaluate_depends(t, results),
        ):
            try:
                fn(text)
            except ExprError:
                pass
