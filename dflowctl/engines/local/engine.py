"""``LocalEngine``: the ``Engine`` protocol for runs on this machine.

``submit`` records the run under ``$DFLOWCTL_HOME/runs/<name>/`` and runs the
controller here (``wait``) or in a detached background process (``--no-wait``:
``python -m dflowctl.engines.local.detached``). The other operations read the
record; ``stop`` signals the process running the run. The process running a run
holds its lock (``RunDir.claim``, ``launch.py``): ``retry`` and ``delete`` go by it,
and a run whose process is gone is shown as ended, with every node it left open.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dflowctl.argo import Phase, rfc3339
from dflowctl.changes import ORIGIN_FILE
from dflowctl.engines import LogBlock, LogLine, OnUpdate, RunOptions, Workflow
from dflowctl.engines.local.artifacts import LocalArtifactStore, LocalRepository
from dflowctl.engines.local.cache import ReusePolicy
from dflowctl.engines.local.hostenv import EnvPolicy
from dflowctl.engines.local.logstream import stream_log_blocks, stream_logs
from dflowctl.engines.local.podcache import REUSE_FILE, pinned_steps, run_keys
from dflowctl.engines.local.records import RunDir, RunStore, read_yaml, write_atomic, write_yaml
from dflowctl.engines.local.runlog import last_write, read_summary, record_stamp
from dflowctl.engines.local.runtime import stop_message
from dflowctl.engines.local.scope import oversized_loop
from dflowctl.engines.local.status import end_open_nodes
from dflowctl.errors import EngineError, NotFoundError, UsageError
from dflowctl.runs import started
from dflowctl.settings import Settings

POLL = 0.1
STOP_GRACE = 10.0  # seconds `stop` waits for the run's process to record the end
ENDED_UNEXPECTEDLY = "the process running this workflow ended unexpectedly"


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
    too_big = oversized_loop(manifest)
    if too_big is not None:
        raise UsageError(too_big)


class LocalEngine:
    name = "local"

    def __init__(self, settings: Settings | None = None) -> None:
        if settings is None:
            from dflowctl.settings import load_settings

            settings = load_settings()
        self.settings = settings
        self.store = RunStore(Path(settings.runs_dir))
        self.env_policy = EnvPolicy.of(settings.pod_env_pass, settings.pod_env_deny, settings.secrets())
        # the last finished record read, by its stamp: a reader (``logs --step``, ``report``)
        # asks for a big run's record more than once, and a finished one no longer changes
        self._finished: tuple[Path, tuple[int, ...], Workflow] | None = None

    # ------------------------------------------------------------------ runs

    def submit(self, manifest: Workflow, options: RunOptions) -> Workflow:
        _check_manifest(manifest)
        wf: Workflow = copy.deepcopy(dict(manifest))
        meta = wf.setdefault("metadata", {})
        policy = self._policy(options)  # a refused --reuse-step leaves no run folder behind
        run = self.store.new_run(meta)
        lock = run.claim()  # a new folder: nobody else has it
        if lock is None:  # pragma: no cover - only if something else runs in it already
            raise EngineError(f"run {run.name!r} is being run by another process")
        try:
            self._record(run, wf, meta, options, policy)
        except BaseException:
            os.close(lock)
            raise
        return self._hand_over(run, wf, options, lock, None)

    def _hand_over(
        self, run: RunDir, wf: Workflow, options: RunOptions, lock: int, previous: Workflow | None
    ) -> Workflow:
        """Run ``wf`` here or detached; the lock belongs to whatever runs it from now on."""
        from dflowctl.engines.local.launch import detach, run_controller  # the controller: runs only

        if not options.wait:
            detach(run, options.parallelism, retry=previous is not None, lock_fd=lock)
            return wf
        return run_controller(
            run,
            wf,
            parallelism=options.parallelism,
            on_update=options.on_update,
            previous=previous,
            env_policy=self.env_policy,
            lock_fd=lock,
        )

    def _record(
        self, run: RunDir, wf: Workflow, meta: dict[str, Any], options: RunOptions, policy: ReusePolicy
    ) -> None:
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
            origin = {"spec": str(options.spec_path.resolve())}
            write_atomic(run.path / ORIGIN_FILE, json.dumps(origin))
        if policy.enabled or policy.rerun:
            write_atomic(run.path / REUSE_FILE, json.dumps(policy.to_json()))
        write_atomic(run.workflow, json.dumps(wf, indent=1))

    def _policy(self, options: RunOptions) -> ReusePolicy:
        """``--reuse [RUN]`` and ``--rerun STEP``: with RUN, only the keys of that run's
        successful steps."""
        keys = None
        pinned: dict[str, str] = {}
        if options.reuse_steps and not options.reuse_from:
            raise UsageError("--reuse-step takes steps from one earlier run", hint="add --reuse RUN")
        if options.reuse_from:
            wf = self._load(self.store.get(options.reuse_from))
            keys = frozenset(run_keys(wf))
            if options.reuse_steps:
                pinned = pinned_steps(wf, options.reuse_steps)
        return ReusePolicy(
            enabled=options.reuse or bool(options.reuse_from),
            from_run=options.reuse_from,
            keys=keys,
            rerun=frozenset(options.rerun),
            pinned=pinned,
        )

    def _put_uploads(self, run: RunDir, options: RunOptions) -> None:
        archives = options.source_archives
        repo = LocalRepository(run.artifacts)
        for key, path in archives.items():
            shutil.copyfile(path, repo.writable_path(str(key)))

    def list_runs(self) -> list[Workflow]:
        out: list[tuple[Workflow, RunDir]] = []
        for name in self.store.names():
            run = RunDir(self.store.root / name)
            try:
                out.append((self._load(run), run))
            except NotFoundError as err:  # listed all the same: a broken record is still a run
                out.append((_unreadable(name, err), run))
        return _newest_first(out)

    def list_summaries(self) -> list[Workflow]:
        """As ``list_runs`` without ``status.nodes`` (the run list's table needs none): a
        run's small ``summary.json`` when it is up to date, else its record."""
        out: list[tuple[Workflow, RunDir]] = []
        for name in self.store.names():
            run = RunDir(self.store.root / name)
            wf = read_summary(run.workflow)
            if wf is None:
                try:
                    wf = self._load(run)
                except NotFoundError as err:
                    wf = _unreadable(name, err)
            elif not (wf.get("status") or {}).get("finishedAt") and not run.is_running():
                self._end_unexpectedly(run, wf)
            out.append((wf, run))
        return _newest_first(out)

    def get_run(self, name: str) -> Workflow:
        return self._read(self.store.get(name))

    def _read(self, run: RunDir) -> Workflow:
        """``_load`` for readers: a finished record read before (and not written since) is
        not parsed again. Readers do not change what they get."""
        try:
            stamp = record_stamp(run.workflow)
        except FileNotFoundError:
            return self._load(run)
        seen = self._finished
        if seen is not None and seen[0] == run.workflow and seen[1] == stamp:
            return seen[2]
        wf = self._load(run)
        if (wf.get("status") or {}).get("finishedAt") and not run.is_running():
            self._finished = (run.workflow, stamp, wf)
        return wf

    def _load(self, run: RunDir, running: bool | None = None) -> Workflow:
        """The record; ``running``: whether a process runs it (default: ask its lock)."""
        wf = run.load_workflow()
        if (wf.get("status") or {}).get("finishedAt"):
            return wf
        if running is None:
            running = run.is_running()
            if not running:  # it may have written its end and let go between the two reads
                wf = run.load_workflow()
        if not (wf.get("status") or {}).get("finishedAt") and not running:
            self._end_unexpectedly(run, wf)
        return wf

    @staticmethod
    def _end_unexpectedly(run: RunDir, wf: Workflow) -> None:
        """The process running it is gone (killed hard): say so instead of "Running" forever."""
        ended = rfc3339(last_write(run.workflow))
        status = wf.setdefault("status", {})
        if status.get("phase") in (Phase.RUNNING, Phase.PENDING, None):
            status["phase"] = Phase.FAILED.value
        status["message"] = ENDED_UNEXPECTEDLY
        status["finishedAt"] = ended
        end_open_nodes(status, Phase.FAILED.value, ENDED_UNEXPECTEDLY, ended)

    def watch(self, name: str, on_update: OnUpdate) -> Workflow:
        run = self.store.get(name)
        last: tuple[int, ...] = ()
        while True:
            try:
                mtime = record_stamp(run.workflow)
            except FileNotFoundError:
                raise UsageError(f"run {name!r} was deleted") from None
            pause = POLL
            if mtime != last:
                last = mtime
                t0 = time.monotonic()
                wf = self._load(run)
                on_update(wf)
                if (wf.get("status") or {}).get("finishedAt"):
                    return wf
                # a big run's record takes a while to read and show: at most a third of the time
                pause = max(POLL, 2 * (time.monotonic() - t0))
            elif not run.is_running():
                wf = self._load(run)  # its process is gone: the record says how it ended
                on_update(wf)
                return wf
            time.sleep(pause)

    def logs(
        self, name: str, node_ids: list[str] | None = None, follow: bool = False, timestamps: bool = False
    ) -> Iterator[LogLine]:
        return stream_logs(self.store.get(name), self._read, node_ids, follow, timestamps)

    def log_blocks(
        self, name: str, node_ids: list[str] | None = None, follow: bool = False, timestamps: bool = False
    ) -> Iterator[LogBlock]:
        return stream_log_blocks(self.store.get(name), self._read, node_ids, follow, timestamps)

    def artifact_store(self, name: str) -> LocalArtifactStore:
        return LocalArtifactStore(self.store.get(name).artifacts)

    def stop(self, name: str, *, terminate: bool = False) -> Workflow:
        run = self.store.get(name)
        wf = self._load(run)
        if (wf.get("status") or {}).get("finishedAt"):
            phase = (wf.get("status") or {}).get("phase")
            raise UsageError(f"run {name!r} is not running (it {_ended(phase)})")
        strategy = "Terminate" if terminate else "Stop"
        if not run.is_running():
            raise UsageError(f"run {name!r} has no live process to stop")
        write_atomic(run.shutdown, strategy)
        pid = run.running_pid()  # none yet while its process starts: it reads the shutdown file first
        if pid is not None:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.time() + STOP_GRACE
        while time.time() < deadline:
            wf = self._load(run)  # a process that died meanwhile has ended the run too
            if (wf.get("status") or {}).get("finishedAt"):
                return wf
            time.sleep(POLL)
        raise EngineError(f"run {name!r} did not stop within {STOP_GRACE:.0f} s ({stop_message(strategy)})")

    def resume(
        self,
        name: str,
        node: str | None = None,
        parameters: Mapping[str, str] | None = None,
        fail: str | None = None,
    ) -> Workflow:
        """Resume a suspended run through its process (``suspend.py``): checked against
        the record first, then applied by the process, which answers."""
        from dflowctl.argo.resume import ResumeError, check_selector, resume_nodes
        from dflowctl.engines.local import suspend

        run = self.store.get(name)
        wf = self._load(run)
        status = wf.get("status") or {}
        if status.get("finishedAt"):
            raise UsageError(f"run {name!r} is not running (it {_ended(status.get('phase'))})")
        if not run.is_running():
            raise UsageError(f"run {name!r} has no live process to resume")
        params = dict(parameters or {})
        try:
            if node is not None:
                check_selector(node)
            changed = resume_nodes(status.get("nodes") or {}, node, params, rfc3339(), fail)
        except ResumeError as err:
            raise UsageError(f"cannot resume {name}: {err}") from None
        if node is None and not changed and not (wf.get("spec") or {}).get("suspend"):
            raise UsageError(f"cannot resume {name}: nothing is suspended")
        try:
            rid = suspend.send_request(run.path, node, params, fail)
            answer = suspend.await_answer(run.path, rid, run.is_running)
        except suspend.ControlError as err:
            raise EngineError(f"cannot resume {name}: {err}") from None
        if "error" in answer:
            raise UsageError(f"cannot resume {name}: {answer['error']}")
        return self._load(run)

    def retry(self, name: str, options: RunOptions) -> Workflow:
        run = self.store.get(name)
        lock = run.claim()  # held from this check to the end of the run: one retry at a time
        if lock is None:
            raise UsageError(f"run {name!r} is still running", hint=f"stop it first: dflowctl stop {name}")
        try:
            wf = self._load(run, running=False)  # we hold the lock: nobody else runs it
            status = wf.get("status") or {}
            if status.get("phase") == Phase.SUCCEEDED:
                raise UsageError(f"run {name!r} succeeded: there is nothing to retry")
            previous = copy.deepcopy(wf)
            fresh = {k: v for k, v in wf.items() if k != "status"}
            fresh["status"] = {"phase": "Running", "startedAt": status.get("startedAt") or rfc3339()}
            if not options.wait:
                write_atomic(run.path / "previous.json", json.dumps(previous))
                going = copy.deepcopy(previous)
                going["status"]["phase"] = "Running"
                for key in ("finishedAt", "message"):
                    going["status"].pop(key, None)
                write_atomic(run.workflow, json.dumps(going))
        except BaseException:
            os.close(lock)
            raise
        return self._hand_over(run, fresh if options.wait else going, options, lock, previous)

    def delete(self, name: str) -> None:
        """Delete a run's record; a running run is terminated first, and its folder removed
        only once its process let go of it (no writes into a removed folder)."""
        run = self.store.get(name)
        if run.is_running():
            try:
                self.stop(name, terminate=True)
            except UsageError:
                pass
            deadline = time.time() + STOP_GRACE
            while run.is_running():
                if time.time() > deadline:
                    raise EngineError(f"run {name!r} did not stop within {STOP_GRACE:.0f} s; not deleted")
                time.sleep(POLL)
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


def _newest_first(runs: list[tuple[Workflow, RunDir]]) -> list[Workflow]:
    """Newest first by ``runs.started`` (whole seconds, as Kubernetes writes them); runs
    made in the same second by when their manifest was written (once, at submission)."""

    def written(run: RunDir) -> int:
        try:
            return run.manifest.stat().st_mtime_ns
        except OSError:
            return 0

    keyed = [(started(wf), written(run), wf) for wf, run in runs]
    keyed.sort(key=lambda k: (k[0], k[1]), reverse=True)
    return [wf for _started, _written, wf in keyed]


def _unreadable(name: str, err: NotFoundError) -> Workflow:
    """A run whose record cannot be read, as the run list shows it."""
    return {"metadata": {"name": name}, "status": {"phase": Phase.ERROR.value, "message": str(err)}}


def _ended(phase: Any) -> str:
    return {"Succeeded": "succeeded", "Failed": "failed", "Error": "errored"}.get(str(phase), "ended")
