"""Items as dflowctl renders them, read back: a group pod (``foreach: {entries: A,
group: N}``) as the items it ran, and a paired item's label as the item.

Such a pod writes each successful item's files under ``<key>/<i>/`` of one shared
fan-in key and says which items it ran in its output ``dflowctl-index`` (a JSON list);
``download`` then sees one node per item, ``<step>(<i>:<i>)``, each with the
artifact at ``<key>/<i>``, exactly like an ungrouped item. A pod's own outputs
``dflowctl-slices`` (the folder laid out by item) are left out of downloads.

An ``items``/``param`` loop whose items know their index goes over pairs
``{dflowctl-i, dflowctl-v}`` (render/slices.py), so Argo names the node
``square(3:dflowctl-i:3,dflowctl-v:c)``; ``shown_item`` gives back ``c``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

INDEX_OUTPUT = "dflowctl-index"
SLICES_ARTIFACT = "dflowctl-slices"
_INDEX_PART = re.compile(r"(?:^|,)dflowctl-i:\d+(?:,|$)")
_LOOP_ITEM = re.compile(r"^(?P<base>.*?)\((?P<index>\d+):(?P<value>.*)\)$")


def group_indices(outputs: Mapping[str, Any] | None) -> list[int] | None:
    """The items a group pod ran (its ``dflowctl-index`` list), else None."""
    for p in (outputs or {}).get("parameters") or []:
        if isinstance(p, Mapping) and p.get("name") == INDEX_OUTPUT:
            text = str(p.get("value", ""))
            if not text.lstrip(" \t\n\r").startswith("["):  # an item's own index (every pod has one)
                return None
            try:
                value = json.loads(text)
            except ValueError:
                return None
            if isinstance(value, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in value):
                return value
    return None


def item_artifacts(
    path: str, artifact: Mapping[str, Any], indices: list[int]
) -> list[tuple[str, dict[str, Any]]]:
    """``(item path, artifact)`` per item of a group pod: the pod's loop suffix becomes
    the item's, its key gains ``/<i>``."""
    s3 = artifact.get("s3")
    head, _, last = path.rpartition("/")
    m = _LOOP_ITEM.match(last)
    if not isinstance(s3, Mapping) or not s3.get("key") or m is None:
        return [(path, dict(artifact))]
    key = str(s3["key"]).rstrip("/")
    out = []
    for i in indices:
        item_path = (head + "/" if head else "") + f"{m.group('base')}({i}:{i})"
        out.append((item_path, {**artifact, "s3": {**s3, "key": f"{key}/{i}"}}))
    return out


def shown_item(label: str) -> str:
    """A loop node's item label, a paired item's value in place of the pair."""
    head, sep, rest = label.partition("dflowctl-v:")
    if not sep or not _INDEX_PART.search(head + ","):
        return label
    if rest[:1] in ("{", "["):  # a map or list item: its JSON, other keys may follow
        try:
            _, end = json.JSONDecoder().raw_decode(rest)
            return rest[:end]
        except ValueError:
            return rest
    return rest


_GROUP_LABEL = re.compile(r"^count:(?P<count>\d+),first:(?P<first>\d+),g:\d+,path:\d+$")


def is_group(label: str) -> bool:
    return bool(_GROUP_LABEL.match(label))


def holds_item(label: str, index: int) -> bool:
    """Is ``label`` (a loop node's item) a group pod's ``{count, first, g, path}`` that
    holds item ``index``?"""
    m = _GROUP_LABEL.match(label)
    return m is not None and int(m["first"]) <= index < int(m["first"]) + int(m["count"])
