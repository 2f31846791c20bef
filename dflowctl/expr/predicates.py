"""expr-lang's predicate builtins: ``filter``, ``map``, ``all``, ... over ``#``.

Each receives the frame and its compiled arguments; the predicate (argument 1)
runs once per element with ``#`` (and ``#index``, and ``#acc`` for ``reduce``) set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from dflowctl.expr.builtins import flatten_numbers
from dflowctl.expr.seqfns import sort_key
from dflowctl.expr.values import ExprError, is_sequence, type_name

if TYPE_CHECKING:
    from dflowctl.expr.evaluator import Compiled, Frame


def _items(name: str, f: Frame, args: list[Compiled], nargs: tuple[int, ...]) -> list[Any]:
    if len(args) not in nargs:
        raise ExprError(f"wrong number of arguments to {name}")
    coll = args[0](f)
    if coll is None:
        return []
    if isinstance(coll, Mapping):
        return list(coll.values())
    if not is_sequence(coll):
        raise ExprError(f"cannot iterate over {type_name(coll)} in {name}")
    return list(coll)


def _each(
    f: Frame, pred: Compiled, items: list[Any], extra: dict[str, Any] | None = None
) -> Iterator[tuple[Any, Any]]:
    """Yield (item, predicate result) with `#` and `#index` set."""
    for i, item in enumerate(items):
        frame = {"value": item, "index": i}
        if extra:
            frame.update(extra)
        f.ptrs.append(frame)
        try:
            yield item, pred(f)
        finally:
            f.ptrs.pop()


def _bool_result(name: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise ExprError(f"predicate of {name} must return a bool, got {type_name(v)}")
    return v


def _p_all(f: Frame, args: list[Compiled]) -> bool:
    items = _items("all", f, args, (2,))
    return all(_bool_result("all", r) for _, r in _each(f, args[1], items))


def _p_any(f: Frame, args: list[Compiled]) -> bool:
    items = _items("any", f, args, (2,))
    return any(_bool_result("any", r) for _, r in _each(f, args[1], items))


def _p_none(f: Frame, args: list[Compiled]) -> bool:
    items = _items("none", f, args, (2,))
    return not any(_bool_result("none", r) for _, r in _each(f, args[1], items))


def _p_one(f: Frame, args: list[Compiled]) -> bool:
    items = _items("one", f, args, (2,))
    return sum(1 for _, r in _each(f, args[1], items) if _bool_result("one", r)) == 1


def _p_filter(f: Frame, args: list[Compiled]) -> list[Any]:
    items = _items("filter", f, args, (2,))
    return [item for item, r in _each(f, args[1], items) if _bool_result("filter", r)]


def _p_map(f: Frame, args: list[Compiled]) -> list[Any]:
    items = _items("map", f, args, (2,))
    return [r for _, r in _each(f, args[1], items)]


def _p_count(f: Frame, args: list[Compiled]) -> int:
    items = _items("count", f, args, (1, 2))
    if len(args) == 1:
        return sum(1 for i in items if _bool_result("count", i))
    return sum(1 for _, r in _each(f, args[1], items) if _bool_result("count", r))


def _p_sum(f: Frame, args: list[Compiled]) -> Any:
    items = _items("sum", f, args, (1, 2))
    values = items if len(args) == 1 else [r for _, r in _each(f, args[1], items)]
    return sum(flatten_numbers("sum", tuple(values)), 0)


def _p_find(f: Frame, args: list[Compiled]) -> Any:
    items = _items("find", f, args, (2,))
    for item, r in _each(f, args[1], items):
        if _bool_result("find", r):
            return item
    return None


def _p_find_index(f: Frame, args: list[Compiled]) -> int:
    items = _items("findIndex", f, args, (2,))
    for i, (_, r) in enumerate(_each(f, args[1], items)):
        if _bool_result("findIndex", r):
            return i
    return -1


def _p_find_last(f: Frame, args: list[Compiled]) -> Any:
    items = _items("findLast", f, args, (2,))
    found = None
    for item, r in _each(f, args[1], items):
        if _bool_result("findLast", r):
            found = item
    return found


def _p_find_last_index(f: Frame, args: list[Compiled]) -> int:
    items = _items("findLastIndex", f, args, (2,))
    found = -1
    for i, (_, r) in enumerate(_each(f, args[1], items)):
        if _bool_result("findLastIndex", r):
            found = i
    return found


def _p_group_by(f: Frame, args: list[Compiled]) -> dict[Any, list[Any]]:
    items = _items("groupBy", f, args, (2,))
    out: dict[Any, list[Any]] = {}
    for item, r in _each(f, args[1], items):
        out.setdefault(r, []).append(item)
    return out


def _p_sort_by(f: Frame, args: list[Compiled]) -> list[Any]:
    items = _items("sortBy", f, args, (2, 3))
    order = args[2](f) if len(args) == 3 else "asc"
    keyed = [(r, item) for item, r in _each(f, args[1], items)]
    keyed.sort(key=lambda kv: sort_key(kv[0]), reverse=order == "desc")
    return [item for _, item in keyed]


def _p_reduce(f: Frame, args: list[Compiled]) -> Any:
    items = _items("reduce", f, args, (2, 3))
    if len(args) == 3:
        acc = args[2](f)
    else:
        if not items:
            raise ExprError("reduce of empty array with no initial value")
        acc, items = items[0], items[1:]
    for i, item in enumerate(items):
        f.ptrs.append({"value": item, "index": i, "acc": acc})
        try:
            acc = args[1](f)
        finally:
            f.ptrs.pop()
    return acc


PREDICATE_BUILTINS: dict[str, Callable[[Frame, list[Compiled]], Any]] = {
    "all": _p_all,
    "any": _p_any,
    "none": _p_none,
    "one": _p_one,
    "filter": _p_filter,
    "map": _p_map,
    "count": _p_count,
    "sum": _p_sum,
    "find": _p_find,
    "findIndex": _p_find_index,
    "findLast": _p_find_last,
    "findLastIndex": _p_find_last_index,
    "groupBy": _p_group_by,
    "sortBy": _p_sort_by,
    "reduce": _p_reduce,
}
