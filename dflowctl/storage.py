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
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dflowctl import archive
from dflowctl.errors import DflowctlError, StorageError, redact
from dflowctl.repository import S3Repository, resolve_repository
from dflowctl.s3errors import (
    Transient,
    is_local,
    local_error,
    no_bucket,
    no_key,
    reason_of,
    transient_types,
    unreachable,
)
from dflowctl.s3fetch import ArtifactFetch
from dflowctl.s3files import (
    CHUNK,
    PART_SUFFIX,
    ProgressEvent,
    ProgressHook,
    S3Object,
    md5_of,
    multipart_etag,
    part_size_candidates,
)
from dflowctl.settings import Settings

DEFAULT_WORKERS = 16
POOL_PREFIX = "dflowctl-s3"
UPLOAD_PART_SIZE = 16 * 1024 * 1024


class _Aborted(BaseException):
    """Stops a transfer in a worker thread after Ctrl-C in the main thread."""


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
            if isinstance(err, OSError) and is_local(err):
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
                return no_bucket(bucket, url)
            if code in ("NoSuchKey", "NoSuchObject", "ResourceNotFound"):
                return no_key(key, bucket, url)
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
        return unreachable(err, self.repo)

    def emit(self, event: ProgressEvent) -> None:
        hook = self.on_progress
        if hook is not None:
            with self._progress_lock:
                hook(event)

    # ------------------------------------------------------------------ reading

    def stat(self, key: str, bucket: str | None = None) -> S3Object | None:
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
        return S3Object(key, int(st.size or 0), (st.etag or "").strip('"'))

    def missing(self, key: str, bucket: str) -> StorageError:
        """Key missing, or its bucket (a HEAD answers both with a bare 404)."""
        with self.errors("reading", key, bucket):
            bucket_ok = self.client.bucket_exists(bucket)
        if not bucket_ok:
            return no_bucket(bucket, self.repo.url)
        return no_key(key, bucket, self.repo.url)

    def list_prefix(self, prefix: str, bucket: str | None = None) -> list[S3Object]:
        b = bucket or self.repo.bucket
        with self.errors("listing", prefix, b):
            return [
                S3Object(o.object_name, int(o.size or 0), (o.etag or "").strip('"'))
                for o in self.client.list_objects(b, prefix=prefix, recursive=True)
                if o.object_name and not o.object_name.endswith("/")
            ]

    def exists(self, key: str, bucket: str | None = None) -> bool:
        return self.stat(key, bucket) is not None

    def stream_to(self, obj: S3Object, bucket: str, tmp: Path) -> None:
        """GET ``obj`` into ``tmp``; a dropped connection resumes where it stopped."""
        transient = transient_types()
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
                            self.emit(ProgressEvent(advance=len(chunk)))
                    finally:
                        resp.close()
                        resp.release_conn()
                    if done < obj.size:
                        raise Transient(f"IncompleteRead {done} of {obj.size}")
                    return
                except transient as err:
                    attempt += 1
                    if attempt > self.retries:
                        raise StorageError(
                            f"S3 transfer of s3://{bucket}/{obj.key} from {self.repo.url} failed: "
                            f"connection dropped mid-transfer ({reason_of(err)}; {self.retries} retries)",
                            hint="run the command again: files already complete are kept",
                        ) from None
                    time.sleep(min(0.1 * 2**attempt, 2.0))
                    out.seek(done)
                    out.truncate()

    def _local_matches(self, path: Path, obj: S3Object) -> bool | None:
        """True: identical; False: different; None: cannot tell without the bytes."""
        if path.is_symlink() or not path.is_file():
            return False
        if path.stat().st_size != obj.size:
            return False
        etag = obj.etag
        if re.fullmatch(r"[0-9a-f]{32}", etag):
            return md5_of(path) == etag
        m = re.fullmatch(r"([0-9a-f]{32})-(\d+)", etag)
        if m:
            parts = int(m.group(2))
            for part_size in part_size_candidates(obj.size, parts):
                if multipart_etag(path, part_size) == etag:
                    return True
        return None

    def download_object(self, obj: S3Object, bucket: str, dest: Path, *, force: bool) -> bool:
        """Put object ``obj`` at ``dest`` (temp name + rename). False when skipped as identical."""
        if dest.is_dir() and not dest.is_symlink():
            raise archive.ConflictError(f"{dest}: a directory is in the way of a downloaded file")
        if dest.exists() or dest.is_symlink():
            same = self._local_matches(dest, obj)
            if same:
                self.emit(ProgressEvent(advance=obj.size, file=dest, skipped=True))
                return False
            if same is False and not force:
                raise archive.ConflictError(
                    f"{dest}: exists with different content", hint="use --force to overwrite"
                )
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.parent / f".{dest.name}{PART_SUFFIX}{uuid.uuid4().hex[:8]}"
        try:
            self.stream_to(obj, bucket, tmp)
            written = archive.place_file(tmp, dest, force=force)
        finally:
            if tmp.exists():
                tmp.unlink()
        self.emit(ProgressEvent(file=dest, skipped=not written))
        return written

    # ------------------------------------------------------------------ fetch

    def fetch(self, artifact: Mapping[str, Any], dest: Path, *, force: bool = False) -> list[Path]:
        """Download one artifact of a node's outputs to ``dest`` (see ArtifactStore).

        ``dest`` becomes the artifact: a file, or a directory holding its files.
        Returns the paths written (files skipped as identical are not listed).
        """
        try:
            return ArtifactFetch(self).run(artifact, Path(dest), force)
        except OSError as err:  # the local side: permissions, disk full, a file in the way
            raise local_error(err) from None

    def parallel(self, jobs: Sequence[Callable[[], Any]]) -> list[Any]:
        """Run ``jobs`` on the thread pool; the first error cancels the rest and is raised.

        On Ctrl-C the transfers in flight stop at their next chunk (their temp
        files removed) and no further job starts.
        """
        if len(jobs) <= 1 or threading.current_thread().name.startswith(POOL_PREFIX):
            return [job() for job in jobs]  # already on a worker: the pool bounds concurrency
        pool = ThreadPoolExecutor(max_workers=min(self.workers, len(jobs)), thread_name_prefix=POOL_PREFIX)
        futures: list[Future[Any]] = []
        try:
            with _ctrl_c_held():
                futures.extend(pool.submit(job) for job in jobs)
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
        results = self.parallel([functools.partial(self.fetch, a, d, force=force) for a, d in items])
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


@contextmanager
def _ctrl_c_held() -> Iterator[None]:
    """Hold a Ctrl-C back while jobs are handed out to the pool; it is raised right after.

    Raised inside ``submit`` (which waits for a new worker thread to start), it would leave
    a worker the pool does not know of yet, and a job whose future was never returned,
    running on past the interrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    import signal

    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def store_for_run(
    workflow: Mapping[str, Any], settings: Settings | None = None, kube: Any = None, **kwargs: Any
) -> S3Store:
    """The S3 store holding ``workflow``'s artifacts (see ``dflowctl.repository``)."""
    return S3Store(resolve_repository(workflow, settings, kube), **kwargs)
