"""``LocalEngine``: the ``Engine`` protocol for runs on this machine.

``submit`` records the run under ``$DFLOWCTL_HOME/runs/<name>/`` and runs the
controller here (``wait``) or in a detached background process (``--no-wait``:
``python -m dflowctl.engines.local.detached``). The other operations read the
record; ``stop`` signals the process running the run.
"""

from __future__ import annotations

import copy
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dflowctl.argo import FULFILLED, rfc3339
from dflowctl.changes import ORIGIN_FILE
from dflowctl.engines import LogLine, OnUpdate, RunOptions, Workflow
from dflowctl.engines.local.artifacts import LocalArtifactStore, LocalRepository
from dflowctl.engines.local.cache import ReusePolicy, StepCache
from dflowctl.engines.local.controller import Controller, stop_message
from dflowctl.engines.local.podcache import StepReuse, run_keys
from dflowctl.engines.local.records import RunDir, RunStore, read_yaml, write_atomic, write_yaml
from dflowctl.errors import EngineError, UsageError
from dflowctl.settings import Settings

POLL = 0.1
REUSE_FILE = "reuse.json"  # the run's ReusePolicy, read by whichever process runs it
STOP_GRACE = 10.0  # seconds `stop` waits for the run's process to record the end


def _check_manifest(manifest: Mapping[str, Any]) -> None:
    if manifest.get("kind") != "Workflow" or not str(manifest.get("apiVersion", "")).startswith(
        "argoproj.io/"
    ):
        raise UsageError(
            "the local engine runs Argo Workflow objects (apiVersion argoproj.io/v1alpha1, kind Workflow)"
        )
    spec = manifest.get("spec")
    if not isinstance(spec, Mapping) or not spec.get("templates"):
        raise UsageError("the Workflow has no spec.templates")


def run_controller(
    run: RunDir,
    workflow: Workflow,
    *,
    parallelism: int | None,
    on_update: OnUpdate | None,
    previous: Mapping[str, Any] | None = None,
) -> Workflow:
    """Run ``workflow`` in this process; Ctrl-C/SIGTERM (KeyboardInterrupt) stops it and re-raises."""
    from dflowctl.engines.local import interpreter
    from dflowctl.engines.local.pods import PodRunner

    runner = PodRunner(parallelism=parallelism)
    pythons = interpreter.load(run.path)
    reuse = StepReuse(StepCache(cache_root(run)), read_policy(run), run.name, LocalRepository(run.artifacts))
    ctl = Controller(
        workflow, run, runner, on_update=on_update, previous=previous, pythons=pythons, reuse=reuse
    )
    write_atomic(run.pid, str(os.getpid()))
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
    interrupted = False
    try:
        thread.start()
        while not done.wait(0.1):
            if run.shutdown.exists() and ctl.shutdown is None:
                ctl.stop(_read_strategy(run))
    except KeyboardInterrupt:
        interrupted = True
        ctl.stop(_read_strategy(run) if run.shutdown.exists() else "Terminate")
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


def cache_root(run: RunDir) -> Path:
    """The step cache of the home this run is in: ``$DFLOWCTL_HOME/cache``."""
    return run.path.resolve().parent.parent / "cache"


def read_policy(run: RunDir) -> ReusePolicy:
    """What this run may reuse (``run --reuse``), as ``submit`` recorded it."""
    import json

    try:
        return ReusePolicy.from_json(json.loads((run.path / REUSE_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, AttributeError):
        return ReusePolicy()


def _read_strategy(run: RunDir) -> str:
    try:
        text = run.shutdown.read_text(encoding="utf-8").strip()
    except OSError:
        return "Terminate"
    return "Stop" if text == "Stop" else "Terminate"


class LocalEngine:
    name = "local"

    def __init__(self, settings: Settings | None = None) -> None:
        if settings is None:
            from dflowctl.settings import load_settings

            settings = load_settings()
        self.settings = settings
        self.store = RunStore(Path(settings.runs_dir))

    # ------------------------------------------------------------------ runs

    def submit(self, manifest: Workflow, options: RunOptions) -> Workflow:
        _check_manifest(manifest)
        wf: Workflow = copy.deepcopy(dict(manifest))
        meta = wf.setdefault("metadata", {})
        run = self.store.new_run(meta)
        meta["name"] = run.name
        meta.setdefault("namespace", self.settings.namespace or "default")
        meta.setdefault("creationTimestamp", rfc3339())
        import uuid

        meta.setdefault("uid", str(uuid.uuid4()))
        wf["status"] = {"phase": "Pending", "startedAt": rfc3339()}
        write_yaml(run.manifest, {k: v for k, v in wf.items() if k != "status"})
        self._put_uploads(run, options)
        from dflowctl.engines.local import interpreter

        interpreter.save(run.path, options.pythons)
        if options.spec_path is not None:
            import json

            origin = {"spec": str(options.spec_path.resolve())}
            write_atomic(run.path / ORIGIN_FILE, json.dumps(origin))
        policy = self._policy(options)
        if policy.enabled or policy.rerun:
            import json

            write_atomic(run.path / REUSE_FILE, json.dumps(policy.to_json()))
        import json

        write_atomic(run.workflow, json.dumps(wf, indent=1))
        if not options.wait:
            self._detach(run, options.parallelism, retry=False)
            return wf
        return run_controller(run, wf, parallelism=options.parallelism, on_update=options.on_update)

    def _policy(self, options: RunOptions) -> ReusePolicy:
        """``--reuse [RUN]`` and ``--rerun STEP``: with RUN, only the keys of that run's
        successful steps."""
        keys = None
        if options.reuse_from:
            wf = self._load(self.store.get(options.reuse_from))
            keys = frozenset(run_keys(wf))
        return ReusePolicy(
            enabled=options.reuse or bool(options.reuse_from),
            from_run=options.reuse_from,
            keys=keys,
            rerun=frozenset(options.rerun),
        )

    def _put_uploads(self, run: RunDir, options: RunOptions) -> None:
        archives = options.source_archives
        repo = LocalRepository(run.artifacts)
        for key, path in archives.items():
            shutil.copyfile(path, repo.writable_path(str(key)))

    def _detach(self, run: RunDir, parallelism: int | None, *, retry: bool) -> None:
        cmd = [sys.executable, "-m", "dflowctl.engines.local.detached", str(run.path.resolve())]
        if parallelism:
            cmd += ["--parallelism", str(parallelism)]
        if retry:
            cmd.append("--retry")
        with open(run.path / "controller.log", "ab") as log:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True
            )
        write_atomic(run.pid, str(proc.pid))

    def list_runs(self) -> list[Workflow]:
        out = []
        for name in self.store.names():
            try:
                out.append(self._load(RunDir(self.store.root / name)))
            except UsageError:
                continue
        out.sort(key=lambda w: (w.get("metadata") or {}).get("creationTimestamp") or "", reverse=True)
        return out

    def get_run(self, name: str) -> Workflow:
        return self._load(self.store.get(name))

    def _load(self, run: RunDir) -> Workflow:
        wf = run.load_workflow()
        status = wf.get("status") or {}
        if not status.get("finishedAt") and run.running_pid() is None and not _recent(run):
            # the process running it is gone (killed hard): say so instead of "Running" forever
            status = wf.setdefault("status", {})
            status["phase"] = (
                "Failed" if status.get("phase") in ("Running", "Pending", None) else status["phase"]
            )
            status["message"] = "the process running this workflow ended unexpectedly"
            status["finishedAt"] = rfc3339(run.workflow.stat().st_mtime)
        return wf

    def watch(self, name: str, on_update: OnUpdate) -> Workflow:
        run = self.store.get(name)
        last = -1.0
        while True:
            try:
                mtime = run.workflow.stat().st_mtime_ns
            except FileNotFoundError:
                raise UsageError(f"run {name!r} was deleted") from None
            if mtime != last:
                last = mtime
                wf = self._load(run)
                on_update(wf)
                if (wf.get("status") or {}).get("finishedAt"):
                    return wf
            elif run.running_pid() is None and not _recent(run):
                wf = self._load(run)  # its process is gone: the record says how it ended
                on_update(wf)
                return wf
            time.sleep(POLL)

    def logs(self, name: str, node_ids: list[str] | None = None, follow: bool = False) -> Iterator[LogLine]:
        run = self.store.get(name)
        offsets: dict[str, int] = {}
        partial: dict[str, str] = {}
        wf: Workflow | None = None
        seen = -1
        while True:
            # The record is parsed again only when it changed (a big fan-out's is large),
            # or when its process is gone (then _load says how it ended).
            try:
                mtime = run.workflow.stat().st_mtime_ns
            except FileNotFoundError:
                mtime = -1  # _load says the run has no record
            if wf is None or mtime != seen or mtime == -1 or run.running_pid() is None:
                wf = self._load(run)
                seen = mtime
            finished = bool((wf.get("status") or {}).get("finishedAt"))
            nodes = (wf.get("status") or {}).get("nodes") or {}
            pods = [
                n for n in nodes.values() if n.get("type") == "Pod" and (not node_ids or n["id"] in node_ids)
            ]
            pods.sort(key=lambda n: (n.get("startedAt") or "", n.get("name", "")))
            for node in pods:
                path = run.log_path(node["id"])
                try:
                    with open(path, "rb") as fh:
                        fh.seek(offsets.get(node["id"], 0))
                        data = fh.read()
                        offsets[node["id"]] = fh.tell()
                except FileNotFoundError:
                    continue
                text = partial.pop(node["id"], "") + data.decode("utf-8", errors="replace")
                lines = text.split("\n")
                done = node.get("phase") in FULFILLED or not follow
                if lines and lines[-1] != "" and not done:
                    partial[node["id"]] = lines.pop()
                elif lines and lines[-1] == "":
                    lines.pop()
                for line in lines:
                    yield LogLine(node["id"], str(node.get("displayName", node["name"])), line)
            if not follow or finished:
                return
            time.sleep(0.2)

    def artifact_store(self, name: str) -> LocalArtifactStore:
        return LocalArtifactStore(self.store.get(name).artifacts)

    def stop(self, name: str, *, terminate: bool = False) -> Workflow:
        run = self.store.get(name)
        wf = self._load(run)
        if (wf.get("status") or {}).get("finishedAt"):
            phase = (wf.get("status") or {}).get("phase")
            raise UsageError(f"run {name!r} is not running (it {_ended(phase)})")
        pid = run.running_pid()
        strategy = "Terminate" if terminate else "Stop"
        if pid is None:
            raise UsageError(f"run {name!r} has no live process to stop")
        write_atomic(run.shutdown, strategy)
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.time() + STOP_GRACE
        while time.time() < deadline:
            wf = run.load_workflow()
            if (wf.get("status") or {}).get("finishedAt"):
                return wf
            time.sleep(POLL)
        raise EngineError(f"run {name!r} did not stop within {STOP_GRACE:.0f} s ({stop_message(strategy)})")

    def retry(self, name: str, options: RunOptions) -> Workflow:
        run = self.store.get(name)
        wf = self._load(run)
        status = wf.get("status") or {}
        if not status.get("finishedAt"):
            raise UsageError(f"run {name!r} is still running", hint=f"stop it first: dflowctl stop {name}")
        if status.get("phase") == "Succeeded":
            raise UsageError(f"run {name!r} succeeded: there is nothing to retry")
        previous = copy.deepcopy(wf)
        fresh = {k: v for k, v in wf.items() if k != "status"}
        fresh["status"] = {"phase": "Running", "startedAt": status.get("startedAt") or rfc3339()}
        if not options.wait:
            import json

            write_atomic(run.path / "previous.json", json.dumps(previous))
            going = copy.deepcopy(previous)
            going["status"]["phase"] = "Running"
            for key in ("finishedAt", "message"):
                going["status"].pop(key, None)
            write_atomic(run.workflow, json.dumps(going))
            self._detach(run, options.parallelism, retry=True)
            return going
        return run_controller(
            run, fresh, parallelism=options.parallelism, on_update=options.on_update, previous=previous
        )

    def delete(self, name: str) -> None:
        run = self.store.get(name)
        if run.running_pid() is not None:
            try:
                self.stop(name, terminate=True)
            except UsageError:
                pass
        shutil.rmtree(run.path)

    def changed_ops(self, name: str) -> tuple[Path, list[str]] | None:
        """For ``retry``: the spec a run came from and its ops changed on disk since."""
        from dflowctl.changes import changed_ops, read_origin

        run = self.store.get(name)
        spec = read_origin(run.path)
        if spec is None:
            return None
        return spec, changed_ops(spec, read_yaml(run.manifest))

    def manifest(self, name: str) -> Workflow:
        return read_yaml(self.store.get(name).manifest)


def _recent(run: RunDir) -> bool:
    """A run created a moment ago may not have written its pid yet."""
    try:
        return time.time() - run.workflow.stat().st_mtime < 5
    except OSError:
        return False


def _ended(phase: Any) -> str:
    return {"Succeeded": "succeeded", "Failed": "failed", "Error": "errored"}.get(str(phase), "ended")
