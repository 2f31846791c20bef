"""Running a recorded run: here (``run_controller``) or in a detached process (``detach``).

The process running a run holds the run's lock (``RunDir.claim``) from before its
record says Running until it has written the end: ``retry`` takes the same lock, so
two retries cannot both run, and a run whose holder died (``kill -9``) is known to
have ended (``RunDir.is_running``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Mapping
from typing import Any

from dflowctl.engines import OnUpdate, Workflow
from dflowctl.engines.local.controller import Controller
from dflowctl.engines.local.hostenv import EnvPolicy
from dflowctl.engines.local.podcache import step_reuse
from dflowctl.engines.local.records import RunDir, write_atomic
from dflowctl.errors import EngineError


def run_controller(
    run: RunDir,
    workflow: Workflow,
    *,
    parallelism: int | None,
    on_update: OnUpdate | None,
    previous: Mapping[str, Any] | None = None,
    env_policy: EnvPolicy | None = None,
    lock_fd: int | None = None,
) -> Workflow:
    """Run ``workflow`` in this process; Ctrl-C/SIGTERM (KeyboardInterrupt) stops it and re-raises.

    ``lock_fd``: the run's lock, taken by the caller (closed here, at the end); without
    it the lock is taken here (``EngineError`` if another process holds it)."""
    if lock_fd is None:
        lock_fd = run.claim()
        if lock_fd is None:
            raise EngineError(f"run {run.name!r} is being run by another process")
    try:
        return _run_holding_lock(run, workflow, parallelism, on_update, previous, env_policy)
    finally:
        os.close(lock_fd)  # the record says how the run ended: it may be retried or deleted


def _run_holding_lock(
    run: RunDir,
    workflow: Workflow,
    parallelism: int | None,
    on_update: OnUpdate | None,
    previous: Mapping[str, Any] | None,
    env_policy: EnvPolicy | None,
) -> Workflow:
    from dflowctl.engines.local import interpreter
    from dflowctl.engines.local.pods import PodRunner

    runner = PodRunner(parallelism=parallelism, env_policy=env_policy)
    try:
        pythons = interpreter.load(run.path)
        reuse = step_reuse(run)
        ctl = Controller(
            workflow, run, runner, on_update=on_update, previous=previous, pythons=pythons, reuse=reuse
        )
    except BaseException:
        runner.close()
        raise
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            outcome["wf"] = ctl.run()
        except BaseException as err:  # reported in the caller's thread
            outcome["error"] = err
        finally:
            done.set()

    # Wait on an Event, not Thread.join: a KeyboardInterrupt inside join() can leave the
    # thread looking finished while it still runs (CPython gh-90882).
    thread = threading.Thread(target=target, name="dflowctl-controller", daemon=True)
    interrupted = starting = False
    try:
        if run.shutdown.exists():  # `stop` came while this process was starting
            ctl.stop(_read_strategy(run))
        starting = True
        thread.start()
        # from here `stop` signals this process (before, it only leaves the shutdown file)
        write_atomic(run.pid, str(os.getpid()))
        while not done.wait(0.1):
            if run.shutdown.exists() and ctl.shutdown is None:
                ctl.stop(_read_strategy(run))
    except KeyboardInterrupt:
        interrupted = True
        ctl.stop(_read_strategy(run) if run.shutdown.exists() else "Terminate")
        if not starting:  # interrupted before it ran: it still records how it ended
            thread.start()
        done.wait(15)
    finally:
        runner.close()
        run.pid.unlink(missing_ok=True)
        run.shutdown.unlink(missing_ok=True)
    if interrupted:
        raise KeyboardInterrupt
    if "error" in outcome:
        err = outcome["error"]
        if isinstance(err, KeyboardInterrupt):
            raise err
        raise EngineError(f"the local engine failed: {err}") from err
    return outcome["wf"]


def _read_strategy(run: RunDir) -> str:
    try:
        text = run.shutdown.read_text(encoding="utf-8").strip()
    except OSError:
        return "Terminate"
    return "Stop" if text == "Stop" else "Terminate"


def detach(run: RunDir, parallelism: int | None, *, retry: bool, lock_fd: int) -> None:
    """Run ``run`` in a background process (``python -m ...detached``), which takes over
    the run's lock (``lock_fd``, closed here)."""
    cmd = [sys.executable, "-m", "dflowctl.engines.local.detached", str(run.path.resolve())]
    cmd += ["--lock-fd", str(lock_fd)]
    if parallelism:
        cmd += ["--parallelism", str(parallelism)]
    if retry:
        cmd.append("--retry")
    try:
        with open(run.path / "controller.log", "ab") as log:
            # it writes its pid itself once a SIGTERM would stop it cleanly (`stop`)
            subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                close_fds=True,
                pass_fds=(lock_fd,),
            )
    finally:
        os.close(lock_fd)
