"""Starts pod processes: the warm fork server, the one-shot launcher and the isolation probe.

This file runs as a script under whichever ``python3`` a pod uses, which need not
have dflowctl installed, so it imports only the standard library and nothing from
the package but its siblings ``_podproc.py`` (one pod process), ``_podview.py``
(its private view) and ``_podcode.py`` (code compiled once for many pods).
``pods.py`` / ``forkserver.py`` are its only callers.

    python3 _podserver.py --serve FD [--preload m1,m2]   warm server on a SEQPACKET socket
    python3 _podserver.py --exec SPEC                    set up one pod, then exec its command
    python3 _podserver.py --probe DIR                    exit 0 if private views work here

A pod spec (in the request, or a JSON file it names when too large for one) has:
``argv``, ``env``, ``cwd`` (as the pod sees it), ``mode`` ("exec" or "python"),
``py`` (for python mode: ``kind`` "file"|"code", ``target``, ``args``, ``path``:
PYTHONPATH entries, ``source``: the script's text, compiled once per distinct
text; sent once with ``text_id`` N, then named by ``text_ref`` N instead),
``view`` (null, or ``{"upper", "work",
"merged", "tmp", "hostname", "binds"}``, with ``"layer"`` and ``"empty"`` when the run's
shared layer is stacked in and ``"inputs"`` for input folders mounted, for a private copy-on-write view:
``enter_view``; ``binds``: host folders under ``/tmp`` shown read-only at their path).
A message ``{"kill_orphans": SIG}`` signals what pods left behind (the server is
their subreaper).

In the pod process fd 0 is /dev/null, fds 1/2 are the stdout/stderr pipes and
fd 3 is the status pipe (close-on-exec): a setup or exec failure is written
there as one line of text before the process exits 127, so the caller can tell
"could not start" from "ran and failed".
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import resource

if __package__:  # imported from the package (pods.py reads DEFAULT_PRELOAD)
    from dflowctl.engines.local._podcode import layer_modules, precompile, restore_text
    from dflowctl.engines.local._podproc import _PRELOADED, STATUS_FD, _child_after_fork, pod_main
    from dflowctl.engines.local._podview import (
        PR_SET_CHILD_SUBREAPER,
        PR_SET_PDEATHSIG,
        _libc,
        enter_view,
        remember_under,
    )
else:  # run as a script: its own folder is sys.path[0]
    from _podcode import layer_modules, precompile, restore_text  # type: ignore[no-redef]
    from _podproc import _PRELOADED, STATUS_FD, _child_after_fork, pod_main  # type: ignore[no-redef]
    from _podview import (  # type: ignore[no-redef]
        PR_SET_CHILD_SUBREAPER,
        PR_SET_PDEATHSIG,
        _libc,
        enter_view,
        remember_under,
    )

DEFAULT_PRELOAD = [
    *("argparse", "base64", "collections", "contextlib", "copy", "dataclasses", "datetime", "enum"),
    *("functools", "glob", "hashlib", "importlib", "inspect", "io", "itertools", "json", "logging"),
    *("math", "pathlib", "random", "re", "shutil", "string", "subprocess", "tempfile", "textwrap"),
    *("time", "traceback", "types", "typing", "uuid"),
]


# ---------------------------------------------------------------- the server


def _load(path: str) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _own_children() -> list[int]:
    pids: list[int] = []
    try:
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/children", encoding="ascii") as fh:
                pids += [int(p) for p in fh.read().split()]
    except OSError:
        pass
    return pids


def _kill_orphans(pods: set[int], sig: int) -> None:
    """Signal the children of this server that are not pods: what pods left behind.

    Their own children become ours in turn as they end, so sweep a few times.
    """
    import time

    for _ in range(20):
        orphans = [p for p in _own_children() if p not in pods]
        if not orphans:
            return
        for pid in orphans:
            for kill in (os.killpg, os.kill):
                try:
                    kill(pid, sig)
                except OSError:
                    pass
        time.sleep(0.01)
        for pid in orphans:  # only them: a pod's exit status belongs to the runner
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass


def usage(rusage: resource.struct_rusage) -> list[float]:
    """[CPU seconds, peak resident bytes] of a reaped pod: its own and its waited-for
    children's (``wait4`` reports both), the largest resident set of one process."""
    return [round(rusage.ru_utime + rusage.ru_stime, 6), rusage.ru_maxrss * 1024]  # Linux: KiB


def serve(fd: int, preload: list[str]) -> None:
    import importlib

    sock = socket.socket(fileno=fd)
    at_startup = set(sys.modules)
    for name in preload:
        try:
            importlib.import_module(name)
        except Exception:
            pass
    _PRELOADED.update({m.split(".")[0] for m in sys.modules if m not in at_startup})
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Processes a pod leaves behind in a session of their own (daemons) become this
    # server's children when their parent ends, so that they can still be ended.
    _libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    os.set_blocking(wake_r, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_w)
    children: dict[int, int] = {}

    def send(msg: dict) -> None:
        try:
            sock.send(json.dumps(msg).encode())
        except OSError:
            pass

    def reap() -> None:
        while True:
            try:
                pid, status, rusage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            ident = children.pop(pid, None)
            if ident is not None:
                send({"id": ident, "exit": os.waitstatus_to_exitcode(status), "usage": usage(rusage)})

    send({"ready": os.getpid(), "python": sys.executable})
    while True:
        try:
            ready, _, _ = select.select([sock.fileno(), wake_r], [], [])
        except InterruptedError:
            continue
        if wake_r in ready:
            try:
                while os.read(wake_r, 512):
                    pass
            except BlockingIOError:
                pass
            reap()
        if sock.fileno() in ready:
            try:
                data, fds, _flags, _addr = socket.recv_fds(sock, 65536, 3)
            except OSError:
                data, fds = b"", []
            if not data:
                break
            msg = json.loads(data)
            if "kill_orphans" in msg:
                _kill_orphans(set(children), int(msg["kill_orphans"]))
                continue
            try:
                spec = msg["inline"] if "inline" in msg else _load(msg["spec"])
                restore_text(spec)
                precompile(spec)
                layer_modules(spec)
                if spec.get("view"):
                    remember_under()  # what each pod would bind and unmount / to look under
                pid = os.fork()
            except (OSError, LookupError) as exc:  # LookupError: a script text it does not have
                send({"id": msg["id"], "error": f"could not start the pod: {exc}"})
                for f in fds:
                    os.close(f)
                continue
            if pid == 0:
                sock.close()
                _child_after_fork(spec, fds)
            for f in fds:
                os.close(f)
            children[pid] = msg["id"]
            send({"id": msg["id"], "pid": pid})
        reap()
    # The runner went away: no pod (nor anything a pod left behind) may outlive it.
    for pid in list(children):
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
    _kill_orphans(set(), signal.SIGKILL)


def probe(directory: str) -> int:
    """Fork a child that enters a private view and writes /tmp/probe and /probe-root there."""
    view = {
        "upper": os.path.join(directory, "upper"),
        "work": os.path.join(directory, "work"),
        "merged": os.path.join(directory, "merged"),
        "tmp": os.path.join(directory, "upper", "tmp"),
    }
    for d in view.values():
        os.makedirs(d, exist_ok=True)
    pid = os.fork()
    if pid == 0:
        try:
            enter_view(view)
            with open("/tmp/probe", "w") as fh:
                fh.write("ok")
            with open("/dflowctl-probe", "w") as fh:
                fh.write("ok")
            os._exit(0)
        except BaseException as exc:
            try:
                sys.stderr.write(f"{exc}\n")
            finally:
                os._exit(1)
    _, status = os.waitpid(pid, 0)
    ok = (
        os.waitstatus_to_exitcode(status) == 0
        and os.path.isfile(os.path.join(view["tmp"], "probe"))
        and os.path.isfile(os.path.join(view["upper"], "dflowctl-probe"))
        and not os.path.exists("/dflowctl-probe")
    )
    return 0 if ok else 1


def launch(spec: dict) -> int:
    """``--exec``: start one pod as this process's child and end as it ends.

    The pod's parent is then this launcher, which holds only the pods' part of the
    host's environment (never the runner's, with its secrets, in ``/proc/$PPID``).
    The pod stays in the launcher's process group (the runner signals that group);
    the launcher ignores SIGTERM/SIGINT so it can report how the pod ended, and ends
    the whole group when the runner dies (``PR_SET_PDEATHSIG``).
    """
    parent = os.getppid()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, lambda *_: os.killpg(0, signal.SIGKILL))
    _libc().prctl(PR_SET_PDEATHSIG, signal.SIGHUP, 0, 0, 0)
    if os.getppid() != parent:  # the runner died before the line above
        os.killpg(0, signal.SIGKILL)
    spec["setsid"] = False
    pid = os.fork()
    if pid == 0:
        pod_main(spec)  # never returns
    os.close(STATUS_FD)  # only the pod reports there
    while True:
        try:
            _, status, rusage = os.wait4(pid, 0)
            break
        except InterruptedError:
            continue
    if spec.get("usage_path"):  # the runner reads it once this launcher has ended
        try:
            with open(spec["usage_path"], "w", encoding="utf-8") as fh:
                json.dump(usage(rusage), fh)
        except OSError:
            pass
    if os.WIFSIGNALED(status):  # end the way the pod ended
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    return os.waitstatus_to_exitcode(status)


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "--serve":
        preload = DEFAULT_PRELOAD
        if len(argv) >= 4 and argv[2] == "--preload":
            preload = [m for m in argv[3].split(",") if m]
        serve(int(argv[1]), preload)
        # Nothing of the server outlives it, nor is left to write (its output is
        # discarded): no tearing down of its warm modules, which its runner waits for.
        os._exit(0)
    if len(argv) == 2 and argv[0] == "--exec":
        spec = _load(argv[1])
        spec["mode"] = "exec"
        status_fd = int(spec["status_fd"])
        if status_fd != STATUS_FD:
            os.dup2(status_fd, STATUS_FD, inheritable=False)
            os.close(status_fd)
        os.set_inheritable(STATUS_FD, False)
        return launch(spec)
    if len(argv) == 2 and argv[0] == "--probe":
        return probe(argv[1])
    print("usage: _podserver.py --serve FD [--preload M,...] | --exec SPEC | --probe DIR", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.path[:1] = []  # this file's folder is not the pod's business
    sys.exit(main(sys.argv[1:]))
