"""Kubernetes access: the only module that imports ``kubernetes`` (lazily).

``KubeClient`` loads a kubeconfig (``--kubeconfig``/``KUBECONFIG``/``~/.kube/config``,
``--context``) or the in-cluster service account, picks the namespace
(flag > ``DFLOWCTL_NAMESPACE`` > the context's namespace > ``argo``) and makes
every API call through one chokepoint, :meth:`KubeClient.call`, which retries
what is safe to retry and turns ``ApiException``/``urllib3`` errors into
:class:`~dflowctl.errors.ClusterError` (exit 3) with a one-line message a
user can act on. Objects travel as plain JSON dicts (``_preload_content=False``),
exactly as the API server sends them.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from dflowctl.errors import ClusterError, NotFoundError
from dflowctl.kubecreds import plugin_messages, strip_tokens, summary
from dflowctl.kubeerrors import (
    ARGO_GROUP,
    NoArgoError,
    Resource,
    WatchExpired,
    api_error,
    is_connection_error,
)
from dflowctl.kubeworkflows import ARGO_VERSION, WORKFLOWS, WorkflowCalls
from dflowctl.settings import Settings

WORKFLOW_CRD = "workflows.argoproj.io"
DEFAULT_NAMESPACE = "argo"
INCLUSTER_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
SAFE_VERBS = frozenset({"get", "list", "watch", "patch", "delete"})
RETRY_DEADLINE = 60.0  # seconds of consecutive failures before giving up
WATCH_TIMEOUT = 290  # server-side timeoutSeconds of one watch request


def _load_configuration(kubeconfig: str | None, context: str | None) -> tuple[Any, str | None]:
    """A kubernetes ``Configuration`` and the context's namespace (if any)."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    cfg = client.Configuration()
    path = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
    paths = [p for p in path.split(os.pathsep) if p]
    has_file = any(Path(p).expanduser().is_file() for p in paths)
    if not has_file and not kubeconfig and os.environ.get("KUBERNETES_SERVICE_HOST"):
        try:
            config.load_incluster_config(client_configuration=cfg)
        except ConfigException as err:
            raise ClusterError(f"cannot use the in-cluster service account: {err}") from None
        ns = None
        if INCLUSTER_NAMESPACE_FILE.is_file():
            ns = INCLUSTER_NAMESPACE_FILE.read_text(encoding="utf-8").strip() or None
        return cfg, ns
    if not has_file:
        raise ClusterError(
            f"no Kubernetes configuration: {path} does not exist and this is not a pod in a cluster",
            hint="pass --kubeconfig FILE or set KUBECONFIG (see docs/argo.md)",
        )
    try:
        with plugin_messages() as messages:
            config.load_kube_config(config_file=path, context=context, client_configuration=cfg)
        contexts, current = config.list_kube_config_contexts(config_file=path)
    except ConfigException as err:
        raise ClusterError(f"cannot use kubeconfig {path}: {summary(str(err))}") from None
    except (OSError, ValueError) as err:
        raise ClusterError(f"cannot read kubeconfig {path}: {summary(str(err))}") from None
    if messages:  # the client logs a failed exec credential plugin and goes on without a token
        raise ClusterError(
            f"cannot use kubeconfig {path}: its credential plugin failed ({summary(messages[0])})",
            hint="run the plugin named under `users: … exec:` yourself to see why "
            "(its output is not shown here)",
        )
    strip_tokens(cfg)
    chosen = current
    if context:
        chosen = next((c for c in contexts or [] if c.get("name") == context), None)
    ns = ((chosen or {}).get("context") or {}).get("namespace")
    return cfg, ns


class KubeClient(WorkflowCalls):
    """One API client for one command. Cheap to build; the config is read once."""

    def __init__(self, settings: Settings | None = None) -> None:
        settings = settings or Settings()
        self._kubeconfig: str | None = settings.kubeconfig
        self._context: str | None = settings.context
        self._flag_namespace: str | None = settings.namespace
        self._api: Any = None
        self._ctx_namespace: str | None = None
        self._loaded = False
        self.requests = 0  # API requests made (for benchmarks and tests)
        self._contacted = False  # once the API has answered, connection errors are worth retrying

    def use_namespace(self, namespace: str) -> None:
        """A namespace named by what is submitted (``metadata.namespace``): used unless
        one was given by flag or ``DFLOWCTL_NAMESPACE``, which win."""
        if not self._flag_namespace:
            self._flag_namespace = namespace

    def clone(self) -> KubeClient:
        """Another client for the same cluster and namespace (for a second thread)."""
        other = KubeClient()
        other._kubeconfig, other._context = self._kubeconfig, self._context
        other._flag_namespace = self.namespace
        return other

    # -- configuration ------------------------------------------------------------

    def _ensure(self) -> Any:
        if not self._loaded:
            from kubernetes import client

            cfg, ns = _load_configuration(self._kubeconfig, self._context)
            cfg.retries = 0  # retries are ours (see `call`); urllib3's would hide a dead API for long
            self._ctx_namespace = ns
            self._api = client.ApiClient(cfg)
            self._loaded = True
        return self._api

    @property
    def namespace(self) -> str:
        if self._flag_namespace:
            return self._flag_namespace
        self._ensure()
        return self._ctx_namespace or DEFAULT_NAMESPACE

    @property
    def host(self) -> str:
        return str(self._ensure().configuration.host)

    def custom(self) -> Any:
        from kubernetes import client

        return client.CustomObjectsApi(self._ensure())

    def core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self._ensure())

    # -- the chokepoint -------------------------------------------------------------

    def call(self, res: Resource, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call ``fn`` (a kubernetes API method), retrying transient failures when safe.

        Returns the raw urllib3 response when ``_preload_content=False`` was passed
        and it is a stream, else the decoded JSON body. Errors become ClusterError
        (or NotFoundError for a missing named object).
        """
        from kubernetes.client.exceptions import ApiException

        deadline = time.monotonic() + RETRY_DEADLINE
        delay = 0.2
        while True:
            self.requests += 1
            try:
                result = fn(*args, **kwargs)
                self._contacted = True
                return result
            except ApiException as err:
                self._contacted = True
                safe = res.verb in SAFE_VERBS or err.status in (429, 503)
                retry = err.status in RETRYABLE_STATUS and safe
                if not retry or time.monotonic() + delay > deadline:
                    raise self.translate(err, res) from None
            except Exception as err:
                if not is_connection_error(err):
                    raise
                # a first contact that fails means a wrong address or a stopped cluster: say so at once
                if not self._contacted or res.verb not in SAFE_VERBS or time.monotonic() + delay > deadline:
                    raise self.translate(err, res) from None
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def translate(self, err: Exception, res: Resource) -> Exception:
        """Turn a client error into the error users see (never includes credentials).

        The result has a ``status`` attribute: the HTTP code, or 0 when the API was not reached.
        """
        from kubernetes.client.exceptions import ApiException

        api = isinstance(err, ApiException)
        out = api_error(
            err, res, api=api, host=self.host, namespace=self.namespace, argo_installed=self.argo_installed
        )
        out.status = int(getattr(err, "status", 0) or 0)  # type: ignore[attr-defined]
        return out

    # -- probes --------------------------------------------------------------------

    def argo_installed(self) -> bool:
        """True when the API serves argoproj.io/v1alpha1 workflows (discovery, readable by all)."""
        from kubernetes.client.exceptions import ApiException

        api = self._ensure()
        try:
            self.requests += 1
            resp = api.call_api(
                *api.param_serialize(
                    method="GET",
                    resource_path=f"/apis/{ARGO_GROUP}/{ARGO_VERSION}",
                    header_params={"Accept": "application/json"},
                    auth_settings=["BearerToken"],
                )
            )
            resp.read()
            data = json.loads(resp.data or b"{}")
        except ApiException as err:
            return err.status != 404  # other errors: cannot tell, do not claim Argo is missing
        except Exception:
            return True
        return any(r.get("name") == WORKFLOWS for r in data.get("resources", []))

    # -- core objects ------------------------------------------------------------------

    def get_json(self, res: Resource, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        resp = self.call(res, fn, *args, _preload_content=False, **kwargs)
        try:
            return dict(json.loads(resp.data or b"{}"))
        finally:
            resp.release_conn()

    def get_namespace(self, name: str) -> dict[str, Any]:
        return self.get_json(Resource("get", "namespaces", name=name), self.core().read_namespace, name)

    def namespace_exists(self, name: str) -> bool | None:
        """True/False, or None when we may not read namespaces (then we cannot tell)."""
        try:
            self.get_namespace(name)
        except NotFoundError:
            return False
        except ClusterError as err:
            return False if getattr(err, "status", 0) == 404 else None
        return True

    def get_configmap(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The ConfigMap object (``metadata``, ``data``), or None when it does not exist."""
        res = Resource("get", "configmaps", namespace, name)
        try:
            return self.get_json(res, self.core().read_namespaced_config_map, name, namespace)
        except NotFoundError:
            return None

    def get_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Secret object as the API sends it (``data`` values base64-encoded), or None.

        Never print or log it.
        """
        res = Resource("get", "secrets", namespace, name)
        try:
            return self.get_json(res, self.core().read_namespaced_secret, name, namespace)
        except NotFoundError:
            return None

    def pod_log(
        self,
        namespace: str,
        pod: str,
        *,
        follow: bool = False,
        container: str = "main",
        timestamps: bool = False,
    ) -> Any:
        """The raw (streaming) response of pods/log; iterate with ``stream_lines``; with
        ``timestamps`` each line starts with its RFC 3339 time and a space."""
        res = Resource("get", "pods/log", namespace, pod)
        return self.call(
            res,
            self.core().read_namespaced_pod_log,
            pod,
            namespace,
            container=container,
            follow=follow,
            timestamps=timestamps,
            _preload_content=False,
            _request_timeout=(10, 86400) if follow else (10, 120),
        )

    def delete_pod(self, namespace: str, name: str) -> None:
        """Delete a pod; one that is already gone is fine."""
        res = Resource("delete", "pods", namespace, name)
        try:
            self.call(res, self.core().delete_namespaced_pod, name, namespace)
        except NotFoundError:
            pass

    # -- custom objects --------------------------------------------------------------

    def watch_workflows(
        self, resource_version: str, *, field_selector: str | None = None, label_selector: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """One watch request: yields its events until the server ends the stream.

        Raises ``WatchExpired`` on 410 Gone. A dropped connection just ends the
        iteration; the caller reconnects from the last resourceVersion it saw.
        """
        ns = self.namespace
        kwargs: dict[str, Any] = {
            "watch": True,
            "resource_version": resource_version,
            "allow_watch_bookmarks": True,
            "timeout_seconds": WATCH_TIMEOUT,
            "_preload_content": False,
            "_request_timeout": (10, WATCH_TIMEOUT + 30),
        }
        if field_selector:
            kwargs["field_selector"] = field_selector
        if label_selector:
            kwargs["label_selector"] = label_selector
        from kubernetes.client.exceptions import ApiException

        try:
            resp = self.call(
                self.wf_resource("watch", None, ns),
                self.custom().list_namespaced_custom_object,
                ARGO_GROUP,
                ARGO_VERSION,
                ns,
                WORKFLOWS,
                **kwargs,
            )
        except ClusterError:
            raise
        except ApiException as err:  # pragma: no cover - call() translates
            raise self.translate(err, self.wf_resource("watch")) from None
        try:
            for line in stream_lines(resp):
                if not line.strip():
                    continue
                event = json.loads(line)
                if event.get("type") == "ERROR":
                    obj = event.get("object") or {}
                    if obj.get("code") == 410:
                        raise WatchExpired(str(obj.get("message") or "resource version too old"))
                    raise ClusterError(f"the watch of workflows failed: {obj.get('message') or obj}")
                yield event
        except (WatchExpired, ClusterError):
            raise
        except Exception as err:
            if not is_connection_error(err) and not isinstance(err, ValueError):
                raise
            return  # the stream was cut: the caller reconnects
        finally:
            resp.release_conn()


def stream_lines(resp: Any) -> Iterator[str]:
    """Lines of a streaming urllib3 response as they arrive (no newline)."""
    pending = b""
    for chunk in resp.stream(amt=65536, decode_content=True):
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            yield line.decode("utf-8", "replace")
    if pending:
        yield pending.decode("utf-8", "replace")


__all__ = [
    "KubeClient",
    "NoArgoError",
    "Resource",
    "WatchExpired",
    "is_connection_error",
    "stream_lines",
]
