"""Go's ``time.ParseDuration`` and RFC 3339 times, as Argo reads and writes them.

The one duration grammar of the project: the spec checks (``spec.values``),
the renderer, expressions (``expr.gotime``), the local engine and the
``argosay`` stand-in all use :func:`parse_duration`. Go accepts both micro
signs (U+00B5 ``µs`` and U+03BC ``μs``) for microseconds, so do we.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "\u00b5s": 1e-6,  # micro sign
    "\u03bcs": 1e-6,  # Greek small letter mu
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_BARE_SECONDS = re.compile(r"[-+]?\d+(\.\d+)?")


def go_duration(text: str) -> float:
    """Seconds in ``text`` read exactly as Go's ``time.ParseDuration`` reads it: an optional
    sign, then one or more ``<number><unit>`` (a lone ``0`` needs no unit). ``ValueError``
    on anything else."""
    s = text.strip()
    sign = 1.0
    if s[:1] in ("+", "-"):
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise ValueError(f"invalid duration {text!r}")
    pos = 0
    total = 0.0
    while pos < len(s):
        match = _DURATION_PART.match(s, pos)
        if match is None:
            raise ValueError(f"invalid duration {text!r}")
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    return sign * total


def parse_duration(value: str | int | float) -> float:
    """Seconds in an Argo duration: Go's ``time.ParseDuration`` ("90s", "1m30s", "1.5h").

    A bare number counts as seconds, as Argo does for ``activeDeadlineSeconds``,
    ``timeout`` and backoff ``duration``. Raises ``ValueError`` on anything else.
    """
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    if _BARE_SECONDS.fullmatch(text):
        return float(text)
    return go_duration(text)


def is_go_duration(text: str, *, signed: bool = True) -> bool:
    """Whether ``text`` is a Go duration (units required; ``signed=False``: no sign)."""
    if not signed and text.strip()[:1] in ("+", "-"):
        return False
    try:
        go_duration(text)
    except ValueError:
        return False
    return True


def rfc3339(epoch: float | None = None) -> str:
    """A Kubernetes ``metav1.Time`` as JSON: UTC, whole seconds, ``Z`` suffix."""
    moment = time.time() if epoch is None else epoch
    return datetime.fromtimestamp(int(moment), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)


def parse_rfc3339_time(text: str) -> datetime:
    """An RFC 3339 time (``Z`` or an offset, any fraction, as Go's ``time.RFC3339Nano``
    reads it) as an aware UTC ``datetime``. ``ValueError`` on anything else."""
    match = _RFC3339.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    frac = match.group(7) or ""
    micro = int((frac + "000000")[:6])
    moment = datetime(year, month, day, hour, minute, second, micro, tzinfo=timezone.utc)
    if match.group(9):
        offset = timedelta(hours=int(match.group(10)), minutes=int(match.group(11)))
        moment = moment - offset if match.group(9) == "+" else moment + offset
    return moment


def parse_rfc3339(text: str) -> float:
    """Seconds since the epoch of an RFC 3339 time (such as :func:`rfc3339` writes)."""
    return parse_rfc3339_time(text).timestamp()
