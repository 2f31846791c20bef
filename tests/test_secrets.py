"""Secrets never printed: a kubeconfig tokenFile with a trailing newline works and its
token is never shown; S3 endpoint passwords are redacted in every message; a failing
exec credential plugin's output is not echoed. One test drives the CLI through every
error path it can reach with known secrets and greps every output and run record."""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dflowctl.errors import redact
from tests.conftest import SPECS, run_cli
from tests.k8s import fixtures
from tests.k8s.server import FakeKube

fake_kube = fixtures.fake_kube

pytestmark = pytest.mark.timeout(180)

PASSWORD = "Pw-7f3c9e1d-SECRET"
SECRET_KEY = "sk-4b2a8d0c-SECRET"
PLUGIN_SECRET = "tok-9a8b7c6d-SECRET"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _kubeconfig(kube: FakeKube, path: Path, user: dict[str, object]) -> Path:
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": kube.url}}],
        "users": [{"name": "fake", "user": user}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": "argo"}}],
        "current-context": "fake",
    }
    path.write_text(json.dumps(cfg), encoding="utf-8")
    return path


def _env(tmp_path: Path, kubeconfig: Path, **extra: str) -> dict[str, str]:
    return {
        "KUBECONFIG": str(kubeconfig),
        "DFLOWCTL_HOME": str(tmp_path / "home"),
        "DFLOWCTL_CONFIG": str(tmp_path / "no-config.yaml"),
        "DFLOWCTL_ENGINE": "argo",
        "DFLOWCTL_NAMESPACE": "",
        **extra,
    }


def test_redact_hides_url_passwords_and_tokens() -> None:
    assert redact(f"at http://user:{PASSWORD}@host:9000/x") == "at http://user:***@host:9000/x"
    assert redact(f"endpoint 'user:{PASSWORD}@host:9000'") == "endpoint 'user:***@host:9000'"
    assert (
        redact(f"Invalid header value b'Bearer {PLUGIN_SECRET}\\n'")
        == "Invalid header value b'Bearer ***\\n'"
    )
    assert redact("s3://bucket/key at https://example.com:443/a, 10:30") == (
        "s3://bucket/key at https://example.com:443/a, 10:30"
    )


def test_token_file_with_a_trailing_newline_works(fake_kube: FakeKube, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(fake_kube.token + "\n", encoding="utf-8")  # as `echo TOKEN > file` writes it
    env = _env(tmp_path, _kubeconfig(fake_kube, tmp_path / "kubeconfig", {"tokenFile": str(token_file)}))
    res = run_cli("status", env=env)
    assert res.returncode == 0, res.stderr
    assert fake_kube.token not in res.stdout + res.stderr


@pytest.fixture
def secret_paths(
    fake_kube: FakeKube, tmp_path: Path
) -> Iterator[list[tuple[str, dict[str, str], list[str]]]]:
    """(what, env, argv) for every error path that sees a secret."""
    port = _closed_port()
    good = _kubeconfig(fake_kube, tmp_path / "good", {"token": fake_kube.token})
    bad_token = tmp_path / "bad-token"
    bad_token.write_text(f"{PLUGIN_SECRET}\n", encoding="utf-8")
    plugin = tmp_path / "plugin.py"
    plugin.write_text(
        "import sys\n"
        f"sys.stderr.write('token {PLUGIN_SECRET} expired; Bearer {PLUGIN_SECRET}\\n')\n"
        "sys.exit(1)\n",
        encoding="utf-8",
    )
    exec_user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": [str(plugin)],
            "interactiveMode": "Never",
        }
    }
    s3 = {"DFLOWCTL_S3_ACCESS_KEY": "ak", "DFLOWCTL_S3_SECRET_KEY": SECRET_KEY, "DFLOWCTL_S3_BUCKET": "b"}
    hello = str(SPECS / "hello.yaml")
    gone = tmp_path / "gone"
    gone.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": f"http://u:{PASSWORD}@127.0.0.1:{port}"}}],
                "users": [{"name": "u", "user": {"token": PLUGIN_SECRET}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "c",
            }
        ),
        encoding="utf-8",
    )
    yield [
        (
            "S3 endpoint URL with a password",
            _env(tmp_path, good, DFLOWCTL_S3_ENDPOINT=f"http://u:{PASSWORD}@127.0.0.1:{port}", **s3),
            ["run", hello],
        ),
        (
            "S3 endpoint with a password, no scheme",
            _env(tmp_path, good, DFLOWCTL_S3_ENDPOINT=f"u:{PASSWORD}@127.0.0.1:{port}", **s3),
            ["run", hello],
        ),
        (
            "S3 endpoint not a host",
            _env(tmp_path, good, DFLOWCTL_S3_ENDPOINT=f"http://u:{PASSWORD}@bad host/", **s3),
            ["run", hello],
        ),
        (
            "a rejected token",
            _env(tmp_path, _kubeconfig(fake_kube, tmp_path / "bad", {"tokenFile": str(bad_token)})),
            ["status"],
        ),
        (
            "a failing exec plugin",
            _env(tmp_path, _kubeconfig(fake_kube, tmp_path / "exec", exec_user)),
            ["status"],
        ),
        (
            "a failing exec plugin, run",
            _env(tmp_path, _kubeconfig(fake_kube, tmp_path / "exec2", exec_user)),
            ["run", hello],
        ),
        ("the cluster unreachable", _env(tmp_path, gone), ["logs", "nope"]),
    ]


def test_no_secret_in_any_output_or_record(
    secret_paths: list[tuple[str, dict[str, str], list[str]]], tmp_path: Path, fake_kube: FakeKube
) -> None:
    secrets = (PASSWORD, SECRET_KEY, PLUGIN_SECRET, fake_kube.token)
    for what, env, argv in secret_paths:
        res = run_cli(*argv, env=env, timeout=90)
        text = res.stdout + res.stderr
        assert res.returncode in (2, 3), (what, res.returncode, text)
        assert "Traceback" not in text, (what, text)
        for secret in secrets:
            assert secret not in text, (what, text)
    records = [p for p in tmp_path.rglob("*") if p.is_file() and p.stat().st_size < 10_000_000]
    for path in records:
        if path.parent == tmp_path:
            continue  # the inputs that hold the secrets on purpose
        data = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, path
