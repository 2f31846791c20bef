"""A real S3 server on loopback (moto) and a TCP proxy that can break transfers.

Use in a test module with ``from tests.s3server import s3, s3_server  # noqa: F401``
(add ``s3_proxy`` / ``s3_auth`` as needed).

- ``s3_server``: session-scoped ``ThreadedMotoServer`` on 127.0.0.1, free port.
- ``s3``: per test: all state reset, bucket ``dflowctl-test`` created; an ``S3Env``
  with ``host``, ``bucket``, ``client`` (real ``minio.Minio``) and ``repo``
  (``dflowctl.repository.S3Repository``).
- ``s3_proxy``: a ``FaultProxy`` in front of ``s3``; ``proxy.env`` is an
  ``S3Env`` whose endpoint is the proxy. ``proxy.drop_after(n, times=k)`` cuts
  the next ``k`` connections after ``n`` bytes from the server; counters
  ``bytes_down``, ``bytes_up`` and ``connections``.
- ``s3_auth``: module-scoped moto *subprocess* with IAM enforced (a real access
  key; wrong keys get AccessDenied/InvalidAccessKeyId).
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dflowctl.repository import S3Repository

BUCKET = "dflowctl-test"
ACCESS_KEY = "dflowctl-test-access"
SECRET_KEY = "dflowctl-test-secret-7f3a9c"  # tests grep output for this


@dataclass
class S3Env:
    host: str  # 127.0.0.1:PORT
    bucket: str
    access_key: str
    secret_key: str

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def client(self) -> Any:
        from minio import Minio

        return Minio(self.host, self.access_key, self.secret_key, secure=False, region="us-east-1")

    def repo(self, **changes: Any) -> S3Repository:
        fields: dict[str, Any] = {
            "endpoint": self.host,
            "bucket": self.bucket,
            "secure": False,
            "region": "us-east-1",
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            "origin": "test",
        }
        fields.update(changes)
        return S3Repository(**fields)

    def put(self, key: str, data: bytes) -> None:
        import io

        self.client.put_object(self.bucket, key, io.BytesIO(data), len(data))


def _post(url: str) -> None:
    req = urllib.request.Request(url, data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        resp.read()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """host:port of an in-process moto S3 server."""
    from moto.server import ThreadedMotoServer

    srv = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    srv.start()
    host = f"127.0.0.1:{srv._server.server_port}"  # type: ignore[attr-defined]
    yield host
    srv.stop()


@pytest.fixture
def s3(s3_server: str) -> S3Env:
    _post(f"http://{s3_server}/moto-api/reset")
    env = S3Env(s3_server, BUCKET, ACCESS_KEY, SECRET_KEY)
    env.client.make_bucket(BUCKET)
    return env


# --------------------------------------------------------------------------- proxy


class FaultProxy:
    """A loopback TCP proxy; can reset connections after N bytes from the server."""

    def __init__(self, target: str) -> None:
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.host = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.bytes_down = 0
        self.bytes_up = 0
        self.connections = 0
        self._drop_after: int | None = None
        self._drops_left = 0
        self._lock = threading.Lock()
        self._closed = False
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def drop_after(self, nbytes: int, times: int = 1) -> None:
        """Reset each of the next ``times`` connections after ``nbytes`` from the server."""
        with self._lock:
            self._drop_after = nbytes
            self._drops_left = times

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            with self._lock:
                self.connections += 1
                limit = self._drop_after if self._drops_left > 0 else None
                if limit is not None:
                    self._drops_left -= 1
                self._conns += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, None, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, limit, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, limit: int | None, down: bool) -> None:
        sent = 0
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if limit is not None and sent + len(data) > limit:
                    dst.sendall(data[: max(limit - sent, 0)])
                    self._reset(src, dst)
                    return
                dst.sendall(data)
                sent += len(data)
                with self._lock:
                    if down:
                        self.bytes_down += len(data)
                    else:
                        self.bytes_up += len(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    @staticmethod
    def _reset(*socks: socket.socket) -> None:
        """Abort: RST where possible; shutdown first so a thread blocked in recv wakes up."""
        for s in socks:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for s in socks:
            try:
                s.close()
            except OSError:
                pass

    def close(self) -> None:
        self._closed = True
        self.sock.close()
        for s in self._conns:
            try:
                s.close()
            except OSError:
                pass


@dataclass
class ProxiedS3:
    proxy: FaultProxy
    env: S3Env  # endpoint = the proxy
    direct: S3Env  # endpoint = the server


@pytest.fixture
def s3_proxy(s3: S3Env) -> Iterator[ProxiedS3]:
    proxy = FaultProxy(s3.host)
    yield ProxiedS3(proxy, S3Env(proxy.host, s3.bucket, s3.access_key, s3.secret_key), s3)
    proxy.close()


# --------------------------------------------------------------------------- IAM-enforcing server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_up(host: str, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://{host}/moto-api/data.json", timeout=1) as r:
                r.read()
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto server on {host} did not start")


@pytest.fixture(scope="module")
def s3_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Env]:
    """A moto subprocess with IAM enforced; one user with a real key and s3:* rights."""
    import boto3

    port = _free_port()
    host = f"127.0.0.1:{port}"
    log = Path(tmp_path_factory.mktemp("moto")) / "moto.log"
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "3"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        _wait_up(host)
        iam = boto3.client(
            "iam",
            endpoint_url=f"http://{host}",
            region_name="us-east-1",
            aws_access_key_id="bootstrap",
            aws_secret_access_key="bootstrap",
        )
        iam.create_user(UserName="dflowctl")
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
        }
        iam.put_user_policy(UserName="dflowctl", PolicyName="all", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName="dflowctl")["AccessKey"]
        s3env = S3Env(host, BUCKET, key["AccessKeyId"], key["SecretAccessKey"])
        s3env.client.make_bucket(BUCKET)
        yield s3env
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
