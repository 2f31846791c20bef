"""expr-lang's string builtins (``trim``, ``split``, ``replace``, ``indexOf`` …) as Go's
``strings`` package computes them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dflowctl.expr.convert import str_arg, to_int
from dflowctl.expr.values import ExprError


def _trim(s: Any, chars: Any = None) -> str:
    s = str_arg("trim", s)
    return s.strip() if chars is None else s.strip(str_arg("trim", chars))


def _trim_prefix(s: Any, prefix: Any = " ") -> str:
    s, p = str_arg("trimPrefix", s), str_arg("trimPrefix", prefix)
    return s[len(p) :] if p and s.startswith(p) else s


def _trim_suffix(s: Any, suffix: Any = " ") -> str:
    s, p = str_arg("trimSuffix", s), str_arg("trimSuffix", suffix)
    return s[: -len(p)] if p and s.endswith(p) else s


def _split(s: Any, sep: Any, n: Any = -1) -> list[str]:
    s, sep = str_arg("split", s), str_arg("split", sep)
    n = to_int(n)
    if n == 0:
        return []
    if sep == "":
        parts = list(s)
        if n > 0 and len(parts) > n:
            parts = [*parts[: n - 1], "".join(parts[n - 1 :])]
        return parts
    return s.split(sep, n - 1) if n > 0 else s.split(sep)


def _split_after(s: Any, sep: Any, n: Any = -1) -> list[str]:
    parts = _split(s, sep, n)
    return [p + sep for p in parts[:-1]] + parts[-1:]


def _replace(s: Any, old: Any, new: Any) -> str:
    return str_arg("replace", s).replace(str_arg("replace", old), str_arg("replace", new))


def _repeat(s: Any, n: Any) -> str:
    n = to_int(n)
    if n < 0:
        raise ExprError("strings: negative Repeat count")
    return str_arg("repeat", s) * n


def _index_of(s: Any, sub: Any) -> int:
    return str_arg("indexOf", s).find(str_arg("indexOf", sub))


def _last_index_of(s: Any, sub: Any) -> int:
    return str_arg("lastIndexOf", s).rfind(str_arg("lastIndexOf", sub))


TEXT_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "trim": _trim,
    "trimPrefix": _trim_prefix,
    "trimSuffix": _trim_suffix,
    "upper": lambda s: str_arg("upper", s).upper(),
    "lower": lambda s: str_arg("lower", s).lower(),
    "split": _split,
    "splitAfter": _split_after,
    "replace": _replace,
    "repeat": _repeat,
    "indexOf": _index_of,
    "lastIndexOf": _last_index_of,
    "hasPrefix": lambda s, p: str_arg("hasPrefix", s).startswith(str_arg("hasPrefix", p)),
    "hasSuffix": lambda s, p: str_arg("hasSuffix", s).endswith(str_arg("hasSuffix", p)),
}
