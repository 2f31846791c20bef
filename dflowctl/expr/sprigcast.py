"""Sprig's lenient conversions (``cast.ToInt64`` and friends, errors ignored: ``toInt64("x")``
is 0), shared by its functions."""

from __future__ import annotations

import math
import re
from typing import Any

from dflowctl.expr.values import ExprError, go_sprint, is_sequence, type_name


def to_int64(v: Any) -> int:
    """cast.ToInt64 ignoring errors (Sprig's ``toInt64``)."""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return int(v) if math.isfinite(v) else 0
    if isinstance(v, str):
        s = v.strip()
        if re.fullmatch(r"[+-]?\d+\.0*", s):
            s = s.split(".")[0]
        try:
            return int(s, 0)
        except ValueError:
            try:
                return int(s)
            except ValueError:
                return 0
    return 0


def to_float64(v: Any) -> float:
    """cast.ToFloat64 ignoring errors."""
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip())
        except ValueError:
            return 0.0
    return 0.0


def strval(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return go_sprint(v)


def as_list(v: Any) -> list[Any]:
    if not is_sequence(v):
        raise ExprError(f"cannot use {type_name(v)} as a list")
    return list(v)
