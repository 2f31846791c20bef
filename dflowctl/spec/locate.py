"""Positions in a loaded YAML file: a JSON path → ``Location``, and diagnostics
that show the source line.

ruamel's round-trip containers remember where each key and value started
(``lc.key(k)``, ``lc.value(k)``, ``lc.item(i)``, 0-based); this module turns
those into 1-based ``Location``s, falling back to the nearest ancestor that
has a position.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from dflowctl.errors import Diagnostic, Location

PathItem = str | int


@dataclass(frozen=True)
class Source:
    """The text of one file, as the user named it (``file``), split in lines."""

    file: str
    lines: tuple[str, ...]

    def location(self, line: int, col: int) -> Location:
        """A 1-based location in this file."""
        return Location(self.file, line, col)

    def line_text(self, line: int) -> str | None:
        return self.lines[line - 1] if 1 <= line <= len(self.lines) else None

    def diagnostic(self, message: str, loc: Location | None, hint: str | None = None) -> Diagnostic:
        """A diagnostic showing the source line of ``loc`` (when it is in this file)."""
        text = self.line_text(loc.line) if loc is not None and loc.file == self.file else None
        return Diagnostic(message=message, location=loc, hint=hint, source_line=text)

    def refine(self, loc: Location | None, needle: str, *, max_lines: int = 200) -> Location | None:
        """The position of ``needle`` at or after ``loc`` (same line first, then the
        following lines, for block scalars); ``loc`` itself when it is not found."""
        if loc is None or not needle:
            return loc
        first = self.line_text(loc.line)
        if first is not None:
            idx = first.find(needle, max(loc.col - 1, 0))
            if idx >= 0:
                return Location(loc.file, loc.line, idx + 1)
        last = min(len(self.lines), loc.line + max_lines)
        for n in range(loc.line + 1, last + 1):
            idx = self.lines[n - 1].find(needle)
            if idx >= 0:
                return Location(loc.file, n, idx + 1)
        return loc


def lc_pair(node: Any, item: PathItem, *, key: bool) -> tuple[int, int] | None:
    lc = getattr(node, "lc", None)
    if lc is None:
        return None
    try:
        if isinstance(node, dict):
            if key or node.get(item) is None:
                # an empty value has no position of its own: point at its key
                return lc.key(item)  # type: ignore[no-any-return]
            return lc.value(item)  # type: ignore[no-any-return]
        if isinstance(node, list) and isinstance(item, int):
            return lc.item(item)  # type: ignore[no-any-return]
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
    return None


def position(root: Any, path: Sequence[PathItem], *, key: bool = False) -> tuple[int, int]:
    """1-based (line, col) of the value at ``path`` (of its key when ``key``);
    the nearest ancestor's position when the path does not lead anywhere."""
    best = (
        getattr(getattr(root, "lc", None), "line", 0) + 1,
        getattr(getattr(root, "lc", None), "col", 0) + 1,
    )
    node = root
    for i, item in enumerate(path):
        last = i == len(path) - 1
        pair = lc_pair(node, item, key=key and last)
        if pair is None:
            break
        best = (pair[0] + 1, pair[1] + 1)
        try:
            node = node[item]
        except (KeyError, IndexError, TypeError):
            break
    return best


def container_position(root: Any, path: Sequence[PathItem]) -> tuple[int, int]:
    """Where the mapping or list at ``path`` is named: the key that holds it,
    or its first line when it is a list item (or the top level)."""
    if not path:
        lc = getattr(root, "lc", None)
        return (lc.line + 1, lc.col + 1) if lc is not None else (1, 1)
    if isinstance(path[-1], str):
        return position(root, path, key=True)
    return position(root, path)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building large trees: with tens of
    thousands of new containers, its repeated full passes cost more than the work
    (5x on a 10,000-step spec). Nothing built here is cyclic garbage."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
