"""One artifact downloaded from S3 to a local path (``S3Store.fetch``): an archive
(``.tgz``, ``.zip``, or sniffed) unpacked safely and placed by rename, one object, or a
key prefix (``archive: none`` folders) whose files come in parallel."""

from __future__ import annotations

import functools
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dflowctl import archive
from dflowctl.errors import UsageError
from dflowctl.s3files import ProgressEvent, S3Object, clean_parts, clean_parts_tree, format_of

if TYPE_CHECKING:
    from dflowctl.storage import S3Store


class ArtifactFetch:
    """A fetch through ``store`` (its client, its errors, its thread pool, its progress)."""

    def __init__(self, store: S3Store) -> None:
        self.store = store

    def run(self, artifact: Mapping[str, Any], dest: Path, force: bool) -> list[Path]:
        name = str(artifact.get("name") or "artifact")
        s3 = artifact.get("s3") or {}
        key = s3.get("key") if isinstance(s3, Mapping) else None
        if not key:
            raise UsageError(f"artifact {name!r} is not stored in S3 (no s3.key)")
        key = str(key)
        bucket = str(s3.get("bucket") or self.store.repo.bucket)
        dest = Path(dest)
        clean_parts(dest)
        archive.clean_stale(dest)
        fmt = format_of(artifact, key)
        if fmt in ("tar", "zip"):
            return self._archive(name, key, bucket, dest, fmt, force)
        obj = self.store.stat(key.rstrip("/"), bucket) if not key.endswith("/") else None
        if obj is None:
            objs = self.store.list_prefix(key.rstrip("/") + "/", bucket)
            if not objs:
                raise self.store.missing(key, bucket)
            return self._prefix(key.rstrip("/") + "/", objs, bucket, dest, force)
        if fmt == "auto":
            sniffed = self._sniff(obj, bucket)
            if sniffed != "none":
                return self._archive(name, key, bucket, dest, sniffed, force)
        self.store.emit(ProgressEvent(total=obj.size))
        return [dest] if self.store.download_object(obj, bucket, dest, force=force) else []

    def _sniff(self, obj: S3Object, bucket: str) -> str:
        if obj.size < 4:
            return "none"
        with self.store.errors("reading", obj.key, bucket):
            resp = self.store.client.get_object(bucket, obj.key, offset=0, length=4)
            try:
                head = resp.read()
            finally:
                resp.close()
                resp.release_conn()
        if head[:2] == b"\x1f\x8b":
            return "tar"
        if head == b"PK\x03\x04":
            return "zip"
        return "none"

    def _archive(self, name: str, key: str, bucket: str, dest: Path, fmt: str, force: bool) -> list[Path]:
        obj = self.store.stat(key, bucket)
        if obj is None:
            raise self.store.missing(key, bucket)
        self.store.emit(ProgressEvent(total=obj.size))
        staging = archive.staging_dir(dest)
        try:
            packed = staging / "archive"
            self.store.stream_to(obj, bucket, packed)
            item = archive.unpack(packed, staging, what=f"artifact {name!r} (s3://{bucket}/{key})", fmt=fmt)
            written, skipped = archive.place_tree(item, dest, force=force)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        for p in written:
            self.store.emit(ProgressEvent(file=p))
        for p in skipped:
            self.store.emit(ProgressEvent(file=p, skipped=True))
        return written

    def _download_one(self, obj: S3Object, bucket: str, dest: Path, force: bool) -> tuple[Path, bool]:
        return dest, self.store.download_object(obj, bucket, dest, force=force)

    def _prefix(self, prefix: str, objs: list[S3Object], bucket: str, dest: Path, force: bool) -> list[Path]:
        if dest.exists() and not dest.is_dir():
            if not force:
                raise archive.ConflictError(
                    f"{dest}: a file is in the way of a downloaded directory", hint="use --force"
                )
            dest.unlink()
        plan: list[tuple[S3Object, Path]] = []
        checked: set[Path] = set()
        for o in objs:
            rel = archive.safe_relpath(o.key[len(prefix) :], what=f"s3://{bucket}/{prefix}")
            plan.append((o, dest / rel))
            archive.check_within(dest, dest / rel, checked)
        if dest.is_dir():
            clean_parts_tree(dest)
        self.store.emit(ProgressEvent(total=sum(o.size for o in objs)))
        results = self.store.parallel(
            [functools.partial(self._download_one, o, bucket, p, force) for o, p in plan]
        )
        return [p for p, wrote in results if wrote]
