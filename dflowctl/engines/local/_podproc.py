"""One pod process: set up (session, private view, working dir), then exec the
command or run the Python code in this forked warm interpreter.

Part of the pod process starters (``_podserver.py``), which run as scripts under
whichever ``python3`` a pod uses: standard library only, nothing from the
package. Fd 3 is the status pipe: a setup or exec failure is written there as
one line before the process exits 127.
"""

from __future__ import annotations

import os
import signal
import sys

if __package__:  # imported from the package
    from dflowctl.engines.local._podview import SetupError, enter_view
else:  # run as a script: its own folder is sys.path[0]
    from _podview import SetupError, enter_view  # type: ignore[no-redef]

STATUS_FD = 3
EXIT_SETUP_FAILED = 127
_PRELOADED: set[str] = set()  # top-level modules the server imported beyond a fresh interpreter's


def _report(text: str) -> None:
    try:
        os.write(STATUS_FD, text.encode("utf-8", "replace")[:4000])
    except OSError:
        pass


def _setup(spec: dict) -> None:
    if spec.get("setsid", True):  # the --exec launcher's pod stays in the launcher's group
        try:
            os.setsid()
        except OSError:
            pass  # already a session leader
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


def _use_env(env: dict) -> None:
    """Make ``env`` this process's whole environment (``os.environ`` and the C one its
    children inherit), changing only what differs from the server's: clearing and
    refilling it was ~0.2 ms of every pod's CPU."""
    for key in [k for k in os.environ if k not in env]:
        del os.environ[key]
    for key, value in env.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


def _run_python(spec: dict) -> int:
    """Run the pod's Python code as ``__main__`` in this (forked, warm) interpreter."""
    import builtins
    import io
    import types

    py = spec["py"]
    env = spec["env"]
    server_tz = os.environ.get("TZ")
    _use_env(env)
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
    if "tempfile" in sys.modules:
        setattr(sys.modules["tempfile"], "tempdir", None)  # noqa: B010  (found again from TMPDIR)
    if env.get("TZ") != server_tz:  # the server's time zone is this pod's otherwise
        import time

        time.tzset()  # this pod's TZ

    code = py.get("_code")
    if py["kind"] == "file":
        filename = py["target"]
        try:
            if code is None:
                with open(filename, "rb") as fh:
                    source = fh.read()
            else:  # compiled by the server from the text the engine wrote there: only still there?
                os.stat(filename)
                source = b""
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
    if py.get("no_bytecode"):
        _no_bytecode_under(py["no_bytecode"])
    if py.get("_modules"):
        _compiled_once(py["_modules"])
    shadowed = _unshadow([first, *py.get("path", [])])
    warm = py.get("_warm") if code is not None and not shadowed else None
    if warm is not None:  # a bootstrap's definitions, run by the server (_podcode._warm_main)
        main, code = warm
    else:
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


def _no_bytecode_under(folders: list[str]) -> None:
    """Modules imported from these folders (the run's shared inputs, such as a ``source:``
    folder) are not cached as ``__pycache__`` files there: the pod's layer is thrown away when
    it ends, and writing one (a folder, a file and a rename through the overlay) cost
    more than the rest of a small op. Other modules are cached as Python always does."""
    from importlib import machinery

    prefixes = tuple(f.rstrip("/") + "/" for f in folders)
    cache_bytecode = machinery.SourceFileLoader._cache_bytecode  # type: ignore[attr-defined]

    def unless_shared(self: object, source_path: object, bytecode_path: object, data: bytes) -> object:
        if str(source_path).startswith(prefixes):
            return None
        return cache_bytecode(self, source_path, bytecode_path, data)

    machinery.SourceFileLoader._cache_bytecode = unless_shared  # type: ignore[attr-defined]


def _compiled_once(table: dict[str, tuple[bytes, object]]) -> None:
    """Modules of the run's shared folders that the warm server compiled once for all the pods
    of a layer (``_podcode.layer_modules``: path as the pod sees it -> (source, code)) are
    not compiled again: a module whose source is still those bytes gets that code object;
    one the pod changed (or any other) is compiled as always."""
    from importlib import machinery

    to_code = machinery.SourceFileLoader.source_to_code

    def compiled(self: object, data: bytes, path: str, *, _optimize: int = -1) -> object:
        hit = table.get(path) if _optimize == -1 else None
        if hit is not None and hit[0] == data:
            return hit[1]
        return to_code(self, data, path, _optimize=_optimize)  # type: ignore[arg-type]

    machinery.SourceFileLoader.source_to_code = compiled  # type: ignore[assignment,method-assign]


def _unshadow(entries: list[str]) -> bool:
    """Forget preloaded modules that a module in the pod's own path entries would shadow;
    whether there was one (a bootstrap's definitions, which import such modules, then run
    in the pod too).

    A fresh interpreter would import the pod's ``json.py`` (say) from its
    PYTHONPATH; the warm one must not hand it the standard library's instead.
    """
    shadowed = False
    if not _PRELOADED:
        return shadowed
    for entry in entries:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            stem = name[:-3] if name.endswith(".py") else name
            if stem in _PRELOADED:
                shadowed = True
                for mod in [m for m in sys.modules if m == stem or m.startswith(stem + ".")]:
                    del sys.modules[mod]
    return shadowed
