"""The step cache: successful steps' outputs, content-addressed, under ``$DFLOWCTL_HOME/cache``.

```
cache/entries/<kk>/<key>.json   one step's outputs: parameters, result, exit code,
                                artifacts by content digest, the run and node it came from
cache/blobs/<dd>/<digest>        one artifact as the run's repository stored it (file or folder)
```

Writes go to a temporary name and are renamed, so a reader sees a whole entry or
none. A reader checks what it takes: an entry that cannot be read, or a blob
that is missing or whose content no longer has its digest, is a miss (never a
wrong result). ``ReusePolicy`` says which entries a run may take.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dflowctl.engines.local.artifacts import copy_folder, link_file
from dflowctl.stepkey import path_digest


@dataclass(frozen=True)
class ReusePolicy:
    """What a run may reuse: nothing (``enabled`` False), any earlier success, or only
    the steps of one earlier run (``keys``: that run's step keys); ``rerun`` names
    steps (or ops) that run again in any case; ``pinned``: a node (its `key:` or display
    name, ``podcache.pin_of``) -> the key of its result in ``from_run``, taken even though
    the node's key changed (``--reuse-step``, dflow's ``reuse_step``)."""

    enabled: bool = False
    from_run: str | None = None
    keys: frozenset[str] | None = None
    rerun: frozenset[str] = field(default_factory=frozenset)
    pinned: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "from_run": self.from_run,
            "keys": sorted(self.keys) if self.keys is not None else None,
            "rerun": sorted(self.rerun),
            "pinned": dict(self.pinned),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReusePolicy:
        keys = data.get("keys")
        return cls(
            enabled=bool(data.get("enabled")),
            from_run=data.get("from_run"),
            keys=frozenset(keys) if keys is not None else None,
            rerun=frozenset(data.get("rerun") or ()),
            pinned={str(k): str(v) for k, v in (data.get("pinned") or {}).items()},
        )


@dataclass(frozen=True)
class Entry:
    key: str
    run: str
    node: str
    created: float
    parameters: dict[str, str]
    result: str | None
    exit_code: str | None
    artifacts: dict[str, str]  # output artifact name -> content digest
    path: Path


@dataclass(frozen=True)
class Usage:
    entries: int
    blobs: int
    size: int  # bytes


class StepCache:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.entries = root / "entries"
        self.blobs = root / "blobs"

    def entry_path(self, key: str) -> Path:
        return self.entries / key[:2] / f"{key}.json"

    def blob_path(self, digest: str) -> Path:
        return self.blobs / digest[:2] / digest

    # ------------------------------------------------------------------ read

    def lookup(self, key: str) -> Entry | None:
        """The entry for ``key`` whose blobs all still hold their digests, or None."""
        entry = self._read(self.entry_path(key))
        if entry is None or entry.key != key:
            return None
        for digest in entry.artifacts.values():
            blob = self.blob_path(digest)
            try:
                if path_digest(blob) != digest:
                    return None
            except OSError:
                return None
        return entry

    def _read(self, path: Path) -> Entry | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return Entry(
                key=str(data["key"]),
                run=str(data.get("run", "")),
                node=str(data.get("node", "")),
                created=float(data.get("created", 0)),
                parameters={str(k): str(v) for k, v in (data.get("parameters") or {}).items()},
                result=None if data.get("result") is None else str(data["result"]),
                exit_code=None if data.get("exitCode") is None else str(data["exitCode"]),
                artifacts={str(k): str(v) for k, v in (data.get("artifacts") or {}).items()},
                path=path,
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def iter_entries(self) -> Iterator[Entry]:
        if not self.entries.is_dir():
            return
        for sub in sorted(self.entries.iterdir()):
            if not sub.is_dir():
                continue
            for path in sorted(sub.glob("*.json")):
                entry = self._read(path)
                if entry is not None:
                    yield entry

    # ------------------------------------------------------------------ write

    def store(
        self,
        key: str,
        *,
        run: str,
        node: str,
        parameters: Mapping[str, str],
        result: str | None,
        exit_code: str | None,
        artifacts: Mapping[str, Path],
    ) -> dict[str, str]:
        """Keep one step's outputs; ``artifacts``: name -> the stored file or folder
        (copied, the original is left as is). Returns name -> content digest."""
        digests: dict[str, str] = {}
        for name, src in artifacts.items():
            digest = path_digest(src)
            self._put_blob(digest, src)
            digests[name] = digest
        data = {
            "key": key,
            "run": run,
            "node": node,
            "created": time.time(),
            "parameters": dict(parameters),
            "result": result,
            "exitCode": exit_code,
            "artifacts": digests,
        }
        path = self.entry_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        tmp.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
        return digests

    def _put_blob(self, digest: str, src: Path) -> None:
        dest = self.blob_path(digest)
        if dest.exists() or dest.is_symlink():
            try:
                if path_digest(dest) == digest:
                    return
            except OSError:
                pass
            _remove(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{digest}.{uuid.uuid4().hex}")
        _copy(src, tmp)
        try:
            os.replace(tmp, dest)
        except OSError:  # a folder another writer placed first: theirs has the same content
            _remove(tmp)

    def copy_blob(self, digest: str, dest: Path) -> None:
        """Copy one blob to ``dest`` (a new path)."""
        _copy(self.blob_path(digest), dest)

    # ------------------------------------------------------------------ manage

    def usage(self) -> Usage:
        entries = sum(1 for _ in self.entries.glob("*/*.json")) if self.entries.is_dir() else 0
        blobs = list(self.blobs.glob("*/*")) if self.blobs.is_dir() else []
        return Usage(entries=entries, blobs=len(blobs), size=_size(self.root))

    def prune(self, *, older_than: float | None = None, max_size: int | None = None) -> tuple[int, int]:
        """Drop entries older than ``older_than`` seconds, then the oldest until the cache
        is at most ``max_size`` bytes, then blobs no entry names and entries that cannot
        be read. Returns (entries dropped, bytes freed)."""
        before = _size(self.root)
        now = time.time()
        keep: list[Entry] = []
        removed = 0
        for e in sorted(self.iter_entries(), key=lambda e: e.created):
            if older_than is not None and now - e.created > older_than:
                e.path.unlink(missing_ok=True)
                removed += 1
            else:
                keep.append(e)
        if max_size is not None:
            refs: dict[str, int] = {}
            for e in keep:
                for d in set(e.artifacts.values()):
                    refs[d] = refs.get(d, 0) + 1
            blob_size = {d: _size(self.blob_path(d)) for d in refs}
            total = sum(blob_size.values()) + sum(_file_size(e.path) for e in keep)
            while keep and total > max_size:
                oldest = keep.pop(0)
                total -= _file_size(oldest.path)
                oldest.path.unlink(missing_ok=True)
                removed += 1
                for d in set(oldest.artifacts.values()):
                    refs[d] -= 1
                    if refs[d] == 0:
                        total -= blob_size[d]
        used = {d for e in keep for d in e.artifacts.values()}
        if self.blobs.is_dir():
            for blob in self.blobs.glob("*/*"):
                if blob.name not in used:
                    _remove(blob)
        if self.entries.is_dir():
            for path in self.entries.glob("*/*"):
                if path.name.startswith(".") or self._read(path) is None:
                    path.unlink(missing_ok=True)
        return removed, max(0, before - _size(self.root))


def _copy(src: Path, dest: Path) -> None:
    """A copy made of hard links where the file system allows (stored artifacts are never
    changed in place, and a changed one no longer has its digest: a miss)."""
    mode = os.lstat(src).st_mode
    if stat.S_ISDIR(mode):
        copy_folder(src, dest, mode, link_file)
    elif stat.S_ISLNK(mode):
        os.symlink(os.readlink(src), dest)
    else:
        link_file(str(src), str(dest))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _size(root: Path) -> int:
    if root.is_file():
        return _file_size(root)
    total = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total


__all__ = ["Entry", "ReusePolicy", "StepCache", "Usage"]
