"""dflowctl.repository: where a run's artifacts live, from status, ConfigMap, Secrets, settings."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from dflowctl.errors import NotFoundError, StorageError
from dflowctl.repository import resolve_repository, split_endpoint
from dflowctl.settings import Settings, load_settings

SECRET = "s3cr3t-value-for-grep"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class FakeKube:
    """Serves ConfigMaps/Secrets the way the API server returns them (data base64 for Secrets)."""

    def __init__(self, objects: dict[tuple[str, str, str], dict[str, Any]]) -> None:
        self.objects = objects
        self.reads: list[tuple[str, str, str]] = []

    def get_configmap(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        self.reads.append(("ConfigMap", namespace, name))
        obj = self.objects.get(("ConfigMap", namespace, name))
        if obj is None:
            raise NotFoundError(f"configmap {name} not found")
        return obj

    def get_secret(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        self.reads.append(("Secret", namespace, name))
        return self.objects.get(("Secret", namespace, name))


QUICKSTART_REPO = """archiveLogs: true
s3:
  bucket: my-bucket
  endpoint: minio:9000
  insecure: true
  accessKeySecret:
    name: my-minio-cred
    key: accesskey
  secretKeySecret:
    name: my-minio-cred
    key: secretkey
"""


def quickstart(ns: str = "argo") -> FakeKube:
    return FakeKube(
        {
            ("ConfigMap", ns, "artifact-repositories"): {
                "metadata": {
                    "name": "artifact-repositories",
                    "annotations": {"workflows.argoproj.io/default-artifact-repository": "default-v1"},
                },
                "data": {
                    "default-v1": QUICKSTART_REPO,
                    "other": QUICKSTART_REPO.replace("my-bucket", "other"),
                },
            },
            ("Secret", ns, "my-minio-cred"): {"data": {"accesskey": b64("admin"), "secretkey": b64(SECRET)}},
        }
    )


def workflow(status: dict[str, Any] | None = None, spec: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": "wf-abc", "namespace": "argo"}, "spec": spec or {}, "status": status or {}}


def frozen_status() -> dict[str, Any]:
    return {
        "artifactRepositoryRef": {
            "configMap": "artifact-repositories",
            "key": "default-v1",
            "namespace": "argo",
            "artifactRepository": {
                "archiveLogs": True,
                "s3": {
                    "bucket": "my-bucket",
                    "endpoint": "minio:9000",
                    "insecure": True,
                    "accessKeySecret": {"name": "my-minio-cred", "key": "accesskey"},
                    "secretKeySecret": {"name": "my-minio-cred", "key": "secretkey"},
                },
            },
        }
    }


def test_from_status_with_secret() -> None:
    kube = quickstart()
    repo = resolve_repository(workflow(frozen_status()), Settings(), kube)
    assert (repo.endpoint, repo.bucket, repo.secure) == ("minio:9000", "my-bucket", False)
    assert (repo.access_key, repo.secret_key) == ("admin", SECRET)
    assert "status.artifactRepositoryRef" in repo.origin
    assert ("ConfigMap", "argo", "artifact-repositories") not in kube.reads  # status was complete
    assert SECRET not in repr(repo) and "admin" not in repr(repo)


def test_from_configmap_default_annotation() -> None:
    repo = resolve_repository(workflow(), Settings(), quickstart())
    assert (repo.endpoint, repo.bucket, repo.secret_key) == ("minio:9000", "my-bucket", SECRET)
    assert repo.origin == "ConfigMap argo/artifact-repositories key default-v1"


def test_configmap_key_from_spec_ref() -> None:
    wf = workflow(spec={"artifactRepositoryRef": {"key": "other"}})
    assert resolve_repository(wf, Settings(), quickstart()).bucket == "other"


def test_incomplete_status_is_completed_from_configmap() -> None:
    status = {"artifactRepositoryRef": {"key": "default-v1", "artifactRepository": {"s3": {"key": "x"}}}}
    repo = resolve_repository(workflow(status), Settings(), quickstart())
    assert (repo.endpoint, repo.bucket) == ("minio:9000", "my-bucket")


def test_settings_override_everything_and_skip_secrets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for var, val in {
        "DFLOWCTL_S3_ENDPOINT": "http://localhost:9000",
        "DFLOWCTL_S3_ACCESS_KEY": "me",
        "DFLOWCTL_S3_SECRET_KEY": "mine",
        "DFLOWCTL_S3_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(var, val)
    settings = load_settings(config_path=tmp_path / "none.yaml")
    kube = quickstart()
    repo = resolve_repository(workflow(frozen_status()), settings, kube)
    assert (repo.endpoint, repo.secure, repo.bucket, repo.region) == (
        "localhost:9000",
        False,
        "my-bucket",
        "eu-west-1",
    )
    assert (repo.access_key, repo.secret_key) == ("me", "mine")
    assert not any(kind == "Secret" for kind, _, _ in kube.reads)


def test_secure_flag_and_scheme() -> None:
    assert split_endpoint("https://s3.example.org/") == ("s3.example.org", True)
    assert split_endpoint("minio:9000") == ("minio:9000", None)
    repo = resolve_repository(workflow(frozen_status()), Settings(s3_secure=True), quickstart())
    assert repo.secure is True


def test_missing_secret_names_it_without_values() -> None:
    kube = quickstart()
    del kube.objects[("Secret", "argo", "my-minio-cred")]
    with pytest.raises(StorageError, match="Secret argo/my-minio-cred") as info:
        resolve_repository(workflow(frozen_status()), Settings(), kube)
    assert "DFLOWCTL_S3_ACCESS_KEY" in (info.value.hint or "")


def test_nothing_known_says_what_to_set() -> None:
    with pytest.raises(StorageError, match="no S3 endpoint") as info:
        resolve_repository(workflow(), Settings(), FakeKube({}))
    assert "DFLOWCTL_S3_ENDPOINT" in (info.value.hint or "")
    assert info.value.exit_code == 3


def test_non_s3_repository_is_reported() -> None:
    status = {"artifactRepositoryRef": {"artifactRepository": {"gcs": {"bucket": "b"}}}}
    with pytest.raises(StorageError, match="not S3 \\(gcs"):
        resolve_repository(workflow(status), Settings(), FakeKube({}))


def test_string_data_secret_and_controller_configmap() -> None:
    kube = FakeKube(
        {
            ("ConfigMap", "argo", "workflow-controller-configmap"): {
                "data": {"artifactRepository": QUICKSTART_REPO}
            },
            ("Secret", "argo", "my-minio-cred"): {"stringData": {"accesskey": "admin", "secretkey": SECRET}},
        }
    )
    repo = resolve_repository(workflow(), Settings(), kube)
    assert (repo.bucket, repo.secret_key) == ("my-bucket", SECRET)
    assert "workflow-controller-configmap" in repo.origin
