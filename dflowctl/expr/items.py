"""Loop items as Argo exposes them: the ``item`` tags and the node name suffix.

For an item of ``withItems`` / ``withParam`` / ``withSequence`` Argo's controller
(processItem) sets ``{{item}}``, and for a map item ``{{item.<key>}}`` per key; the
loop node is named ``<name>(<index>:<label>)``. Scalars render as JSON does
(strings as they are), a map item's ``{{item}}`` is its compact JSON with sorted
keys and its label is ``k1:v1,k2:v2`` sorted; a list item's label is Go's
``%v`` of the list (``[a b]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dflowctl.expr.values import go_json, is_sequence, render_value


def _item_str(value: Any) -> str:
    """wfv1.Item.String(): JSON, with a string's quotes removed."""
    return value if isinstance(value, str) else render_value(value)


def item_scope(item: Any) -> dict[str, str]:
    """The flat scope entries for one loop item: ``item`` and ``item.<key>``."""
    if isinstance(item, Mapping):
        scope = {f"item.{k}": _item_str(v) for k, v in item.items()}
        scope["item"] = go_json(item)
        return scope
    if is_sequence(item):
        return {"item": go_json(list(item))}
    return {"item": _item_str(item)}


def item_label(item: Any) -> str:
    """The ``<label>`` in a loop node's name ``<name>(<index>:<label>)``."""
    if isinstance(item, Mapping):
        return ",".join(sorted(f"{k}:{_item_str(v)}" for k, v in item.items()))
    if is_sequence(item):
        return "[" + " ".join(_item_str(v) for v in item) + "]"
    return _item_str(item)


def loop_node_name(name: str, index: int, item: Any) -> str:
    """``<name>(<index>:<label>)``, as Argo names a loop's child node."""
    return f"{name}({index}:{item_label(item)})"
