"""S3 failures as users see them, one line each (``StorageError``, exit 3; a failure of
this machine's disk is a ``UsageError``): unreachable endpoints (with the port-forward
to type for a cluster-internal one), missing buckets and keys, transient breaks worth
resuming. No ``minio`` import: ``storage.S3Store.translate`` hands over minio's errors."""

from __future__ import annotations

import http.client
import re

from dflowctl.errors import StorageError, UsageError, redact
from dflowctl.repository import S3Repository


class Transient(Exception):
    """A transfer broke off mid-way; worth resuming."""


def is_cluster_internal(host: str) -> bool:
    name = host.rsplit(":", 1)[0].strip("[]")
    if name in ("localhost",) or re.fullmatch(r"[\d.]+|[0-9a-fA-F:]+", name):
        return False
    return "." not in name or name.endswith((".svc", ".cluster.local", ".svc.cluster.local"))


def service_of(endpoint: str, secure: bool) -> tuple[str, str, str]:
    """``minio.argo.svc:9000`` -> ("minio", "argo", "9000"); namespace defaults to argo."""
    host, _, port = endpoint.partition(":")
    labels = host.split(".")
    ns = labels[1] if len(labels) > 1 and labels[1] not in ("svc", "") else "argo"
    return labels[0], ns, port or ("443" if secure else "80")


def reason_of(err: BaseException) -> str:
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


def is_local(err: BaseException) -> bool:
    """An error of this machine's file system (not of the network)."""
    import errno

    if not isinstance(err, OSError) or isinstance(err, (ConnectionError, TimeoutError)):
        return False
    local = (errno.ENOSPC, errno.EACCES, errno.EROFS, errno.EDQUOT, errno.ENOTDIR, errno.EISDIR, errno.EEXIST)
    return bool(err.filename) or err.errno in local


def local_error(err: OSError) -> UsageError:
    where = f"{err.filename}: " if err.filename else ""
    return UsageError(f"cannot write the download: {where}{err.strerror or err}")


def no_bucket(bucket: str, url: str) -> StorageError:
    return StorageError(
        f"S3 bucket {bucket!r} does not exist at {url}",
        hint="check DFLOWCTL_S3_BUCKET or the bucket of the artifact repository",
    )


def no_key(key: str | None, bucket: str, url: str) -> StorageError:
    return StorageError(
        f"S3 key {key!r} not found in bucket {bucket!r} at {url}",
        hint="the artifact was not saved, or was deleted (artifact GC); check the run's status",
    )


def transient_types() -> tuple[type[BaseException], ...]:
    import urllib3.exceptions as u3

    return (
        u3.ProtocolError,
        u3.ReadTimeoutError,
        u3.IncompleteRead,
        http.client.IncompleteRead,
        ConnectionError,
        TimeoutError,
        Transient,
    )


def unreachable(err: BaseException, repo: S3Repository) -> StorageError:
    """A network failure talking to ``repo``: its reason, and how to reach an address
    that is only inside the cluster."""
    url = repo.url
    reason = reason_of(err)
    if is_cluster_internal(repo.endpoint):
        svc, ns, port = service_of(repo.endpoint, repo.secure)
        hint = redact(
            f"{repo.endpoint} (from {repo.origin}) is a cluster-internal address; from this "
            f"machine run `kubectl -n {ns} port-forward svc/{svc} {port}:{port}` and set "
            f"DFLOWCTL_S3_ENDPOINT=localhost:{port}"
        )
    else:
        hint = "check the endpoint (DFLOWCTL_S3_ENDPOINT) and that the S3 server is running"
    return StorageError(f"S3 unreachable at {url}: {reason}", hint=hint)
