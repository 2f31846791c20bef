"""What a download finds at its destination before it writes: symbolic links a write
would go through, existing files with other content, a file where a folder goes.

Each path is looked at once (``lstat``) and remembered, so checking the 10,000 items of
a fan-out costs one look at each item's folder plus one at each folder they share
(``DIR``, ``DIR/square``, ``DIR/square/result``), not a walk from ``DIR`` per file.
"""

from __future__ import annotations

import errno
import filecmp
import os
import stat
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path


class Kind(Enum):
    MISSING = "missing"
    FOLDER = "folder"
    LINK = "link"
    FILE = "file"  # a regular file
    OTHER = "other"  # a device, a fifo, a socket


class State(Enum):
    NEW = "new"  # nothing there: written
    SAME = "same"  # a file with the same content: left as it is
    CLASH = "clash"  # a folder, or a file with other content: only with --force


@dataclass
class Plan:
    """One staged artifact (or ``items.json``) and what writing it to ``dest`` meets."""

    src: Path
    dest: Path
    files: list[tuple[str, Path, State]]  # (staged file, its target, what is there)
    whole: bool  # nothing at ``dest`` and nothing in the way: ``src`` itself is moved there
    links: list[Path] = field(default_factory=list)
    clashes: list[Path] = field(default_factory=list)


def staged_files(root: Path, is_dir: bool) -> list[str]:
    """The files of a staged artifact (a folder), or the staged file itself, as text
    (a fan-out's 10,000 files: no path object each)."""
    if not is_dir:
        return [str(root)]
    found: list[str] = []
    folders = [str(root)]
    while folders:
        folder = folders.pop()
        with os.scandir(folder) as entries:
            listed = sorted(entries, key=lambda e: e.name)
        for entry in listed:
            if not entry.is_dir():  # as os.walk: a link to a folder is neither entered nor a file
                found.append(entry.path)
            elif not entry.is_symlink():
                folders.append(entry.path)
    return found


def _kind_of(path: Path) -> Kind:
    try:
        mode = os.lstat(path).st_mode
    except OSError as err:
        if err.errno in (errno.ENOENT, errno.ENOTDIR):
            return Kind.MISSING
        raise
    if stat.S_ISLNK(mode):
        return Kind.LINK
    if stat.S_ISDIR(mode):
        return Kind.FOLDER
    return Kind.FILE if stat.S_ISREG(mode) else Kind.OTHER


class Destination:
    """The download's folder ``base`` as found before writing; each path looked at once."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self._kinds: dict[Path, Kind] = {}
        self._ways: dict[Path, tuple[Path | None, bool]] = {}
        self._existing: dict[Path, tuple[Path, Kind] | None] = {}

    def kind(self, path: Path) -> Kind:
        found = self._kinds.get(path)
        if found is None:
            above = self._kinds.get(path.parent)
            if above is Kind.MISSING or above is Kind.FILE or above is Kind.OTHER:
                found = Kind.MISSING  # nothing under a missing folder or a file: not looked at
            else:
                found = _kind_of(path)
            self._kinds[path] = found
        return found

    def _way(self, path: Path) -> tuple[Path | None, bool]:
        """(the first link from ``base`` to ``path``, ``path`` included; whether
        ``path`` is a folder one can go on through)."""
        got = self._ways.get(path)
        if got is None:
            if path == self.base or path.parent == path:
                got = (None, True)  # the folder the user named is not counted
            else:
                link, through = self._way(path.parent)
                if link is not None or not through:
                    got = (link, False)
                else:
                    kind = self.kind(path)
                    got = (path, False) if kind is Kind.LINK else (None, kind is Kind.FOLDER)
            self._ways[path] = got
        return got

    def link_on_the_way(self, target: Path) -> Path | None:
        """The first symbolic link already on the way from ``base`` (itself not counted:
        the user named it) to ``target``, which a write would go through."""
        return self._way(target)[0]

    def nearest_existing(self, path: Path) -> tuple[Path, Kind] | None:
        """``path`` or its nearest parent that exists, with its kind."""
        if path in self._existing:
            return self._existing[path]
        kind = self.kind(path)
        if kind is not Kind.MISSING:
            found: tuple[Path, Kind] | None = (path, kind)
        elif path.parent == path:
            found = None
        else:
            found = self.nearest_existing(path.parent)
        self._existing[path] = found
        return found

    def plan(self, src: Path, dest: Path, is_dir: bool) -> Plan:
        """What writing the staged ``src`` (a folder, or one file) to ``dest`` meets."""
        files = staged_files(src, is_dir)
        cut = len(str(src))  # the staged files are under src: their targets by text, not by Path parts
        targets = [Path(f"{dest}{f[cut:]}") for f in files] if is_dir else [dest]
        link = self.link_on_the_way(dest)
        if link is None and self.kind(dest) is Kind.MISSING:
            plan = Plan(src, dest, [(f, t, State.NEW) for f, t in zip(files, targets, strict=True)], is_dir)
        else:
            plan = Plan(src, dest, [], False)
            links = {link} if link is not None else set()
            for f, t in zip(files, targets, strict=True):
                found = self.link_on_the_way(t)
                above = self.nearest_existing(t.parent)
                if found is not None:
                    links.add(found)
                    state = State.CLASH
                elif above is not None and above[1] is Kind.FILE:
                    plan.clashes.append(above[0])  # a file where a folder of it goes
                    state = State.CLASH
                else:
                    state = self._state(f, t)
                    if state is State.CLASH:
                        plan.clashes.append(t)
                plan.files.append((f, t, state))
            plan.links = sorted(links)
        # a file where the artifact needs a folder (or a parent of one)
        existing = self.nearest_existing(dest)
        if existing is not None and existing[1] is Kind.FILE and (is_dir or existing[0] != dest):
            plan.clashes.append(existing[0])
            plan.whole = False
        plan.clashes = list(dict.fromkeys(plan.clashes))
        return plan

    def _state(self, src: str, target: Path) -> State:
        kind = self.kind(target)
        if kind is Kind.MISSING:
            return State.NEW
        if kind is Kind.FOLDER or kind is Kind.OTHER:
            return State.CLASH
        try:  # a file (a link is reported as a link; through it, as its target)
            return State.SAME if filecmp.cmp(src, target, shallow=False) else State.CLASH
        except OSError:
            return State.CLASH
