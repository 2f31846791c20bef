"""Bounds on every input dflowctl reads (specs, Argo files, parameter files, ``-p``).

One pass over the YAML event stream (libyaml's C parser when PyYAML is there,
else ruamel's; both iterative, no recursion) before anything builds a tree:

- nesting deeper than ``MAX_DEPTH`` levels,
- more than ``MAX_NODES`` values in all (what every loader builds is bounded),
- aliases that would expand to more than ``MAX_ALIAS_NODES`` nodes (the
  "billion laughs": a 730-byte file of 7 nested levels of 10 aliases),
- an alias inside the node it names (``a: &a {<<: *a}``, ``&l [*l]``),
- a plain integer of more than ``MAX_INT_DIGITS`` digits (Python refuses to
  convert those),
- a list or mapping used as a mapping key (``? [a, b]``: neither JSON nor
  Kubernetes has such keys, and the loaders cannot all build them).

Files are read through ``read_bounded``: regular files only, at most
``MAX_FILE_BYTES``. JSON text (``-p``) is measured by ``json_nesting`` before
it is parsed. Each limit is reported as a ``Limit`` with the 0-based
position where it was crossed; the callers turn it into their own error.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 100
MAX_ALIAS_NODES = 100_000
MAX_NODES = 1_000_000
MAX_INT_DIGITS = 4300
LIBYAML_MIN_CHARS = 2048

# a plain scalar that a YAML 1.1 or 1.2 resolver may read as an integer
_INT_LIKE = re.compile(r"[-+]?(?:0[xXoObB])?[0-9a-fA-F_:]+")


@dataclass(frozen=True)
class Limit(Exception):
    """An input crossed a bound: what, and where (0-based line/column, -1 when unknown)."""

    message: str
    hint: str
    line: int = -1
    col: int = -1

    def __str__(self) -> str:
        return self.message


def too_deep(line: int = -1, col: int = -1) -> Limit:
    return Limit(
        f"nested more than {MAX_DEPTH} levels deep",
        f"dflowctl reads at most {MAX_DEPTH} levels of nested lists and mappings",
        line,
        col,
    )


def too_big_int(digits: int, line: int = -1, col: int = -1) -> Limit:
    return Limit(
        f"an integer of {digits} digits (at most {MAX_INT_DIGITS})",
        "quote it to make it a string",
        line,
        col,
    )


def too_many_values(line: int = -1, col: int = -1) -> Limit:
    return Limit(
        f"the file holds more than {MAX_NODES:,} values",
        f"dflowctl reads at most {MAX_NODES:,} values (lists, mappings and scalars) from one file",
        line,
        col,
    )


def too_many_nodes(line: int = -1, col: int = -1) -> Limit:
    return Limit(
        f"aliases here expand to more than {MAX_ALIAS_NODES:,} values",
        "YAML aliases (*name) copy what their anchor (&name) holds; write the data out or use fewer",
        line,
        col,
    )


def scan_yaml(text: str) -> None:
    """Raise ``Limit`` when ``text`` crosses a bound. A YAML syntax error ends the scan
    quietly: the loader reports it, with its own message, before building anything.
    (libyaml's scanner stops at 1,000 nested flow levels, ahead of the events; that
    text is scanned again by ruamel's parser, which goes as far as the loader will.)"""
    fast = len(text) >= LIBYAML_MIN_CHARS
    stopped = _scan(*_event_source(text, fast=fast))
    if fast and stopped is not None and "nesting depth" in str(stopped):
        _scan(*_event_source(text, fast=False))


def _scan(events: Any, error: type[Exception]) -> Exception | None:
    """The scan of one event stream; the syntax error it ended at, if any."""
    depth = 0
    expanded = 0
    sizes: dict[str, int] = {}
    collections: set[str] = set()  # anchors of lists and mappings
    open_anchors: list[str | None] = []
    counts: list[int] = [0]  # nodes under each open collection (plus the stream)
    want_key: list[bool | None] = [None]  # per open collection: a mapping's next node is a key?

    def node(ev: Any, collection: bool) -> None:
        is_key = want_key[-1]
        if is_key is None:
            return
        want_key[-1] = not is_key
        if is_key and collection:
            line, col = _mark(ev)
            raise Limit(
                "a list or mapping used as a mapping key",
                "keys are plain values (names); JSON and Kubernetes have no other kind",
                line,
                col,
            )

    total = 0
    try:
        for ev in events:
            kind = type(ev).__name__
            if kind in ("MappingStartEvent", "SequenceStartEvent", "ScalarEvent"):
                total += 1
                if total > MAX_NODES:
                    raise too_many_values(*_mark(ev))
            if kind in ("MappingStartEvent", "SequenceStartEvent"):
                node(ev, True)
                want_key.append(True if kind == "MappingStartEvent" else None)
                depth += 1
                if depth > MAX_DEPTH:
                    raise too_deep(*_mark(ev))
                open_anchors.append(ev.anchor)
                counts.append(0)
            elif kind in ("MappingEndEvent", "SequenceEndEvent"):
                depth -= 1
                want_key.pop()
                size = counts.pop() + 1
                anchor = open_anchors.pop()
                if anchor is not None:
                    sizes[anchor] = size
                    collections.add(anchor)
                counts[-1] += size
            elif kind == "ScalarEvent":
                node(ev, False)
                if ev.anchor is not None:
                    sizes[ev.anchor] = 1
                counts[-1] += 1
                value = ev.value
                if len(value) > MAX_INT_DIGITS and not ev.style and _INT_LIKE.fullmatch(value):
                    digits = sum(c.isalnum() for c in value)
                    if digits > MAX_INT_DIGITS:
                        raise too_big_int(digits, *_mark(ev))
            elif kind == "AliasEvent":
                if ev.anchor in open_anchors:
                    line, col = _mark(ev)
                    raise Limit(
                        f"the alias *{ev.anchor} is inside the node it names (a recursive alias)",
                        "an alias can only copy a node that is already complete",
                        line,
                        col,
                    )
                known = sizes.get(ev.anchor)
                if known is None:
                    return None  # an unknown alias: the loader reports it
                node(ev, known > 1 or ev.anchor in collections)
                expanded += known
                total += known
                if expanded > MAX_ALIAS_NODES:
                    raise too_many_nodes(*_mark(ev))
                if total > MAX_NODES:
                    raise too_many_values(*_mark(ev))
                counts[-1] += known
    except error as err:
        return err
    return None


def _mark(ev: Any) -> tuple[int, int]:
    mark = ev.start_mark
    return (mark.line, mark.column) if mark is not None else (-1, -1)


def _event_source(text: str, *, fast: bool) -> tuple[Any, type[Exception]]:
    if fast:  # below LIBYAML_MIN_CHARS, importing PyYAML costs more than it saves
        try:
            import yaml

            loader = getattr(yaml, "CSafeLoader", None)
            if loader is not None:
                return yaml.parse(text, Loader=loader), yaml.YAMLError
        except ImportError:
            pass
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    return YAML(typ="safe", pure=True).parse(text), YAMLError


def json_nesting(text: str) -> int:
    """The deepest bracket nesting of JSON ``text`` (outside strings), without parsing it."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def read_bounded(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes. ``OSError`` as ``open`` raises
    it; ``Limit`` for anything that is not a regular file or is larger."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(21, "Is a directory", str(path))
        if not stat.S_ISREG(info.st_mode):
            raise Limit(
                f"is not a regular file ({_file_kind(info.st_mode)})",
                "give the path of a file; pipes, devices and sockets are not read",
            )
        if info.st_size > limit:
            raise _too_large(limit)
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise _too_large(limit)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _too_large(limit: int) -> Limit:
    return Limit(
        f"the file is larger than {limit // (1024 * 1024)} MiB",
        f"dflowctl reads files of at most {limit // (1024 * 1024)} MiB",
    )


def _file_kind(mode: int) -> str:
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISFIFO(mode):
        return "a pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file"
