"""Kubernetes API failures as users see them: what a call touched (``Resource``), the
errors (``NoArgoError``, ``WatchExpired``) and the one-line message of a failed call
(``api_error``). No ``kubernetes`` import: ``kube.py`` hands over the client's error."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dflowctl.errors import ClusterError, NotFoundError

ARGO_GROUP = "argoproj.io"
INSTALL_HINT = "install Argo Workflows first; see docs/argo.md"


class NoArgoError(ClusterError):
    """The cluster has no workflows.argoproj.io CRD."""


class WatchExpired(Exception):
    """The watch's resourceVersion is too old (410 Gone): re-list and start again."""


@dataclass(frozen=True)
class Resource:
    """What a call touches, for error messages: `create` `workflows.argoproj.io` "name"."""

    verb: str
    kind: str  # e.g. "workflows.argoproj.io", "pods/log", "configmaps"
    namespace: str | None = None
    name: str | None = None

    def describe(self) -> str:
        what = f'{self.kind} "{self.name}"' if self.name else self.kind
        return f'{what} in namespace "{self.namespace}"' if self.namespace else what


def status_body(err: Any) -> dict[str, Any]:
    """The ``Status`` object the API server sent with an error, if it sent one."""
    body = getattr(err, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str) and body:
        try:
            data = json.loads(body)
        except ValueError:
            return {"message": body.strip()[:300]}
        return data if isinstance(data, dict) else {}
    return {}


def api_error(
    err: Exception, res: Resource, *, api: bool, host: str, namespace: str, argo_installed: Callable[[], bool]
) -> Exception:
    """The error users see for a failed call (never with credentials). ``api``: the API
    server answered (``err`` is the client's ``ApiException``); else it was not reached.
    ``host`` and ``namespace`` for the message; ``argo_installed`` is asked on a 404."""
    if not api:
        return ClusterError(
            f"cannot reach the Kubernetes API at {host}: {short_reason(err)}",
            hint="check that the cluster is running and the kubeconfig/--context points at it "
            "(kubectl cluster-info)",
        )
    status = status_body(err)
    code = int(getattr(err, "status", 0) or status.get("code") or 0)
    message = str(status.get("message") or getattr(err, "reason", "") or "").strip()
    details = status.get("details") or {}
    if code == 401:
        return ClusterError(
            f"the Kubernetes API at {host} rejected our credentials (401 Unauthorized)",
            hint="the token or client certificate in your kubeconfig is missing or expired; "
            "log in again or pick another --context",
        )
    if code == 403:
        return ClusterError(
            message if "forbidden" in message else f"forbidden to {res.verb} {res.describe()}",
            hint=f"grant this account the role in docs/argo.md "
            f"(check: kubectl auth can-i {res.verb} {res.kind} -n {res.namespace or namespace})",
        )
    if code == 404:
        if details.get("kind") == "namespaces" or message.startswith("namespaces "):
            ns = details.get("name") or res.namespace
            return ClusterError(
                f'namespace "{ns}" does not exist',
                hint=f"create it (kubectl create namespace {ns}) or choose another with -n/--namespace",
            )
        if res.name and details.get("name") == res.name:
            return NotFoundError(f"{res.describe()} not found")
        if res.kind.endswith(ARGO_GROUP) and not argo_installed():
            return NoArgoError(
                "Argo Workflows is not installed in this cluster (no workflows.argoproj.io CRD)",
                hint=INSTALL_HINT,
            )
        return NotFoundError(f"{res.describe()} not found")
    if code == 409:
        return ClusterError(f"cannot {res.verb} {res.describe()}: {message} (409 Conflict)")
    if code == 422:
        return ClusterError(
            f"the API server rejected the {res.kind}: {message}",
            hint="run `dflowctl render` and check it with Argo's schema",
        )
    return ClusterError(f"the Kubernetes API failed to {res.verb} {res.describe()}: {code} {message}")


def is_connection_error(err: Exception) -> bool:
    import urllib3.exceptions as u3

    return isinstance(err, (u3.HTTPError, ConnectionError, TimeoutError, OSError))


def short_reason(err: Exception) -> str:
    """A short reason from a urllib3 error chain (e.g. 'connection refused')."""
    seen: Exception | None = err
    for _ in range(6):
        inner = getattr(seen, "reason", None) or seen.__cause__ or seen.__context__ if seen else None
        if not isinstance(inner, Exception):
            break
        seen = inner
    text = str(seen or err)
    low = text.lower()
    if "refused" in low:
        return "connection refused"
    if "timed out" in low or "timeout" in low:
        return "timed out"
    if "name or service not known" in low or "nodename nor servname" in low or "resolve" in low:
        return "host name not found"
    if "certificate" in low or "ssl" in low:
        return "TLS error: " + text.split(":")[-1].strip()
    return text.splitlines()[0][:200] if text else type(err).__name__
