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

import datetime as _dt
import functools
import math
import re
from collections.abc import Callable
from typing import Any

from dflowctl.expr.evaluator import compile_regex
from dflowctl.expr.values import ExprError, go_sprint, is_number

NUMERIC = "NUMERIC"
STRING = "STRING"
BOOLEAN = "BOOLEAN"
OPERATOR = "OPERATOR"
LPAREN = "CLAUSE"
RPAREN = "CLAUSE_CLOSE"
SEPARATOR = "SEPARATOR"
ACCESSOR = "ACCESSOR"

_SYMBOLS = {
    "==",
    "!=",
    ">",
    ">=",
    "<",
    "<=",
    "=~",
    "!~",
    "&&",
    "||",
    "!",
    "+",
    "-",
    "*",
    "/",
    "%",
    "**",
    "&",
    "|",
    "^",
    "<<",
    ">>",
    "~",
    "?",
    ":",
    "??",
    ",",
}

Token = tuple[str, Any]


def _is_symbol_char(ch: str) -> bool:
    return not (ch.isdigit() or ch.isalpha() or ch in "()'\"" or ch.isspace())


_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_TIME_FORMS = (
    re.compile(r"(?P<d>\d{4}-\d{2}-\d{2})"),
    re.compile(r"(?P<d>\d{4}-\d{2}-\d{2}) (?P<H>\d{2}):(?P<M>\d{2})"),
    re.compile(r"(?P<d>\d{4}-\d{2}-\d{2}) (?P<H>\d{2}):(?P<M>\d{2}):(?P<S>\d{2})(?P<z>[+-]\d{2}:\d{2})?"),
    re.compile(
        r"(?P<d>\d{4}-\d{2}-\d{2})T(?P<H>\d{2})(?::(?P<M>\d{2})(?::(?P<S>\d{2})(?P<f>\.\d{1,9})?)?)?"
        r"(?P<z>Z|[+-]\d{2}:?\d{2})"
    ),
)
_KITCHEN = re.compile(r"(\d{1,2}):(\d{2})(AM|PM)")


def _try_time(text: str) -> float | None:
    """govaluate's tryParseTime: a quoted date or time becomes its Unix seconds."""
    m = _KITCHEN.fullmatch(text)
    if m:
        hour = int(m.group(1)) % 12 + (12 if m.group(3) == "PM" else 0)
        if int(m.group(1)) > 12 or int(m.group(2)) > 59:
            return None
        return float(-62167219200 + hour * 3600 + int(m.group(2)) * 60)
    for form in _TIME_FORMS:
        m = form.fullmatch(text)
        if not m:
            continue
        g = m.groupdict()
        try:
            base = _dt.datetime.strptime(g["d"], "%Y-%m-%d").replace(tzinfo=_dt.timezone.utc)
            base = base.replace(
                hour=int(g.get("H") or 0), minute=int(g.get("M") or 0), second=int(g.get("S") or 0)
            )
        except ValueError:
            return None
        zone = g.get("z")
        if zone and zone != "Z":
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            base -= sign * _dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        return float((base - _EPOCH) // _dt.timedelta(seconds=1))
    return None


def _describe(tok: Token) -> str:
    kind, value = tok
    return f"{kind} [{go_sprint(value) if kind != STRING else value}]"


def tokenize(text: str) -> list[Token]:
    toks: list[Token] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch.isdigit() or ch == ".":
            if text.startswith(("0x", "0X"), i):
                j = i + 2
                while j < n and text[j] in "0123456789abcdefABCDEF":
                    j += 1
                try:
                    toks.append((NUMERIC, float(int(text[i + 2 : j], 16))))
                except ValueError:
                    raise ExprError(f"Unable to parse hex value '{text[i:j]}' to uint64") from None
                i = j
                continue
            j = i
            while j < n and (text[j].isdigit() or text[j] == "."):
                j += 1
            lit = text[i:j]
            try:
                toks.append((NUMERIC, float(lit)))
            except ValueError:
                raise ExprError(f"Unable to parse numeric value '{lit}' to float64") from None
            i = j
            continue
        if ch.isalpha():
            j = i
            while j < n and (text[j].isalnum() or text[j] in "_."):
                j += 1
            word = text[i:j]
            i = j
            if word == "true":
                toks.append((BOOLEAN, True))
            elif word == "false":
                toks.append((BOOLEAN, False))
            elif word in ("in", "IN"):
                toks.append((OPERATOR, "in"))
            elif "." in word:
                if word.endswith("."):
                    raise ExprError(f"Hanging accessor on token {word}")
                for part in word.split(".")[1:]:
                    if part[:1] != part[:1].upper():
                        raise ExprError(f"Unable to access unexported field '{part}' in token '{word}'")
                toks.append((ACCESSOR, word))
            else:
                toks.append((STRING, word))  # a variable; Argo makes it a string
            continue
        if ch == "[":
            j = text.find("]", i + 1)
            if j < 0:
                raise ExprError("Unclosed parameter bracket")
            toks.append((STRING, text[i + 1 : j].replace("\\", "")))
            i = j + 1
            continue
        if ch in "'\"":
            j = i + 1
            buf: list[str] = []
            while j < n and text[j] not in "'\"":
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(text[j])
                j += 1
            if j >= n:
                raise ExprError("Unclosed string literal")
            text_value = "".join(buf)
            when_time = _try_time(text_value)
            toks.append((STRING, text_value) if when_time is None else (NUMERIC, when_time))
            i = j + 1
            continue
        if ch == "(":
            toks.append((LPAREN, "("))
            i += 1
            continue
        if ch == ")":
            toks.append((RPAREN, ")"))
            i += 1
            continue
        j = i
        while j < n and _is_symbol_char(text[j]):
            j += 1
        sym = text[i:j]
        if sym not in _SYMBOLS:
            raise ExprError(f"Invalid token: '{sym}'")
        toks.append((SEPARATOR, sym) if sym == "," else (OPERATOR, sym))
        i = j
    return toks


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
            raise ExprError(f"Cannot transition token types from {_describe(prev)} to {_describe(tok)}")
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
            raise ExprError(f"Unexpected end of expression after {_describe(prev) if prev else 'nothing'}")
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
        raise ExprError(f"Unexpected token {_describe(tok)}")


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
