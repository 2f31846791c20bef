"""Where a downloaded artifact goes: ``DIR/<step>/<artifact>/`` (``<i>/`` per loop the
step is an item of), the name a file artifact keeps, and the ``items.json`` of each
fan-out step. Pure: no file is touched here."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from dflowctl.itemgroups import shown_item

LOOP_SUFFIX = re.compile(r"^(?P<base>.*?)\((?P<index>\d+)(?::.*)?\)$")
LOOP_ITEM = re.compile(r"^(?P<base>.*?)\((?P<index>\d+):(?P<value>.*)\)$")  # not retry attempts
ITEMS_FILE = "items.json"
_UNSAFE = re.compile(r"[\x00-\x1f/\\]")


class Placed(Protocol):
    """What ``destination`` needs of a selected artifact (``selection.Selected``)."""

    @property
    def step(self) -> str: ...

    @property
    def name(self) -> str: ...


def safe_part(part: str) -> str:
    """A display name as one safe path component."""
    cleaned = _UNSAFE.sub("_", part).strip()
    return "_" if cleaned in ("", ".", "..") else cleaned


def loop_place(step: str) -> tuple[str, list[str]]:
    """A step path with its loop items' suffixes taken off, and their indices:
    ``outer/square(3:9)`` → (``outer/square``, [``3``])."""
    parts: list[str] = []
    indices: list[str] = []
    last_plain = False
    for part in step.split("/"):
        m = LOOP_ITEM.match(part)
        if m:
            if last_plain and parts[-1] == m.group("base"):
                parts.pop()  # the loop inside a wrapper step of its name (parallelism, slices)
            parts.append(m.group("base"))
            indices.append(str(int(m.group("index"))))
        else:
            parts.append(part)
        last_plain = not m
    return "/".join(parts), indices


def destination(base: Path, item: Placed) -> Path:
    """``DIR/<step>/<artifact>``, plus ``<i>/`` for each loop the step is an item of."""
    step, indices = loop_place(item.step)
    return base.joinpath(step, safe_part(item.name), *indices)


def file_name(artifact: Mapping[str, Any]) -> str:
    """The name a file artifact keeps: that of the path it was saved from."""
    path = artifact.get("path")
    name = PurePosixPath(str(path)).name if isinstance(path, str) else ""
    return safe_part(name or str(artifact.get("name") or "artifact"))


def _item_value(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return text


def items_files(items: Iterable[Placed]) -> dict[str, dict[str, object]]:
    """Per fan-out step (its path without loop suffixes), index → item value (as Argo
    shows it in the node's name; JSON when it parses as JSON)."""
    found: dict[str, dict[str, object]] = {}
    for item in items:
        parts = item.step.split("/")
        for depth, part in enumerate(parts):
            m = LOOP_ITEM.match(part)
            if m:
                step, _ = loop_place("/".join(parts[: depth + 1]))
                found.setdefault(step, {})[str(int(m.group("index")))] = _item_value(
                    shown_item(m.group("value"))
                )
    return {step: dict(sorted(values.items(), key=lambda kv: int(kv[0]))) for step, values in found.items()}
