"""Sprig's generic functions (github.com/Masterminds/sprig/v3), as ``sprig.*`` in Argo
(strings, encodings and regular expressions: ``sprigtext``; conversions: ``sprigcast``).

The commonly used ones, with Sprig's argument order (``trimPrefix(prefix, s)``)
and its lenient conversions (``toInt64("x")`` is 0). ``env`` and ``expandenv``
are absent, as in Argo.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
import secrets
import string
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from dflowctl.expr import gotime
from dflowctl.expr.evaluator import equal
from dflowctl.expr.sprigcast import as_list, strval, to_float64, to_int64
from dflowctl.expr.sprigtext import SPRIG_TEXT
from dflowctl.expr.values import ExprError, go_sprint, is_number, is_sequence, type_name


def _go_div(a: int, b: int) -> int:
    if b == 0:
        raise ExprError("runtime error: integer divide by zero")
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _go_mod(a: int, b: int) -> int:
    if b == 0:
        raise ExprError("runtime error: integer divide by zero")
    return a - b * _go_div(a, b)


def _empty(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, bool):
        return not v
    if is_number(v):
        return v == 0
    if isinstance(v, (str, Mapping)) or is_sequence(v):
        return len(v) == 0
    return False


def _default(d: Any, *given: Any) -> Any:
    if not given or _empty(given[0]):
        return d
    return given[0]


def _coalesce(*vals: Any) -> Any:
    for v in vals:
        if not _empty(v):
            return v
    return None


def _dict(*kv: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i in range(0, len(kv), 2):
        out[strval(kv[i])] = kv[i + 1] if i + 1 < len(kv) else ""
    return out


def _keys(*dicts: Any) -> list[str]:
    out: list[str] = []
    for d in dicts:
        out.extend(d.keys())
    return out


def _uniq(v: Any) -> list[Any]:
    out: list[Any] = []
    for x in as_list(v):
        if not any(equal(x, o) for o in out):
            out.append(x)
    return out


def _has(needle: Any, hay: Any) -> bool:
    return any(equal(needle, x) for x in as_list(hay)) if hay is not None else False


def _without(v: Any, *omit: Any) -> list[Any]:
    return [x for x in as_list(v) if not any(equal(x, o) for o in omit)]


def _date_in_zone(fmt: Any, date: Any, zone: Any) -> str:
    t: _dt.datetime
    if isinstance(date, _dt.datetime):
        t = date
    elif isinstance(date, int) and not isinstance(date, bool):
        t = _dt.datetime.fromtimestamp(date, _dt.timezone.utc)
    else:
        # Sprig formats the current time for anything that is not a time or a number.
        t = _dt.datetime.now().astimezone()
    z = strval(zone)
    if z == "UTC":
        t = (t if t.tzinfo else t.astimezone()).astimezone(_dt.timezone.utc)
    elif z in ("Local", ""):
        t = (t if t.tzinfo else t.astimezone()).astimezone()
    else:
        try:
            from zoneinfo import ZoneInfo

            t = (t if t.tzinfo else t.astimezone()).astimezone(ZoneInfo(z))
        except Exception:
            t = (t if t.tzinfo else t.astimezone()).astimezone(_dt.timezone.utc)
    return gotime.format_time(t, strval(fmt))


def _to_date(fmt: Any, s: Any) -> _dt.datetime:
    return gotime.parse_time_layout(strval(s), strval(fmt))


def _rand(chars: str) -> Callable[[Any], str]:
    def gen(n: Any) -> str:
        return "".join(secrets.choice(chars) for _ in range(max(0, to_int64(n))))

    return gen


def _fail(msg: Any) -> Any:
    raise ExprError(strval(msg))


def _ternary(a: Any, b: Any, cond: Any) -> Any:
    return a if cond is True else b


def _round(v: Any, places: Any, round_on: Any = 0.5) -> float:
    x = to_float64(v)
    p = 10 ** to_int64(places)
    digit = x * p
    _, frac = divmod(digit, 1)
    r = math.ceil(digit) if frac >= to_float64(round_on) else math.floor(digit)
    return r / p


def _seq(*params: Any) -> str:
    nums = [to_int64(p) for p in params]
    if len(nums) == 1:
        start, step, end = 1, 1, nums[0]
    elif len(nums) == 2:
        start, end = nums
        step = 1 if end >= start else -1
    elif len(nums) == 3:
        start, step, end = nums
    else:
        return ""
    if step == 0:
        return ""
    rng = range(start, end + (1 if step > 0 else -1), step)
    return " ".join(str(i) for i in rng)


def _until_step(start: Any, stop: Any, step: Any) -> list[int]:
    a, b, s = to_int64(start), to_int64(stop), to_int64(step)
    if s == 0 or (s > 0 and a >= b) or (s < 0 and a <= b):
        return []
    return list(range(a, b, s))


SPRIG: dict[str, Callable[..., Any]] = {
    # numbers
    "add": lambda *a: sum(to_int64(x) for x in a),
    "add1": lambda a: to_int64(a) + 1,
    "sub": lambda a, b: to_int64(a) - to_int64(b),
    "mul": lambda a, *v: math.prod([to_int64(a), *(to_int64(x) for x in v)]),
    "div": lambda a, b: _go_div(to_int64(a), to_int64(b)),
    "mod": lambda a, b: _go_mod(to_int64(a), to_int64(b)),
    "max": lambda a, *v: max([to_int64(a), *(to_int64(x) for x in v)]),
    "min": lambda a, *v: min([to_int64(a), *(to_int64(x) for x in v)]),
    "addf": lambda *a: math.fsum(to_float64(x) for x in a),
    "add1f": lambda a: to_float64(a) + 1,
    "subf": lambda a, *v: to_float64(a) - math.fsum(to_float64(x) for x in v),
    "mulf": lambda a, *v: math.prod([to_float64(a), *(to_float64(x) for x in v)]),
    "divf": lambda a, *v: _divf(a, *v),
    "maxf": lambda a, *v: max([to_float64(a), *(to_float64(x) for x in v)]),
    "minf": lambda a, *v: min([to_float64(a), *(to_float64(x) for x in v)]),
    "floor": lambda a: float(math.floor(to_float64(a))),
    "ceil": lambda a: float(math.ceil(to_float64(a))),
    "round": _round,
    "biggest": lambda a, *v: max([to_int64(a), *(to_int64(x) for x in v)]),
    "until": lambda n: _until_step(0, n, 1 if to_int64(n) >= 0 else -1),
    "untilStep": _until_step,
    "seq": _seq,
    # conversions
    "atoi": lambda s: to_int64(strval(s)) if re.fullmatch(r"[+-]?\d+", strval(s).strip()) else 0,
    "int": to_int64,
    "int64": to_int64,
    "float64": to_float64,
    "toString": strval,
    "toStrings": lambda v: [strval(x) for x in as_list(v)],
    "toDecimal": lambda s: int(strval(s), 8) if re.fullmatch(r"[0-7]+", strval(s)) else 0,
    **SPRIG_TEXT,
    # lists and dicts
    "list": lambda *a: list(a),
    "tuple": lambda *a: list(a),
    "first": lambda v: as_list(v)[0] if as_list(v) else None,
    "last": lambda v: as_list(v)[-1] if as_list(v) else None,
    "rest": lambda v: as_list(v)[1:],
    "initial": lambda v: as_list(v)[:-1],
    "append": lambda v, x: [*as_list(v), x],
    "push": lambda v, x: [*as_list(v), x],
    "prepend": lambda v, x: [x, *as_list(v)],
    "concat": lambda *vs: [x for v in vs for x in as_list(v)],
    "reverse": lambda v: list(reversed(as_list(v))),
    "uniq": _uniq,
    "without": _without,
    "has": _has,
    "compact": lambda v: [x for x in as_list(v) if not _empty(x)],
    "slice": lambda v, *ix: as_list(v)[slice(*(to_int64(i) for i in ix))] if ix else as_list(v),
    "dict": _dict,
    "get": lambda d, k: d.get(strval(k), "") if isinstance(d, Mapping) else "",
    "set": lambda d, k, v: {**d, strval(k): v},
    "unset": lambda d, k: {kk: vv for kk, vv in d.items() if kk != strval(k)},
    "hasKey": lambda d, k: isinstance(d, Mapping) and strval(k) in d,
    "keys": _keys,
    "values": lambda d: list(d.values()),
    "pluck": lambda k, *ds: [d[strval(k)] for d in ds if isinstance(d, Mapping) and strval(k) in d],
    "pick": lambda d, *ks: {k: d[k] for k in (strval(x) for x in ks) if k in d},
    "omit": lambda d, *ks: {k: v for k, v in d.items() if k not in {strval(x) for x in ks}},
    "merge": lambda dst, *srcs: _merge(dst, *srcs),
    # defaults and flow
    "default": _default,
    "empty": _empty,
    "coalesce": _coalesce,
    "ternary": _ternary,
    "fail": _fail,
    "typeOf": lambda v: type_name(v),
    "kindOf": lambda v: _kind(v),
    "kindIs": lambda k, v: _kind(v) == strval(k),
    "typeIs": lambda t, v: type_name(v) == strval(t),
    "deepEqual": lambda a, b: equal(a, b),
    # dates
    "now": lambda: _dt.datetime.now().astimezone(),
    "date": lambda fmt, d: _date_in_zone(fmt, d, "Local"),
    "dateInZone": _date_in_zone,
    "date_in_zone": _date_in_zone,
    "htmlDate": lambda d: _date_in_zone("2006-01-02", d, "Local"),
    "htmlDateInZone": lambda d, z: _date_in_zone("2006-01-02", d, z),
    "unixEpoch": lambda t: str(int(t.timestamp())) if isinstance(t, _dt.datetime) else "0",
    "toDate": _to_date,
    "duration": lambda s: go_sprint(_dt.timedelta(seconds=to_int64(s))),
    "dateModify": lambda fmt, t: t + gotime.parse_duration(strval(fmt)),
    # random
    "uuidv4": lambda: str(uuid.uuid4()),
    "randAlphaNum": _rand(string.ascii_letters + string.digits),
    "randAlpha": _rand(string.ascii_letters),
    "randNumeric": _rand(string.digits),
    "randAscii": _rand("".join(chr(c) for c in range(32, 127))),
}


def _divf(a: Any, *v: Any) -> float:
    out = to_float64(a)
    for x in v:
        d = to_float64(x)
        out = out / d if d else (math.copysign(math.inf, out) if out else math.nan)
    return out


def _merge(dst: Any, *srcs: Any) -> dict[str, Any]:
    out = dict(dst)
    for s in srcs:
        for k, v in s.items():
            out.setdefault(k, v)
    return out


def _kind(v: Any) -> str:
    if v is None:
        return "invalid"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int64"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, Mapping):
        return "map"
    if is_sequence(v):
        return "slice"
    if isinstance(v, _dt.datetime):
        return "struct"
    return "func" if callable(v) else "ptr"
