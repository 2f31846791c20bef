"""The local engine's pod runner: one leaf Argo template (container or script) as host processes.

``PodRunner.run`` takes a template whose inputs are already substituted, runs it
isolated (own process group, own working dir, private absolute paths: see
``isolation``), captures stdout as ``outputs.result`` and stdout+stderr into the
log, reads the declared outputs, and reports Argo's phase and message. Python
code (``python3`` scripts and ``python3 FILE|-c CODE`` commands) runs in a
child forked from a warm interpreter (``forkserver``) instead of a fresh
``python3``; everything else is exec'd. Both paths give the same results.

Environment of a pod: a small base taken from the host (PATH, HOME, LANG, LC_*,
TZ, USER, LOGNAME, proxies; ``HOSTNAME`` = the pod name), then the template's
``env`` (with ``$(VAR)`` expansion as Kubernetes does), then ``PodRequest.env``
(the engine's own, e.g. PYTHONPATH), later ones winning. The rest of the host's
environment is not passed, as a container would not see it. Details and the
two isolation methods: docs/local-engine.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import socket
import stat
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from dflowctl.engines.local import artifacts, images, isolation
from dflowctl.engines.local._podserver import DEFAULT_PRELOAD
from dflowctl.engines.local.forkserver import Child, ForkServer, ForkServerError, server_env

RESULT_LIMIT = 256 * 1024  # Argo keeps the last 256 kB of stdout as outputs.result
DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"
CANCEL_MESSAGE = "workflow shutdown with strategy:  Terminate"
KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL
DRAIN_AFTER_EXIT = 1.0  # how long to read output still buffered after the main process ended
SCRIPT_PATH = "/argo/staging/script"
ARGO_OUT = "/var/run/argo/outputs"  # where Argo's executor looks for outputs (shown in its messages)
ENV_FORK_SERVER = "DFLOWCTL_FORK_SERVER"  # "0" disables the warm fork server
ENV_PRELOAD = "DFLOWCTL_PRELOAD"  # extra modules for the warm interpreter to import once
BASE_ENV_KEYS = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "USER",
    "LOGNAME",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
)
# PYTHON* variables a warm interpreter can honour per pod; any other one forces a fresh python3.
_PY_ENV_OK = {"PYTHONPATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PYTHONIOENCODING"}


@dataclass(frozen=True)
class PodRequest:
    pod_name: str
    template: Mapping[str, Any]  # the leaf template (container/script), inputs substituted
    work_dir: Path  # private folder for this attempt
    input_artifacts: Sequence[tuple[str, Path]]  # (path inside the container, host file or dir)
    log_path: Path  # combined stdout+stderr
    timeout: float | None = None  # seconds; on expiry: kill, phase Failed, Argo's deadline message
    env: Mapping[str, str] = field(default_factory=dict)  # extra env vars (win over the template's)


@dataclass(frozen=True)
class PodResult:
    phase: str  # "Succeeded" | "Failed" | "Error"
    exit_code: int | None
    message: str
    result: str | None  # stdout, one trailing newline stripped, last 256 kB
    parameters: Mapping[str, str]
    artifacts: Mapping[str, Path]
    started_at: float
    finished_at: float


class PodSetupError(Exception):
    """The pod cannot be started; the text is the node's message (phase Error)."""


@dataclass
class _Plan:
    argv: list[str]
    env: dict[str, str]
    cwd: str  # as the pod process sees it (after entering its view)
    cwd_shown: str  # as the template gave it
    view: dict[str, str] | None
    method: str
    root: Path
    py: dict[str, Any] | None  # set when the warm Python path applies
    python: str | None  # the resolved interpreter for ``py``
    preload: tuple[str, ...] | None


class _Proc:
    """A running pod process, forked by a server or started as a one-shot launcher."""

    def __init__(self, pid: int, child: Child | None = None, popen: Any = None) -> None:
        self.pid = pid
        self.child = child
        self.popen = popen
        self.cancelled = False

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


class PodRunner:
    """Runs leaf templates as isolated host processes; at most ``parallelism`` at once."""

    def __init__(self, parallelism: int | None = None) -> None:
        self.parallelism = max(1, parallelism or os.cpu_count() or 1)
        self._slots = threading.Semaphore(self.parallelism)
        self._lock = threading.Lock()
        self._server_lock = threading.Lock()
        self._servers: dict[tuple[str, tuple[str, ...] | None], ForkServer | None] = {}
        self._active: set[_Proc] = set()
        self._generation = 0
        self._closed = False
        self.use_fork_server = os.environ.get(ENV_FORK_SERVER, "1") != "0"

    # ------------------------------------------------------------------ public

    def run(self, req: PodRequest, cancel: threading.Event) -> PodResult:
        started = time.time()
        generation = self._generation
        while not self._slots.acquire(timeout=0.05):
            if cancel.is_set() or generation != self._generation or self._closed:
                return _cancelled(started)
        try:
            if cancel.is_set() or generation != self._generation or self._closed:
                return _cancelled(started)
            started = time.time()
            try:
                return self._run(req, cancel, started, generation)
            except OSError as exc:  # the host refused a folder, a copy, a pipe: not the pod's doing
                return _error(f"the local engine could not run the pod: {exc}", started)
        finally:
            self._slots.release()

    def kill_all(self) -> None:
        """End every pod process group now running (SIGTERM, then SIGKILL after 2 s); pods
        waiting for a slot at this moment are not started. Returns within about 2 s."""
        with self._lock:
            self._generation += 1
            procs = list(self._active)
        for p in procs:
            p.cancelled = True
            p.signal(signal.SIGTERM)
        deadline = time.monotonic() + KILL_GRACE
        while time.monotonic() < deadline and any(p.poll() is None for p in procs):
            time.sleep(0.02)
        for p in procs:
            p.signal(signal.SIGKILL)  # also whatever the main process left behind in its group
        with self._server_lock:
            servers = [s for s in self._servers.values() if s is not None]
        for s in servers:
            s.kill_orphans(signal.SIGKILL)  # and what left the group (daemons)

    def close(self) -> None:
        self._closed = True
        self.kill_all()
        with self._server_lock:
            servers = [s for s in self._servers.values() if s is not None]
            self._servers.clear()
        for s in servers:
            s.close()

    def __enter__(self) -> PodRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ one pod

    def _run(self, req: PodRequest, cancel: threading.Event, started: float, generation: int) -> PodResult:
        req.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(req.log_path, "wb", buffering=0) as log:
            try:
                plan = self._plan(req)
            except PodSetupError as exc:
                return _error(str(exc), started)
            return self._execute(req, plan, log, cancel, started, generation)

    def _plan(self, req: PodRequest) -> _Plan:
        tmpl = req.template
        kind = "script" if "script" in tmpl else "container" if "container" in tmpl else None
        if kind is None:
            raise PodSetupError(f"template {tmpl.get('name')!r} is neither a container nor a script template")
        body: Mapping[str, Any] = tmpl[kind]
        work = Path(req.work_dir).resolve()
        work.mkdir(parents=True, exist_ok=True)
        root = work / "root"
        for old in [root, *work.glob(".overlay-work*")]:
            if old.exists():
                shutil.rmtree(old)
        (root / "tmp").mkdir(parents=True)
        os.chmod(root / "tmp", 0o1777)
        method = isolation.method_for(work)

        env = _build_env(req, body)
        outputs = tmpl.get("outputs") or {}
        known = [p for p, _ in req.input_artifacts]
        known += [a["path"] for a in outputs.get("artifacts") or [] if a.get("path")]
        known += [
            p["valueFrom"]["path"]
            for p in outputs.get("parameters") or []
            if (p.get("valueFrom") or {}).get("path")
        ]
        working_dir = str(body.get("workingDir") or "/")
        if working_dir != "/":
            known.append(working_dir)
        remap = isolation.Remapper(root, known) if method == isolation.REMAP else None

        _place_inputs(root, req.input_artifacts)
        script_path = None
        source = None
        if kind == "script":
            host_script = isolation.host_path(root, SCRIPT_PATH)
            host_script.parent.mkdir(parents=True, exist_ok=True)
            source = str(body.get("source") or "")
            if remap:
                source = remap(source)
            host_script.write_text(source, encoding="utf-8")
            host_script.chmod(0o755)
            script_path = str(host_script) if remap else SCRIPT_PATH
        try:
            argv = images.argv_for(kind, body, script_path)
        except images.CommandError as exc:
            raise PodSetupError(str(exc)) from None
        if remap:
            argv = [remap(a) for a in argv]
            for k in list(env):
                if k not in BASE_ENV_KEYS:
                    env[k] = remap(env[k])
            env[isolation.ENV_ROOT] = str(isolation.host_path(root, isolation.BOOTSTRAP_ROOT))
        argv = [images.expand_vars(a, env) for a in argv]
        argv = images.host_program(argv, env.get("PATH", os.defpath))

        view = None
        if method == isolation.OVERLAY:
            view = {
                "upper": str(root),
                "work": str(work / ".overlay-work"),
                "merged": str(work / ".overlay-root"),
                "tmp": str(root / "tmp"),
                "hostname": req.pod_name,
            }
            for d in ("work", "merged"):
                Path(view[d]).mkdir(parents=True, exist_ok=True)
            cwd = os.path.normpath(working_dir)
        else:
            cwd = str(isolation.host_path(root, working_dir))

        py, python, preload = self._python_plan(argv, env)
        if py is not None and py["kind"] == "file" and py["target"] == script_path:
            py["source"] = source  # compiled once by the warm interpreter, for every item
        return _Plan(argv, env, cwd, working_dir, view, method, root, py, python, preload)

    def _python_plan(
        self, argv: list[str], env: Mapping[str, str]
    ) -> tuple[dict[str, Any] | None, str | None, tuple[str, ...] | None]:
        """Whether the pod can run in a warm interpreter, and how."""
        if not self.use_fork_server or not argv or not images.is_python(argv[0]):
            return None, None, None
        if any(k.startswith("PYTHON") and k not in _PY_ENV_OK for k in env):
            return None, None, None
        python = shutil.which(argv[0], path=env.get("PATH", os.defpath))
        if python is None:
            return None, None, None
        rest = argv[1:]
        unbuffered = False
        while rest and rest[0] == "-u":
            unbuffered, rest = True, rest[1:]
        py: dict[str, Any]
        if len(rest) >= 2 and rest[0] == "-c":
            py = {"kind": "code", "target": rest[1], "args": rest[2:]}
        elif rest and not rest[0].startswith("-"):
            py = {"kind": "file", "target": rest[0], "args": rest[1:]}
        else:
            return None, None, None
        py["unbuffered"] = unbuffered
        py["path"] = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        extra = tuple(m.strip() for m in env.get(ENV_PRELOAD, "").split(",") if m.strip())
        preload = None if not extra else (*DEFAULT_PRELOAD, *extra)
        return py, python, preload

    # ------------------------------------------------------------------ processes

    def _server(self, python: str, preload: tuple[str, ...] | None) -> ForkServer | None:
        key = (python, preload)
        # Started under a lock of its own: a burst of pods must not start a burst of
        # servers, and kill_all must not wait for a server's start.
        with self._server_lock:
            if key in self._servers:
                srv = self._servers[key]
                if srv is None or srv.alive:
                    return srv
            try:
                srv = ForkServer(python, preload, server_env())
            except ForkServerError:
                srv = None
            self._servers[key] = srv
            return srv

    def _launch(self, plan: _Plan, spec_path: Path, fds: tuple[int, int, int]) -> _Proc:
        spec: dict[str, Any] = {
            "argv": plan.argv,
            "env": plan.env,
            "cwd": plan.cwd,
            "cwd_shown": plan.cwd_shown,
            "view": plan.view,
            "mode": "exec",
        }
        srv = None
        if self.use_fork_server:
            if plan.py is not None and plan.python is not None:
                srv = self._server(plan.python, plan.preload)
                if srv is not None:
                    spec["mode"] = "python"
                    spec["py"] = plan.py
            if srv is None:
                srv = self._server(sys.executable, ())
        if srv is not None:
            _write_spec(spec_path, spec)
            try:
                child = srv.spawn(spec_path, fds)
                if child.pid is not None:
                    return _Proc(child.pid, child=child)
            except ForkServerError:
                pass
        import subprocess

        spec["mode"] = "exec"
        spec["status_fd"] = fds[2]
        _write_spec(spec_path, spec)
        popen = subprocess.Popen(
            [sys.executable, "-S", "-E", "-s", str(isolation.SERVER_FILE), "--exec", str(spec_path)],
            stdin=subprocess.DEVNULL,
            stdout=fds[0],
            stderr=fds[1],
            pass_fds=(fds[2],),
            start_new_session=True,
        )
        return _Proc(popen.pid, popen=popen)

    def _execute(
        self,
        req: PodRequest,
        plan: _Plan,
        log: Any,
        cancel: threading.Event,
        started: float,
        generation: int,
    ) -> PodResult:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        st_r, st_w = os.pipe()
        spec_path = Path(req.work_dir).resolve() / ".pod-spec.json"
        try:
            proc = self._launch(plan, spec_path, (out_w, err_w, st_w))
        except BaseException as exc:
            for fd in (out_r, err_r, st_r):
                os.close(fd)
            if isinstance(exc, OSError):
                return _error(f"could not start the pod: {exc}", started)
            raise
        finally:
            # Only the pod holds the write ends now: their EOF means it (and its group) is done.
            for fd in (out_w, err_w, st_w):
                os.close(fd)
        with self._lock:
            self._active.add(proc)
            if generation != self._generation:
                proc.cancelled = True  # kill_all ran while this pod was starting
        try:
            code, reason, stdout = self._supervise(proc, req, out_r, err_r, log, cancel, started)
        finally:
            with self._lock:
                self._active.discard(proc)
            with contextlib.suppress(OSError):
                spec_path.unlink()
        status = _read_all(st_r)
        finished = time.time()
        result = _result_text(stdout)
        if reason == "cancel":
            return PodResult("Failed", _code(code), CANCEL_MESSAGE, result, {}, {}, started, finished)
        if reason == "deadline":
            return PodResult("Failed", _code(code), DEADLINE_MESSAGE, result, {}, {}, started, finished)
        if proc.lost():
            return _error("the pod's process was lost: the local fork server stopped", started)
        if status:
            return PodResult("Error", None, status, None, {}, {}, started, finished)
        exit_code = _code(code)
        params, arts, problem = _collect_outputs(req.template, plan, strict=exit_code == 0)
        if exit_code != 0:
            return PodResult(
                "Failed", exit_code, f"Error (exit code {exit_code})", result, params, arts, started, finished
            )
        if problem:
            return PodResult("Error", exit_code, problem, result, params, arts, started, finished)
        return PodResult("Succeeded", 0, "", result, params, arts, started, finished)

    def _supervise(
        self,
        proc: _Proc,
        req: PodRequest,
        out_r: int,
        err_r: int,
        log: Any,
        cancel: threading.Event,
        started: float,
    ) -> tuple[int | None, str | None, bytes]:
        sel = selectors.DefaultSelector()
        sel.register(out_r, selectors.EVENT_READ)
        sel.register(err_r, selectors.EVENT_READ)
        stdout = bytearray()
        deadline = started + req.timeout if req.timeout is not None else None
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
        return code, reason, bytes(stdout)


# ---------------------------------------------------------------------- helpers


def _build_env(req: PodRequest, body: Mapping[str, Any]) -> dict[str, str]:
    env = {k: os.environ[k] for k in BASE_ENV_KEYS if k in os.environ}
    env.setdefault("PATH", os.defpath)
    env.setdefault("LANG", "C.UTF-8")
    env["HOSTNAME"] = req.pod_name
    if body.get("envFrom"):
        raise PodSetupError("envFrom (ConfigMaps/Secrets) cannot be read on the host; use `-e argo`")
    for item in body.get("env") or []:
        name = str(item.get("name"))
        if "value" in item and item["value"] is not None:
            env[name] = images.expand_vars(str(item["value"]), env)
        elif item.get("valueFrom"):
            env[name] = _env_value_from(name, item["valueFrom"], req.pod_name)
        else:
            env[name] = ""
    env.update({str(k): str(v) for k, v in req.env.items()})
    return env


def _env_value_from(name: str, source: Mapping[str, Any], pod_name: str) -> str:
    field_ref = source.get("fieldRef")
    if field_ref:
        path = field_ref.get("fieldPath")
        values = {
            "metadata.name": pod_name,
            "metadata.namespace": "default",
            "spec.nodeName": socket.gethostname(),
            "status.podIP": "127.0.0.1",
            "status.hostIP": "127.0.0.1",
            "spec.serviceAccountName": "default",
        }
        if path in values:
            return values[path]
        raise PodSetupError(f"env {name}: fieldRef {path} has no value on the host; use `-e argo`")
    kind = next(iter(source), "valueFrom")
    raise PodSetupError(
        f"env {name}: valueFrom.{kind} cannot be read on the host (no cluster); use `-e argo`"
    )


def _place_inputs(root: Path, inputs: Sequence[tuple[str, Path]]) -> None:
    """Copy input artifacts to their container paths (copies: a pod may change its inputs)."""
    for container_path, src in inputs:
        dst = isolation.host_path(root, container_path)
        src = Path(src)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, symlinks=True, dirs_exist_ok=True)
        elif src.exists():
            shutil.copy2(src, dst)
        else:
            raise PodSetupError(f"input artifact for {container_path}: {src} does not exist")


def _write_spec(path: Path, spec: Mapping[str, Any]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(spec, fh)


def _read_all(fd: int) -> str:
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


def _code(code: int | None) -> int | None:
    if code is None:
        return None
    return 128 - code if code < 0 else code  # killed by signal N: 128+N, as Kubernetes reports


def _result_text(stdout: bytes) -> str:
    if stdout.endswith(b"\n"):
        stdout = stdout[:-1]
    return stdout[-RESULT_LIMIT:].decode("utf-8", "replace")


def _cancelled(started: float) -> PodResult:
    return PodResult("Failed", None, CANCEL_MESSAGE, None, {}, {}, started, time.time())


def _error(message: str, started: float) -> PodResult:
    return PodResult("Error", None, message, None, {}, {}, started, time.time())


_MAX_LINKS = 40


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return path.lstat()
    except OSError:
        return None


def _resolve(plan: _Plan, container_path: str) -> tuple[PurePosixPath, bool] | None:
    """Follow ``container_path`` as the pod sees it (symlinks resolved inside its view).

    Returns the symlink-free container path and whether it lives in the pod's own
    layer (``<root>/...``) or, in overlay mode, only in the host's file system
    that the pod saw unchanged ("the image"). None when it does not exist.
    A symlink never leads outside the pod's view: an absolute target is a
    container path again.
    """
    overlay = plan.method == isolation.OVERLAY
    pending = list(PurePosixPath(_norm(container_path)).parts[1:])
    cur = PurePosixPath("/")
    own = True
    links = 0
    while pending:
        name = pending.pop(0)
        if name in ("", "."):
            continue
        if name == "..":
            cur = cur.parent
            continue
        nxt = cur / name
        host = isolation.host_path(plan.root, str(nxt))
        st = _lstat(host)
        own = True
        if st is None and overlay and not _under_tmp(nxt) and _lower_visible(plan, nxt):
            host = Path(str(nxt))  # unchanged by the pod: the host's own file
            st = _lstat(host)
            own = False
        if st is None or (own and stat.S_ISCHR(st.st_mode) and st.st_rdev == 0):
            return None  # missing, or an overlay whiteout (the pod deleted it)
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > _MAX_LINKS:
                return None
            target = PurePosixPath(os.readlink(host))
            if not overlay and target.is_absolute():
                # A remapped pod's absolute links are host paths: only its own root is followed.
                try:
                    target = PurePosixPath("/") / target.relative_to(plan.root)
                except ValueError:
                    return None
            if target.is_absolute():
                cur = PurePosixPath("/")
                pending = list(target.parts[1:]) + pending
            else:
                pending = list(target.parts) + pending
            continue
        cur = nxt
    return cur, own


def _lower_visible(plan: _Plan, path: PurePosixPath) -> bool:
    """Whether the host's ``path`` shows through the pod's layer: no folder above it was
    replaced by the pod (by a file, or by a new folder: an opaque one)."""
    for folder in path.parents:
        st = _lstat(isolation.host_path(plan.root, str(folder)))
        if st is None:
            continue
        if not stat.S_ISDIR(st.st_mode):
            return False
        if str(folder) != "/" and _opaque(isolation.host_path(plan.root, str(folder))):
            return False
    return True


def _under_tmp(path: PurePosixPath) -> bool:
    return path == PurePosixPath("/tmp") or PurePosixPath("/tmp") in path.parents


def _locate(plan: _Plan, container_path: str) -> tuple[Path, str] | None:
    """Where ``container_path`` is after the pod ran, if anywhere, and how it is held:

    ``own``: in the pod's private root; ``host``: the host's own file or folder, which
    the pod saw unchanged (overlay mode; for reading only, see ``_take``);
    ``merged``: a folder the pod changed in part (overlay mode): its own layer holds
    only the changes to the host's folder.
    """
    found = _resolve(plan, container_path)
    if found is None:
        return None
    path, own = found
    if not own:
        return Path(str(path)), "host"
    mine = isolation.host_path(plan.root, str(path))
    lower = Path(str(path))
    if (
        plan.method == isolation.OVERLAY
        and not _under_tmp(path)
        and str(path) != "/"
        and mine.is_dir()
        and not mine.is_symlink()
        and lower.is_dir()
        and not lower.is_symlink()
        and not _opaque(mine)
    ):
        return mine, "merged"
    return mine, "own"


def _take(plan: _Plan, name: str, found: Path, how: str, taken: list[Path]) -> Path:
    """An output artifact the engine may move away: inside this attempt's folder, and
    sharing nothing with the artifacts taken before it (else a private copy)."""
    overlaps = any(found == t or found in t.parents or t in found.parents for t in taken)
    if how == "own" and not overlaps:
        if not _in_root(plan, found):  # never hand out a host path to be moved (it once was /etc)
            raise OSError(f"{found} is not inside the pod's root")
        return found
    if not is_plain_name(name):  # it names a folder of ours
        raise OSError(f"invalid output artifact name {name!r}")
    dest = plan.root.parent / ".outputs" / name / (found.name or "root")
    artifacts.remove(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if how == "merged":
        _copy_tree(
            Path("/") / found.relative_to(plan.root), dest
        )  # the host's folder, then the pod's changes
        _apply_layer(found, dest)
    elif found.is_dir() and not found.is_symlink():
        _copy_tree(found, dest)
    else:
        shutil.copy2(found, dest, follow_symlinks=False)
    return dest


def _in_root(plan: _Plan, path: Path) -> bool:
    """``path`` is the pod's root or lies in it, with no link on the way leading out."""
    if path == plan.root:
        return True
    root = os.path.realpath(plan.root)
    folder = os.path.realpath(path.parent)
    return folder == root or folder.startswith(root + os.sep)


def _special(st: os.stat_result) -> bool:
    return not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode))


def _copy_tree(src: Path, dest: Path) -> None:
    """Files, folders and links only (a FIFO or device in a host folder is left out)."""

    def ignore(folder: str, names: list[str]) -> list[str]:
        return [n for n in names if (st := _lstat(Path(folder) / n)) is None or _special(st)]

    shutil.copytree(src, dest, symlinks=True, ignore=ignore)


def _opaque(folder: Path) -> bool:
    try:
        return os.getxattr(folder, "trusted.overlay.opaque", follow_symlinks=False) == b"y"
    except OSError:
        return False


def _apply_layer(layer: Path, dest: Path) -> None:
    """Apply an overlay upper folder's changes (files, whiteouts, opaque folders) onto ``dest``."""
    dest.mkdir(exist_ok=True)
    for entry in os.scandir(layer):
        target = dest / entry.name
        st = entry.stat(follow_symlinks=False)
        is_dir = stat.S_ISDIR(st.st_mode)
        old = _lstat(target)
        if old is not None and (not is_dir or not stat.S_ISDIR(old.st_mode) or _opaque(Path(entry.path))):
            if stat.S_ISDIR(old.st_mode):
                shutil.rmtree(target)
            else:
                target.unlink()
        if is_dir:
            _apply_layer(Path(entry.path), target)
        elif not _special(st):
            shutil.copy2(entry.path, target, follow_symlinks=False)
        # else: a whiteout (the pod deleted it) or another special file: nothing


def _collect_outputs(
    template: Mapping[str, Any], plan: _Plan, *, strict: bool
) -> tuple[dict[str, str], dict[str, Path], str | None]:
    outputs = template.get("outputs") or {}
    params: dict[str, str] = {}
    arts: dict[str, Path] = {}
    problem: str | None = None
    for p in outputs.get("parameters") or []:
        vf = p.get("valueFrom") or {}
        path = vf.get("path")
        if not path:
            continue
        located = _locate(plan, path)
        found = located[0] if located is not None else None
        value: str | None = None
        if found is not None and found.is_file():
            value = found.read_bytes().decode("utf-8", "replace")
        elif found is not None and found.is_dir():
            problem = problem or f"read {ARGO_OUT}/parameters{_norm(path)}: is a directory"
        if value is None and vf.get("default") is not None:
            value = str(vf["default"])
        if value is None:
            if found is None:
                problem = (
                    problem
                    or f"open /var/run/argo/outputs/parameters{_norm(path)}: no such file or directory"
                )
            continue
        params[p["name"]] = value[:-1] if value.endswith("\n") else value
    taken: list[Path] = []
    for a in outputs.get("artifacts") or []:
        path = a.get("path")
        if not path:
            continue
        located = _locate(plan, path)
        if located is not None:
            try:
                found = _take(plan, a["name"], *located, taken)
            except OSError as exc:
                problem = problem or f"failed to save outputs: {path}: {exc.strerror or exc}"
                continue
            taken.append(found)
            arts[a["name"]] = found
        elif not a.get("optional"):
            problem = (
                problem or f"open /var/run/argo/outputs/artifacts{_norm(path)}.tgz: no such file or directory"
            )
    return params, arts, problem if strict else None


def _norm(path: str) -> str:
    return os.path.normpath("/" + path.lstrip("/"))


__all__ = [
    "CANCEL_MESSAGE",
    "DEADLINE_MESSAGE",
    "PodRequest",
    "PodResult",
    "PodRunner",
]
