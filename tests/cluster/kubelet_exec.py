"""The process kubelet's ``exec``: ``POST /exec/{ns}/{pod}/{container}?command=...`` upgraded to SPDY/3.1.

What ``pods/exec`` through the API server reaches (Argo's controller stops and
terminates a step this way: it runs ``/var/run/argo/argoexec kill 15 1`` in each
container of the pod). The command runs inside the container: its mount, UTS and
PID namespaces and its root (``nsenter``), with the container's environment, so
``1`` is the container's first process. Streams and status follow Kubernetes'
remote command protocol ``v4.channel.k8s.io``: one SPDY stream per channel
(``error``, ``stdin``, ``stdout``, ``stderr``), the exit status as a JSON
``Status`` on the error stream, then the connection closes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler
from typing import IO

from tests.cluster import spdy

PROTOCOL = "v4.channel.k8s.io"
STREAM_SETUP_SECONDS = 30


def _status(code: int, command: list[str]) -> bytes:
    if code == 0:
        return json.dumps({"metadata": {}, "status": "Success"}).encode()
    body = {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: error executing command {command}, "
        f"exit code {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }
    return json.dumps(body).encode()


def _offered(handler: BaseHTTPRequestHandler) -> list[str]:
    values = handler.headers.get_all("X-Stream-Protocol-Version") or []
    return [p.strip() for v in values for p in v.split(",") if p.strip()]


def refuse(handler: BaseHTTPRequestHandler, code: int, message: str) -> None:
    body = message.encode()
    handler.send_response(code)
    handler.send_header("Content-Type", "text/plain")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def serve(
    handler: BaseHTTPRequestHandler, target: tuple[int, dict[str, str]], query: dict[str, list[str]]
) -> None:
    """Upgrade ``handler``'s connection, open the client's streams, run the command, send its status."""
    if handler.headers.get("Upgrade", "").lower() != "spdy/3.1":
        refuse(handler, 400, "the process kubelet's exec speaks SPDY/3.1 only (no websocket)")
        return
    if PROTOCOL not in _offered(handler):
        refuse(handler, 403, f"remote command protocol {PROTOCOL} not offered: {_offered(handler)}")
        return
    command = query.get("command") or []
    if not command:
        refuse(handler, 400, "you must specify at least 1 command")
        return
    flags = {k: (query.get(k) or [""])[-1] in ("1", "true") for k in ("input", "output", "error", "tty")}
    if flags["tty"]:
        refuse(handler, 400, "the process kubelet's exec has no tty")
        return
    handler.send_response(101)
    handler.send_header("Connection", "Upgrade")
    handler.send_header("Upgrade", "SPDY/3.1")
    handler.send_header("X-Stream-Protocol-Version", PROTOCOL)
    handler.end_headers()
    handler.wfile.flush()
    handler.close_connection = True
    conn = spdy.Connection(handler.rfile, handler.wfile)
    channels = (("stdin", "input"), ("stdout", "output"), ("stderr", "error"))
    wanted = {"error"} | {name for name, flag in channels if flags[flag]}
    handler.connection.settimeout(STREAM_SETUP_SECONDS)
    streams: dict[str, int] = {}
    try:
        while not wanted <= set(streams):
            frame = conn.read()
            if frame.kind == "control" and frame.type == spdy.SYN_STREAM:
                kind = (frame.headers.get("streamtype") or [""])[0]
                streams[kind] = frame.stream
                conn.reply(frame.stream)
            elif frame.kind == "control" and frame.type == spdy.PING:
                conn.ping(frame.data)
    except (EOFError, OSError, spdy.SpdyError):
        return
    handler.connection.settimeout(None)
    pid, env = target
    nsenter = shutil.which("nsenter") or "nsenter"
    argv = [nsenter, "-t", str(pid), "-m", "-u", "-p", "-r", "-w", "--", *command]
    try:
        proc = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.PIPE if "stdin" in streams else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except OSError as exc:
        conn.data(streams["error"], json.dumps({"status": "Failure", "message": str(exc)}).encode(), fin=True)
        return
    reader = threading.Thread(target=_client_frames, args=(conn, streams, proc.stdin), daemon=True)
    reader.start()
    copies = [
        threading.Thread(target=_copy, args=(pipe, conn, streams.get(kind)), daemon=True)
        for pipe, kind in ((proc.stdout, "stdout"), (proc.stderr, "stderr"))
    ]
    for t in copies:
        t.start()
    code = proc.wait()
    for t in copies:
        t.join(timeout=10)
    try:
        conn.data(streams["error"], _status(code, command), fin=True)
        conn.goaway(0)
    except OSError:
        pass


def _copy(pipe: IO[bytes] | None, conn: spdy.Connection, stream: int | None) -> None:
    """A pipe of the command to its stream (read and dropped when the client did not ask for it)."""
    if pipe is None:
        return
    try:
        for chunk in iter(lambda: os.read(pipe.fileno(), 65536), b""):
            if stream is not None:
                conn.data(stream, chunk)
        if stream is not None:
            conn.data(stream, b"", fin=True)
    except OSError:
        pass


def _client_frames(conn: spdy.Connection, streams: dict[str, int], stdin: IO[bytes] | None) -> None:
    """After set-up: the client's stdin data (FIN closes it) and its pings, until it goes away."""
    stdin_id = streams.get("stdin")
    try:
        while True:
            frame = conn.read()
            if frame.kind == "control" and frame.type == spdy.PING:
                conn.ping(frame.data)
            elif frame.kind == "data" and frame.stream == stdin_id and stdin is not None:
                if frame.data:
                    stdin.write(frame.data)
                    stdin.flush()
                if frame.flags & spdy.FLAG_FIN:
                    stdin.close()
                    stdin = None
    except (EOFError, OSError, ValueError, spdy.SpdyError):
        pass
