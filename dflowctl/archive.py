"""Argo's artifact archives: packing, safe unpacking, and placing files by rename.

Argo stores an output artifact as ``<name>.tgz`` (tar + gzip, the default),
``<name>.zip`` (``archive: zip``) or as is (``archive: none``: a file, or a
directory as a key prefix). An archive holds one top-level item, the artifact
itself (a file, or a directory named after it); like Argo's executor, unpacking
makes that single item the destination, and an archive with several top-level
items becomes a directory.

Packing (``pack``) writes one top-level item, as Argo's executor does.
Unpacking is safe: absolute names, ``..``, links that point outside the archive,
devices and fifos are refused with ``UnsafeArchiveError`` and nothing is
written outside a private staging directory. Files reach their destination by
rename only (``place_tree``), so an interrupted run leaves no partial file.
"""

from __future__ import annotations

import filecmp
import os
import secrets
import shutil
import stat
import tarfile
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO

from dflowctl.errors import DflowctlError, UsageError

CHUNK = 1024 * 1024
STAGING_PREFIX = ".dflowctl-tmp-"


class UnsafeArchiveError(DflowctlError):
    """An archive tries to write outside its destination (or holds a device)."""

    exit_code = 2


class ConflictError(UsageError):
    """A different file already exists where an artifact file would go."""


# --------------------------------------------------------------------------- names


def safe_relpath(name: str, *, what: str) -> PurePosixPath:
    """``name`` as a relative path that stays inside its root, or UnsafeArchiveError."""
    if "\x00" in name:
        raise UnsafeArchiveError(f"{what}: refusing entry with a NUL byte in its name")
    norm = name.replace("\\", "/")
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":"):
        raise UnsafeArchiveError(f"{what}: refusing absolute path {name!r}")
    parts = [p for p in norm.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"{what}: refusing path with '..': {name!r}")
    return PurePosixPath(*parts) if parts else PurePosixPath(".")


def _link_inside(member: PurePosixPath, target: str, *, what: str) -> None:
    """A symlink at ``member`` pointing to ``target`` must stay inside the root."""
    if target.startswith("/") or (len(target) > 1 and target[1] == ":"):
        raise UnsafeArchiveError(f"{what}: refusing link {str(member)!r} to absolute path {target!r}")
    depth = len(member.parts) - 1  # directories above the link, inside the root
    for part in target.replace("\\", "/").split("/"):
        if part in ("", "."):
            continue
        depth = depth - 1 if part == ".." else depth + 1
        if depth < 0:
            raise UnsafeArchiveError(f"{what}: refusing link {str(member)!r} pointing outside: {target!r}")


def _inside(root: Path, path: Path) -> bool:
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root + os.sep)


def _check_parent(root: Path, target: Path, *, what: str) -> None:
    if not _inside(root, target.parent):
        raise UnsafeArchiveError(f"{what}: refusing to write through a link: {target.relative_to(root)}")


# --------------------------------------------------------------------------- unpacking


def _write_stream(src: IO[bytes], target: Path, mode: int) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    if target.is_symlink():
        target.unlink()
    fd = os.open(target, flags, 0o600)
    with os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(src, out, CHUNK)
    os.chmod(target, mode)


def _file_mode(mode: int) -> int:
    return 0o755 if mode & 0o111 else 0o644


def _extract_tar(archive: Path, root: Path, what: str) -> None:
    try:
        tf = tarfile.open(archive, mode="r:*")  # noqa: SIM115 (closed below)
    except (tarfile.TarError, OSError, EOFError) as err:
        raise UnsafeArchiveError(f"{what}: not a readable tar archive: {err}") from None
    with tf:
        try:
            for m in tf:
                rel = safe_relpath(m.name, what=what)
                target = root / rel
                if m.isdev() or m.isfifo():
                    raise UnsafeArchiveError(f"{what}: refusing device or fifo {m.name!r}")
                if str(rel) == "." and not m.isdir():
                    raise UnsafeArchiveError(f"{what}: refusing entry without a name")
                if m.isdir():
                    _check_parent(root, target, what=what)
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                _check_parent(root, target, what=what)
                if m.issym():
                    _link_inside(rel, m.linkname, what=what)
                    if target.exists() or target.is_symlink():
                        target.unlink()
                    os.symlink(m.linkname, target)
                elif m.islnk():
                    src_rel = safe_relpath(m.linkname, what=what)
                    src = root / src_rel
                    if not _inside(root, src) or not src.is_file():
                        raise UnsafeArchiveError(f"{what}: refusing hard link {m.name!r} to {m.linkname!r}")
                    with open(src, "rb") as fh:
                        _write_stream(fh, target, _file_mode(m.mode))
                elif m.isreg():
                    member = tf.extractfile(m)
                    if member is None:
                        raise UnsafeArchiveError(f"{what}: cannot read {m.name!r}")
                    with member:
                        _write_stream(member, target, _file_mode(m.mode))
                else:
                    raise UnsafeArchiveError(f"{what}: refusing unsupported entry type of {m.name!r}")
        except (tarfile.TarError, EOFError, zlib.error) as err:
            raise UnsafeArchiveError(f"{what}: corrupt tar archive: {err}") from None


def _extract_zip(archive: Path, root: Path, what: str) -> None:
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as err:
        raise UnsafeArchiveError(f"{what}: not a readable zip archive: {err}") from None
    with zf:
        for info in zf.infolist():
            rel = safe_relpath(info.filename, what=what)
            target = root / rel
            mode = info.external_attr >> 16
            kind = stat.S_IFMT(mode) if mode else 0
            if kind in (stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK):
                raise UnsafeArchiveError(f"{what}: refusing device or fifo {info.filename!r}")
            if info.is_dir() or kind == stat.S_IFDIR:
                _check_parent(root, target, what=what)
                target.mkdir(parents=True, exist_ok=True)
                continue
            if str(rel) == ".":
                raise UnsafeArchiveError(f"{what}: refusing entry without a name")
            target.parent.mkdir(parents=True, exist_ok=True)
            _check_parent(root, target, what=what)
            if kind == stat.S_IFLNK:
                link = zf.read(info).decode("utf-8", "surrogateescape")
                _link_inside(rel, link, what=what)
                os.symlink(link, target)
                continue
            try:
                with zf.open(info) as fh:
                    _write_stream(fh, target, _file_mode(mode))
            except (zipfile.BadZipFile, zlib.error) as err:
                raise UnsafeArchiveError(f"{what}: corrupt zip archive: {err}") from None


def _verify_links(root: Path, what: str) -> None:
    """Second line of defence: every link, fully resolved, stays inside ``root``."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if p.is_symlink() and not _inside(root, p):
                raise UnsafeArchiveError(f"{what}: refusing link {p.relative_to(root)} pointing outside")


def is_zip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) == b"PK\x03\x04"


def is_tgz(path: Path) -> bool:
    """A tar+gzip file with at least one entry, whatever its name (Argo's executor,
    too, unpacks an input by its content)."""
    try:
        with open(path, "rb") as fh:
            if fh.read(2) != b"\x1f\x8b":
                return False
        with tarfile.open(path, "r:gz") as tar:
            return tar.next() is not None
    except (OSError, tarfile.TarError, EOFError):
        return False


def unpack(archive: Path, staging: Path, *, what: str, fmt: str | None = None) -> Path:
    """Unpack ``archive`` (tgz or zip) under the empty directory ``staging``.

    Returns the artifact: the archive's single top-level item, or the directory
    holding its several items.
    """
    root = staging / "root"
    root.mkdir()
    return unpack_into(archive, root, what=what, fmt=fmt)


def unpack_into(archive: Path, root: Path, *, what: str, fmt: str | None = None) -> Path:
    """As ``unpack``, into the new, empty directory ``root`` itself."""
    fmt = fmt or ("zip" if is_zip(archive) else "tar")
    try:
        if fmt == "zip":
            _extract_zip(archive, root, what)
        else:
            _extract_tar(archive, root, what)
    except OSError as err:
        raise UnsafeArchiveError(f"{what}: cannot unpack: {err.strerror or err}") from None
    _verify_links(root, what)
    items = list(root.iterdir())
    if len(items) == 1 and not items[0].is_symlink():
        return items[0]
    return root


# --------------------------------------------------------------------------- packing


def pack(source: Path, dest: Path, *, fmt: str = "tar") -> None:
    """Pack ``source`` (a file or folder) the way Argo's executor does: one top-level
    item named after it, tar+gzip (``fmt="tar"``) or zip. Written under a temporary
    name next to ``dest``, then renamed, so ``dest`` is never partial."""
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        if fmt == "zip":
            os.replace(
                shutil.make_archive(str(tmp), "zip", root_dir=source.parent, base_dir=source.name), dest
            )
        else:
            with tarfile.open(tmp, "w:gz") as tar:
                tar.add(source, arcname=source.name)
            os.replace(tmp, dest)
    finally:
        for left in (tmp, tmp.with_name(tmp.name + ".zip")):
            if left.is_file() and not left.is_symlink():
                left.unlink()


# --------------------------------------------------------------------------- placing


def same_file(a: Path, b: Path) -> bool:
    if a.is_symlink() or b.is_symlink():
        return a.is_symlink() and b.is_symlink() and os.readlink(a) == os.readlink(b)
    return a.is_file() and b.is_file() and filecmp.cmp(a, b, shallow=False)


def place_file(src: Path, dest: Path, *, force: bool) -> bool:
    """Rename ``src`` to ``dest``. False (and ``src`` left) when ``dest`` is identical."""
    if dest.is_symlink() or dest.exists():
        if dest.is_dir() and not dest.is_symlink():
            raise ConflictError(f"{dest}: a directory is in the way of a downloaded file")
        if same_file(src, dest):
            return False
        if not force:
            raise ConflictError(f"{dest}: exists with different content", hint="use --force to overwrite")
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dest)
    return True


def iter_files(root: Path) -> Iterator[Path]:
    """Files and links under ``root`` (sorted, links not followed)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            yield Path(dirpath) / name
        for name in dirnames:
            p = Path(dirpath) / name
            if p.is_symlink():
                yield p


def place_tree(item: Path, dest: Path, *, force: bool) -> tuple[list[Path], list[Path]]:
    """Move an unpacked artifact (file or directory) to ``dest``, file by file.

    Returns (written, skipped-as-identical).
    """
    written: list[Path] = []
    skipped: list[Path] = []
    if item.is_file() or item.is_symlink():
        (written if place_file(item, dest, force=force) else skipped).append(dest)
        return written, skipped
    if dest.exists() and not dest.is_dir():
        if not force:
            raise ConflictError(f"{dest}: a file is in the way of a downloaded directory", hint="use --force")
        dest.unlink()
    dest.mkdir(parents=True, exist_ok=True)
    checked: set[Path] = set()
    for src in iter_files(item):
        target = dest / src.relative_to(item)
        check_within(dest, target, checked)
        (written if place_file(src, target, force=force) else skipped).append(target)
    for dirpath, dirnames, _ in os.walk(item):  # empty directories of the artifact
        for name in dirnames:
            (dest / Path(dirpath, name).relative_to(item)).mkdir(parents=True, exist_ok=True)
    return written, skipped


def check_within(root: Path, target: Path, checked: set[Path]) -> None:
    """Refuse ``target`` (a path under ``root``) when a link already in ``root`` would
    carry the write out of it. ``checked`` caches the folders found safe."""
    folder = target.parent
    if folder in checked:
        return
    if not _inside(root, folder):
        raise UnsafeArchiveError(f"{target}: refusing to write through a link leading out of {root}")
    checked.add(folder)


def staging_dir(near: Path) -> Path:
    """A private directory next to ``near`` (same file system, so renames are atomic)."""
    near.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=near.parent))


def clean_stale(near: Path) -> None:
    """Remove staging directories left next to ``near`` by a killed earlier run."""
    parent = near.parent
    if not parent.is_dir():
        return
    for p in parent.iterdir():
        if p.name.startswith(STAGING_PREFIX) and p.is_dir() and not p.is_symlink():
            try:
                if p.stat().st_mtime < time.time() - 60:  # old: not a concurrent run's
                    shutil.rmtree(p, ignore_errors=True)
            except OSError:
                pass
