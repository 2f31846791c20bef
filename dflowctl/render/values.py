"""Values on the wire: parameters as text, durations as seconds, tag parsing."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from dflowctl.errors import UsageError

TAG = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def encode(value: Any) -> str:
    """A parameter value as Argo carries it: a str as is, anything else as JSON text."""
    if isinstance(value, str):
        return value
    if isinstance(value, tuple):
        value = list(value)
    return json.dumps(value)


def tags(text: str) -> Iterator[str]:
    """The inner text of every ``{{...}}`` tag in ``text`` (expressions ``{{=...}}`` included)."""
    for match in TAG.finditer(text):
        yield match.group(1)


def single_tag(text: str) -> str | None:
    """The tag when ``text`` is exactly one ``{{...}}`` tag, else None."""
    match = TAG.fullmatch(text.strip())
    return match.group(1) if match else None


def duration_seconds(text: str | int | float) -> int:
    """Whole seconds of a duration like ``90s``, ``10m``, ``1h30m`` or a bare number of seconds."""
    if isinstance(text, (int, float)):
        return int(text)
    s = text.strip()
    if re.fullmatch(r"\d+", s):
        return int(s)
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(s):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(s) or not s:
        raise UsageError(f"not a duration: {text!r} (use e.g. 90s, 10m, 2h)")
    return max(int(total), 1)
