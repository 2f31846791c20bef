"""Process supervision: a pod's process group started, watched, ended.

``launch`` starts the pod (forked by a warm fork server, else through the
one-shot launcher ``_podserver --exec``) in its own process group;
``supervise`` copies its output to the log and ends it on cancel or deadline
(SIGTERM, then SIGKILL after ``KILL_GRACE``); when the main process ends, like
a container, nothing it left in its group lives on.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dflowctl.engines.local import isolation
from dflowctl.engines.local.forkserver import Child, ForkServer, ForkServerError
from dflowctl.engines.local.logtimes import TimedLog
from dflowctl.engines.local.podapi import PodRequest
from dflowctl.engines.local.podplan import PodPlan
from dflowctl.engines.local.termination import STDERR_TAIL

RESULT_LIMIT = 256 * 1024  # Argo keeps the last 256 kB of stdout as outputs.result
KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL
DRAIN_AFTER_EXIT = 1.0  # how long to read output still buffered after the main process ended


class PodProcess:
    """A running pod process, forked by a server or started as a one-shot launcher."""

    def __init__(
        self, pid: int, child: Child | None = None, popen: Any = None, usage_path: Path | None = None
    ) -> None:
        self.pid = pid
        self.child = child
        self.popen = popen
        self.usage_path = usage_path  # where the one-shot launcher leaves the pod's usage
        self.cancelled = False

    def usage(self) -> tuple[float, int] | None:
        """CPU seconds and peak resident bytes of the ended pod's process tree, if known."""
        if self.child is not None:
            return self.child.usage
        if self.usage_path is None:
            return None
        try:
            cpu, peak = json.loads(self.usage_path.read_text(encoding="utf-8"))
            return float(cpu), int(peak)
        except (OSError, ValueError, TypeError):
            return None
        finally:
            with contextlib.suppress(OSError):
                self.usage_path.unlink()

    def poll(self) -> int | None:
        if self.child is not None:
            return self.child.poll()
        return self.popen.poll()

    def wait(self, timeout: float) -> None:
        if self.child is not None:
            self.child.wait(timeout)
        else:
            with contextlib.suppress(Exception):
                self.popen.wait(timeout)

    def lost(self) -> bool:
        return self.child is not None and self.child.lost

    def signal(self, sig: int) -> None:
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            # Not (yet) a group leader, or already gone with its group.
            with contextlib.suppress(ProcessLookupError):
                if self.poll() is None:
                    os.kill(self.pid, sig)
        except PermissionError:
            pass


def launch(
    plan: PodPlan,
    spec_path: Path,
    fds: tuple[int, int, int],
    server_for: Callable[[str, tuple[str, ...] | None], ForkServer | None] | None,
    launcher_env: Mapping[str, str],
) -> PodProcess:
    """Start the pod: forked by a warm server (``server_for`` gives one, None: no fork
    servers), else through a one-shot launcher; ``fds``: its stdout, stderr, status pipe."""
    spec: dict[str, Any] = {
        "argv": plan.argv,
        "env": plan.env,
        "cwd": plan.cwd,
        "cwd_shown": plan.cwd_shown,
        "view": plan.view,
        "mode": "exec",
    }
    srv = None
    if server_for is not None:
        if plan.py is not None and plan.python is not None:
            srv = server_for(plan.python, plan.preload)
            if srv is not None:
                spec["mode"] = "python"
                spec["py"] = plan.py
        if srv is None:
            srv = server_for(sys.executable, ())
    if srv is not None:

        def to_file() -> Path:  # a spec too large for one request
            _write_spec(spec_path, spec)
            return spec_path

        try:
            child = srv.spawn(spec, fds, to_file)
            if child.pid is not None:
                return PodProcess(child.pid, child=child)
        except ForkServerError:
            pass
    import subprocess

    spec["mode"] = "exec"
    spec["status_fd"] = fds[2]
    usage_path = spec_path.with_name(spec_path.name + ".usage")
    spec["usage_path"] = str(usage_path)
    _write_spec(spec_path, spec)
    popen = subprocess.Popen(
        [sys.executable, "-S", "-E", "-s", str(isolation.SERVER_FILE), "--exec", str(spec_path)],
        stdin=subprocess.DEVNULL,
        stdout=fds[0],
        stderr=fds[1],
        pass_fds=(fds[2],),
        start_new_session=True,
        env=dict(launcher_env),
    )
    return PodProcess(popen.pid, popen=popen, usage_path=usage_path)


def supervise(
    proc: PodProcess,
    req: PodRequest,
    out_r: int,
    err_r: int,
    log: TimedLog,
    cancel: threading.Event,
    started: float,
) -> tuple[int | None, str | None, bytes, bytes]:
    """Copy the pod's output to the log (stdout also kept, its last 512 kB), end it on
    ``cancel`` or its deadline (SIGTERM, SIGKILL after ``KILL_GRACE``), and return
    (exit status, "cancel" | "deadline" | None, stdout, the tail of stderr) once it and its
    group are done."""
    sel = selectors.DefaultSelector()
    sel.register(out_r, selectors.EVENT_READ)
    sel.register(err_r, selectors.EVENT_READ)
    stdout = bytearray()
    stderr_tail = bytearray()  # its last lines: a failed pod's reason when it left no other
    deadline = _deadline(req, started)
    reason: str | None = None
    term_at: float | None = None
    killed = False
    exited_at: float | None = None
    code: int | None = None
    try:
        while True:
            if sel.get_map():
                ready = sel.select(0.05 if exited_at is None else 0.01)
            else:
                ready = []
                if exited_at is None:
                    proc.wait(0.05)
            for key, _ in ready:
                fd = key.fd
                data = os.read(fd, 65536)
                if not data:
                    sel.unregister(fd)
                    continue
                log.write(data)
                if fd == out_r:
                    stdout += data
                    if len(stdout) > 2 * RESULT_LIMIT:
                        del stdout[: len(stdout) - RESULT_LIMIT - 1]
                else:
                    stderr_tail += data
                    del stderr_tail[: max(0, len(stderr_tail) - STDERR_TAIL)]
            now = time.time()
            if exited_at is None:
                code = proc.poll()
                if code is not None or proc.lost():
                    exited_at = now
                    # The main process ended: like a container, nothing it left behind lives on.
                    proc.signal(signal.SIGKILL)
                    continue
                if reason is None:
                    if cancel.is_set() or proc.cancelled:
                        reason = "cancel"
                    elif deadline is not None and now >= deadline:
                        reason = "deadline"
                if proc.cancelled and reason != "cancel":
                    reason = "cancel"
                if reason is not None and term_at is None:
                    proc.signal(signal.SIGTERM)
                    term_at = now
                elif term_at is not None and not killed and now - term_at >= KILL_GRACE:
                    proc.signal(signal.SIGKILL)
                    killed = True
            elif not sel.get_map() or now - exited_at > DRAIN_AFTER_EXIT:
                break
    finally:
        sel.close()
        os.close(out_r)
        os.close(err_r)
    return code, reason, bytes(stdout), bytes(stderr_tail)


def _deadline(req: PodRequest, started: float) -> float | None:
    limits = [started + req.timeout] if req.timeout is not None else []
    if req.not_after is not None:
        limits.append(req.not_after)
    return min(limits) if limits else None


def _write_spec(path: Path, spec: Mapping[str, Any]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(spec, fh)


def read_all(fd: int) -> str:
    chunks = []
    try:
        os.set_blocking(fd, False)
        while True:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", "replace").strip()


def exit_code(code: int | None) -> int | None:
    if code is None:
        return None
    return 128 - code if code < 0 else code  # killed by signal N: 128+N, as Kubernetes reports


def result_text(stdout: bytes) -> str:
    if stdout.endswith(b"\n"):
        stdout = stdout[:-1]
    return stdout[-RESULT_LIMIT:].decode("utf-8", "replace")
