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

pytest_plugins = ["tests.s3server"]
pytestmark = pytest.mark.timeout(120)


def test_right_key_reads(s3_auth: S3Env, tmp_path: Path) -> None:
    s3_auth.client.put_object(s3_auth.bucket, "a/file", io.BytesIO(b"ok"), 2)
    store = S3Store(s3_auth.repo())
    store.fetch({"name": "f", "archive": {"none": {}}, "s3": {"key": "a/file"}}, tmp_path / "f")
    assert (tmp_path / "f").read_bytes() == b"ok"
    assert store.upload_source(Path(__file__).parent / "data").startswith("dflowctl/sources/")


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
        store.upload_source(Path(__file__).parent / "data")
    with pytest.raises(StorageError, match=f"S3 access denied \\({code}\\) while listing") as listing:
        store.list_prefix("a/")  # a GET: the answer's body names the S3 error code
    assert s3_auth.secret_key not in f"{listing.value} {listing.value.hint}"
    out = capsys.readouterr()
    everything = f"{err} {err.hint} {out.out} {out.err} {store!r} {store.repo!r}"
    for secret in (s3_auth.secret_key, changes["secret_key"]):
        assert secret not in everything
    assert not (tmp_path / "f").exists()
