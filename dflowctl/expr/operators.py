"""expr-lang's operators as its runtime applies them: ``==`` (numbers by value, anything
else deeply, never an error), ``< > <= >=`` on numbers, strings, times and durations,
arithmetic (``/`` always a float, ``%`` on integers), ``in``, string operators with
regular expressions, truth of ``and or not``, and member/index/slice reads (nil: an
error unless optional)."""

from __future__ import annotations

import datetime as _dt
import functools
import math
import re
from collections.abc import Mapping
from typing import Any

from dflowctl.expr.values import ExprError, go_sprint, is_number, is_sequence, type_name


class NilAccess(ExprError):
    """Reading a member or index of nil (recoverable by ``?.`` and ``??``)."""


def equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if is_number(a) and is_number(b):
        return bool(a == b)
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if is_sequence(a) and is_sequence(b):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    return bool(a == b)


def mismatch(op: str, a: Any, b: Any) -> ExprError:
    return ExprError(f"invalid operation: {op} (mismatched types {type_name(a)} and {type_name(b)})")


def compare(op: str, a: Any, b: Any) -> bool:
    ok = (
        (is_number(a) and is_number(b))
        or (isinstance(a, str) and isinstance(b, str))
        or (isinstance(a, _dt.datetime) and isinstance(b, _dt.datetime))
        or (isinstance(a, _dt.timedelta) and isinstance(b, _dt.timedelta))
    )
    if not ok:
        raise mismatch(op, a, b)
    if op == "<":
        return bool(a < b)
    if op == ">":
        return bool(a > b)
    if op == "<=":
        return bool(a <= b)
    return bool(a >= b)


def arith(op: str, a: Any, b: Any) -> Any:
    if is_number(a) and is_number(b):
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            if b == 0:
                if a == 0 or (isinstance(a, float) and math.isnan(a)):
                    return math.nan
                return math.copysign(math.inf, a) * (math.copysign(1.0, b) if isinstance(b, float) else 1)
            return a / b
        if op == "%":
            if not (isinstance(a, int) and isinstance(b, int)):
                raise mismatch(op, a, b)
            if b == 0:
                raise ExprError("integer divide by zero")
            return int(math.fmod(a, b))
        if op in ("**", "^"):
            try:
                return float(a) ** float(b)
            except (OverflowError, ZeroDivisionError):
                return math.inf
    if op == "+":
        if isinstance(a, str) and isinstance(b, str):
            return a + b
        if is_sequence(a) and is_sequence(b):
            return [*a, *b]
        if isinstance(a, _dt.datetime) and isinstance(b, _dt.timedelta):
            return a + b
        if isinstance(a, _dt.timedelta) and isinstance(b, (_dt.timedelta, _dt.datetime)):
            return b + a
    if op == "-":
        if isinstance(a, _dt.datetime) and isinstance(b, (_dt.datetime, _dt.timedelta)):
            if isinstance(b, _dt.datetime) and (a.tzinfo is None) != (b.tzinfo is None):
                a, b = _aware(a), _aware(b)
            return a - b
        if isinstance(a, _dt.timedelta) and isinstance(b, _dt.timedelta):
            return a - b
    if op == "*" and isinstance(a, _dt.timedelta) and is_number(b):
        return a * b
    if op == "*" and is_number(a) and isinstance(b, _dt.timedelta):
        return b * a
    raise mismatch(op, a, b)


def _aware(t: _dt.datetime) -> _dt.datetime:
    return t if t.tzinfo is not None else t.astimezone()


def member_of(a: Any, b: Any) -> bool:
    if is_sequence(b):
        return any(equal(a, x) for x in b)
    if isinstance(b, Mapping):
        return a in b if isinstance(a, str) or is_number(a) else False
    if b is None:
        return False
    raise ExprError(f"invalid operation: in (mismatched types {type_name(a)} and {type_name(b)})")


@functools.lru_cache(maxsize=512)
def compile_regex(pattern: str) -> re.Pattern[str]:
    """A Go RE2 pattern as a Python regex (the common subset is identical)."""
    try:
        return re.compile(pattern.replace("(?P<", "(?P<").replace("\\z", "\\Z"))
    except re.error as exc:
        raise ExprError(f"error parsing regexp {pattern!r}: {exc}") from exc


def string_op(op: str, a: Any, b: Any) -> bool:
    if not (isinstance(a, str) and isinstance(b, str)):
        raise mismatch(op, a, b)
    if op == "matches":
        return compile_regex(b).search(a) is not None
    if op == "contains":
        return b in a
    if op == "startsWith":
        return a.startswith(b)
    return a.endswith(b)


def truth(op: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise ExprError(f"invalid operation: {op} on {type_name(v)} (a boolean is needed)")
    return v


def fetch(obj: Any, key: Any, optional: bool = False) -> Any:
    """``obj.key`` / ``obj[key]`` as expr-lang reads it."""
    if obj is None:
        if optional:
            return None
        raise NilAccess(f"cannot fetch {go_sprint(key)} from nil")
    if isinstance(obj, Mapping):
        if isinstance(key, float) and key.is_integer():
            key = int(key)
        return obj.get(key)
    if is_sequence(obj) or isinstance(obj, str):
        if isinstance(key, float) and key.is_integer():
            key = int(key)
        if not isinstance(key, int) or isinstance(key, bool):
            raise ExprError(f"cannot fetch {go_sprint(key)} from {type_name(obj)}")
        n = len(obj)
        idx = key + n if key < 0 else key
        if not 0 <= idx < n:
            raise ExprError(f"index out of range: {key} (array length is {n})")
        return obj[idx]
    raise ExprError(f"cannot fetch {go_sprint(key)} from {type_name(obj)}")


def slice_of(obj: Any, lo: Any, hi: Any) -> Any:
    if not (is_sequence(obj) or isinstance(obj, str)):
        raise ExprError(f"cannot slice {type_name(obj)}")
    n = len(obj)
    a = 0 if lo is None else int(lo)
    b = n if hi is None else int(hi)
    a = max(0, a + n if a < 0 else a)
    b = min(n, b + n if b < 0 else b)
    if a > b:
        raise ExprError(f"invalid slice indices: {b} < {a}")
    out = obj[a:b]
    return list(out) if not isinstance(out, str) else out
