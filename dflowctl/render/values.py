"""Values on the wire: parameters as text, durations as seconds, tag parsing."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from dflowctl.argo import parse_duration
from dflowctl.errors import EXIT_BAD_INPUT, DflowctlError, Location, UsageError
from dflowctl.spec.values import is_duration

TAG = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


class RenderError(DflowctlError):
    """A model the spec checks would have refused (one built in code, not through
    ``validate``): the caller's mistake. Specs report these, with positions, as ``SpecError``
    from ``validate``; the renderer itself never raises ``SpecError``."""

    exit_code = EXIT_BAD_INPUT


def fail(message: str, loc: Location | None) -> RenderError:
    return RenderError(f"{loc}: {message}" if loc is not None else message)


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
    """Whole seconds (at least 1) of a spec duration (``90s``, ``10m``, ``1h30m``:
    what ``spec.values.is_duration`` accepts) or of a bare whole number of seconds."""
    if isinstance(text, (int, float)):
        return int(text)
    s = text.strip()
    if s.isdecimal():
        return int(s)
    if not is_duration(s):
        raise UsageError(f"not a duration: {text!r} (use e.g. 90s, 10m, 2h)")
    return max(int(parse_duration(s)), 1)
