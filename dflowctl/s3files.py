"""Local files of S3 transfers: the archive format of an artifact, leftovers of a killed
download, and the ETag a file would have in S3 (plain or multipart) to skip identical
files."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHUNK = 1024 * 1024
PART_SUFFIX = ".dflowctl-part-"


@dataclass(frozen=True)
class ProgressEvent:
    """One step of progress; the hook adds ``total`` to the expected size and
    ``advance`` to what is done (skipped files advance too)."""

    total: int = 0
    advance: int = 0
    file: Path | None = None  # a file finished (written or skipped)
    skipped: bool = False


ProgressHook = Callable[[ProgressEvent], None]


@dataclass(frozen=True)
class S3Object:
    key: str
    size: int
    etag: str


def format_of(artifact: Mapping[str, Any], key: str) -> str:
    arch = artifact.get("archive")
    if isinstance(arch, Mapping) and arch:
        if "none" in arch:
            return "none"
        if "zip" in arch:
            return "zip"
        if "tar" in arch:
            return "tar"
    lower = key.lower()
    if lower.endswith((".tgz", ".tar.gz")):
        return "tar"
    if lower.endswith(".zip"):
        return "zip"
    return "auto"


def clean_parts(dest: Path) -> None:
    """Remove temp files a killed earlier download of ``dest`` left next to it."""
    parent = dest.parent
    if parent.is_dir():
        for p in parent.glob(f".{glob_escape(dest.name)}{PART_SUFFIX}*"):
            if p.is_file() and not p.is_symlink():
                p.unlink()


def clean_parts_tree(root: Path) -> None:
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            if PART_SUFFIX in name and name.startswith("."):
                Path(dirpath, name).unlink()


def glob_escape(name: str) -> str:
    import glob

    return glob.escape(name)


def md5_of(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def part_size_candidates(size: int, parts: int) -> list[int]:
    mib = 1024 * 1024
    guess = -(-size // parts)
    guess = -(-guess // mib) * mib
    sizes = [guess] + [n * mib for n in (5, 8, 10, 15, 16, 32, 64, 100, 128, 256, 512)]
    out: list[int] = []
    for s in sizes:
        if s not in out and -(-size // s) == parts:
            out.append(s)
    return out[:3]


def multipart_etag(path: Path, part_size: int) -> str:
    digests = b""
    n = 0
    with open(path, "rb") as fh:
        while True:
            part = hashlib.md5()
            left = part_size
            got = 0
            while left:
                chunk = fh.read(min(CHUNK, left))
                if not chunk:
                    break
                part.update(chunk)
                got += len(chunk)
                left -= len(chunk)
            if not got:
                break
            digests += part.digest()
            n += 1
    return f"{hashlib.md5(digests).hexdigest()}-{n}"
