"""A ``foreach`` as Argo's loop fields (``withItems``, ``withParam``, ``withSequence``),
and what an item tells of itself: a ``range``'s item count, the item's index as an
expression of ``item`` (fan-in keys by index, aligned fan-in)."""

from __future__ import annotations

import re
from typing import Any

from dflowctl.render import slices
from dflowctl.render.scope import plain
from dflowctl.spec import model


def foreach(fe: model.Foreach) -> dict[str, Any]:
    if fe.kind == "entries":
        return {"withParam": f"{{{{steps.{slices.ENTRIES_STEP}.outputs.parameters.items}}}}"}
    if fe.kind == "items":
        return {"withItems": plain(list(fe.items or ()))}
    if fe.kind == "param":
        return {"withParam": fe.param}
    seq: dict[str, Any] = {}
    if fe.count is not None:
        seq["count"] = str(fe.count)
    if fe.start is not None:
        seq["start"] = str(fe.start)
    if fe.end is not None:
        seq["end"] = str(fe.end)
    if fe.format:
        seq["format"] = fe.format
    return {"withSequence": seq}


_NUMBER_FORMAT = re.compile(r"^%0?\d*d$")


def item_count(fe: model.Foreach) -> str | None:
    """How many items a ``range`` has, as parameter text (a literal or a reference)."""
    if fe.kind != "range":
        return None
    if fe.count is not None:
        return str(fe.count)
    if isinstance(fe.start, int) and isinstance(fe.end, int):
        return str(abs(fe.end - fe.start) + 1)
    return None


def item_index(fe: model.Foreach) -> str | None:
    """The loop index of the current item as an Argo expression of ``item`` alone
    (Argo has no index variable): for a ``range`` with a literal start (and, with
    ``end``, a literal end); ``None`` when it cannot be known from the item.
    An entry of a folder (``entries`` without ``group``) carries its index."""
    if fe.kind == "entries":
        return None if fe.group else "{{item.i}}"
    if fe.kind != "range" or (fe.format and not _NUMBER_FORMAT.match(fe.format)):
        return None
    start = 0 if fe.start is None else fe.start
    if not isinstance(start, int):
        return None
    down = False
    if fe.end is not None:
        if not isinstance(fe.end, int):
            return None
        down = fe.end < start  # Argo counts down from start to end
    if start == 0:
        return "{{=asInt(item)}}"
    if down:
        return f"{{{{={start} - asInt(item)}}}}"
    return f"{{{{=asInt(item) - {start}}}}}" if start > 0 else f"{{{{=asInt(item) + {-start}}}}}"
