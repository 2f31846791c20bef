"""Starts pod processes: the warm fork server, the one-shot launcher and the isolation probe.

This file runs as a script under whichever ``python3`` a pod uses, which need not
have dflowctl installed, so it imports only the standard library and nothing from
the package. ``pods.py`` / ``forkserver.py`` are its only callers.

    python3 _podserver.py --serve FD [--preload m1,m2]   warm server on a SEQPACKET socket
    python3 _podserver.py --exec SPEC                    set up one pod, then exec its command
    python3 _podserver.py --probe DIR                    exit 0 if private views work here

A pod spec (JSON file) has: ``argv``, ``env``, ``cwd`` (as the pod sees it),
``mode`` ("exec" or "python"), ``py`` (for python mode: ``kind`` "file"|"code",
``target``, ``args``, ``path``: PYTHONPATH entries, ``source``: the script's
text, compiled once per distinct text), ``view`` (null, or ``{"upper", "work",
"merged", "tmp", "hostname"}`` for a private copy-on-write view: ``enter_view``).
A message ``{"kill_orphans": SIG}`` signals what pods left behind (the server is
their subreaper).

In the pod process fd 0 is /dev/null, fds 1/2 are the stdout/stderr pipes and
fd 3 is the status pipe (close-on-exec): a setup or exec failure is written
there as one line of text before the process exits 127, so the caller can tell
"could not start" from "ran and failed".
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import socket
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
PR_SET_CHILD_SUBREAPER = 36
MS_BIND = 1 << 12
MS_REC = 1 << 14
MS_PRIVATE = 1 << 18
STATUS_FD = 3
EXIT_SETUP_FAILED = 127

DEFAULT_PRELOAD = [
    *("argparse", "base64", "collections", "contextlib", "copy", "dataclasses", "datetime", "enum"),
    *("functools", "glob", "hashlib", "importlib", "inspect", "io", "itertools", "json", "logging"),
    *("math", "pathlib", "random", "re", "shutil", "string", "subprocess", "tempfile", "textwrap"),
    *("time", "traceback", "types", "typing", "uuid"),
]


class SetupError(Exception):
    """The pod could not be started; the text is what the user sees."""


# ---------------------------------------------------------------- private view


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    libc.unshare.argtypes = [ctypes.c_int]
    return libc


def _enc(text: str | None) -> bytes | None:
    return None if text is None else os.fsencode(text)


def _mount(
    libc: ctypes.CDLL, src: str | None, target: str, fstype: str | None, flags: int, data: str | None = None
) -> None:
    if libc.mount(_enc(src), _enc(target), _enc(fstype), flags, _enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def _unescape(field: str) -> str:
    """Mount points in mountinfo escape space, tab, newline and backslash as octal."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


# Mounts bound into a pod's view as they are (shared with the host): the kernel's own.
SHARED_MOUNTS = ("/proc", "/sys", "/dev", "/run")


def _mount_points() -> list[str]:
    """Every mount point but /, parents before children."""
    points = set()
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as fh:
        for line in fh:
            parts = line.split(" ")
            if len(parts) > 4:
                points.add(_unescape(parts[4]))
    points.discard("/")
    return sorted(points, key=lambda p: (p.count("/"), p))


def _inside(path: str, base: str) -> bool:
    return path == base or path.startswith(base.rstrip("/") + "/")


def enter_view(view: dict[str, str]) -> None:
    """Make this process see a private copy-on-write ``/``: new mount namespace, overlays, chroot.

    The root file system and every other mounted one get a copy-on-write overlay
    whose upper layer is ``view["upper"]/<mount point>``, so writes anywhere land
    in ``view["upper"]/<path>`` and the host's files stay as they are; ``/tmp`` is
    the empty private ``view["tmp"]``. The kernel's own mounts (/proc, /sys, /dev,
    /run) and file mounts are bound in as they are.
    """
    libc = _libc()
    if libc.unshare(CLONE_NEWNS) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare(CLONE_NEWNS): {os.strerror(err)}")
    hostname = view.get("hostname")
    if hostname and libc.unshare(CLONE_NEWUTS) == 0:
        # A pod's host name is its name (Kubernetes cuts it to 63 characters).
        name = hostname[:63].encode()
        libc.sethostname(name, len(name))
    _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)
    merged, upper, work = view["merged"], view["upper"], view["work"]
    # Decide every layer and make its folders before the first overlay exists: an
    # overlay's upper folder must not change under it.
    layers: list[tuple[str, str | None]] = [("/", work)]  # (mount point, overlay work dir or None: bind)
    bound: list[str] = []
    for n, point in enumerate(_mount_points()):
        if _inside(point, "/tmp") or any(_inside(point, b) for b in bound):
            continue
        shared = any(_inside(point, m) for m in SHARED_MOUNTS) or not os.path.isdir(point)
        if shared or _unsafe(point, upper + point, f"{work}-{n}"):
            layers.append((point, None))
            bound.append(point)
        else:
            layers.append((point, f"{work}-{n}"))
    for point, layer_work in layers:
        if layer_work is not None:
            os.makedirs(upper + point.rstrip("/"), exist_ok=True)
            os.makedirs(layer_work, exist_ok=True)
    for point, layer_work in layers:
        target = merged + point.rstrip("/")
        if layer_work is not None:
            options = f"lowerdir={point},upperdir={upper + point.rstrip('/')},workdir={layer_work}"
            try:
                _mount(libc, "overlay", target, "overlay", 0, options)
                continue
            except OSError:
                if point == "/":
                    raise
        try:
            _mount(libc, point, target, None, MS_BIND | MS_REC)
        except OSError:
            if point in SHARED_MOUNTS[:3]:
                raise
    _mount(libc, view["tmp"], merged + "/tmp", None, MS_BIND)
    os.chroot(merged)
    os.chdir("/")


def _unsafe(*paths: str) -> bool:
    """overlayfs options are comma separated and lowerdir uses ':'."""
    return any(c in p for p in paths for c in ",:\\")


# ---------------------------------------------------------------- one pod process


def _report(text: str) -> None:
    try:
        os.write(STATUS_FD, text.encode("utf-8", "replace")[:4000])
    except OSError:
        pass


def _setup(spec: dict) -> None:
    try:
        os.setsid()
    except OSError:
        pass  # already a session leader (the --exec launcher is started that way)
    view = spec.get("view")
    try:
        if view:
            enter_view(view)
    except OSError as exc:
        raise SetupError(f"could not set up the pod's private file system view: {exc}") from exc
    cwd = spec.get("cwd") or "/"
    try:
        os.makedirs(cwd, exist_ok=True)
        os.chdir(cwd)
    except OSError as exc:
        raise SetupError(f"working directory {spec.get('cwd_shown', cwd)}: {exc.strerror}") from exc


def _exec(spec: dict) -> None:
    for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    argv = spec["argv"]
    env = spec["env"]
    try:
        os.execvpe(argv[0], argv, env)
    except FileNotFoundError:
        raise SetupError(f'exec: "{argv[0]}": executable file not found in $PATH') from None
    except OSError as exc:
        raise SetupError(f'exec: "{argv[0]}": {exc.strerror}') from None


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    try:
        print(code, file=sys.stderr)
    except Exception:
        pass
    return 1


def _run_python(spec: dict) -> int:
    """Run the pod's Python code as ``__main__`` in this (forked, warm) interpreter."""
    import builtins
    import io
    import types

    py = spec["py"]
    env = spec["env"]
    os.environ.clear()
    os.environ.update(env)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    encoding = env.get("PYTHONIOENCODING", "utf-8").split(":")[0] or "utf-8"
    unbuffered = bool(env.get("PYTHONUNBUFFERED")) or py.get("unbuffered", False)
    sys.stdin = io.TextIOWrapper(open(0, "rb", closefd=False), encoding=encoding)  # noqa: SIM115
    sys.stdout = io.TextIOWrapper(
        open(1, "wb", buffering=0 if unbuffered else -1, closefd=False),  # noqa: SIM115
        encoding=encoding,
        errors="strict",
        write_through=unbuffered,
    )
    sys.stderr = io.TextIOWrapper(
        open(2, "wb", buffering=0 if unbuffered else -1, closefd=False),  # noqa: SIM115
        encoding=encoding,
        errors="backslashreplace",
        line_buffering=True,
        write_through=unbuffered,
    )
    for name in ("stdin", "stdout", "stderr"):
        setattr(sys, f"__{name}__", getattr(sys, name))
    sys.dont_write_bytecode = bool(env.get("PYTHONDONTWRITEBYTECODE"))
    if "random" in sys.modules:
        sys.modules["random"].seed()  # a fresh interpreter would have its own seed
    if "tempfile" in sys.modules:
        setattr(sys.modules["tempfile"], "tempdir", None)  # noqa: B010  (found again from TMPDIR)
    import time

    time.tzset()  # this pod's TZ

    code = py.get("_code")
    if py["kind"] == "file":
        filename = py["target"]
        try:
            with open(filename, "rb") as fh:
                source = fh.read()
        except OSError as exc:
            print(
                f"{sys.executable}: can't open file {filename!r}: [Errno {exc.errno}] {exc.strerror}",
                file=sys.stderr,
            )
            return 2
        first = os.path.dirname(os.path.realpath(filename))
        sys.argv = [filename, *py["args"]]
    else:
        filename = "<string>"
        source = py["target"].encode("utf-8", "surrogateescape")
        first = ""
        sys.argv = ["-c", *py["args"]]
    sys.path[:] = [first, *py.get("path", []), *sys.path]  # the server dropped its own first entry
    _unshadow([first, *py.get("path", [])])
    main = types.ModuleType("__main__")
    main.__dict__["__builtins__"] = builtins
    main.__file__ = filename if py["kind"] == "file" else None  # type: ignore[assignment]
    if main.__file__ is None:
        del main.__file__
    sys.modules["__main__"] = main
    try:
        if code is None:
            code = compile(source, filename, "exec", dont_inherit=True)
        exec(code, main.__dict__)
        rc = 0
    except SystemExit as exc:
        rc = _exit_code(exc.code)
    except KeyboardInterrupt as exc:
        _print_exception(exc)
        rc = 128 + signal.SIGINT
    except BaseException as exc:
        _print_exception(exc)
        rc = 1
    return _finish(rc)


def _print_exception(exc: BaseException) -> None:
    """The traceback a fresh interpreter would print: without this file's frame."""
    tb = exc.__traceback__
    if tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    exc.__traceback__ = tb  # the default hook prints the exception's own traceback
    try:
        sys.stdout.flush()  # as the interpreter does before printing an uncaught exception
    except Exception:
        pass
    sys.excepthook(type(exc), exc, tb)


def _finish(rc: int) -> int:
    import atexit
    import threading

    try:
        threading._shutdown()  # type: ignore[attr-defined]  # wait for non-daemon threads, as at exit
    except Exception:
        pass
    try:
        atexit._run_exitfuncs()
    except Exception:
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            rc = rc or 120
    return rc


def pod_main(spec: dict) -> None:
    """In the pod process: set up, then exec the command or run the Python code. Never returns."""
    rc = EXIT_SETUP_FAILED
    try:
        _setup(spec)
        if spec.get("mode") == "python":
            rc = _run_python(spec)
        else:
            _exec(spec)
    except SetupError as exc:
        _report(str(exc))
    except BaseException as exc:  # never let a pod process return into the server loop
        _report(f"could not start the pod: {exc!r}")
    finally:
        os._exit(rc)


def _child_after_fork(spec: dict, fds: list[int]) -> None:
    out_fd, err_fd, status_fd = fds
    null = os.open(os.devnull, os.O_RDONLY)
    # Move the status fd out of the way first so the dup2s below cannot clobber it.
    status_fd = os.dup(status_fd)
    os.dup2(null, 0)
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    os.dup2(status_fd, STATUS_FD, inheritable=False)
    os.closerange(STATUS_FD + 1, 1 << 16)
    signal.set_wakeup_fd(-1)
    pod_main(spec)


# ---------------------------------------------------------------- the server


def _load(path: str) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


_PRELOADED: set[str] = set()  # top-level modules the server imported beyond a fresh interpreter's
_CODE_CACHE: dict[tuple[str, str], object] = {}
_CODE_CACHE_SIZE = 64


def _precompile(spec: dict) -> None:
    """Compile the pod's Python source once per distinct source; children inherit the code object.

    A fan-out runs the same script for every item (values come in env), and
    compiling a large script costs more than forking.
    """
    py = spec.get("py") if spec.get("mode") == "python" else None
    if not py or py.get("source") is None:
        return
    key = (py["target"], py["source"])
    code = _CODE_CACHE.get(key)
    if code is None:
        try:
            code = compile(
                py["source"].encode("utf-8", "surrogateescape"), py["target"], "exec", dont_inherit=True
            )
        except (SyntaxError, ValueError):
            return  # the child compiles again and reports it as python3 would
        if len(_CODE_CACHE) >= _CODE_CACHE_SIZE:
            _CODE_CACHE.pop(next(iter(_CODE_CACHE)))
        _CODE_CACHE[key] = code
    py["_code"] = code


def _unshadow(entries: list[str]) -> None:
    """Forget preloaded modules that a module in the pod's own path entries would shadow.

    A fresh interpreter would import the pod's ``json.py`` (say) from its
    PYTHONPATH; the warm one must not hand it the standard library's instead.
    """
    if not _PRELOADED:
        return
    for entry in entries:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            stem = name[:-3] if name.endswith(".py") else name
            if stem in _PRELOADED:
                for mod in [m for m in sys.modules if m == stem or m.startswith(stem + ".")]:
                    del sys.modules[mod]


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
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            ident = children.pop(pid, None)
            if ident is not None:
                send({"id": ident, "exit": os.waitstatus_to_exitcode(status)})

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
                spec = _load(msg["spec"])
                _precompile(spec)
                pid = os.fork()
            except OSError as exc:
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


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "--serve":
        preload = DEFAULT_PRELOAD
        if len(argv) >= 4 and argv[2] == "--preload":
            preload = [m for m in argv[3].split(",") if m]
        serve(int(argv[1]), preload)
        return 0
    if len(argv) == 2 and argv[0] == "--exec":
        spec = _load(argv[1])
        spec["mode"] = "exec"
        status_fd = int(spec["status_fd"])
        if status_fd != STATUS_FD:
            os.dup2(status_fd, STATUS_FD, inheritable=False)
            os.close(status_fd)
        os.set_inheritable(STATUS_FD, False)
        pod_main(spec)
    if len(argv) == 2 and argv[0] == "--probe":
        return probe(argv[1])
    print("usage: _podserver.py --serve FD [--preload M,...] | --exec SPEC | --probe DIR", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.path[:1] = []  # this file's folder is not the pod's business
    sys.exit(main(sys.argv[1:]))
