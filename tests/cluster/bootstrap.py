"""The objects a fresh test cluster needs, created through the API as the admin.

What the missing kube-controller-manager would make (namespace ``argo``, the
``default`` ServiceAccount and ``kube-root-ca.crt`` ConfigMap per namespace);
Argo's CRDs and the controller's RBAC from the pinned ``argo-workflows`` module
(``manifests/base/crds/full``, ``manifests/cluster-install-no-crds/workflow-controller-rbac``)
and its quick-start's ``executor`` Role for workflow pods; the S3 Secret and our
controller ConfigMap (an ``s3`` artifact repository on the loopback S3 server and
``images:`` entries so emissary never looks an image up in a registry).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.cluster.kapi import Api, Obj
from tests.cluster.layout import BUCKET, HOST, NAMESPACE, S3_SECRET, Layout

try:
    from yaml import CSafeLoader as Loader
except ImportError:  # pragma: no cover - PyYAML without libyaml
    from yaml import SafeLoader as Loader  # type: ignore[assignment]

NAMESPACES = ("default", NAMESPACE)

# Image -> what the image would run when a template gives no command (Argo's `images:` config).
IMAGES: dict[str, dict[str, list[str]]] = {
    **{img: {"cmd": ["sh"]} for img in ("busybox", "busybox:latest")},
    **{img: {"cmd": ["/bin/sh"]} for img in ("alpine", "alpine:latest", "alpine:3.20", "alpine:3.23")},
    **{img: {"cmd": ["python3"]} for img in ("python:3.12-slim", "python:3.11-slim", "python:alpine3.23")},
    **{img: {"cmd": ["bash"]} for img in ("debian", "debian:latest")},
    **{img: {"cmd": ["/bin/bash"]} for img in ("ubuntu", "ubuntu:latest")},
    **{img: {"entrypoint": ["/argosay"]} for img in ("argoproj/argosay:v2", "argoproj/argosay:v1")},
}

# (kind, apiVersion) -> (URL prefix, namespaced)
ROUTES: dict[str, tuple[str, bool]] = {
    "CustomResourceDefinition": ("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", False),
    "ClusterRole": ("/apis/rbac.authorization.k8s.io/v1/clusterroles", False),
    "ClusterRoleBinding": ("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", False),
    "Role": ("/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles", True),
    "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings", True),
    "ServiceAccount": ("/api/v1/namespaces/{ns}/serviceaccounts", True),
    "ConfigMap": ("/api/v1/namespaces/{ns}/configmaps", True),
    "Secret": ("/api/v1/namespaces/{ns}/secrets", True),
    "Namespace": ("/api/v1/namespaces", False),
}


def create(api: Api, obj: Obj) -> None:
    prefix, namespaced = ROUTES[obj["kind"]]
    ns = obj["metadata"].get("namespace") or NAMESPACE
    if namespaced:
        obj["metadata"]["namespace"] = ns
    for subject in obj.get("subjects") or []:  # what the manifests' kustomization would set
        if subject.get("kind") == "ServiceAccount":
            subject.setdefault("namespace", NAMESPACE)
    api.create(prefix.format(ns=ns), obj, exist_ok=True)


def load(path: Path) -> list[Obj]:
    with path.open() as fh:
        return [d for d in yaml.load_all(fh, Loader=Loader) if d]


def argo_src(lay: Layout) -> Path:
    return lay.cache / "src" / "argo-workflows"


def core(api: Api, lay: Layout) -> None:
    """Namespaces, default service accounts, kube-root-ca.crt."""
    ca = (lay.pki / "ca.crt").read_text()
    for ns in NAMESPACES:
        if ns != "default":
            create(api, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        create(
            api,
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": ns}},
        )
        cm = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "kube-root-ca.crt", "namespace": ns},
        }
        create(api, cm | {"data": {"ca.crt": ca}})


def argo(api: Api, lay: Layout, s3_keys: dict[str, str]) -> None:
    src = argo_src(lay) / "manifests"
    for f in sorted((src / "base" / "crds" / "full").glob("argoproj.io_*.yaml")):
        for obj in load(f):
            create(api, obj)
    rbac = src / "cluster-install-no-crds" / "workflow-controller-rbac"
    for f in sorted(rbac.glob("*.yaml")):
        if f.name != "kustomization.yaml":
            for obj in load(f):
                create(api, obj)
    create(
        api,
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "argo", "namespace": NAMESPACE}},
    )
    # The quick-start's Role for workflow pods (WorkflowTaskResults) and its binding to `default`.
    for obj in load(src / "quick-start-minimal.yaml"):
        if obj["kind"] in ("Role", "RoleBinding") and obj["metadata"]["name"] in (
            "executor",
            "executor-default",
        ):
            create(api, obj)
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": S3_SECRET, "namespace": NAMESPACE}}
    create(api, secret | {"stringData": {"accesskey": s3_keys["access"], "secretkey": s3_keys["secret"]}})
    create(api, controller_config(lay))


def controller_config(lay: Layout) -> Obj:
    repo: dict[str, Any] = {
        "s3": {
            "bucket": BUCKET,
            "endpoint": f"{HOST}:{lay.ports.s3}",
            "insecure": True,
            "accessKeySecret": {"name": S3_SECRET, "key": "accesskey"},
            "secretKeySecret": {"name": S3_SECRET, "key": "secretkey"},
        }
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "workflow-controller-configmap", "namespace": NAMESPACE},
        "data": {
            "artifactRepository": json.dumps(repo),
            "images": json.dumps(IMAGES),
            "metricsConfig": json.dumps({"enabled": False}),
            "telemetryConfig": json.dumps({"enabled": False}),
        },
    }


def crds_established(api: Api) -> bool:
    names = set()
    for crd in api.get(ROUTES["CustomResourceDefinition"][0]).get("items") or []:
        conditions = crd.get("status", {}).get("conditions", [])
        if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
            names.add(crd["metadata"]["name"])
    return {"workflows.argoproj.io", "workflowtaskresults.argoproj.io"} <= names
