"""Content-addressed uploads: op `source:` directories and local workflow artifacts.

Both travel as one reproducible tar+gzip under ``dflowctl/sources/<sha256>.tgz``
in the artifact repository. Its single top-level entry is named ``data``; like
Argo's executor, unpacking makes that entry the destination path. The run action
uploads ``source_archive(path)`` bytes to its key; the renderer only names the key
(``render_workflow(wf, source_keys(upload_paths(wf)))``: the renderer reads no file).
Same content gives the same bytes (sorted names, zero times and owners,
normalised modes); ``__pycache__``, ``.git`` and compiled files are left out, so
running the code does not change the key.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from dflowctl.errors import UsageError

KEY_PREFIX = "dflowctl/sources/"
ROOT_NAME = "data"
_SKIP_DIRS = ("__pycache__", ".git")
_SKIP_SUFFIXES = (".pyc", ".pyo")


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        for name in dirnames:
            yield base / name
        for name in sorted(filenames):
            if not name.endswith(_SKIP_SUFFIXES):
                yield base / name


def _info(name: str, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = mode
    return info


def source_archive(path: Path) -> tuple[bytes, str]:
    """The archive's bytes and its repository key (``dflowctl/sources/<sha256>.tgz``)."""
    if not path.exists():
        raise UsageError(f"{path}: no such file or directory")
    buf = io.BytesIO()
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for p in [path, *(_walk(path) if path.is_dir() else [])]:
            name = ROOT_NAME if p == path else f"{ROOT_NAME}/{p.relative_to(path).as_posix()}"
            if p.is_symlink():
                info = _info(name, 0o777)
                info.type = tarfile.SYMTYPE
                info.linkname = os.readlink(p)
                tar.addfile(info)
            elif p.is_dir():
                info = _info(name, 0o755)
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif p.is_file():
                info = _info(name, 0o755 if os.access(p, os.X_OK) else 0o644)
                info.size = p.stat().st_size
                with open(p, "rb") as fh:
                    tar.addfile(info, fh)
    data = buf.getvalue()
    return data, f"{KEY_PREFIX}{hashlib.sha256(data).hexdigest()}.tgz"


def source_key(path: Path) -> str:
    return source_archive(path)[1]


def source_keys(paths: Sequence[Path]) -> dict[Path, str]:
    """The repository key of each path that exists (a missing one is the checks' to report)."""
    return {p: source_key(p) for p in sorted(set(paths)) if p.exists()}


def pack_uploads(paths: Sequence[Path], tmp: Path) -> tuple[dict[str, Path], dict[Path, str]]:
    """Pack each local path a run needs (``source:`` folders, local workflow artifacts)
    reproducibly into ``tmp``; the key is the archive's content hash.

    Returns ({key: archive file}, {path: key}); a missing path is left out.
    """
    archives: dict[str, Path] = {}
    keys: dict[Path, str] = {}
    for path in sorted(set(paths)):
        if not path.exists():
            continue
        data, key = source_archive(path)
        if key not in archives:
            archives[key] = tmp / key.rsplit("/", 1)[-1]
            archives[key].write_bytes(data)
        keys[path] = key
    return archives, keys
