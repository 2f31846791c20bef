"""The first bytes of an artifact's files, read where a store keeps them on this machine
(the local engine's repository: a folder, a plain file, or a tgz/zip archive read as a
stream), so a report previews an artifact without copying or unpacking it anywhere.

Only regular files are read: a link (in a folder, or an archive's link member) is left
out, never followed. Names are those ``download`` gives the files: inside the artifact's
folder, or ``""`` for a file artifact (an archive's single top-level file).
"""

from __future__ import annotations

import os
import stat
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TypeVar


@dataclass
class Peeked:
    name: str  # the file's path inside the artifact ("" for a file artifact)
    suffix: str  # of the file's own name, lower case (".png")
    size: int
    head: bytes  # its first bytes (as many as asked for, at most)


HeadSize = Callable[[str], int]  # bytes to read of a file, by its suffix (an image: more)


def _suffix(name: str) -> str:
    return PurePosixPath(name).suffix.lower()


def _walk(root: Path) -> Iterator[tuple[str, Path, int]]:
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        for name in files:
            path = Path(dirpath) / name
            info = os.lstat(path)
            if stat.S_ISREG(info.st_mode):
                yield path.relative_to(root).as_posix(), path, info.st_size


def _read(path: Path, count: int) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(count)


def _folder(root: Path, limit: int, head_size: HeadSize) -> tuple[list[Peeked], int]:
    found = sorted(_walk(root))
    picked = [
        Peeked(name, _suffix(name), size, _read(path, head_size(_suffix(name))))
        for name, path, size in found[:limit]
    ]
    return picked, len(found)


def _single_top(names: list[str]) -> str | None:
    """The one top-level entry every member sits in (or is), if there is one."""
    tops = {PurePosixPath(n).parts[0] for n in names if PurePosixPath(n).parts}
    return tops.pop() if len(tops) == 1 else None


def _relative(name: str, top: str | None, alone: bool) -> str:
    """A member's name as ``download`` places it: the single top item is the artifact."""
    if alone:
        return ""
    if top is not None and name.startswith(top + "/"):
        return name[len(top) + 1 :]
    return name


_E = TypeVar("_E")


def _in_order(entries: list[_E], names: list[str], every_name: list[str]) -> list[tuple[str, _E]]:
    """An archive's file ``entries`` (named ``names``) as the download names them (the
    one top-level folder of ``every_name`` left out), sorted by that name."""
    names = [n.strip("/") for n in names]
    top = _single_top([n.strip("/") for n in every_name])
    alone = len(entries) == 1 and top == names[0] if entries else False
    return sorted(zip((_relative(n, top, alone) for n in names), entries, strict=True), key=lambda p: p[0])


def _tar(path: Path, limit: int, head_size: HeadSize) -> tuple[list[Peeked], int]:
    with tarfile.open(path, "r:*") as tar:
        members = [m for m in tar.getmembers() if m.isfile()]
        ordered = _in_order(members, [m.name for m in members], [m.name for m in tar.getmembers()])
        picked = []
        for name, member in ordered[:limit]:
            suffix = _suffix(member.name)
            fh = tar.extractfile(member)
            head = fh.read(head_size(suffix)) if fh is not None else b""
            picked.append(Peeked(name, suffix, member.size, head))
    return picked, len(members)


def _zip(path: Path, limit: int, head_size: HeadSize) -> tuple[list[Peeked], int]:
    with zipfile.ZipFile(path) as zf:
        infos = [i for i in zf.infolist() if not i.is_dir() and not stat.S_ISLNK(i.external_attr >> 16)]
        ordered = _in_order(infos, [i.filename for i in infos], [i.filename for i in zf.infolist()])
        picked = []
        for name, info in ordered[:limit]:
            suffix = _suffix(info.filename)
            with zf.open(info) as fh:
                picked.append(Peeked(name, suffix, info.file_size, fh.read(head_size(suffix))))
    return picked, len(infos)


def peek(path: Path, is_archive: bool, limit: int, head_size: HeadSize) -> tuple[list[Peeked], int]:
    """The first ``limit`` files (by name) of the artifact stored at ``path`` (an archive,
    tgz or zip, when ``is_archive``), and how many it holds. ``OSError`` (or
    ``tarfile``/``zipfile`` errors) when it cannot be read."""
    from dflowctl import archive

    info = os.lstat(path)
    if stat.S_ISDIR(info.st_mode):
        return _folder(path, limit, head_size)
    if not stat.S_ISREG(info.st_mode):
        return [], 0
    if is_archive:
        return _zip(path, limit, head_size) if archive.is_zip(path) else _tar(path, limit, head_size)
    suffix = _suffix(path.name)
    return [Peeked("", suffix, info.st_size, _read(path, head_size(suffix)))], 1
