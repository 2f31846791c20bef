"""Which S3 repository holds a run's artifacts, and with which credentials.

Order, first complete answer wins field by field:

1. flags / environment / config file (``Settings.s3_*``) — always override;
2. ``status.artifactRepositoryRef.artifactRepository`` of the Workflow (what the
   controller froze into the run);
3. the ConfigMap it names (``status.artifactRepositoryRef.configMap``/``key``),
   else the namespace's ``artifact-repositories`` ConfigMap, key from the
   workflow's ``spec.artifactRepositoryRef.key`` or the annotation
   ``workflows.argoproj.io/default-artifact-repository``;
4. ``artifactRepository`` in ``workflow-controller-configmap`` (best effort).

Credentials come from the Secrets named by ``accessKeySecret``/``secretKeySecret``
in the workflow's namespace, read only when no key was given by the user. No I/O
here other than through the ``KubeReader`` passed in; no secret is ever part of
a message.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from dflowctl.errors import NotFoundError, StorageError, redact
from dflowctl.settings import Settings

CONFIGMAP = "artifact-repositories"
DEFAULT_ANNOTATION = "workflows.argoproj.io/default-artifact-repository"
CONTROLLER_CONFIGMAP = "workflow-controller-configmap"
DEFAULT_NAMESPACE = "argo"


class KubeReader(Protocol):
    """What resolution needs from the cluster (``dflowctl.kube.KubeClient`` has it).

    Both return the object as a dict (``{"metadata": ..., "data": ...}``; a
    Secret's ``data`` values base64-encoded as the API sends them), or None /
    raise ``NotFoundError`` when it does not exist.
    """

    def get_configmap(self, namespace: str, name: str) -> Mapping[str, Any] | None: ...

    def get_secret(self, namespace: str, name: str) -> Mapping[str, Any] | None: ...


@dataclass(frozen=True)
class S3Repository:
    endpoint: str  # host[:port], no scheme
    bucket: str
    secure: bool = True
    region: str | None = None
    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    key_format: str | None = None
    origin: str = "settings"  # where the endpoint came from, for error hints

    def secrets(self) -> list[str]:
        return [v for v in (self.access_key, self.secret_key) if v]

    @property
    def url(self) -> str:
        """The endpoint as a URL for messages (credentials in it redacted)."""
        return redact(f"{'https' if self.secure else 'http'}://{self.endpoint}")


def split_endpoint(endpoint: str) -> tuple[str, bool | None]:
    """``http://host:9000/`` -> ("host:9000", False); no scheme -> (endpoint, None)."""
    text = endpoint.strip().rstrip("/")
    for scheme, secure in (("https://", True), ("http://", False)):
        if text.lower().startswith(scheme):
            return text[len(scheme) :], secure
    return text, None


def _get(reader: KubeReader | None, kind: str, namespace: str, name: str) -> Mapping[str, Any] | None:
    if reader is None:
        return None
    try:
        fetch = reader.get_configmap if kind == "ConfigMap" else reader.get_secret
        return fetch(namespace, name)
    except NotFoundError:
        return None


def _parse_yaml(text: str, where: str) -> Any:
    from ruamel.yaml import YAML

    try:
        return YAML(typ="safe").load(text)
    except Exception as err:  # any YAML problem
        raise StorageError(f"{where}: not valid YAML: {str(err).splitlines()[0]}") from None


def _from_configmap(
    reader: KubeReader | None, namespace: str, name: str, key: str | None
) -> tuple[dict[str, Any], str] | None:
    cm = _get(reader, "ConfigMap", namespace, name)
    if not cm:
        return None
    data = cm.get("data") or {}
    if key is None:
        annotations = (cm.get("metadata") or {}).get("annotations") or {}
        key = annotations.get(DEFAULT_ANNOTATION)
    if not key or key not in data:
        return None
    where = f"ConfigMap {namespace}/{name} key {key}"
    repo = _parse_yaml(data[key] or "", where) or {}
    if not isinstance(repo, dict):
        raise StorageError(f"{where}: an artifact repository must be a mapping")
    return repo, where


def _from_controller(reader: KubeReader | None, namespace: str) -> tuple[dict[str, Any], str] | None:
    cm = _get(reader, "ConfigMap", namespace, CONTROLLER_CONFIGMAP)
    text = ((cm or {}).get("data") or {}).get("artifactRepository")
    if not text:
        return None
    where = f"ConfigMap {namespace}/{CONTROLLER_CONFIGMAP} key artifactRepository"
    repo = _parse_yaml(text, where)
    return (repo, where) if isinstance(repo, dict) else None


def _secret_value(reader: KubeReader | None, namespace: str, ref: Any, what: str) -> str | None:
    if not isinstance(ref, Mapping) or not ref.get("name") or not ref.get("key"):
        return None
    name, key = str(ref["name"]), str(ref["key"])
    secret = _get(reader, "Secret", namespace, name)
    hint = "set DFLOWCTL_S3_ACCESS_KEY and DFLOWCTL_S3_SECRET_KEY (or the config file) instead"
    if secret is None:
        raise StorageError(
            f"Secret {namespace}/{name} (the S3 {what} of the artifact repository) not found", hint=hint
        )
    plain = (secret.get("stringData") or {}).get(key)
    if plain is not None:
        return str(plain)
    encoded = (secret.get("data") or {}).get(key)
    if encoded is None:
        raise StorageError(f"Secret {namespace}/{name} has no key {key!r} (the S3 {what})", hint=hint)
    try:
        return base64.b64decode(encoded).decode("utf-8").strip()
    except (ValueError, UnicodeDecodeError):
        raise StorageError(f"Secret {namespace}/{name} key {key!r} is not valid base64 text") from None


def _s3_block(repo: Mapping[str, Any], where: str) -> dict[str, Any] | None:
    s3 = repo.get("s3")
    if s3 is None:
        others = sorted(k for k in repo if k not in ("archiveLogs", "s3"))
        if others:
            return {"__kind__": others[0], "__where__": where}
        return None
    if not isinstance(s3, Mapping):
        raise StorageError(f"{where}: `s3` must be a mapping")
    return dict(s3)


def resolve_repository(
    workflow: Mapping[str, Any], settings: Settings | None = None, kube: KubeReader | None = None
) -> S3Repository:
    """The S3 repository of ``workflow`` (an Argo Workflow object), see the module doc."""
    settings = settings or Settings()
    meta = workflow.get("metadata") or {}
    status = workflow.get("status") or {}
    spec = workflow.get("spec") or {}
    run = meta.get("name") or "this run"
    namespace = meta.get("namespace") or settings.namespace or DEFAULT_NAMESPACE
    ref = status.get("artifactRepositoryRef") or {}

    layers: list[tuple[dict[str, Any], str]] = []
    frozen = ref.get("artifactRepository")
    if isinstance(frozen, Mapping):
        block = _s3_block(frozen, "status.artifactRepositoryRef")
        if block is not None:
            layers.append((block, f"run {run} (status.artifactRepositoryRef)"))

    def complete(s3: Mapping[str, Any]) -> bool:
        has_creds = bool(s3.get("accessKeySecret") and s3.get("secretKeySecret")) or bool(
            s3.get("useSDKCreds")
        )
        return bool(s3.get("endpoint") and s3.get("bucket") and has_creds)

    merged = _merge(layers)
    user_creds = bool(settings.s3_access_key and settings.s3_secret_key)
    user_target = bool(settings.s3_endpoint and settings.s3_bucket)
    if not (complete(merged) or (user_creds and user_target) or (user_creds and merged.get("endpoint"))):
        cm_ns = ref.get("namespace") or namespace
        cm_name = ref.get("configMap") or CONFIGMAP
        key = ref.get("key") or (spec.get("artifactRepositoryRef") or {}).get("key")
        found = _from_configmap(kube, cm_ns, cm_name, key)
        if found is None and (cm_ns, cm_name) != (namespace, CONFIGMAP):
            found = _from_configmap(kube, namespace, CONFIGMAP, None)
        if found is None:
            found = _from_controller(kube, namespace)
        if found is not None:
            block = _s3_block(found[0], found[1])
            if block is not None:
                layers.append((block, found[1]))
        merged = _merge(layers)

    if "__kind__" in merged and not settings.s3_endpoint:
        raise StorageError(
            f"the artifact repository of {run} is not S3 ({merged['__kind__']}, from {merged['__where__']})",
            hint="dflowctl reads S3/MinIO; set DFLOWCTL_S3_ENDPOINT and DFLOWCTL_S3_BUCKET to use one",
        )
    return _finish(merged, settings, kube, namespace, run)


def _merge(layers: list[tuple[dict[str, Any], str]]) -> dict[str, Any]:
    """Earlier layers win; remember where the endpoint came from."""
    out: dict[str, Any] = {}
    for block, where in reversed(layers):
        for k, v in block.items():
            if v not in (None, ""):
                out[k] = v
        if block.get("endpoint"):
            out["__origin__"] = where
    return out


def _finish(
    s3: dict[str, Any], settings: Settings, kube: KubeReader | None, namespace: str, run: str
) -> S3Repository:
    origin = s3.get("__origin__", "settings")
    endpoint_raw = settings.s3_endpoint
    if endpoint_raw:
        origin = "settings"
    else:
        endpoint_raw = s3.get("endpoint")
    bucket = settings.s3_bucket or s3.get("bucket")
    if not endpoint_raw or not bucket:
        missing = "endpoint" if not endpoint_raw else "bucket"
        raise StorageError(
            f"no S3 {missing} known for the artifacts of {run}",
            hint=f"set DFLOWCTL_S3_{missing.upper()} (or the config file), or create the "
            f"{CONFIGMAP} ConfigMap in namespace {namespace}",
        )
    endpoint, scheme_secure = split_endpoint(str(endpoint_raw))
    secure = settings.s3_secure
    if secure is None:
        secure = scheme_secure if scheme_secure is not None else not bool(s3.get("insecure", False))
    region = settings.s3_region or s3.get("region") or None
    access = settings.s3_access_key
    secret = settings.s3_secret_key
    if not (access and secret):
        if s3.get("useSDKCreds") and not (s3.get("accessKeySecret") or s3.get("secretKeySecret")):
            import os

            access = access or os.environ.get("AWS_ACCESS_KEY_ID")
            secret = secret or os.environ.get("AWS_SECRET_ACCESS_KEY")
        else:
            access = access or _secret_value(kube, namespace, s3.get("accessKeySecret"), "access key")
            secret = secret or _secret_value(kube, namespace, s3.get("secretKeySecret"), "secret key")
    return S3Repository(
        endpoint=endpoint,
        bucket=str(bucket),
        secure=bool(secure),
        region=str(region) if region else None,
        access_key=access or None,
        secret_key=secret or None,
        key_format=s3.get("keyFormat") or None,
        origin=origin,
    )
