"""Pytest fixtures for the Kubernetes stand-in.

Use in a test module with ``from tests.k8s.fixtures import fake_kube  # noqa: F401``
(and ``argo_cluster`` for the whole thing: stand-in + controller + S3).

- ``fake_kube``: a started ``FakeKube`` with namespace ``argo`` and a kubeconfig
  (``fake_kube.kubeconfig_path``) for the real ``kubernetes`` client.
- ``argo_cluster``: ``fake_kube`` plus the quick-start's ``artifact-repositories``
  ConfigMap and ``my-minio-cred`` Secret pointing at the loopback S3 server, and a
  ``Controller`` running submitted Workflows with the local engine.
  ``argo_cluster.env`` is the environment for ``dflowctl`` subprocesses.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import SHARED
from tests.k8s.controller import Controller
from tests.k8s.server import FakeKube
from tests.s3server import S3Env, s3, s3_server  # noqa: F401

NAMESPACE = "argo"
CRED_SECRET = "my-minio-cred"


ARGO_CRD = SHARED / "reference" / "argo" / "argoproj.io_workflows.yaml"


@pytest.fixture
def fake_kube(tmp_path: Path) -> Iterator[FakeKube]:
    """The stand-in; with ../shared present it prunes and validates Workflows with Argo's CRD."""
    kube = FakeKube(bookmark_interval=0.5, crd=ARGO_CRD if ARGO_CRD.is_file() else None).start()
    kube.add_namespace(NAMESPACE)
    kube.kubeconfig_path = kube.kubeconfig(tmp_path / "kubeconfig")  # type: ignore[attr-defined]
    yield kube
    kube.stop()


def artifact_repository(kube: FakeKube, s3env: S3Env, ns: str = NAMESPACE) -> None:
    """The quick-start's artifact repository, pointing at ``s3env`` (Secret holds the keys)."""
    repo = {
        "archiveLogs": False,
        "s3": {
            "bucket": s3env.bucket,
            "endpoint": s3env.host,
            "insecure": True,
            "accessKeySecret": {"name": CRED_SECRET, "key": "accesskey"},
            "secretKeySecret": {"name": CRED_SECRET, "key": "secretkey"},
        },
    }
    kube.put_configmap(
        ns,
        "artifact-repositories",
        {"default-v1": json.dumps(repo)},
        annotations={"workflows.argoproj.io/default-artifact-repository": "default-v1"},
    )
    kube.put_secret(
        ns, CRED_SECRET, {"accesskey": s3env.access_key.encode(), "secretkey": s3env.secret_key.encode()}
    )


@dataclass
class ArgoCluster:
    kube: FakeKube
    controller: Controller
    s3: S3Env
    kubeconfig: Path
    home: Path  # the client's DFLOWCTL_HOME (not the controller's)

    @property
    def env(self) -> dict[str, str]:
        return {
            "KUBECONFIG": str(self.kubeconfig),
            "DFLOWCTL_HOME": str(self.home),
            "DFLOWCTL_CONFIG": str(self.home / "no-config.yaml"),
            "DFLOWCTL_ENGINE": "argo",
            "DFLOWCTL_NAMESPACE": "",
            "DFLOWCTL_S3_ENDPOINT": "",
            "DFLOWCTL_S3_ACCESS_KEY": "",
            "DFLOWCTL_S3_SECRET_KEY": "",
            "DFLOWCTL_S3_BUCKET": "",
        }


@pytest.fixture
def argo_cluster(fake_kube: FakeKube, s3: S3Env, tmp_path: Path) -> Iterator[ArgoCluster]:  # noqa: F811
    artifact_repository(fake_kube, s3)
    controller = Controller(fake_kube, tmp_path / "controller-home", s3).start()
    yield ArgoCluster(fake_kube, controller, s3, fake_kube.kubeconfig_path, tmp_path / "client-home")  # type: ignore[attr-defined]
    controller.stop()
