"""expr-lang's builtin functions, and the functions Argo adds to the environment.

Argo's environment (util/expr/env): ``asInt`` (= expr's ``int``), ``asFloat``
(= ``float``), ``jsonpath(json, path)``, ``toJson`` (compact ``json.Marshal``)
and ``sprig`` (Sprig's generic functions, see sprig.py).
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import math
import statistics
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from dflowctl.expr import gotime
from dflowctl.expr.convert import str_arg, to_float, to_int
from dflowctl.expr.jsonpath import query as _jsonpath_query
from dflowctl.expr.seqfns import SEQUENCE_FUNCTIONS
from dflowctl.expr.textfns import TEXT_FUNCTIONS
from dflowctl.expr.values import ExprError, go_json, go_sprint, is_number, is_sequence, type_name

if TYPE_CHECKING:
    pass


def invoke(name: str, fn: Callable[..., Any], args: list[Any]) -> Any:
    try:
        return fn(*args)
    except ExprError:
        raise
    except TypeError as exc:
        raise ExprError(f"{name}(): {exc}") from None
    except (ValueError, KeyError, IndexError, OverflowError, ZeroDivisionError, AttributeError) as exc:
        raise ExprError(f"{name}(): {exc}") from None


# -- conversions --------------------------------------------------------------------------


def from_json(text: Any) -> Any:
    """Decode like Go's ``json.Unmarshal`` into ``interface{}``: every number is a float64."""
    if not isinstance(text, str):
        raise ExprError(f"fromJSON needs a string, got {type_name(text)}")
    try:
        return json.loads(text, parse_int=float, parse_constant=_bad_constant)
    except json.JSONDecodeError as exc:
        raise ExprError(f"invalid JSON: {exc.msg} at position {exc.pos}") from None


def _bad_constant(name: str) -> Any:
    raise ExprError(f"invalid JSON value {name}")


def _indent_json(value: Any, indent: str = "  ", level: int = 0) -> str:
    pad = indent * (level + 1)
    end = indent * level
    if isinstance(value, Mapping) and value:
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
        inner = ",\n".join(f"{pad}{go_json(str(k))}: {_indent_json(v, indent, level + 1)}" for k, v in items)
        return "{\n" + inner + "\n" + end + "}"
    if is_sequence(value) and value:
        inner = ",\n".join(pad + _indent_json(v, indent, level + 1) for v in value)
        return "[\n" + inner + "\n" + end + "]"
    return go_json(value)


def jsonpath(json_str: Any, path: Any) -> Any:
    """Argo's ``jsonpath(jsonString, path)``."""
    if not isinstance(json_str, str):
        raise ExprError(f"jsonpath needs a JSON string, got {type_name(json_str)}")
    if not isinstance(path, str):
        raise ExprError(f"jsonpath needs a path string, got {type_name(path)}")
    return _jsonpath_query(path, from_json(json_str))


# -- expr-lang builtins -------------------------------------------------------------------------


def _len(x: Any) -> int:
    if isinstance(x, (str, Mapping)) or is_sequence(x):
        return len(x)
    raise ExprError(f"invalid argument for len (type {type_name(x)})")


def _abs(x: Any) -> Any:
    if not is_number(x):
        raise ExprError(f"invalid argument for abs (type {type_name(x)})")
    return abs(x)


def _num(name: str, x: Any) -> float:
    if not is_number(x):
        raise ExprError(f"invalid argument for {name} (type {type_name(x)})")
    return float(x)


def _round(x: Any) -> float:
    v = _num("round", x)
    return float(math.floor(v + 0.5)) if v >= 0 else -float(math.floor(-v + 0.5))


def flatten_numbers(name: str, args: tuple[Any, ...]) -> list[Any]:
    out: list[Any] = []
    for a in args:
        if is_sequence(a):
            out.extend(flatten_numbers(name, tuple(a)))
        elif is_number(a):
            out.append(a)
        else:
            raise ExprError(f"invalid argument for {name} (type {type_name(a)})")
    return out


def _max(*args: Any) -> Any:
    nums = flatten_numbers("max", args)
    if not nums:
        raise ExprError("not enough arguments to call max")
    return max(nums)


def _min(*args: Any) -> Any:
    nums = flatten_numbers("min", args)
    if not nums:
        raise ExprError("not enough arguments to call min")
    return min(nums)


def _mean(*args: Any) -> float:
    nums = flatten_numbers("mean", args)
    return float(statistics.fmean(nums)) if nums else 0.0


def _median(*args: Any) -> float:
    nums = flatten_numbers("median", args)
    return float(statistics.median(nums)) if nums else 0.0


def _type(v: Any) -> str:
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    if isinstance(v, Mapping):
        return "map"
    if is_sequence(v):
        return "array"
    if isinstance(v, _dt.datetime):
        return "time.Time"
    if isinstance(v, _dt.timedelta):
        return "time.Duration"
    return "func" if callable(v) else "unknown"


def _to_base64(s: Any) -> str:
    return base64.b64encode(str_arg("toBase64", s).encode()).decode()


def _from_base64(s: Any) -> str:
    try:
        return base64.b64decode(str_arg("fromBase64", s), validate=True).decode("utf-8", "replace")
    except (ValueError, base64.binascii.Error) as exc:  # type: ignore[attr-defined]
        raise ExprError(f"illegal base64 data: {exc}") from None


def _now() -> _dt.datetime:
    return _dt.datetime.now().astimezone()


def _duration(s: Any) -> _dt.timedelta:
    return gotime.parse_duration(str_arg("duration", s))


def _date(s: Any, layout: Any = None, tz: Any = None) -> _dt.datetime:
    if isinstance(s, _dt.datetime):
        return s
    text = str_arg("date", s)
    if layout is None:
        return gotime.parse_time(text)
    return gotime.parse_time_layout(text, str_arg("date", layout))


def _to_json_indent(v: Any) -> str:
    return _indent_json(v)


def _string(v: Any) -> str:
    return go_sprint(v)


def _bit(name: str, fn: Callable[[int, int], int]) -> Callable[[Any, Any], int]:
    def op(a: Any, b: Any) -> int:
        return fn(to_int(a), to_int(b))

    op.__name__ = name
    return op


BUILTINS: dict[str, Callable[..., Any]] = {
    "len": _len,
    "abs": _abs,
    "ceil": lambda x: float(math.ceil(_num("ceil", x))),
    "floor": lambda x: float(math.floor(_num("floor", x))),
    "round": _round,
    "int": to_int,
    "float": to_float,
    "string": _string,
    "max": _max,
    "min": _min,
    "mean": _mean,
    "median": _median,
    "toJSON": _to_json_indent,
    "fromJSON": from_json,
    "toBase64": _to_base64,
    "fromBase64": _from_base64,
    "now": _now,
    "duration": _duration,
    "date": _date,
    "type": _type,
    "bitand": _bit("bitand", lambda a, b: a & b),
    "bitor": _bit("bitor", lambda a, b: a | b),
    "bitxor": _bit("bitxor", lambda a, b: a ^ b),
    "bitnand": _bit("bitnand", lambda a, b: a & ~b),
    "bitshl": _bit("bitshl", lambda a, b: a << b),
    "bitshr": _bit("bitshr", lambda a, b: a >> b),
    "bitnot": lambda a: ~to_int(a),
    **TEXT_FUNCTIONS,
    **SEQUENCE_FUNCTIONS,
}


# -- methods on times and durations -----------------------------------------------------------


def call_method(obj: Any, name: str, args: list[Any]) -> Any:
    if isinstance(obj, _dt.timedelta):
        secs = obj.total_seconds()
        table: dict[str, Callable[[], Any]] = {
            "Seconds": lambda: secs,
            "Minutes": lambda: secs / 60,
            "Hours": lambda: secs / 3600,
            "Milliseconds": lambda: int(secs * 1000),
            "Microseconds": lambda: int(secs * 1_000_000),
            "Nanoseconds": lambda: round(secs * 1e9),
            "String": lambda: go_sprint(obj),
            "Abs": lambda: abs(obj),
        }
        if name in table and not args:
            return table[name]()
    if isinstance(obj, _dt.datetime):
        t = obj
        simple: dict[str, Callable[[], Any]] = {
            "Year": lambda: t.year,
            "Month": lambda: t.month,
            "Day": lambda: t.day,
            "Hour": lambda: t.hour,
            "Minute": lambda: t.minute,
            "Second": lambda: t.second,
            "Nanosecond": lambda: t.microsecond * 1000,
            "YearDay": lambda: t.timetuple().tm_yday,
            "Weekday": lambda: (t.weekday() + 1) % 7,
            "Unix": lambda: int(_aware(t).timestamp()),
            "UnixMilli": lambda: int(_aware(t).timestamp() * 1000),
            "UnixNano": lambda: int(_aware(t).timestamp() * 1_000_000) * 1000,
            "UTC": lambda: _aware(t).astimezone(_dt.timezone.utc),
            "Local": lambda: _aware(t).astimezone(),
            "String": lambda: go_sprint(t),
            "IsZero": lambda: t == _dt.datetime(1, 1, 1, tzinfo=t.tzinfo),
        }
        if name in simple and not args:
            return simple[name]()
        if name == "Format" and len(args) == 1:
            return gotime.format_time(t, str_arg("Format", args[0]))
        if name in ("Sub",) and len(args) == 1 and isinstance(args[0], _dt.datetime):
            return _aware(t) - _aware(args[0])
        if name == "Add" and len(args) == 1 and isinstance(args[0], _dt.timedelta):
            return t + args[0]
        if name in ("Before", "After", "Equal") and len(args) == 1 and isinstance(args[0], _dt.datetime):
            a, b = _aware(t), _aware(args[0])
            return a < b if name == "Before" else a > b if name == "After" else a == b
    raise ExprError(f"type {type_name(obj)} has no method {name}")


def _aware(t: _dt.datetime) -> _dt.datetime:
    return t if t.tzinfo is not None else t.astimezone()


def argo_functions() -> dict[str, Any]:
    """The names Argo adds to every expression environment."""
    from dflowctl.expr.sprig import SPRIG

    return {
        "asInt": to_int,
        "asFloat": to_float,
        "jsonpath": jsonpath,
        "toJson": go_json,
        "sprig": SPRIG,
    }
