"""The process kubelet's HTTPS port: ``GET /containerLogs/{ns}/{pod}/{container}`` and ``/exec/...``.

The API server's ``pods/log`` comes here with its kubelet client certificate
(signed by the cluster CA; others are refused). Query: ``follow``,
``timestamps``, ``tailLines``, ``limitBytes``, ``sinceSeconds``, as the kubelet
takes them. ``exec`` is ``kubelet_exec.py``.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

from tests.cluster import kubelet_exec
from tests.cluster.kubelet_pod import PodRunner
from tests.cluster.layout import HOST, Layout

Finder = Callable[[str, str], "PodRunner | None"]


def _render(line: bytes, timestamps: bool) -> tuple[bytes, float]:
    """A stored line as the client sees it, and its time (epoch seconds)."""
    stamp, _, rest = line.rstrip(b"\n").partition(b" ")
    _stream, _, rest = rest.partition(b" ")
    tag, _, text = rest.partition(b" ")
    out = text + (b"\n" if tag == b"F" else b"")
    try:
        when = (
            datetime.strptime(stamp.decode(), "%Y-%m-%dT%H:%M:%S.%fZ")
            .replace(tzinfo=timezone.utc)
            .timestamp()
        )
    except ValueError:
        when = 0.0
    if timestamps:
        out = stamp.replace(b"Z", b"000Z") + b" " + out
    return out, when


class Handler(BaseHTTPRequestHandler):
    finder: Finder
    protocol_version = "HTTP/1.1"

    def _send(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        url = urlparse(self.path)
        parts = [unquote(p) for p in url.path.split("/") if p]
        if len(parts) != 4 or parts[0] != "exec":
            self._send(404, b"not found")
            return
        _, ns, pod, container = parts
        runner = self.finder(ns, pod)
        target = runner.exec_target(container) if runner is not None else None
        if target is None:
            self._send(404, f"container {container!r} of pod {ns}/{pod} is not running on this node".encode())
            return
        kubelet_exec.serve(self, target, parse_qs(url.query))

    def do_GET(self) -> None:
        url = urlparse(self.path)
        parts = [unquote(p) for p in url.path.split("/") if p]
        if url.path == "/healthz":
            self._send(200, b"ok")
            return
        if parts[:1] == ["exec"]:
            self.do_POST()
            return
        if len(parts) != 4 or parts[0] != "containerLogs":
            self._send(404, b"not found")
            return
        _, ns, pod, container = parts
        runner = self.finder(ns, pod)
        if runner is None or not any(c.name == container for c in runner.inits + runner.ctrs):
            self._send(404, f"container {container!r} of pod {ns}/{pod} is not on this node".encode())
            return
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            self._stream(runner, container, q)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _chunk(self, data: bytes) -> None:
        if data:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

    def _stream(self, runner: PodRunner, container: str, q: dict[str, str]) -> None:
        path = runner.log_path(container)
        timestamps = q.get("timestamps") == "true"
        follow = q.get("follow") == "true"
        limit = int(q["limitBytes"]) if q.get("limitBytes") else None
        since = time.time() - int(q["sinceSeconds"]) if q.get("sinceSeconds") else None
        lines = path.read_bytes().splitlines(keepends=True) if path.exists() else []
        complete = [ln for ln in lines if ln.endswith(b"\n")]
        offset = sum(len(ln) for ln in complete)
        if q.get("tailLines"):
            n = int(q["tailLines"])
            complete = complete[-n:] if n > 0 else []
        sent = 0

        def emit(raw: bytes) -> bool:
            nonlocal sent
            out, when = _render(raw, timestamps)
            if since is not None and when < since:
                return True
            if limit is not None:
                out = out[: max(limit - sent, 0)]
            self._chunk(out)
            sent += len(out)
            return limit is None or sent < limit

        for raw in complete:
            if not emit(raw):
                return
        if not follow:
            return
        pending = b""
        while True:
            done = runner.container_done(container)
            data = b""
            if path.exists():
                with path.open("rb") as fh:
                    fh.seek(offset)
                    data = fh.read()
            offset += len(data)
            pending += data
            *whole, pending = pending.split(b"\n")
            for raw in whole:
                if not emit(raw + b"\n"):
                    return
            if done and not data:
                return
            time.sleep(0.2)


def serve_logs(finder: Finder, lay: Layout) -> ThreadingHTTPServer:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(lay.pki / "kubelet.crt", lay.pki / "kubelet.key")
    ctx.load_verify_locations(lay.pki / "ca.crt")
    ctx.verify_mode = ssl.CERT_REQUIRED
    handler = type("BoundHandler", (Handler,), {"finder": staticmethod(finder)})
    server = ThreadingHTTPServer((HOST, lay.ports.kubelet), handler)
    server.daemon_threads = True
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
