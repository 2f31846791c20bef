"""S3 access control against a moto server that enforces IAM (a real key).

Wrong keys must give a one-line "access denied" StorageError (exit 3), and no
message may contain a secret key.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from dflowctl.errors import StorageError
from dflowctl.storage import S3Store

if TYPE_CHECKING:
    from tests.s3server import S3Env

pytestmark = pytest.mark.timeout(120)


def test_right_key_reads(s3_auth: S3Env, tmp_path: Path) -> None:
    s3_auth.client.put_object(s3_auth.bucket, "a/file", io.BytesIO(b"ok"), 2)
    store = S3Store(s3_auth.repo())
    store.fetch({"name": "f", "archive": {"none": {}}, "s3": {"key": "a/file"}}, tmp_path / "f")
    assert (tmp_path / "f").read_bytes() == b"ok"
    assert store.put_if_absent(Path(__file__), "dflowctl/sources/x.tgz") is True


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"secret_key": "wrong-secret-0123456789"}, "SignatureDoesNotMatch"),
        (
            {"access_key": "AKIAWRONGWRONGWRONG0", "secret_key": "wrong-secret-0123456789"},
            "InvalidAccessKeyId",
        ),
    ],
)
def test_wrong_key_is_access_denied(
    s3_auth: S3Env, tmp_path: Path, capsys: pytest.CaptureFixture[str], changes: dict[str, str], code: str
) -> None:
    s3_auth.client.put_object(s3_auth.bucket, "a/file", io.BytesIO(b"ok"), 2)
    store = S3Store(s3_auth.repo(**changes))
    with pytest.raises(StorageError) as info:
        store.fetch({"name": "f", "archive": {"none": {}}, "s3": {"key": "a/file"}}, tmp_path / "f")
    err = info.value
    assert err.exit_code == 3
    assert str(err).startswith("S3 access denied (")  # HEAD answers a bare 403: code not always `code`
    assert "s3://dflowctl-test/a/file" in str(err)
    assert "\n" not in str(err) and "access and secret key" in (err.hint or "")
    with pytest.raises(StorageError, match="S3 access denied"):
        store.put_if_absent(Path(__file__), "dflowctl/sources/x.tgz")
    with pytest.raises(StorageError, match="S3 access denied"):
        store.put_file(Path(__file__), "dflowctl/sources/y.tgz")
    with pytest.raises(StorageError, match=f"S3 access denied \\({code}\\) while listing") as listing:
        store.list_prefix("a/")  # a GET: the answer's body names the S3 error code
    assert s3_auth.secret_key not in f"{listing.value} {listing.value.hint}"
    out = capsys.readouterr()
    everything = f"{err} {err.hint} {out.out} {out.err} {store!r} {store.repo!r}"
    for secret in (s3_auth.secret_key, changes["secret_key"]):
        assert secret not in everything
    assert not (tmp_path / "f").exists()


def test_credentials_from_the_namespace_secret(s3_auth: S3Env, tmp_path: Path) -> None:
    """Quick-start layout: ConfigMap names an in-cluster endpoint and a Secret; the user
    overrides only the endpoint (as after `kubectl port-forward`)."""
    import base64

    from dflowctl.repository import resolve_repository
    from dflowctl.settings import Settings
    from dflowctl.storage import store_for_run

    b64 = lambda text: base64.b64encode(text.encode()).decode()  # noqa: E731
    repo_yaml = (
        f"s3:\n  bucket: {s3_auth.bucket}\n  endpoint: minio:9000\n  insecure: true\n"
        "  accessKeySecret: {name: my-minio-cred, key: accesskey}\n"
        "  secretKeySecret: {name: my-minio-cred, key: secretkey}\n"
    )

    class Kube:
        def get_configmap(self, namespace: str, name: str) -> dict | None:
            if (namespace, name) != ("argo", "artifact-repositories"):
                return None
            ann = {"workflows.argoproj.io/default-artifact-repository": "default-v1"}
            return {"metadata": {"annotations": ann}, "data": {"default-v1": repo_yaml}}

        def get_secret(self, namespace: str, name: str) -> dict | None:
            if (namespace, name) != ("argo", "my-minio-cred"):
                return None
            return {"data": {"accesskey": b64(s3_auth.access_key), "secretkey": b64(s3_auth.secret_key)}}

    wf = {"metadata": {"name": "wf-1", "namespace": "argo"}, "status": {}}
    internal = resolve_repository(wf, Settings(), Kube())
    assert internal.endpoint == "minio:9000" and internal.secure is False
    store = store_for_run(wf, Settings(s3_endpoint=s3_auth.host), Kube())
    s3_auth.client.put_object(s3_auth.bucket, "wf-1/p/out.txt", io.BytesIO(b"from secret"), 11)
    store.fetch({"name": "o", "archive": {"none": {}}, "s3": {"key": "wf-1/p/out.txt"}}, tmp_path / "o")
    assert (tmp_path / "o").read_bytes() == b"from secret"
