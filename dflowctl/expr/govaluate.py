"""A step's ``when``, evaluated as Argo does: govaluate, bare words as strings.

Argo substitutes the tags first, then parses the text with
github.com/Knetic/govaluate and turns every variable token into a string, so
``heads == heads`` is true. Kept from govaluate: every number is a float64;
``==``/``!=`` are deep equality (``"1" == 1`` is false, no error); ``< > <= >=``
need two numbers or two strings; ``=~``/``!~`` search with a regular expression;
``&& || !`` need booleans and short-circuit; ``+`` adds numbers or concatenates
when a side is a string; ``- * / % **`` need numbers; ``?:``, ``??``, ``in``
over ``(a, b)``, bitwise ``& | ^ << >> ~``; strings end at the next quote of either
kind, and a quoted date/time (``'2024-01-02'``, RFC 3339) becomes its Unix seconds; a
word with a dot (``a.b``) is an error, as in govaluate. Precedence, loosest first:
``?: ??``, ``||``, ``&&``, comparators, ``& | ^``, ``<< >>``, ``+ -``, ``* / %``,
``**``, prefix ``- ! ~``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

from dflowctl.expr.operators import compile_regex
from dflowctl.expr.values import ExprError, go_sprint, is_number
from dflowctl.expr.whenlexer import (
    ACCESSOR,
    BOOLEAN,
    LPAREN,
    NUMERIC,
    OPERATOR,
    RPAREN,
    SEPARATOR,
    STRING,
    Token,
    describe,
    tokenize,
)

# Binary operators by precedence level, lowest first.
# (govaluate's stagePlanner: comparators bind looser than bitwise operators)
_LEVELS: tuple[frozenset[str], ...] = (
    frozenset({"?", ":", "??"}),
    frozenset({"||"}),
    frozenset({"&&"}),
    frozenset({"==", "!=", ">", ">=", "<", "<=", "=~", "!~", "in"}),
    frozenset({"&", "|", "^"}),
    frozenset({"<<", ">>"}),
    frozenset({"+", "-"}),
    frozenset({"*", "/", "%"}),
    frozenset({"**"}),
)
_PREFIX = {"-", "!", "~"}

Fn = Callable[[], Any]


class _Parser:
    def __init__(self, toks: list[Token]) -> None:
        self.toks = toks
        self.i = 0

    def peek(self) -> Token | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def parse(self) -> Fn:
        if not self.toks:
            raise ExprError("empty expression")
        fn = self.level(0)
        tok = self.peek()
        if tok is not None:
            prev = self.toks[self.i - 1]
            raise ExprError(f"Cannot transition token types from {describe(prev)} to {describe(tok)}")
        return fn

    def level(self, k: int) -> Fn:
        if k == len(_LEVELS):
            return self.prefix()
        left = self.level(k + 1)
        ops = _LEVELS[k]
        while True:
            tok = self.peek()
            if tok is None or tok[0] != OPERATOR or tok[1] not in ops:
                return left
            self.i += 1
            right = self.level(k + 1)
            left = _binary(str(tok[1]), left, right)

    def prefix(self) -> Fn:
        tok = self.peek()
        if tok is not None and tok[0] == OPERATOR and tok[1] in _PREFIX:
            self.i += 1
            inner = self.prefix()
            return _prefix(str(tok[1]), inner)
        return self.value()

    def value(self) -> Fn:
        tok = self.peek()
        if tok is None:
            prev = self.toks[self.i - 1] if self.i else None
            raise ExprError(f"Unexpected end of expression after {describe(prev) if prev else 'nothing'}")
        self.i += 1
        kind, val = tok
        if kind in (NUMERIC, STRING, BOOLEAN):
            return lambda: val
        if kind == ACCESSOR:

            def missing() -> Any:
                raise ExprError(f"No parameter '{str(val).split('.')[0]}' found.")

            return missing
        if kind == LPAREN:
            items = [self.level(0)]
            while (t := self.peek()) is not None and t[0] == SEPARATOR:
                self.i += 1
                items.append(self.level(0))
            t = self.peek()
            if t is None or t[0] != RPAREN:
                raise ExprError("Unbalanced parenthesis")
            self.i += 1
            if len(items) == 1:
                return items[0]
            return lambda: [f() for f in items]
        raise ExprError(f"Unexpected token {describe(tok)}")


def _need_bool(op: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise ExprError(
            f"Value '{go_sprint(v)}' cannot be used with the logical operator '{op}', it is not a bool"
        )
    return v


def _need_num(op: str, v: Any) -> float:
    if not is_number(v):
        raise ExprError(f"Value '{go_sprint(v)}' cannot be used with the modifier '{op}', it is not a number")
    return float(v)


def _geq(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if is_number(a) and is_number(b):
        return float(a) == float(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_geq(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and bool(a == b)


def _compare(op: str, a: Any, b: Any) -> bool:
    if not ((is_number(a) and is_number(b)) or (isinstance(a, str) and isinstance(b, str))):
        bad = a if not (is_number(a) or isinstance(a, str)) or isinstance(a, bool) else b
        raise ExprError(
            f"Value '{go_sprint(bad)}' cannot be used with the comparator '{op}', it is not a number"
        )
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


def _to_int(op: str, v: Any) -> int:
    return int(_need_num(op, v))


def _binary(op: str, lf: Fn, rf: Fn) -> Fn:
    if op == "&&":
        return lambda: _need_bool(op, lf()) and _need_bool(op, rf())
    if op == "||":
        return lambda: _need_bool(op, lf()) or _need_bool(op, rf())
    if op == "?":

        def ternary_true() -> Any:
            return rf() if _need_bool(op, lf()) else None

        return ternary_true
    if op == ":":

        def ternary_false() -> Any:
            v = lf()
            return rf() if v is None else v

        return ternary_false
    if op == "??":

        def coalesce() -> Any:
            v = lf()
            return rf() if v is None else v

        return coalesce
    if op == "==":
        return lambda: _geq(lf(), rf())
    if op == "!=":
        return lambda: not _geq(lf(), rf())
    if op in ("<", "<=", ">", ">="):
        return lambda: _compare(op, lf(), rf())
    if op in ("=~", "!~"):

        def regex() -> bool:
            a, b = lf(), rf()
            if not isinstance(a, str) or not isinstance(b, str):
                bad = a if not isinstance(a, str) else b
                raise ExprError(
                    f"Value '{go_sprint(bad)}' cannot be used with the comparator '{op}', it is not a string"
                )
            found = compile_regex(b).search(a) is not None
            return found if op == "=~" else not found

        return regex
    if op == "in":

        def contained() -> bool:
            a, b = lf(), rf()
            if not isinstance(b, list):
                raise ExprError(
                    f"Value '{go_sprint(b)}' cannot be used with the comparator 'in', it is not an array"
                )
            return any(_geq(a, x) for x in b)

        return contained
    if op == "+":

        def add() -> Any:
            a, b = lf(), rf()
            if isinstance(a, str) or isinstance(b, str):
                return _str(a) + _str(b)
            return _need_num(op, a) + _need_num(op, b)

        return add

    def arith() -> Any:
        a, b = _need_num(op, lf()), _need_num(op, rf())
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            if b == 0:
                return math.nan if a == 0 else math.copysign(math.inf, a)
            return a / b
        if op == "%":
            return math.fmod(a, b) if b else math.nan
        if op == "**":
            try:
                return a**b
            except (OverflowError, ZeroDivisionError):
                return math.inf
        ia, ib = int(a), int(b)
        if op == "&":
            return float(ia & ib)
        if op == "|":
            return float(ia | ib)
        if op == "^":
            return float(ia ^ ib)
        if op == "<<":
            return float(ia << ib)
        return float(ia >> ib)

    return arith


def _str(v: Any) -> str:
    return go_sprint(v)


def _prefix(op: str, inner: Fn) -> Fn:
    if op == "!":
        return lambda: not _need_bool(op, inner())
    if op == "-":
        return lambda: -_need_num(op, inner())
    return lambda: float(~_to_int(op, inner()))


@functools.lru_cache(maxsize=4096)
def _compile(text: str) -> Fn:
    return _Parser(tokenize(text)).parse()


def parse_when(text: str) -> None:
    """Parse ``text`` (tags already substituted) as govaluate would; ``ExprError`` with
    the parser's message when it does not parse."""
    try:
        _compile(text)
    except RecursionError:
        raise ExprError("the expression is nested too deeply") from None


def evaluate_when(text: str) -> bool:
    """Evaluate a ``when`` whose tags have been substituted; ``""`` is true."""
    if text == "":
        return True
    try:
        try:
            result = _compile(text)()
        except RecursionError:
            raise ExprError("the expression is nested too deeply") from None
    except ExprError as exc:
        hint = (
            ' (hint: try wrapping the affected expression in quotes ("))'
            if "Invalid token" in exc.message
            else ""
        )
        raise ExprError(f"invalid 'when' expression {text.strip()!r}: {exc.message}{hint}") from None
    if not isinstance(result, bool):
        raise ExprError(
            f"expected a boolean from 'when' expression {text.strip()!r}, got {go_sprint(result)!r}"
        )
    return result
