"""The process kubelet's volumes and environment: what a pod's containers see.

Volumes become host folders under ``<pod dir>/volumes/<name>`` (``emptyDir``;
``configMap``, ``secret``, ``downwardAPI`` and ``projected`` written as files;
``serviceAccountToken`` from the TokenRequest API); ``hostPath`` is the host
path itself. Env follows Kubernetes: ``envFrom``, then ``env`` with ``$(VAR)``
expansion and ``valueFrom`` (``fieldRef``, ``resourceFieldRef``,
``configMapKeyRef``, ``secretKeyRef``).
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

from dflowctl.engines.local.images import expand_vars
from tests.cluster.kapi import Api, ApiError, Obj
from tests.cluster.layout import HOST

NODE_CPU = "2"
NODE_MEMORY = str(8 * 1024**3)


class PodSetupError(Exception):
    """A volume or env value cannot be made; the text is the pod's message."""


def field_value(pod: Obj, path: str) -> str:
    meta = pod["metadata"]
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": pod["spec"].get("nodeName", ""),
        "spec.serviceAccountName": pod["spec"].get("serviceAccountName", ""),
        "status.podIP": HOST,
        "status.podIPs": HOST,
        "status.hostIP": HOST,
        "status.hostIPs": HOST,
    }
    if path in simple:
        return str(simple[path])
    for kind in ("labels", "annotations"):
        prefix = f"metadata.{kind}"
        if path == prefix:
            return "\n".join(f'{k}="{v}"' for k, v in sorted((meta.get(kind) or {}).items()))
        if path.startswith(prefix + "['") and path.endswith("']"):
            return str((meta.get(kind) or {}).get(path[len(prefix) + 2 : -2], ""))
    raise PodSetupError(f"unsupported fieldRef {path!r}")


def resource_value(container: Obj, resource: str) -> str:
    kind, _, name = resource.partition(".")
    value = ((container.get("resources") or {}).get(kind) or {}).get(name)
    if value is not None:
        return str(value)
    return NODE_CPU if name == "cpu" else NODE_MEMORY


class Volumes:
    """Makes a pod's volumes under ``root`` and answers the host path of each."""

    def __init__(self, api: Api, pod: Obj, root: Path) -> None:
        self.api = api
        self.pod = pod
        self.ns = pod["metadata"]["namespace"]
        self.root = root
        self.paths: dict[str, Path] = {}

    def make_all(self) -> None:
        for vol in self.pod["spec"].get("volumes") or []:
            self.paths[vol["name"]] = self._make(vol)

    def _make(self, vol: Obj) -> Path:
        name = vol["name"]
        if "hostPath" in vol:
            path = Path(vol["hostPath"]["path"])
            if vol["hostPath"].get("type") in ("DirectoryOrCreate", "", None):
                path.mkdir(parents=True, exist_ok=True)
            return path
        target = self.root / name
        target.mkdir(parents=True, exist_ok=True)
        if "emptyDir" in vol:
            target.chmod(0o777)
        elif "configMap" in vol:
            self._write(target, self._config_map(vol["configMap"]), vol["configMap"].get("defaultMode"))
        elif "secret" in vol:
            src = vol["secret"]
            self._write(target, self._secret(src.get("secretName", ""), src), src.get("defaultMode"))
        elif "downwardAPI" in vol:
            self._write(target, self._downward(vol["downwardAPI"]), vol["downwardAPI"].get("defaultMode"))
        elif "projected" in vol:
            files: dict[str, bytes] = {}
            for source in vol["projected"].get("sources") or []:
                files.update(self._projection(source))
            self._write(target, files, vol["projected"].get("defaultMode"))
        else:
            kinds = sorted(k for k in vol if k != "name")
            raise PodSetupError(f"volume {name!r}: kind {kinds} is not supported by the process kubelet")
        return target

    def _projection(self, source: Obj) -> dict[str, bytes]:
        if "serviceAccountToken" in source:
            tok = source["serviceAccountToken"]
            return {tok["path"]: self.token(tok.get("audience"), int(tok.get("expirationSeconds") or 3600))}
        if "configMap" in source:
            return self._config_map(source["configMap"])
        if "secret" in source:
            return self._secret(source["secret"].get("name", ""), source["secret"])
        if "downwardAPI" in source:
            return self._downward(source["downwardAPI"])
        raise PodSetupError(f"projected source {sorted(source)} is not supported by the process kubelet")

    def token(self, audience: str | None, seconds: int) -> bytes:
        spec = self.pod["spec"]
        sa = spec.get("serviceAccountName") or "default"
        body: Obj = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "audiences": [audience] if audience else [],
                "expirationSeconds": max(seconds, 600),
                "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": self.pod["metadata"]["name"]}
                | {"uid": self.pod["metadata"]["uid"]},
            },
        }
        try:
            out = self.api.create(f"/api/v1/namespaces/{self.ns}/serviceaccounts/{sa}/token", body)
        except ApiError as err:
            raise PodSetupError(f"service account token for {sa!r}: {err}") from err
        return str(out["status"]["token"]).encode()

    def _get(self, kind: str, name: str, optional: bool) -> Obj | None:
        try:
            return self.api.get(f"/api/v1/namespaces/{self.ns}/{kind}/{name}")
        except ApiError as err:
            if err.status == 404 and optional:
                return None
            if err.status == 404:
                raise PodSetupError(f'{kind[:-1]} "{name}" not found') from err
            raise

    def _config_map(self, src: Obj) -> dict[str, bytes]:
        cm = self._get("configmaps", src.get("name", ""), bool(src.get("optional")))
        if cm is None:
            return {}
        data = {k: v.encode() for k, v in (cm.get("data") or {}).items()}
        data.update({k: base64.b64decode(v) for k, v in (cm.get("binaryData") or {}).items()})
        return self._items(data, src)

    def _secret(self, name: str, src: Obj) -> dict[str, bytes]:
        secret = self._get("secrets", name, bool(src.get("optional")))
        if secret is None:
            return {}
        return self._items({k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}, src)

    @staticmethod
    def _items(data: dict[str, bytes], src: Obj) -> dict[str, bytes]:
        items = src.get("items")
        if not items:
            return data
        out = {}
        for item in items:
            if item["key"] not in data:
                raise PodSetupError(f"key {item['key']!r} not found")
            out[item["path"]] = data[item["key"]]
        return out

    def _downward(self, src: Obj) -> dict[str, bytes]:
        out = {}
        for item in src.get("items") or []:
            if "fieldRef" in item:
                out[item["path"]] = field_value(self.pod, item["fieldRef"]["fieldPath"]).encode()
            else:
                raise PodSetupError(f"downwardAPI item {item.get('path')!r}: only fieldRef is supported")
        return out

    @staticmethod
    def _write(target: Path, files: dict[str, bytes], mode: int | None) -> None:
        for rel, content in files.items():
            path = target / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            path.chmod(mode if mode is not None else 0o644)


def container_env(api: Api, pod: Obj, container: Obj, base: dict[str, str]) -> dict[str, str]:
    """The environment of ``container``: ``base``, then envFrom, then env (in order, with expansion)."""
    ns = pod["metadata"]["namespace"]
    env = dict(base)
    vols = Volumes(api, pod, Path("/nonexistent"))
    for src in container.get("envFrom") or []:
        prefix = src.get("prefix", "")
        if "configMapRef" in src:
            ref = src["configMapRef"]
            cm = vols._get("configmaps", ref["name"], bool(ref.get("optional")))
            env.update({prefix + k: v for k, v in ((cm or {}).get("data") or {}).items()})
        elif "secretRef" in src:
            ref = src["secretRef"]
            secret = vols._get("secrets", ref["name"], bool(ref.get("optional")))
            data = (secret or {}).get("data") or {}
            env.update({prefix + k: base64.b64decode(v).decode() for k, v in data.items()})
    for var in container.get("env") or []:
        env[var["name"]] = _env_value(vols, pod, container, var, env, ns)
    return env


def _env_value(vols: Volumes, pod: Obj, container: Obj, var: Obj, env: dict[str, str], ns: str) -> str:
    if "valueFrom" not in var:
        return expand_vars(str(var.get("value", "")), env)
    src: dict[str, Any] = var["valueFrom"]
    if "fieldRef" in src:
        return field_value(pod, src["fieldRef"]["fieldPath"])
    if "resourceFieldRef" in src:
        return resource_value(container, src["resourceFieldRef"]["resource"])
    for kind, key in (("configMapKeyRef", "configmaps"), ("secretKeyRef", "secrets")):
        if kind in src:
            ref = src[kind]
            obj = vols._get(key, ref["name"], bool(ref.get("optional")))
            data = (obj or {}).get("data") or {}
            if ref["key"] not in data:
                if ref.get("optional"):
                    return ""
                raise PodSetupError(f"couldn't find key {ref['key']} in {kind[:-6]} {ns}/{ref['name']}")
            value = data[ref["key"]]
            return base64.b64decode(value).decode() if key == "secrets" else str(value)
    raise PodSetupError(f"env {var['name']!r}: unsupported valueFrom {sorted(src)}")


def host_env() -> dict[str, str]:
    """What every container starts from (an image's ENV would be here): the host's PATH, HOME."""
    return {"PATH": os.environ.get("PATH", os.defpath), "HOME": "/root"}
