"""Values as Go prints them: `fmt.Sprint` (%v), `json.Marshal`, and the error type.

Argo renders an expression's result with ``fmt.Sprintf("%v", result)`` and
``toJson`` with ``json.Marshal``; these helpers reproduce both for the Python
values the evaluators produce (str, int, float, bool, None, list, dict,
datetime, timedelta).
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from dflowctl.errors import DflowctlError


class ExprError(DflowctlError):
    """An Argo template tag, `when`, `depends` or expression that cannot be evaluated."""


class Absent(str):
    """A scope value known to be absent: an output a Skipped/Omitted node declared
    without a default (Argo's nil in scope). A simple ``{{tag}}`` naming it is an
    error even where unresolved tags are allowed; expressions see nil (so ``??``
    applies)."""

    __slots__ = ()


ABSENT = Absent("")


def type_name(value: Any) -> str:
    """The Go-ish type name used in error messages."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "map[string]interface {}"
    if isinstance(value, (list, tuple)):
        return "[]interface {}"
    if isinstance(value, _dt.datetime):
        return "time.Time"
    if isinstance(value, _dt.timedelta):
        return "time.Duration"
    if callable(value):
        return "func"
    return type(value).__name__


def _digits(f: float) -> tuple[str, int]:
    """Shortest round-trip decimal digits of ``abs(f)`` (f != 0) and the point position.

    value = 0.<digits> * 10**dp, e.g. ``0.0123`` → ("123", -1), ``35.8`` → ("358", 2).
    """
    _, digs, exp = Decimal(repr(abs(f))).as_tuple()
    assert isinstance(exp, int)
    text = "".join(str(d) for d in digs)
    lead = len(text) - len(text.lstrip("0"))
    text = text[lead:]
    dp = len(text) + exp
    return text.rstrip("0"), dp


def _fmt_e(neg: bool, digs: str, dp: int) -> str:
    exp = dp - 1
    mant = digs[0] + ("." + digs[1:] if len(digs) > 1 else "")
    sign = "-" if exp < 0 else "+"
    return f"{'-' if neg else ''}{mant}e{sign}{abs(exp):02d}"


def _fmt_f(neg: bool, digs: str, dp: int) -> str:
    if dp <= 0:
        body = "0." + "0" * (-dp) + digs
    elif dp >= len(digs):
        body = digs + "0" * (dp - len(digs))
    else:
        body = digs[:dp] + "." + digs[dp:]
    return ("-" if neg else "") + body


def go_float_v(f: float) -> str:
    """``fmt.Sprintf("%v", f)`` for a float64: ``strconv.FormatFloat(f, 'g', -1, 64)``.

    Shortest digits; exponent form when the exponent is < -4 or >= 6 (``1e+06``).
    """
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    neg = math.copysign(1.0, f) < 0
    if f == 0:
        return "-0" if neg else "0"
    digs, dp = _digits(f)
    exp = dp - 1
    if exp < -4 or exp >= 6:
        return _fmt_e(neg, digs, dp)
    return _fmt_f(neg, digs, dp)


def go_float_json(f: float) -> str:
    """``encoding/json``'s float64 encoding."""
    if math.isnan(f) or math.isinf(f):
        raise ExprError(f"json: unsupported value: {go_float_v(f)}")
    if f == 0:
        return "0" if math.copysign(1.0, f) > 0 else "-0"
    neg = f < 0
    digs, dp = _digits(f)
    a = abs(f)
    if a < 1e-6 or a >= 1e21:
        text = _fmt_e(neg, digs, dp)
        # json cleans e-09 to e-9 (and e+09 stays e+09? no: only the negative case)
        mant, _, ex = text.partition("e")
        if ex.startswith("-0"):
            ex = "-" + ex[2:]
        return f"{mant}e{ex}"
    return _fmt_f(neg, digs, dp)


def _go_duration(td: _dt.timedelta) -> str:
    """``time.Duration.String()``."""
    ns = (td.days * 86400 + td.seconds) * 1_000_000_000 + td.microseconds * 1000
    if ns == 0:
        return "0s"
    neg = ns < 0
    ns = abs(ns)
    sign = "-" if neg else ""
    if ns < 1_000_000_000:
        if ns < 1000:
            return f"{sign}{ns}ns"
        if ns < 1_000_000:
            return sign + _trim_frac(ns / 1000) + "µs"
        return sign + _trim_frac(ns / 1_000_000) + "ms"
    hours, rem = divmod(ns, 3_600_000_000_000)
    minutes, rem = divmod(rem, 60_000_000_000)
    secs = _trim_frac(rem / 1_000_000_000)
    out = sign
    if hours:
        out += f"{hours}h{minutes}m"
    elif minutes:
        out += f"{minutes}m"
    return out + secs + "s"


def _trim_frac(x: float) -> str:
    text = f"{x:.9f}".rstrip("0").rstrip(".")
    return text or "0"


def _go_time(t: _dt.datetime) -> str:
    """``time.Time.String()`` (without the monotonic clock reading)."""
    if t.tzinfo is None:
        t = t.astimezone()
    base = t.strftime("%Y-%m-%d %H:%M:%S")
    if t.microsecond:
        base += "." + f"{t.microsecond:06d}".rstrip("0")
    off = t.strftime("%z") or "+0000"
    name = t.tzname() or ""
    if name in ("UTC", "UTC+00:00"):
        name = "UTC"
    return f"{base} {off} {name}".rstrip()


def go_sprint(value: Any) -> str:
    """``fmt.Sprintf("%v", value)`` for the values our evaluators produce."""
    if value is None:
        return "<nil>"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float_v(value)
    if isinstance(value, Mapping):
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
        return "map[" + " ".join(f"{go_sprint(k)}:{go_sprint(v)}" for k, v in items) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_sprint(v) for v in value) + "]"
    if isinstance(value, _dt.datetime):
        return _go_time(value)
    if isinstance(value, _dt.timedelta):
        return _go_duration(value)
    return str(value)


_JSON_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def _json_str(s: str) -> str:
    out = ['"']
    for ch in s:
        esc = _JSON_ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ch < " ":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def go_json(value: Any) -> str:
    """``json.Marshal(value)``: compact, map keys sorted, HTML characters escaped."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return _json_str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float_json(value)
    if isinstance(value, Mapping):
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
        return "{" + ",".join(f"{_json_str(str(k))}:{go_json(v)}" for k, v in items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(go_json(v) for v in value) + "]"
    if isinstance(value, _dt.datetime):
        return _json_str(_rfc3339_nano(value))
    if isinstance(value, _dt.timedelta):
        ns = (value.days * 86400 + value.seconds) * 1_000_000_000 + value.microseconds * 1000
        return str(ns)
    raise ExprError(f"json: unsupported type: {type_name(value)}")


def _rfc3339_nano(t: _dt.datetime) -> str:
    """time.Time's JSON form (RFC 3339 with the fraction when there is one)."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.timezone.utc)
    base = rfc3339(t)
    if t.microsecond:
        frac = f".{t.microsecond:06d}".rstrip("0")
        cut = 19
        base = base[:cut] + frac + base[cut:]
    return base


def render_value(value: Any) -> str:
    """How a non-string scope value is written into a simple `{{tag}}`.

    Strings as they are; numbers plain; bool ``true``/``false``; times as RFC 3339;
    durations as Go prints them; lists, dicts and None as compact JSON (Go's
    json.Marshal).
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float_json(value) if math.isfinite(value) else go_float_v(value)
    if isinstance(value, _dt.datetime):
        return rfc3339(value)
    if isinstance(value, _dt.timedelta):
        return go_sprint(value)
    return go_json(value)


def rfc3339(t: _dt.datetime) -> str:
    """``t.Format(time.RFC3339)``: ``2024-05-06T07:08:09Z`` (naive times are taken as UTC)."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.timezone.utc)
    text = t.replace(microsecond=0).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_sequence(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))
