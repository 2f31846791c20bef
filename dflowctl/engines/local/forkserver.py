"""Client side of the warm fork server (``_podserver.py --serve``).

One long-lived interpreter per distinct Python (and preload list) imports what
it can once, then forks a child per pod. The child does what a fresh process
would (new session, private view, working dir, env, stdio) and either execs the
pod's command or runs its Python code as ``__main__``. The server reports each
child's pid when forked and its exit code when reaped; a reader thread here
hands those to the waiting ``PodRunner`` threads.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dflowctl.engines.local._podcode import TEXTS_KEPT
from dflowctl.engines.local.isolation import SERVER_FILE

START_TIMEOUT = 30.0
INLINE_LIMIT = 60_000  # bytes of a request carrying its spec (the server reads up to 64 KiB)
# A pod's script text goes to the server once; later pods of the same script name it by
# number (a fan-out's bootstrap is ~25 kB: JSON in both processes for every pod, else).
# The server keeps the same texts: the last TEXTS_KEPT, numbered in the same order.
TEXT_MIN = 1024  # characters: shorter scripts are sent as they are


class ForkServerError(Exception):
    """The fork server is not available; callers fall back to a plain subprocess."""


@dataclass
class Child:
    """A pod process forked by the server."""

    ident: int
    pid: int | None = None
    code: int | None = None  # as os.waitstatus_to_exitcode: negative for a signal
    lost: bool = False  # the server died before reporting the exit
    usage: tuple[float, int] | None = None  # CPU seconds, peak resident bytes (its tree)
    error: str | None = None
    _started: threading.Event = field(default_factory=threading.Event)
    _done: threading.Event = field(default_factory=threading.Event)

    def poll(self) -> int | None:
        return self.code if self._done.is_set() else None

    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)


class ForkServer:
    """One running ``_podserver.py --serve`` process."""

    def __init__(self, python: str, preload: tuple[str, ...] | None, env: dict[str, str]) -> None:
        self.python = python
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        cmd = [python, str(SERVER_FILE), "--serve", str(child.fileno())]
        if preload is not None:
            cmd += ["--preload", ",".join(preload)]
        try:
            self._proc = subprocess.Popen(
                cmd,
                pass_fds=(child.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                cwd="/",
                env=env,
            )
        except OSError as exc:
            parent.close()
            raise ForkServerError(f"cannot start {python}: {exc}") from exc
        finally:
            child.close()
        self._sock = parent
        self._lock = threading.Lock()
        self._children: dict[int, Child] = {}
        self._next = 0
        self._texts: dict[str, int] = {}  # script texts the server has -> their numbers
        self._text_ids = 0
        self._alive = True
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, name=f"forkserver-{self._proc.pid}", daemon=True)
        self._reader.start()
        if not self._ready.wait(START_TIMEOUT) or not self._alive:
            self.close()
            raise ForkServerError(f"{python} did not start the fork server")

    @property
    def alive(self) -> bool:
        return self._alive

    def _read(self) -> None:
        while True:
            try:
                data = self._sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            msg = json.loads(data)
            if "ready" in msg:
                self._ready.set()
                continue
            with self._lock:
                ch = self._children.get(msg["id"])
            if ch is None:
                continue
            if "pid" in msg:
                ch.pid = msg["pid"]
                ch._started.set()
            elif "error" in msg:
                ch.error = msg["error"]
                ch._started.set()
                ch._done.set()
            elif "exit" in msg:
                ch.code = msg["exit"]
                if isinstance(msg.get("usage"), list) and len(msg["usage"]) == 2:
                    ch.usage = (float(msg["usage"][0]), int(msg["usage"][1]))
                with self._lock:
                    self._children.pop(msg["id"], None)
                ch._started.set()
                ch._done.set()
        self._alive = False
        self._ready.set()
        with self._lock:
            orphans = list(self._children.values())
            self._children.clear()
        for ch in orphans:
            ch.lost = True
            ch._started.set()
            ch._done.set()

    def spawn(self, spec: Mapping[str, Any], fds: tuple[int, int, int], to_file: Callable[[], Path]) -> Child:
        """Ask for a pod process; returns once it has a pid (or failed to fork). The spec
        goes in the request itself when it fits one message (most do: no file to write and
        remove per pod), else ``to_file()`` writes it and the request names the file."""
        with self._lock:
            if not self._alive:
                raise ForkServerError("the fork server is gone")
            self._next += 1
            ch = Child(self._next)
            self._children[ch.ident] = ch
            inline, new_text = self._by_reference(spec)
            payload = json.dumps({"id": ch.ident, "inline": inline}).encode()
            if len(payload) > INLINE_LIMIT:  # (the whole spec, its text too, in a file)
                payload, new_text = json.dumps({"id": ch.ident, "spec": str(to_file())}).encode(), None
            try:
                socket.send_fds(self._sock, [payload], list(fds))
            except OSError as exc:
                self._children.pop(ch.ident, None)
                raise ForkServerError(f"the fork server is gone: {exc}") from exc
            if new_text is not None:
                self._sent(new_text)
        if not ch._started.wait(START_TIMEOUT) or (ch.pid is None and ch.error is None):
            raise ForkServerError("the fork server did not answer")
        return ch

    def _by_reference(self, spec: Mapping[str, Any]) -> tuple[Mapping[str, Any], str | None]:
        """``spec`` with its script's text replaced by the number the server knows it by
        (``text_ref``), or numbered for the server to keep (``text_id``; then the text is
        returned too, for ``_sent`` once it went inline). The caller's spec is not changed."""
        py = spec.get("py")
        if not isinstance(py, Mapping):
            return spec, None
        text = py.get("source")
        if not isinstance(text, str) or len(text) < TEXT_MIN:
            return spec, None
        known = self._texts.get(text)
        if known is not None:
            sent = {k: v for k, v in py.items() if k != "source"}
            sent["text_ref"] = known
            return {**spec, "py": sent}, None
        return {**spec, "py": {**py, "text_id": self._text_ids + 1}}, text

    def _sent(self, text: str) -> None:
        """The server has ``text`` now, as the next number; it forgets the oldest as we do."""
        self._text_ids += 1
        if len(self._texts) >= TEXTS_KEPT:
            self._texts.pop(next(iter(self._texts)))
        self._texts[text] = self._text_ids

    def kill_orphans(self, sig: int) -> None:
        """Signal what pods left behind in sessions of their own (they are the server's
        children now): pods themselves are not touched."""
        with self._lock:
            if not self._alive:
                return
            try:
                self._sock.send(json.dumps({"kill_orphans": sig}).encode())
            except OSError:
                pass

    def close(self) -> None:
        """Stop the server; it SIGKILLs the process groups of pods still running."""
        self._alive = False
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
