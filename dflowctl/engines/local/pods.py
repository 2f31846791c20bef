"""The local engine's pod runner: one leaf Argo template (container or script) as host processes.

``PodRunner.run`` takes a template whose inputs are already substituted, runs it
isolated (own process group, own working dir, private absolute paths: see
``isolation``), captures stdout as ``outputs.result`` and stdout+stderr into the
log, reads the declared outputs, and reports Argo's phase and message. Python
code (``python3`` scripts and ``python3 FILE|-c CODE`` commands) runs in a
child forked from a warm interpreter (``forkserver``) instead of a fresh
``python3``; everything else is exec'd. Both paths give the same results.

The runner owns the host's parallelism (at most ``parallelism`` pods at once;
a pod's ``resources`` take CPU slots, memory and GPUs: ``machine``) and the
fork servers. The steps of one pod are separate modules: planning
(``podplan``), process supervision (``supervise``), the file-system rules of
the pod's view (``podfs``) and output collection (``podoutputs``). Details and
the two isolation methods: docs/local-engine.md.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from dflowctl.engines.local import isolation, machine, termination
from dflowctl.engines.local.forkserver import ForkServer, ForkServerError
from dflowctl.engines.local.hostenv import EnvPolicy
from dflowctl.engines.local.logtimes import TimedLog, times_path
from dflowctl.engines.local.podapi import PodRequest, PodResult
from dflowctl.engines.local.podfs import take as _take
from dflowctl.engines.local.podoutputs import collect_outputs
from dflowctl.engines.local.podplan import PodPlan, PodSetupError, plan_pod
from dflowctl.engines.local.supervise import (
    KILL_GRACE,
    RESULT_LIMIT,
    PodProcess,
    exit_code,
    launch,
    read_all,
    result_text,
    supervise,
)

DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"
CANCEL_MESSAGE = "workflow shutdown with strategy:  Terminate"
ENV_FORK_SERVER = "DFLOWCTL_FORK_SERVER"  # "0" disables the warm fork server
_Plan = PodPlan  # the name tests and older callers use


class PodRunner:
    """Runs leaf templates as isolated host processes; at most ``parallelism`` at once."""

    def __init__(self, parallelism: int | None = None, env_policy: EnvPolicy | None = None) -> None:
        self.parallelism = max(1, parallelism or os.cpu_count() or 1)
        # the one limit of pods at once on this host: CPU slots, free memory, GPUs
        cap = machine.capacity()
        self._slots = machine.Ledger(self.parallelism, cap.memory, cap.gpus)
        self.env_policy = env_policy or EnvPolicy()  # what of the host's env pods and servers see
        self._lock = threading.Lock()
        self._server_lock = threading.Lock()
        self._servers: dict[tuple[str, tuple[str, ...] | None], ForkServer | None] = {}
        self._active: set[PodProcess] = set()
        self._generation = 0
        self._closed = False
        self.use_fork_server = os.environ.get(ENV_FORK_SERVER, "1") != "0"

    # ------------------------------------------------------------------ public

    def run(
        self, req: PodRequest, cancel: threading.Event, on_start: Callable[[], None] | None = None
    ) -> PodResult:
        """Wait for the slots, memory and GPUs the pod asks for (until ``cancel``, ``kill_all``
        or ``close``), call ``on_start``, run the pod to its end."""
        started = time.time()
        generation = self._generation

        def stopped() -> bool:
            return generation != self._generation or self._closed

        grant = self._slots.acquire(machine.request_of(req.template), cancel, stopped)
        if grant is None:
            return _cancelled(started)
        if grant.env():
            req = replace(req, env={**req.env, **grant.env()})
        held = [grant]

        def release() -> None:
            # The slots go back once the pod's processes have ended: its outputs are taken
            # while the next pod runs (still at most ``parallelism`` pods' processes at once).
            if held:
                self._slots.release(held.pop())

        try:
            if cancel.is_set() or stopped():
                return _cancelled(started)
            if on_start is not None:
                on_start()
            started = time.time()
            try:
                return self._run(req, cancel, started, generation, release)
            except OSError as exc:  # the host refused a folder, a copy, a pipe: not the pod's doing
                return _error(f"the local engine could not run the pod: {exc}", started)
        finally:
            release()

    def kill_all(self) -> None:
        """End every pod process group now running (SIGTERM, then SIGKILL after 2 s); pods
        waiting for a slot at this moment are not started. Returns within about 2 s."""
        with self._lock:
            self._generation += 1
            procs = list(self._active)
        self._slots.wake_all()  # pods waiting for a slot see the new generation and give up
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

    def _run(
        self,
        req: PodRequest,
        cancel: threading.Event,
        started: float,
        generation: int,
        release: Callable[[], None],
    ) -> PodResult:
        req.log_path.parent.mkdir(parents=True, exist_ok=True)
        times = times_path(req.log_path)
        with open(req.log_path, "wb", buffering=0) as raw, open(times, "wb", buffering=0) as index:
            log = TimedLog(raw, index)  # and when each line came (logs --timestamps)
            try:
                plan = plan_pod(req, use_fork_server=self.use_fork_server, env_policy=self.env_policy)
            except PodSetupError as exc:
                return _error(str(exc), started)
            if plan.header:
                log.write(plan.header.encode("utf-8", "replace"))
            return self._execute(req, plan, log, cancel, started, generation, release)

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
                srv = ForkServer(python, preload, self.env_policy.server_env())
            except ForkServerError:
                srv = None
            self._servers[key] = srv
            return srv

    def _execute(
        self,
        req: PodRequest,
        plan: PodPlan,
        log: TimedLog,
        cancel: threading.Event,
        started: float,
        generation: int,
        release: Callable[[], None],
    ) -> PodResult:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        st_r, st_w = os.pipe()
        spec_path = plan.root.parent / ".pod-spec.json"  # (plan.root: in the resolved work folder)
        try:
            server_for = self._server if self.use_fork_server else None
            proc = launch(plan, spec_path, (out_w, err_w, st_w), server_for, self.env_policy.server_env())
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
            code, reason, stdout, stderr_tail = supervise(proc, req, out_r, err_r, log, cancel, started)
        finally:
            with self._lock:
                self._active.discard(proc)
            with contextlib.suppress(OSError):
                spec_path.unlink()
        status = read_all(st_r)
        finished = time.time()
        release()  # its processes have ended: the slots are the next pod's
        result = self._outcome(req, plan, proc, code, reason, stdout, stderr_tail, status, started, finished)
        return replace(result, usage=proc.usage())

    @staticmethod
    def _outcome(
        req: PodRequest,
        plan: PodPlan,
        proc: PodProcess,
        code: int | None,
        reason: str | None,
        stdout: bytes,
        stderr_tail: bytes,
        status: str,
        started: float,
        finished: float,
    ) -> PodResult:
        """The pod's phase, message and outputs once it has ended."""
        result = result_text(stdout)
        if reason == "cancel":
            return PodResult("Failed", exit_code(code), CANCEL_MESSAGE, result, {}, {}, started, finished)
        if reason == "deadline":
            return PodResult("Failed", exit_code(code), DEADLINE_MESSAGE, result, {}, {}, started, finished)
        if proc.lost():
            return _error("the pod's process was lost: the local fork server stopped", started)
        if status:  # the program could not start: Argo's executor fails its container then
            phase = "Failed" if status.startswith('exec: "') else "Error"
            return PodResult(phase, None, status, None, {}, {}, started, finished)
        code_out = exit_code(code)
        params, arts, problem = collect_outputs(req.template, plan, strict=code_out == 0)
        if code_out != 0:
            termlog = isolation.host_path(plan.root, termination.TERMINATION_LOG)
            message = termination.failure_message(code_out or 0, termlog, stderr_tail)
            return PodResult("Failed", code_out, message, result, params, arts, started, finished)
        if problem:
            return PodResult("Error", code_out, problem, result, params, arts, started, finished)
        return PodResult("Succeeded", 0, "", result, params, arts, started, finished)


def _cancelled(started: float) -> PodResult:
    return PodResult("Failed", None, CANCEL_MESSAGE, None, {}, {}, started, time.time())


def _error(message: str, started: float) -> PodResult:
    return PodResult("Error", None, message, None, {}, {}, started, time.time())


__all__ = [
    "CANCEL_MESSAGE",
    "DEADLINE_MESSAGE",
    "RESULT_LIMIT",
    "PodRequest",
    "PodResult",
    "PodRunner",
    "_Plan",
    "_take",
]
