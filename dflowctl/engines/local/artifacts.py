"""The local artifact repository: S3 keys as relative paths under ``runs/<name>/artifacts``.

Artifacts are stored as Argo stores them: tar+gzip (``<name>.tgz``) by default,
unpacked files and folders for ``archive: {none: {}}``. A key that names a
folder (a prefix) is one directory artifact; that is how fan-in works.
Packing and unpacking are ``dflowctl.archive``'s, shared with the Argo engine.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import stat
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from dflowctl import archive
from dflowctl.errors import NotFoundError, UsageError


def is_archived(artifact: Mapping[str, Any]) -> bool:
    """Whether Argo stores this artifact as an archive (tar+gzip unless ``archive`` says otherwise)."""
    arch = artifact.get("archive")
    if not isinstance(arch, Mapping) or not arch:
        return True
    return "none" not in arch


def _is_zip(artifact: Mapping[str, Any]) -> bool:
    arch = artifact.get("archive")
    return isinstance(arch, Mapping) and "zip" in arch


def default_key(wf_name: str, pod: str, artifact: Mapping[str, Any]) -> str:
    """Argo's key when no keyFormat is set: ``<wf>/<pod>/<file name>``."""
    if is_archived(artifact):
        ext = ".zip" if _is_zip(artifact) else ".tgz"
        return f"{wf_name}/{pod}/{artifact['name']}{ext}"
    base = PurePosixPath(str(artifact.get("path") or artifact["name"])).name or str(artifact["name"])
    return f"{wf_name}/{pod}/{base}"


def safe_key(key: str) -> str:
    """``key`` without surrounding blanks and leading slashes; a key with a ``..``
    component is refused (``a/./b`` and ``a//b`` are as S3 keys are: the same path)."""
    stripped = key.strip().lstrip("/")
    if not stripped or ".." in stripped.split("/"):  # as text: a 10,000-item download asks 10,000 times
        raise UsageError(f"invalid artifact key {key!r}")
    return stripped


def is_stored_archive(key: str, path: Path) -> bool:
    """Whether the file stored at ``path`` under ``key`` is an archive to unpack."""
    return path.is_file() and (key.endswith((".tgz", ".tar.gz", ".zip")) or archive.is_tgz(path))


_PUT_LOCKS = tuple(threading.Lock() for _ in range(64))  # ``put`` to one destination at a time


class LocalRepository:
    """Reads and writes artifacts by key under one folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, key: str) -> Path:
        return self.root / safe_key(key).rstrip("/")

    def writable_path(self, key: str) -> Path:
        """``path_of(key)`` with its folders created, refusing (OSError) a key that passes
        through a link: a folder artifact stored as is may hold links (``link -> /etc``),
        and writing through one would change the host's files."""
        dest = self.path_of(key)
        self.root.mkdir(parents=True, exist_ok=True)
        folder = self.root
        for part in dest.parent.relative_to(self.root).parts:
            folder = folder / part
            try:
                mode = folder.lstat().st_mode
            except FileNotFoundError:
                folder.mkdir(exist_ok=True)
                mode = folder.lstat().st_mode
            if stat.S_ISLNK(mode):
                raise OSError(f"artifact key {key!r} passes through the link {folder.relative_to(self.root)}")
        return dest

    def put(self, key: str, source: Path, artifact: Mapping[str, Any]) -> None:
        """Store ``source`` (a file or folder; it may be moved away) under ``key``. Pods that
        end together may store under one key (the pods of a group step, each with its items'
        folders): what is there is looked at and replaced or merged into under a lock of that
        key, else one pod's check could see no folder, another's land there, and the first
        remove it."""
        dest = self.writable_path(key)
        if is_archived(artifact):
            archive.pack(source, dest, fmt="zip" if _is_zip(artifact) else "tar")
            return
        with _PUT_LOCKS[hash(str(dest)) % len(_PUT_LOCKS)]:
            if source.is_dir() and not source.is_symlink() and dest.is_dir() and not dest.is_symlink():
                merge_into(source, dest)  # as S3 does: a key prefix gains objects, keeps the others
                return
            remove(dest)
            try:
                os.replace(source, dest)
            except OSError:
                if source.is_dir():
                    shutil.copytree(source, dest, symlinks=True)
                else:
                    shutil.copy2(source, dest)

    def materialize(self, key: str, scratch: Path) -> Path:
        """A host path with the artifact's content: the stored file or folder itself, or
        an archive's content unpacked under the (new, empty) folder ``scratch``."""
        path = self.path_of(key)
        if not path.exists():
            raise FileNotFoundError(key)
        if is_stored_archive(key, path):
            scratch.mkdir(parents=True, exist_ok=True)
            return archive.unpack(path, scratch, what=key)
        return path


class UnpackCache:
    """Archives unpacked once per run and shared by the pods that read them.

    Pods get copies of their inputs (the pod runner copies), so one unpacked tree
    can serve a 1,000-item fan-out that reads the same archive (e.g. a ``source:``
    folder). Entries are keyed by the archive's key, size and mtime.
    """

    def __init__(self, repo: LocalRepository, folder: Path) -> None:
        self.repo = repo
        self.folder = folder
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._done: dict[str, Path] = {}

    def materialize(self, key: str, scratch: Path) -> Path:
        path = self.repo.path_of(key)
        if not (path.is_file() and key.endswith((".tgz", ".tar.gz", ".zip"))):
            return self.repo.materialize(key, scratch)
        stat = path.stat()
        ident = hashlib.sha256(f"{key}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()).hexdigest()[:32]
        with self._lock:
            if ident in self._done:
                return self._done[ident]
            lock = self._locks.setdefault(ident, threading.Lock())
        with lock:
            if ident in self._done:
                return self._done[ident]
            target = self.folder / ident
            if target.exists():
                shutil.rmtree(target)
            target.mkdir(parents=True)
            result = self.repo.materialize(key, target)
            with self._lock:
                self._done[ident] = result
            return result


class LocalArtifactStore:
    """``ArtifactStore`` for local runs: copies (and unpacks) from the run's repository."""

    # threads ``download`` stages with: one. Copies on this machine's disk are system calls
    # of a few microseconds each; more threads only hand the GIL (a futex call each time)
    # and the shared staging folder's lock to each other (a 10,000-item download: 1.2
    # million futex calls and 20,000 context switches with 8 threads, ~100 with one)
    fetch_workers = 1

    def __init__(self, root: Path) -> None:
        self.repo = LocalRepository(root)

    def fetch(self, artifact: Mapping[str, Any], dest: Path, *, force: bool = False) -> list[Path]:
        """Write the artifact at ``dest``: a file artifact as the file ``dest``, a folder
        artifact as the folder ``dest`` with its contents."""
        s3 = artifact.get("s3")
        key = s3.get("key") if isinstance(s3, Mapping) else None
        name = artifact.get("name", "?")
        if not key:
            raise NotFoundError(f"artifact {name!r} has no stored location")
        archive.clean_stale(dest)
        staging = archive.staging_dir(dest)
        try:
            try:
                src = self.repo.materialize(str(key), staging / "unpacked")
            except FileNotFoundError:
                raise NotFoundError(f"artifact {name!r} ({key}) is missing from the run's records") from None
            if src.is_relative_to(staging):
                item = src
            else:  # stored unpacked: copy, never move out of the repository
                item = staging / "copy"
                if src.is_dir():
                    shutil.copytree(src, item, symlinks=True)
                else:
                    shutil.copy2(src, item)
            written, _ = archive.place_tree(item, dest, force=force)
            return written
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def stored(self, artifact: Mapping[str, Any]) -> tuple[Path, bool]:
        """Where the artifact's content is kept (to read in place, never to write), and
        whether that is an archive: a report previews it without copying it."""
        s3 = artifact.get("s3")
        key = s3.get("key") if isinstance(s3, Mapping) else None
        name = artifact.get("name", "?")
        if not key:
            raise NotFoundError(f"artifact {name!r} has no stored location")
        path = self.repo.path_of(str(key))
        if not os.path.lexists(path):
            raise NotFoundError(f"artifact {name!r} ({key}) is missing from the run's records")
        return path, is_stored_archive(str(key), path)

    def stage(self, artifact: Mapping[str, Any], folder: Path) -> Path:
        """The artifact's content under ``folder`` (new; made here, on the destination's
        file system, private to the caller): a directory whose contents are the artifact,
        or a file alone in ``folder``. One folder made per artifact (``download`` of a
        10,000-item fan-out: each folder made or removed costs a millisecond or two)."""
        s3 = artifact.get("s3")
        key = s3.get("key") if isinstance(s3, Mapping) else None
        name = artifact.get("name", "?")
        if not key:
            raise NotFoundError(f"artifact {name!r} has no stored location")
        path = self.repo.path_of(str(key))
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            raise NotFoundError(f"artifact {name!r} ({key}) is missing from the run's records") from None
        if stat.S_ISDIR(mode):  # stored unpacked: copy, never move out of the repository
            copy_folder(path, folder, mode)
            return folder
        folder.mkdir()
        if str(key).endswith((".tgz", ".tar.gz", ".zip")) or archive.is_tgz(path):
            return archive.unpack_into(path, folder, what=str(key))
        item = folder / (path.name or "artifact")
        shutil.copy2(path, item)
        return item


def copy_folder(src: Path, dst: Path, mode: int, copy_one: Callable[[str, str], None] | None = None) -> None:
    """``shutil.copytree(src, dst, symlinks=True)`` (``mode``: ``src``'s) with a third of
    its system calls (a 10,000-item download copies 10,000 folders): each file created
    with its mode (set again only when the umask takes bits away) and its times set
    through its open descriptor (``copy_one``: ``copy_file`` unless given), a folder's
    mode (not its times), links copied as links, anything else left to ``shutil``."""
    copy_one = copy_one or copy_file
    os.mkdir(dst)
    with os.scandir(src) as listed:
        entries = list(listed)
    for entry in entries:
        target = os.path.join(dst, entry.name)
        if entry.is_symlink():
            os.symlink(os.readlink(entry.path), target)
            shutil.copystat(entry.path, target, follow_symlinks=False)
        elif entry.is_dir():
            copy_folder(Path(entry.path), Path(target), entry.stat().st_mode, copy_one)
        elif entry.is_file():
            copy_one(entry.path, target)
        else:
            shutil.copy2(entry.path, target, follow_symlinks=False)  # fifos and devices refused there
    os.chmod(dst, stat.S_IMODE(mode))


def copy_file(src: str, dst: str) -> None:
    """``shutil.copy2(src, dst)`` to a new ``dst`` (never replacing one: ``O_EXCL``): the
    bytes in the kernel, the mode and the times kept."""
    fsrc = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
    try:
        info = os.fstat(fsrc)
        perm = stat.S_IMODE(info.st_mode)
        fdst = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, perm)
        try:
            _send(fsrc, fdst, info.st_size)
            if perm & (_umask() | 0o7000):  # created without some of its bits
                os.fchmod(fdst, perm)
            os.utime(fdst, ns=(info.st_atime_ns, info.st_mtime_ns))
        finally:
            os.close(fdst)
    finally:
        os.close(fsrc)


def link_file(src: str, dst: str) -> None:
    """A hard link of ``src`` at a new ``dst`` (stored artifacts are never changed in
    place), else a copy (``copy_file``) where the file system refuses one."""
    try:
        os.link(src, dst)
    except OSError:
        copy_file(src, dst)


@functools.cache
def _umask() -> int:
    """The process' umask, read once (``/proc/self/status``; else assumed to take every
    bit away, so that each file's mode is set again)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o7777


def _send(fsrc: int, fdst: int, size: int) -> None:
    """The ``size`` bytes of ``fsrc`` (its size when opened) to ``fdst`` in the kernel
    (``sendfile``: one call for a small file), else by reads."""
    sent = 0
    try:
        while sent < size:
            n = os.sendfile(fdst, fsrc, sent, size - sent)
            if n == 0:  # it shrank meanwhile
                return
            sent += n
    except OSError:  # a file system without sendfile: what is left, by reads
        os.lseek(fsrc, sent, os.SEEK_SET)
        os.lseek(fdst, sent, os.SEEK_SET)
        while sent < size and (chunk := os.read(fsrc, min(size - sent, 1 << 20))):
            os.write(fdst, chunk)
            sent += len(chunk)


def merge_into(source: Path, dest: Path) -> None:
    """``source``'s entries into the folder ``dest``, each replacing one of its name:
    pods of one group step write their items' folders under one key."""
    for entry in source.iterdir():
        target = dest / entry.name
        remove(target)
        try:
            os.replace(entry, target)
        except OSError:
            if entry.is_dir() and not entry.is_symlink():
                shutil.copytree(entry, target, symlinks=True)
            else:
                shutil.copy2(entry, target, follow_symlinks=False)


def remove(path: Path) -> None:
    """Remove the file, folder or link at ``path`` (a link itself, never what it points to)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def temp_dir(parent: Path, prefix: str) -> Path:
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
