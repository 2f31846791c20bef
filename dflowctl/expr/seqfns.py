"""expr-lang's builtins on arrays and maps (``first``, ``keys``, ``sort``, ``uniq``,
``flatten``, ``toPairs`` …) and the order ``sort`` uses."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from dflowctl.expr.convert import str_arg, to_int
from dflowctl.expr.values import ExprError, go_sprint, is_number, is_sequence, type_name


def _seq_arg(name: str, x: Any) -> list[Any]:
    if not is_sequence(x):
        raise ExprError(f"invalid argument for {name} (type {type_name(x)})")
    return list(x)


def _first(x: Any) -> Any:
    if x is None:
        return None
    seq = _seq_arg("first", x)
    return seq[0] if seq else None


def _last(x: Any) -> Any:
    if x is None:
        return None
    seq = _seq_arg("last", x)
    return seq[-1] if seq else None


def _get(obj: Any, key: Any) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key)
    if is_sequence(obj) and isinstance(key, int) and not isinstance(key, bool):
        n = len(obj)
        idx = key + n if key < 0 else key
        return obj[idx] if 0 <= idx < n else None
    return None


def _keys(m: Any) -> list[Any]:
    if not isinstance(m, Mapping):
        raise ExprError(f"invalid argument for keys (type {type_name(m)})")
    return list(m.keys())


def _values(m: Any) -> list[Any]:
    if not isinstance(m, Mapping):
        raise ExprError(f"invalid argument for values (type {type_name(m)})")
    return list(m.values())


def _join(arr: Any, sep: Any = "") -> str:
    items = _seq_arg("join", arr)
    if not all(isinstance(i, str) for i in items):
        raise ExprError("join needs an array of strings")
    return str_arg("join", sep).join(items)


def sort_key(v: Any) -> Any:
    if is_number(v):
        return (0, v, "")
    if isinstance(v, str):
        return (1, 0, v)
    raise ExprError(f"cannot sort {type_name(v)}")


def _sort(arr: Any, order: Any = "asc") -> list[Any]:
    items = _seq_arg("sort", arr)
    if order not in ("asc", "desc"):
        raise ExprError(f"unknown order {go_sprint(order)}, use asc or desc")
    return sorted(items, key=sort_key, reverse=order == "desc")


def _uniq(arr: Any) -> list[Any]:
    from dflowctl.expr.evaluator import equal

    out: list[Any] = []
    for v in _seq_arg("uniq", arr):
        if not any(equal(v, o) for o in out):
            out.append(v)
    return out


def _concat(*arrs: Any) -> list[Any]:
    out: list[Any] = []
    for a in arrs:
        out.extend(_seq_arg("concat", a))
    return out


def _flatten(arr: Any) -> list[Any]:
    out: list[Any] = []
    for v in _seq_arg("flatten", arr):
        if is_sequence(v):
            out.extend(_flatten(v))
        else:
            out.append(v)
    return out


def _to_pairs(m: Any) -> list[list[Any]]:
    if not isinstance(m, Mapping):
        raise ExprError(f"invalid argument for toPairs (type {type_name(m)})")
    return [[k, v] for k, v in m.items()]


def _from_pairs(arr: Any) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for pair in _seq_arg("fromPairs", arr):
        p = _seq_arg("fromPairs", pair)
        if len(p) != 2:
            raise ExprError("fromPairs needs pairs of two")
        out[p[0]] = p[1]
    return out


def _take(arr: Any, n: Any) -> list[Any]:
    return _seq_arg("take", arr)[: max(0, to_int(n))]


def _reverse(arr: Any) -> list[Any]:
    return list(reversed(_seq_arg("reverse", arr)))


SEQUENCE_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "first": _first,
    "last": _last,
    "get": _get,
    "keys": _keys,
    "values": _values,
    "join": _join,
    "reverse": _reverse,
    "sort": _sort,
    "uniq": _uniq,
    "concat": _concat,
    "flatten": _flatten,
    "toPairs": _to_pairs,
    "fromPairs": _from_pairs,
    "take": _take,
}
