"""One pod on the process kubelet: volumes, init containers in order, then the rest together.

Each container is ``container.py`` (its own mount namespace over a private
copy-on-write view of the host's ``/``, the pod's volumes bound at their paths).
Images are not pulled: every image runs on the host's file system; Argo's
``argoexec`` image finds the ``argoexec`` built from the pinned module, and
``argoproj/argosay`` the local engine's stand-in. Output lines go to
``<pod dir>/logs/<container>.log`` as ``<RFC 3339 time> <stream> <F|P> <text>``
(P: the line had no newline yet). Pod status is written back to the API server
after every change. ``restartPolicy`` is taken as ``Never``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from dflowctl.engines.local.images import CommandError, argv_for, expand_vars, image_name, is_python_image
from tests.cluster.kapi import Api, ApiError, Obj
from tests.cluster.kubelet_volumes import PodSetupError, Volumes, container_env, host_env
from tests.cluster.layout import HOST, REPO

CONTAINER_PY = Path(__file__).with_name("container.py")
ARGOSAY = REPO / "dflowctl" / "engines" / "local" / "argosay.py"


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Ctr:
    """One container's process and state."""

    def __init__(self, spec: Obj, init: bool) -> None:
        self.spec = spec
        self.name: str = spec["name"]
        self.init = init
        self.proc: subprocess.Popen[bytes] | None = None
        self.state: Obj = {"waiting": {"reason": "PodInitializing" if not init else "ContainerCreating"}}
        self.done = threading.Event()
        self.env: dict[str, str] = {}
        self.pid_file: Path | None = None

    def status(self) -> Obj:
        running = "running" in self.state
        out: Obj = {
            "name": self.name,
            "state": self.state,
            "lastState": {},
            "ready": running,
            "restartCount": 0,
            "image": self.spec.get("image", ""),
            "imageID": "",
            "started": running,
        }
        if self.proc is not None:
            out["containerID"] = f"process://{self.proc.pid}"
        return out


class PodRunner:
    def __init__(self, api: Api, pod: Obj, pods_dir: Path, bin_dir: Path, api_port: int) -> None:
        self.api = api
        self.pod = pod
        self.ns: str = pod["metadata"]["namespace"]
        self.name: str = pod["metadata"]["name"]
        self.uid: str = pod["metadata"]["uid"]
        self.dir = pods_dir / self.uid
        self.bin_dir = bin_dir
        self.api_port = api_port
        self.inits = [Ctr(c, True) for c in pod["spec"].get("initContainers") or []]
        self.ctrs = [Ctr(c, False) for c in pod["spec"].get("containers") or []]
        self.phase = "Pending"
        self.reason: str | None = None
        self.message: str | None = None
        self.start_time = now()
        self.started = time.monotonic()
        self.killed = threading.Event()
        self.finished = threading.Event()
        self.lock = threading.Lock()
        self.initialized = False

    # ------------------------------------------------------------ status
    def log_path(self, container: str) -> Path:
        return self.dir / "logs" / f"{container}.log"

    def exec_target(self, container: str) -> tuple[int, dict[str, str]] | None:
        """The host pid of a running container's PID 1 and the container's env (for ``exec``)."""
        for c in self.inits + self.ctrs:
            if c.name == container and "running" in c.state and c.pid_file is not None:
                try:
                    return int(c.pid_file.read_text()), c.env
                except (OSError, ValueError):
                    return None
        return None

    def container_done(self, container: str) -> bool:
        for c in self.inits + self.ctrs:
            if c.name == container:
                return c.done.is_set() or self.finished.is_set()
        return True

    def report(self) -> None:
        with self.lock:
            all_running = bool(self.ctrs) and all("running" in c.state for c in self.ctrs)
            cond = {
                "PodScheduled": True,
                "Initialized": self.initialized,
                "ContainersReady": all_running,
                "Ready": all_running,
            }
            status: Obj = {
                "phase": self.phase,
                "hostIP": HOST,
                "hostIPs": [{"ip": HOST}],
                "podIP": HOST,
                "podIPs": [{"ip": HOST}],
                "startTime": self.start_time,
                "conditions": [
                    {
                        "type": t,
                        "status": "True" if v else "False",
                        "lastProbeTime": None,
                        "lastTransitionTime": now(),
                    }
                    for t, v in cond.items()
                ],
                "containerStatuses": [c.status() for c in self.ctrs],
            }
            if self.inits:
                status["initContainerStatuses"] = [c.status() for c in self.inits]
            if self.reason:
                status["reason"] = self.reason
            if self.message:
                status["message"] = self.message
        try:
            self.api.merge_patch(f"/api/v1/namespaces/{self.ns}/pods/{self.name}/status", {"status": status})
        except ApiError as err:
            if err.status != 404:
                print(f"kubelet: status of {self.ns}/{self.name}: {err}", file=sys.stderr)

    # ------------------------------------------------------------ run
    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:
            self._fail("Error", f"process kubelet: {exc!r}")
        finally:
            self.finished.set()
            self.report()

    def _fail(self, reason: str, message: str) -> None:
        with self.lock:
            self.phase, self.reason, self.message = "Failed", reason, message
            for c in self.inits + self.ctrs:
                if "terminated" not in c.state:
                    c.state = {
                        "terminated": {"exitCode": 137 if c.proc else 1, "reason": reason}
                        | {"finishedAt": now()}
                    }
                    c.done.set()

    def _run(self) -> None:
        (self.dir / "logs").mkdir(parents=True, exist_ok=True)
        self.report()
        volumes = Volumes(self.api, self.pod, self.dir / "volumes")
        try:
            volumes.make_all()
        except PodSetupError as exc:
            self._fail("Error", str(exc))
            return
        for c in self.inits:
            if self.killed.is_set():
                return
            self._start(c, volumes)
            self.report()
            self._wait([c])
            self.report()
            code = c.state.get("terminated", {}).get("exitCode", 1)
            if code != 0:
                with self.lock:
                    self.phase = "Failed"
                    for other in self.ctrs:
                        other.done.set()
                return
        with self.lock:
            self.initialized = True
            self.phase = "Running"
            for c in self.ctrs:
                c.state = {"waiting": {"reason": "ContainerCreating"}}
        for c in self.ctrs:
            if not self.killed.is_set():
                self._start(c, volumes)
        self.report()
        self._wait(self.ctrs, report_each=True)
        with self.lock:
            if self.phase != "Failed":
                codes = [c.state.get("terminated", {}).get("exitCode", 1) for c in self.ctrs]
                self.phase = "Succeeded" if all(x == 0 for x in codes) else "Failed"

    def _wait(self, ctrs: list[Ctr], report_each: bool = False) -> None:
        """Until every container in ``ctrs`` has ended; kills the pod past ``activeDeadlineSeconds``."""
        deadline = self.pod["spec"].get("activeDeadlineSeconds")
        ended: set[str] = set()
        while len(ended) < len(ctrs):
            for c in ctrs:
                if c.done.is_set() and c.name not in ended:
                    ended.add(c.name)
                    if report_each:
                        self.report()
            late = deadline is not None and time.monotonic() - self.started > int(deadline)
            if late and not self.killed.is_set():
                with self.lock:
                    self.phase, self.reason = "Failed", "DeadlineExceeded"
                    self.message = "Pod was active on the node longer than the specified deadline"
                self.kill(grace=0)
            time.sleep(0.2)

    def _start(self, c: Ctr, volumes: Volumes) -> None:
        spec = c.spec
        try:
            launch = self._launch_spec(c, volumes)
        except (PodSetupError, CommandError) as exc:
            with self.lock:
                c.state = {
                    "terminated": {"exitCode": 128, "reason": "StartError", "message": str(exc)} | _times()
                }
            c.done.set()
            return
        cdir = self.dir / "containers" / c.name
        spec_file = cdir / "spec.json"
        spec_file.write_text(json.dumps(launch))
        c.env, c.pid_file = launch["env"], Path(launch["pid_file"])
        log = self.log_path(c.name).open("ab")
        c.proc = subprocess.Popen(
            [sys.executable, "-S", str(CONTAINER_PY), str(spec_file)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            close_fds=True,
        )
        started = now()
        with self.lock:
            c.state = {"running": {"startedAt": started}}
        lock = threading.Lock()
        readers = [
            threading.Thread(target=_copy_lines, args=(pipe, tag, log, lock), daemon=True)
            for pipe, tag in ((c.proc.stdout, "stdout"), (c.proc.stderr, "stderr"))
        ]
        for r in readers:
            r.start()
        threading.Thread(target=self._reap, args=(c, readers, log, started, spec), daemon=True).start()

    def _reap(self, c: Ctr, readers: list[threading.Thread], log: IO[bytes], started: str, spec: Obj) -> None:
        assert c.proc is not None
        code = c.proc.wait()
        for r in readers:
            r.join(timeout=10)
        log.close()
        if code < 0:
            code = 128 - code
        err_file = self.dir / "containers" / c.name / "error"
        message = err_file.read_text() if err_file.exists() else ""
        term: Obj = {"exitCode": code, "startedAt": started, "finishedAt": now()}
        term["reason"] = "StartError" if message else "Completed" if code == 0 else "Error"
        if message:
            term["message"] = message
        with self.lock:
            c.state = {"terminated": term}
        c.done.set()

    def _launch_spec(self, c: Ctr, volumes: Volumes) -> Obj:
        spec = c.spec
        base = host_env() | {
            "HOSTNAME": self.name,
            "KUBERNETES_SERVICE_HOST": HOST,
            "KUBERNETES_SERVICE_PORT": str(self.api_port),
            "KUBERNETES_SERVICE_PORT_HTTPS": str(self.api_port),
        }
        env = container_env(self.api, self.pod, spec, base)
        argv = [expand_vars(a, env) for a in argv_for("container", spec)]
        mounts = []
        for m in spec.get("volumeMounts") or []:
            if m["name"] not in volumes.paths:
                raise PodSetupError(f"volume {m['name']!r} is not a volume of the pod")
            source = volumes.paths[m["name"]]
            if m.get("subPath"):
                source = source / m["subPath"]
                if not source.exists():
                    source.mkdir(parents=True)
            mounts.append(
                {"source": str(source), "target": m["mountPath"], "read_only": bool(m.get("readOnly"))}
            )
        cdir = self.dir / "containers" / c.name
        cdir.mkdir(parents=True, exist_ok=True)
        (cdir / "tmp").mkdir(exist_ok=True)
        links: dict[str, str] = {}
        programs: dict[str, str] = {}
        image = spec.get("image", "")
        if image_name(image).endswith("argoproj/argoexec"):
            links["/usr/local/bin/argoexec"] = str(self.bin_dir / "argoexec")
        if image_name(image).endswith("argoproj/argosay"):
            programs["/argosay"] = f'#!/bin/sh\nexec {sys.executable} {ARGOSAY} "$@"\n'
        if is_python_image(image) and shutil.which("python", path=env.get("PATH")) is None:
            python3 = shutil.which("python3", path=env.get("PATH"))
            if python3:
                links["/usr/local/bin/python"] = python3
        return {
            "argv": argv,
            "env": env,
            "cwd": spec.get("workingDir") or "/",
            "hostname": self.name,
            "view": {
                "upper": str(cdir / "upper"),
                "work": str(cdir / "work"),
                "merged": str(cdir / "merged"),
                "tmp": str(cdir / "tmp"),
                "hostname": self.name,
            },
            "mounts": mounts,
            "links": links,
            "programs": programs,
            "error_file": str(cdir / "error"),
            "pid_file": str(cdir / "pid"),
        }

    # ------------------------------------------------------------ stop
    def kill(self, grace: int) -> None:
        """Stop every container: SIGTERM to its process group, SIGKILL after ``grace`` seconds."""
        self.killed.set()
        procs = [c.proc for c in self.inits + self.ctrs if c.proc is not None and c.proc.poll() is None]
        for p in procs:
            _signal(p.pid, signal.SIGTERM)
        end = time.monotonic() + grace
        while time.monotonic() < end and any(p.poll() is None for p in procs):
            time.sleep(0.1)
        for p in procs:
            _signal(p.pid, signal.SIGKILL)

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _times() -> Obj:
    t = now()
    return {"startedAt": t, "finishedAt": t}


def _signal(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _copy_lines(pipe: IO[bytes] | None, tag: str, log: IO[bytes], lock: threading.Lock) -> None:
    if pipe is None:
        return
    for line in iter(pipe.readline, b""):
        full = line.endswith(b"\n")
        text = line[:-1] if full else line
        with lock:
            log.write(f"{stamp()} {tag} {'F' if full else 'P'} ".encode() + text + b"\n")
            log.flush()
    pipe.close()
