"""Go's time layouts ("2006-01-02T15:04:05Z07:00") and durations ("1h2m3s")."""

from __future__ import annotations

import datetime as _dt
import re

from dflowctl.argo import parse_duration as argo_duration
from dflowctl.expr.values import ExprError

# Go layout chunks, longest first at each position (as time.nextStdChunk sees them).
_CHUNKS = (
    "January",
    "Monday",
    "Z07:00:00",
    "-07:00:00",
    "Z070000",
    "-070000",
    "Z07:00",
    "-07:00",
    "Z0700",
    "-0700",
    "2006",
    ".000000000",
    ".999999999",
    ".000000",
    ".999999",
    ".000",
    ".999",
    "Jan",
    "Mon",
    "MST",
    "002",
    "__2",
    "Z07",
    "-07",
    "01",
    "02",
    "_2",
    "03",
    "04",
    "05",
    "06",
    "15",
    "PM",
    "pm",
    ".0",
    ".9",
    "1",
    "2",
    "3",
    "4",
    "5",
)


def _offset(t: _dt.datetime, colon: bool, z: bool, seconds: bool = False, hours_only: bool = False) -> str:
    off = t.utcoffset() or _dt.timedelta(0)
    total = int(off.total_seconds())
    if z and total == 0:
        return "Z"
    sign = "-" if total < 0 else "+"
    total = abs(total)
    hh, rem = divmod(total, 3600)
    mm, ss = divmod(rem, 60)
    if hours_only:
        return f"{sign}{hh:02d}"
    sep = ":" if colon else ""
    out = f"{sign}{hh:02d}{sep}{mm:02d}"
    if seconds:
        out += f"{sep}{ss:02d}"
    return out


def _frac(t: _dt.datetime, chunk: str) -> str:
    digits = len(chunk) - 1
    ns = f"{t.microsecond:06d}000"[:digits]
    if chunk[1] == "9":
        ns = ns.rstrip("0")
        return "." + ns if ns else ""
    return "." + ns


def format_time(t: _dt.datetime, layout: str) -> str:
    """``t.Format(layout)``."""
    out: list[str] = []
    i = 0
    n = len(layout)
    while i < n:
        for chunk in _CHUNKS:
            if layout.startswith(chunk, i):
                # Go: "Jan"/"Mon" etc. only; a "1" inside "15"-like chunks was matched first.
                if chunk in (".0", ".9", ".000", ".999", ".000000", ".999999", ".000000000", ".999999999"):
                    # only a fraction if followed by a non-digit
                    j = i + len(chunk)
                    if j < n and layout[j].isdigit():
                        continue
                out.append(_render_chunk(t, chunk))
                i += len(chunk)
                break
        else:
            out.append(layout[i])
            i += 1
    return "".join(out)


def _render_chunk(t: _dt.datetime, chunk: str) -> str:
    if chunk == "2006":
        return f"{t.year:04d}"
    if chunk == "06":
        return f"{t.year % 100:02d}"
    if chunk == "01":
        return f"{t.month:02d}"
    if chunk == "1":
        return str(t.month)
    if chunk == "Jan":
        return t.strftime("%b")
    if chunk == "January":
        return t.strftime("%B")
    if chunk == "02":
        return f"{t.day:02d}"
    if chunk == "2":
        return str(t.day)
    if chunk == "_2":
        return f"{t.day:2d}"
    if chunk == "002":
        return f"{t.timetuple().tm_yday:03d}"
    if chunk == "__2":
        return f"{t.timetuple().tm_yday:3d}"
    if chunk == "15":
        return f"{t.hour:02d}"
    if chunk == "03":
        return f"{(t.hour % 12) or 12:02d}"
    if chunk == "3":
        return str((t.hour % 12) or 12)
    if chunk == "04":
        return f"{t.minute:02d}"
    if chunk == "4":
        return str(t.minute)
    if chunk == "05":
        return f"{t.second:02d}"
    if chunk == "5":
        return str(t.second)
    if chunk == "PM":
        return "PM" if t.hour >= 12 else "AM"
    if chunk == "pm":
        return "pm" if t.hour >= 12 else "am"
    if chunk == "Mon":
        return t.strftime("%a")
    if chunk == "Monday":
        return t.strftime("%A")
    if chunk == "MST":
        name = t.tzname() or ""
        return "UTC" if name in ("UTC", "UTC+00:00") else name
    if chunk.startswith("."):
        return _frac(t, chunk)
    z = chunk.startswith("Z")
    body = chunk[1:]
    if body == "07":
        return _offset(t, False, z, hours_only=True)
    return _offset(t, ":" in body, z, seconds=len(body.replace(":", "")) == 6)


_BARE_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")


def parse_duration(text: str) -> _dt.timedelta:
    """``time.ParseDuration``: "1h30m", "-1.5s", "300ms".

    The grammar and units are ``argo.parse_duration``'s; Go wants a unit on
    every number except a lone zero, where Argo's fields also take bare seconds.
    """
    s = text.strip()
    if s not in ("0", "+0", "-0") and _BARE_NUMBER.fullmatch(s):
        raise ExprError(f"time: invalid duration {text!r}")
    try:
        return _dt.timedelta(seconds=argo_duration(s))
    except ValueError:
        raise ExprError(f"time: invalid duration {text!r}") from None


def parse_time(text: str) -> _dt.datetime:
    """Parse RFC 3339 and the usual ISO forms (what Argo's timestamps look like)."""
    s = text.strip()
    try:
        if s.endswith(("Z", "z")):
            s = s[:-1] + "+00:00"
        return _dt.datetime.fromisoformat(s)
    except ValueError:
        pass
    for fmt in ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return _dt.datetime.strptime(s, fmt)
        except ValueError:
            continue
    raise ExprError(f"cannot parse {text!r} as a time")


def parse_time_layout(text: str, layout: str) -> _dt.datetime:
    """``time.Parse(layout, text)`` for layouts built from the common chunks."""
    mapping = {
        "2006": "%Y",
        "06": "%y",
        "01": "%m",
        "02": "%d",
        "15": "%H",
        "03": "%I",
        "04": "%M",
        "05": "%S",
        "Jan": "%b",
        "January": "%B",
        "Mon": "%a",
        "Monday": "%A",
        "PM": "%p",
        "MST": "%Z",
        "-0700": "%z",
        "-07:00": "%z",
        "Z07:00": "%z",
        "Z0700": "%z",
        ".000000": ".%f",
        ".000": ".%f",
    }
    out: list[str] = []
    i = 0
    while i < len(layout):
        for chunk in sorted(mapping, key=len, reverse=True):
            if layout.startswith(chunk, i):
                out.append(mapping[chunk])
                i += len(chunk)
                break
        else:
            out.append(layout[i].replace("%", "%%"))
            i += 1
    fmt = "".join(out)
    s = text.strip()
    if s.endswith("Z") and "%z" in fmt:
        s = s[:-1] + "+0000"
    try:
        return _dt.datetime.strptime(s, fmt)
    except ValueError as exc:
        raise ExprError(f"parsing time {text!r} as {layout!r}: {exc}") from exc
