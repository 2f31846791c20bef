"""Content-addressed uploads: op `source:` directories and local workflow artifacts.

Both travel as one reproducible tar+gzip under ``dflowctl/sources/<sha256>.tgz``
in the artifact repository. Its single top-level entry is named ``data``; like
Argo's executor, unpacking makes that entry the destination path. The run action
uploads ``source_archive(path)`` to ``source_key(path)``; the renderer only
names the key.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

KEY_PREFIX = "dflowctl/sources/"
ROOT_NAME = "data"


def source_archive(path: Path) -> tuple[bytes, str]:
    """The archive's bytes and its repository key (``dflowctl/sources/<sha256>.tgz``).

    ``__pycache__``, ``.git`` and compiled files are left out, so running the
    code does not change the key.
    """
    from dflowctl.archive import tgz_bytes_and_digest

    data, digest = tgz_bytes_and_digest(path, root_name=ROOT_NAME)
    return data, f"{KEY_PREFIX}{digest}.tgz"


def source_key(path: Path) -> str:
    return source_archive(path)[1]


def source_keys(paths: Iterable[Path]) -> dict[Path, str]:
    """Keys for every distinct path (each archived once)."""
    return {p: source_key(p) for p in sorted(set(paths))}
