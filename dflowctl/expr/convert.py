"""expr-lang's conversions of arguments, as its builtins make them: ``int`` (Argo's
``asInt``), ``float`` (``asFloat``), and a string argument or the error expr gives."""

from __future__ import annotations

import math
from typing import Any

from dflowctl.expr.values import ExprError, go_sprint, type_name


def to_int(x: Any) -> int:
    """expr's ``int`` (Argo's ``asInt``)."""
    if isinstance(x, bool):
        raise ExprError(f"invalid operation: int({type_name(x)})")
    if isinstance(x, int):
        return x
    if isinstance(x, float):
        if math.isnan(x) or math.isinf(x):
            raise ExprError(f"invalid operation: int({go_sprint(x)})")
        return int(x)
    if isinstance(x, str):
        s = x
        body = s[1:] if s[:1] in "+-" else s
        if not body.isdigit() or not body.isascii():
            raise ExprError(f'strconv.Atoi: parsing "{x}": invalid syntax')
        return int(s)
    raise ExprError(f"invalid operation: int({type_name(x)})")


def to_float(x: Any) -> float:
    """expr's ``float`` (Argo's ``asFloat``)."""
    if isinstance(x, bool):
        raise ExprError(f"invalid operation: float({type_name(x)})")
    if isinstance(x, (int, float)):
        return float(x)
    if isinstance(x, str):
        s = x
        if s != s.strip() or not s or "_" in s:
            raise ExprError(f'strconv.ParseFloat: parsing "{x}": invalid syntax')
        low = s.lower().lstrip("+-")
        if low in ("inf", "infinity", "nan"):
            return float(s)
        try:
            return float(s)
        except ValueError:
            raise ExprError(f'strconv.ParseFloat: parsing "{x}": invalid syntax') from None
    raise ExprError(f"invalid operation: float({type_name(x)})")


def str_arg(name: str, x: Any) -> str:
    if not isinstance(x, str):
        raise ExprError(f"invalid argument for {name} (type {type_name(x)})")
    return x
