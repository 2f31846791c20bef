"""Start one container of the process kubelet: a host process in its own mount namespace.

    python3 container.py SPEC.json

The spec (written by ``kubelet_pod.py``) has ``argv``, ``env``, ``cwd``,
``hostname``, ``view`` (``upper``, ``work``, ``merged``, ``tmp``: a private
copy-on-write view of the host's ``/``, as the local engine's overlay isolation
makes it), ``pid_file`` (where the container's first process's host pid goes, for
``exec``), ``mounts`` (``source`` host path, ``target`` container path,
``read_only``), ``links`` (container path -> host program: how an image's
programs are found, e.g. ``argoexec``) and ``error_file``.

The process enters the view with ``enter_view`` from the local engine's
``_podview.py`` (no second copy), binding each volume at its path before the root
changes, then changes to the working folder. The command runs as PID 1 of a new PID
namespace, as in a container: ``kill 1`` in an ``exec`` (Argo's stop and terminate)
signals it, and a signal from outside reaches it only if it handles that signal
(SIGKILL always). This process waits for it and exits with its exit code (128 + the
signal's number when a signal ended it). A set-up or exec failure is written to
``error_file`` and the process exits 128 (the kubelet reports ``StartError``).
Standard library only; runs as root.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

PODVIEW = Path(__file__).resolve().parents[2] / "dflowctl" / "engines" / "local" / "_podview.py"
MS_RDONLY = 1
MS_REMOUNT = 32
MS_BIND = 1 << 12
MS_REC = 1 << 14
EXIT_START_ERROR = 128
CLONE_NEWPID = 0x20000000


def _podview() -> Any:
    spec = importlib.util.spec_from_file_location("dflowctl_podview", PODVIEW)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _mount(libc: ctypes.CDLL, source: str, target: str, flags: int) -> None:
    if libc.mount(os.fsencode(source), os.fsencode(target), None, flags, None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def resolve_in(root: str, path: str, depth: int = 0) -> str:
    """``path`` as seen from inside ``root``: symlinks followed within ``root``, never out of it."""
    parts = [p for p in path.split("/") if p and p != "."]
    done = ""
    for i, part in enumerate(parts):
        if part == "..":
            done = done.rsplit("/", 1)[0]
            continue
        here = root + done + "/" + part
        if os.path.islink(here) and depth < 40:
            link = os.readlink(here)
            base = "" if link.startswith("/") else done
            rest = "/".join(parts[i + 1 :])
            return resolve_in(root, f"{base}/{link}/{rest}", depth + 1)
        done += "/" + part
    return root + done


def _bind_all(libc: ctypes.CDLL, mounts: list[dict[str, Any]], merged: str) -> None:
    """Bind each host source at its target inside the new root (before the root changes)."""
    for mount in mounts:
        source = mount["source"]
        target = resolve_in(merged, mount["target"])
        if os.path.isdir(source):
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if not os.path.exists(target):
                with open(target, "ab"):
                    pass
        _mount(libc, source, target, MS_BIND | MS_REC)
        if mount.get("read_only"):
            _mount(libc, "none", target, MS_BIND | MS_REMOUNT | MS_RDONLY)


def _link_all(links: dict[str, str]) -> None:
    for path, program in links.items():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if os.path.lexists(path):
            os.unlink(path)
        os.symlink(program, path)


def _write_programs(programs: dict[str, str]) -> None:
    for path, text in programs.items():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(path, 0o755)


def setup(spec: dict[str, Any]) -> None:
    os.setsid()
    for key in ("upper", "work", "merged", "tmp"):
        os.makedirs(spec["view"][key], exist_ok=True)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    mounts: list[dict[str, Any]] = spec.get("mounts", [])
    _podview().enter_view(spec["view"], lambda merged: _bind_all(libc, mounts, merged))
    _link_all(spec.get("links", {}))
    _write_programs(spec.get("programs", {}))
    cwd = spec.get("cwd") or "/"
    os.makedirs(cwd, exist_ok=True)
    os.chdir(cwd)
    if libc.unshare(CLONE_NEWPID) != 0:  # the next child is PID 1 of a new PID namespace
        err = ctypes.get_errno()
        raise OSError(err, f"unshare(CLONE_NEWPID): {os.strerror(err)}")


def run(args: list[str], env: dict[str, str], err_fd: int) -> int:
    """Start ``args`` as PID 1 of the new PID namespace; its exit code (128 + signal if killed)."""
    child = os.fork()
    if child == 0:
        for sig in (signal.SIGPIPE, signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        try:
            os.execvpe(args[0], args, env)
        except OSError as exc:
            why = "executable file not found in $PATH" if exc.errno == 2 else exc.strerror
            os.write(err_fd, f'exec: "{args[0]}": {why}'.encode())
        os._exit(EXIT_START_ERROR)
    # A SIGTERM to the pod's process group is for the container's PID 1 to handle, not for us.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return child


def main(argv: list[str]) -> int:
    with open(argv[1], encoding="utf-8") as fh:
        spec = json.load(fh)
    # Opened before the root changes; close-on-exec, so a started program never sees them.
    err_fd = os.open(spec["error_file"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    pid_fd = os.open(spec["pid_file"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        setup(spec)
    except OSError as exc:
        os.write(err_fd, f"could not start the container: {exc}".encode())
        return EXIT_START_ERROR
    child = run(spec["argv"], spec["env"], err_fd)
    os.write(pid_fd, str(child).encode())
    os.close(pid_fd)
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
