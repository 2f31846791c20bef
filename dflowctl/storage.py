"""Artifact bytes to and from S3/MinIO for the Argo engine (sole owner of ``minio``).

``S3Store`` is the engine's ``ArtifactStore``: ``fetch`` downloads one output
artifact recorded in a node (Argo's ``<name>.tgz`` default, ``.zip``, and
``archive: none`` files and directories stored as a key prefix), unpacks it
safely (``dflowctl.archive``) and puts it at ``dest`` by rename only. Existing
identical files are skipped (size + ETag, else content); files of a directory
download in parallel; a dropped connection resumes with a ranged GET.

Uploads for ``run -e argo``: ``put_if_absent`` puts a content-addressed archive
(``dflowctl/sources/<sha256>.tgz``, made by ``dflowctl.uploads.source_archive``)
unless its key exists; ``put_file`` streams any file.

Every minio/urllib3 error goes through ``S3Store.errors`` and comes out as a
one-line ``StorageError`` (exit 3): unreachable endpoint, missing bucket, missing
key, access denied. Credentials never appear in a message.
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dflowctl import archive
from dflowctl.errors import DflowctlError, StorageError, UsageError, redact
from dflowctl.repository import S3Repository, resolve_repository
from dflowctl.settings import Settings

CHUNK = 1024 * 1024
PART_SUFFIX = ".dflowctl-part-"
DEFAULT_WORKERS = 16
POOL_PREFIX = "dflowctl-s3"
UPLOAD_PART_SIZE = 16 * 1024 * 1024


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
class _Object:
    key: str
    size: int
    etag: str


class _Aborted(BaseException):
    """Stops a transfer in a worker thread after Ctrl-C in the main thread."""


class _Transient(Exception):
    """A transfer broke off mid-way; worth resuming."""


# --------------------------------------------------------------------------- errors


def _is_cluster_internal(host: str) -> bool:
    name = host.rsplit(":", 1)[0].strip("[]")
    if name in ("localhost",) or re.fullmatch(r"[\d.]+|[0-9a-fA-F:]+", name):
        return False
    return "." not in name or name.endswith((".svc", ".cluster.local", ".svc.cluster.local"))


def _service_of(endpoint: str, secure: bool) -> tuple[str, str, str]:
    """``minio.argo.svc:9000`` -> ("minio", "argo", "9000"); namespace defaults to argo."""
    host, _, port = endpoint.partition(":")
    labels = host.split(".")
    ns = labels[1] if len(labels) > 1 and labels[1] not in ("svc", "") else "argo"
    return labels[0], ns, port or ("443" if secure else "80")


def _reason(err: BaseException) -> str:
    text = f"{type(err).__name__} {err}".lower()
    for needle, reason in (
        ("refused", "connection refused"),
        ("name or service not known", "host name not resolved"),
        ("nodename nor servname", "host name not resolved"),
        ("temporary failure in name resolution", "host name not resolved"),
        ("nameresolution", "host name not resolved"),
        ("getaddrinfo", "host name not resolved"),
        ("timed out", "timed out"),
        ("timeout", "timed out"),
        ("certificate", "TLS certificate rejected"),
        ("ssl", "TLS handshake failed"),
        ("reset", "connection reset"),
        ("incompleteread", "connection dropped mid-transfer"),
        ("connection broken", "connection dropped mid-transfer"),
        ("remotedisconnected", "connection closed by the server"),
        ("aborted", "connection aborted"),
    ):
        if needle in text:
            return reason
    return "connection failed"


def _is_local(err: BaseException) -> bool:
    """An error of this machine's file system (not of the network)."""
    import errno

    if not isinstance(err, OSError) or isinstance(err, (ConnectionError, TimeoutError)):
        return False
    local = (errno.ENOSPC, errno.EACCES, errno.EROFS, errno.EDQUOT, errno.ENOTDIR, errno.EISDIR, errno.EEXIST)
    return bool(err.filename) or err.errno in local


def local_error(err: OSError) -> UsageError:
    where = f"{err.filename}: " if err.filename else ""
    return UsageError(f"cannot write the download: {where}{err.strerror or err}")


def _no_bucket(bucket: str, url: str) -> StorageError:
    return StorageError(
        f"S3 bucket {bucket!r} does not exist at {url}",
        hint="check DFLOWCTL_S3_BUCKET or the bucket of the artifact repository",
    )


def _no_key(key: str | None, bucket: str, url: str) -> StorageError:
    return StorageError(
        f"S3 key {key!r} not found in bucket {bucket!r} at {url}",
        hint="the artifact was not saved, or was deleted (artifact GC); check the run's status",
    )


def _transient_types() -> tuple[type[BaseException], ...]:
    import urllib3.exceptions as u3

    return (
        u3.ProtocolError,
        u3.ReadTimeoutError,
        u3.IncompleteRead,
        http.client.IncompleteRead,
        ConnectionError,
        TimeoutError,
        _Transient,
    )


class S3Store:
    """Reads and writes artifacts in one S3 repository. Thread-safe."""

    def __init__(
        self,
        repo: S3Repository,
        *,
        workers: int = DEFAULT_WORKERS,
        retries: int = 3,
        timeout: float = 60.0,
        on_progress: ProgressHook | None = None,
    ) -> None:
        self.repo = repo
        self.workers = max(1, workers)
        self.retries = retries
        self.timeout = timeout
        self.on_progress = on_progress
        self._client: Any = None
        self._lock = threading.Lock()
        self._progress_lock = threading.Lock()
        self._abort = threading.Event()

    def __repr__(self) -> str:
        return f"S3Store({self.repo.url}, bucket={self.repo.bucket!r})"

    # ------------------------------------------------------------------ plumbing

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _make_client(self) -> Any:
        import urllib3
        from minio import Minio

        kwargs: dict[str, Any] = {}
        if self.repo.secure:
            import certifi

            kwargs = {
                "cert_reqs": "CERT_REQUIRED",
                "ca_certs": os.environ.get("SSL_CERT_FILE") or certifi.where(),
            }
        http = urllib3.PoolManager(
            maxsize=self.workers + 2,
            timeout=urllib3.Timeout(connect=10.0, read=self.timeout),
            retries=urllib3.Retry(
                total=3, connect=2, read=0, backoff_factor=0.2, status_forcelist=(500, 502, 503, 504)
            ),
            **kwargs,
        )
        try:
            return Minio(
                self.repo.endpoint,
                access_key=self.repo.access_key,
                secret_key=self.repo.secret_key,
                secure=self.repo.secure,
                region=self.repo.region,
                http_client=http,
            )
        except ValueError as err:
            raise StorageError(
                redact(f"invalid S3 endpoint {self.repo.endpoint!r} ({self.repo.origin}): {err}"),
                hint="give host[:port], e.g. DFLOWCTL_S3_ENDPOINT=localhost:9000",
            ) from None

    @contextmanager
    def errors(self, action: str, key: str | None = None, bucket: str | None = None) -> Iterator[None]:
        """The one place where minio/urllib3 errors become ``StorageError``."""
        try:
            yield
        except DflowctlError:
            raise
        except Exception as err:
            if isinstance(err, OSError) and _is_local(err):
                raise local_error(err) from None
            raise self.translate(err, action, key, bucket or self.repo.bucket) from None

    def translate(self, err: BaseException, action: str, key: str | None, bucket: str) -> StorageError:
        from minio.error import InvalidResponseError, S3Error, ServerError

        url = self.repo.url
        where = f"s3://{bucket}/{key}" if key else f"s3://{bucket}"
        creds_hint = (
            "check the access and secret key (DFLOWCTL_S3_ACCESS_KEY / DFLOWCTL_S3_SECRET_KEY, "
            "or the Secret named by the artifact repository)"
        )
        if isinstance(err, S3Error):
            code = err.code or ""
            if code == "NoSuchBucket":
                return _no_bucket(bucket, url)
            if code in ("NoSuchKey", "NoSuchObject", "ResourceNotFound"):
                return _no_key(key, bucket, url)
            if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled"):
                return StorageError(
                    f"S3 access denied ({code}) while {action} {where} at {url}", hint=creds_hint
                )
            return StorageError(f"S3 error {code or 'unknown'} while {action} {where} at {url}")
        if isinstance(err, ServerError):
            status = getattr(err, "status_code", None) or getattr(err, "_status_code", "?")
            if status in (401, 403):
                return StorageError(
                    f"S3 access denied (HTTP {status}) while {action} {where} at {url}", hint=creds_hint
                )
            return StorageError(f"S3 server error (HTTP {status}) while {action} {where} at {url}")
        if isinstance(err, InvalidResponseError):
            return StorageError(
                f"S3 endpoint {url} did not answer like S3 while {action} {where}",
                hint="is it the S3 API port (MinIO: 9000, not the console's 9001)?",
            )
        if isinstance(err, ValueError):  # minio checks names before sending anything
            return StorageError(
                f"cannot use {where} at {url}: {str(err).splitlines()[0]}",
                hint="check the bucket (DFLOWCTL_S3_BUCKET) and the artifact's key",
            )
        reason = _reason(err)
        if _is_cluster_internal(self.repo.endpoint):
            svc, ns, port = _service_of(self.repo.endpoint, self.repo.secure)
            hint = redact(
                f"{self.repo.endpoint} (from {self.repo.origin}) is a cluster-internal address; from this "
                f"machine run `kubectl -n {ns} port-forward svc/{svc} {port}:{port}` and set "
                f"DFLOWCTL_S3_ENDPOINT=localhost:{port}"
            )
        else:
            hint = "check the endpoint (DFLOWCTL_S3_ENDPOINT) and that the S3 server is running"
        return StorageError(f"S3 unreachable at {url}: {reason}", hint=hint)

    def _emit(self, event: ProgressEvent) -> None:
        hook = self.on_progress
        if hook is not None:
            with self._progress_lock:
                hook(event)

    # ------------------------------------------------------------------ reading

    def stat(self, key: str, bucket: str | None = None) -> _Object | None:
        """The object at ``key``, or None when there is none."""
        from minio.error import S3Error

        b = bucket or self.repo.bucket
        with self.errors("reading", key, b):
            try:
                st = self.client.stat_object(b, key)
            except S3Error as err:
                if err.code in ("NoSuchKey", "NoSuchObject", "ResourceNotFound"):
                    return None
                raise
        return _Object(key, int(st.size or 0), (st.etag or "").strip('"'))

    def _missing(self, key: str, bucket: str) -> StorageError:
        """Key missing, or its bucket (a HEAD answers both with a bare 404)."""
        with self.errors("reading", key, bucket):
            bucket_ok = self.client.bucket_exists(bucket)
        if not bucket_ok:
            return _no_bucket(bucket, self.repo.url)
        return _no_key(key, bucket, self.repo.url)

    def list_prefix(self, prefix: str, bucket: str | None = None) -> list[_Object]:
        b = bucket or self.repo.bucket
        with self.errors("listing", prefix, b):
            return [
                _Object(o.object_name, int(o.size or 0), (o.etag or "").strip('"'))
                for o in self.client.list_objects(b, prefix=prefix, recursive=True)
                if o.object_name and not o.object_name.endswith("/")
            ]

    def exists(self, key: str, bucket: str | None = None) -> bool:
        return self.stat(key, bucket) is not None

    def _stream_to(self, obj: _Object, bucket: str, tmp: Path) -> None:
        """GET ``obj`` into ``tmp``; a dropped connection resumes where it stopped."""
        transient = _transient_types()
        done = 0
        attempt = 0
        with open(tmp, "wb") as out, self.errors("downloading", obj.key, bucket):
            while True:
                try:
                    resp = self.client.get_object(bucket, obj.key, offset=done)
                    if done and resp.status != 206:  # range ignored: start again
                        done = 0
                        out.seek(0)
                        out.truncate()
                    try:
                        for chunk in resp.stream(CHUNK):
                            if self._abort.is_set():
                                raise _Aborted()
                            out.write(chunk)
                            done += len(chunk)
                            self._emit(ProgressEvent(advance=len(chunk)))
                    finally:
                        resp.close()
                        resp.release_conn()
                    if done < obj.size:
                        raise _Transient(f"IncompleteRead {done} of {obj.size}")
                    return
                except transient as err:
                    attempt += 1
                    if attempt > self.retries:
                        raise StorageError(
                            f"S3 transfer of s3://{bucket}/{obj.key} from {self.repo.url} failed: "
                            f"connection dropped mid-transfer ({_reason(err)}; {self.retries} retries)",
                            hint="run the command again: files already complete are kept",
                        ) from None
                    time.sleep(min(0.1 * 2**attempt, 2.0))
                    out.seek(done)
                    out.truncate()

    def _local_matches(self, path: Path, obj: _Object) -> bool | None:
        """True: identical; False: different; None: cannot tell without the bytes."""
        if path.is_symlink() or not path.is_file():
            return False
        if path.stat().st_size != obj.size:
            return False
        etag = obj.etag
        if re.fullmatch(r"[0-9a-f]{32}", etag):
            return _md5(path) == etag
        m = re.fullmatch(r"([0-9a-f]{32})-(\d+)", etag)
        if m:
            parts = int(m.group(2))
            for part_size in _part_size_candidates(obj.size, parts):
                if _multipart_etag(path, part_size) == etag:
                    return True
        return None

    def _download_object(self, obj: _Object, bucket: str, dest: Path, *, force: bool) -> bool:
        """Put object ``obj`` at ``dest`` (temp name + rename). False when skipped as identical."""
        if dest.is_dir() and not dest.is_symlink():
            raise archive.ConflictError(f"{dest}: a directory is in the way of a downloaded file")
        if dest.exists() or dest.is_symlink():
            same = self._local_matches(dest, obj)
            if same:
                self._emit(ProgressEvent(advance=obj.size, file=dest, skipped=True))
                return False
            if same is False and not force:
                raise archive.ConflictError(
                    f"{dest}: exists with different content", hint="use --force to overwrite"
                )
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.parent / f".{dest.name}{PART_SUFFIX}{uuid.uuid4().hex[:8]}"
        try:
            self._stream_to(obj, bucket, tmp)
            written = archive.place_file(tmp, dest, force=force)
        finally:
            if tmp.exists():
                tmp.unlink()
        self._emit(ProgressEvent(file=dest, skipped=not written))
        return written

    # ------------------------------------------------------------------ fetch

    def fetch(self, artifact: Mapping[str, Any], dest: Path, *, force: bool = False) -> list[Path]:
        """Download one artifact of a node's outputs to ``dest`` (see ArtifactStore).

        ``dest`` becomes the artifact: a file, or a directory holding its files.
        Returns the paths written (files skipped as identical are not listed).
        """
        try:
            return self._fetch(artifact, Path(dest), force)
        except OSError as err:  # the local side: permissions, disk full, a file in the way
            raise local_error(err) from None

    def _fetch(self, artifact: Mapping[str, Any], dest: Path, force: bool) -> list[Path]:
        name = str(artifact.get("name") or "artifact")
        s3 = artifact.get("s3") or {}
        key = s3.get("key") if isinstance(s3, Mapping) else None
        if not key:
            raise UsageError(f"artifact {name!r} is not stored in S3 (no s3.key)")
        key = str(key)
        bucket = str(s3.get("bucket") or self.repo.bucket)
        dest = Path(dest)
        _clean_parts(dest)
        archive.clean_stale(dest)
        fmt = _format_of(artifact, key)
        if fmt in ("tar", "zip"):
            return self._fetch_archive(name, key, bucket, dest, fmt, force)
        obj = self.stat(key.rstrip("/"), bucket) if not key.endswith("/") else None
        if obj is None:
            objs = self.list_prefix(key.rstrip("/") + "/", bucket)
            if not objs:
                raise self._missing(key, bucket)
            return self._fetch_prefix(key.rstrip("/") + "/", objs, bucket, dest, force)
        if fmt == "auto":
            sniffed = self._sniff(obj, bucket)
            if sniffed != "none":
                return self._fetch_archive(name, key, bucket, dest, sniffed, force)
        self._emit(ProgressEvent(total=obj.size))
        return [dest] if self._download_object(obj, bucket, dest, force=force) else []

    def _sniff(self, obj: _Object, bucket: str) -> str:
        if obj.size < 4:
            return "none"
        with self.errors("reading", obj.key, bucket):
            resp = self.client.get_object(bucket, obj.key, offset=0, length=4)
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

    def _fetch_archive(
        self, name: str, key: str, bucket: str, dest: Path, fmt: str, force: bool
    ) -> list[Path]:
        obj = self.stat(key, bucket)
        if obj is None:
            raise self._missing(key, bucket)
        self._emit(ProgressEvent(total=obj.size))
        staging = archive.staging_dir(dest)
        try:
            packed = staging / "archive"
            self._stream_to(obj, bucket, packed)
            item = archive.unpack(packed, staging, what=f"artifact {name!r} (s3://{bucket}/{key})", fmt=fmt)
            written, skipped = archive.place_tree(item, dest, force=force)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        for p in written:
            self._emit(ProgressEvent(file=p))
        for p in skipped:
            self._emit(ProgressEvent(file=p, skipped=True))
        return written

    def _download_one(self, obj: _Object, bucket: str, dest: Path, force: bool) -> tuple[Path, bool]:
        return dest, self._download_object(obj, bucket, dest, force=force)

    def _fetch_prefix(
        self, prefix: str, objs: list[_Object], bucket: str, dest: Path, force: bool
    ) -> list[Path]:
        if dest.exists() and not dest.is_dir():
            if not force:
                raise archive.ConflictError(
                    f"{dest}: a file is in the way of a downloaded directory", hint="use --force"
                )
            dest.unlink()
        plan: list[tuple[_Object, Path]] = []
        checked: set[Path] = set()
        for o in objs:
            rel = archive.safe_relpath(o.key[len(prefix) :], what=f"s3://{bucket}/{prefix}")
            plan.append((o, dest / rel))
            archive.check_within(dest, dest / rel, checked)
        if dest.is_dir():
            _clean_parts_tree(dest)
        self._emit(ProgressEvent(total=sum(o.size for o in objs)))
        results = self._parallel(
            [functools.partial(self._download_one, o, bucket, p, force) for o, p in plan]
        )
        return [p for p, wrote in results if wrote]

    def _parallel(self, jobs: Sequence[Callable[[], Any]]) -> list[Any]:
        """Run ``jobs`` on the thread pool; the first error cancels the rest and is raised.

        On Ctrl-C the transfers in flight stop at their next chunk (their temp
        files removed) and no further job starts.
        """
        if len(jobs) <= 1 or threading.current_thread().name.startswith(POOL_PREFIX):
            return [job() for job in jobs]  # already on a worker: the pool bounds concurrency
        pool = ThreadPoolExecutor(max_workers=min(self.workers, len(jobs)), thread_name_prefix=POOL_PREFIX)
        futures: list[Future[Any]] = [pool.submit(job) for job in jobs]
        try:
            wait(futures, return_when=FIRST_EXCEPTION)
        except BaseException:
            self._abort.set()
            pool.shutdown(wait=True, cancel_futures=True)
            self._abort.clear()
            raise
        pool.shutdown(wait=True, cancel_futures=True)
        for f in futures:
            if not f.cancelled() and f.exception() is not None:
                raise f.exception()  # type: ignore[misc]
        return [f.result() for f in futures]

    def fetch_many(
        self, items: Sequence[tuple[Mapping[str, Any], Path]], *, force: bool = False
    ) -> list[Path]:
        """Fetch several artifacts at once (in parallel); returns all paths written."""
        results = self._parallel([functools.partial(self.fetch, a, d, force=force) for a, d in items])
        return [p for paths in results for p in paths]

    # ------------------------------------------------------------------ writing

    def put_file(self, path: Path, key: str) -> None:
        with self.errors("uploading", key):
            self.client.fput_object(self.repo.bucket, key, str(path), part_size=UPLOAD_PART_SIZE)

    def put_if_absent(self, path: Path, key: str) -> bool:
        """Upload ``path`` to a content-addressed ``key`` unless it is there already.

        Returns True when it was uploaded. ``run -e argo`` uses it for the archives
        ``dflowctl.uploads.source_archive`` makes (``dflowctl/sources/<sha256>.tgz``):
        an unchanged directory is not uploaded twice.
        """
        if self.exists(key):
            return False
        self.put_file(Path(path), key)
        return True


# --------------------------------------------------------------------------- helpers


def _format_of(artifact: Mapping[str, Any], key: str) -> str:
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


def _clean_parts(dest: Path) -> None:
    """Remove temp files a killed earlier download of ``dest`` left next to it."""
    parent = dest.parent
    if parent.is_dir():
        for p in parent.glob(f".{glob_escape(dest.name)}{PART_SUFFIX}*"):
            if p.is_file() and not p.is_symlink():
                p.unlink()


def _clean_parts_tree(root: Path) -> None:
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            if PART_SUFFIX in name and name.startswith("."):
                Path(dirpath, name).unlink()


def glob_escape(name: str) -> str:
    import glob

    return glob.escape(name)


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _part_size_candidates(size: int, parts: int) -> list[int]:
    mib = 1024 * 1024
    guess = -(-size // parts)
    guess = -(-guess // mib) * mib
    sizes = [guess] + [n * mib for n in (5, 8, 10, 15, 16, 32, 64, 100, 128, 256, 512)]
    out: list[int] = []
    for s in sizes:
        if s not in out and -(-size // s) == parts:
            out.append(s)
    return out[:3]


def _multipart_etag(path: Path, part_size: int) -> str:
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


def store_for_run(
    workflow: Mapping[str, Any], settings: Settings | None = None, kube: Any = None, **kwargs: Any
) -> S3Store:
    """The S3 store holding ``workflow``'s artifacts (see ``dflowctl.repository``)."""
    return S3Store(resolve_repository(workflow, settings, kube), **kwargs)
