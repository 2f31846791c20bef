"""A small Argo controller for the Kubernetes stand-in: runs Workflows with the local engine.

It watches the stand-in's store for new Workflow objects and runs each one
in-process with dflowctl's local engine (which interprets the manifest as
Argo does and records ``status`` in Argo's exact shape). Every status change
is written back to the Workflow object (so watches see MODIFIED events), with
the labels Argo sets (``workflows.argoproj.io/phase``, ``completed``) and
``status.artifactRepositoryRef`` resolved from the namespace's
``artifact-repositories`` ConfigMap (key names only, never values). Keys the manifest reads
that are in S3 already (sources, an earlier run's outputs a reused step names,
folders under a key) are handed to the local run first, as Argo's pods would
find them in the shared repository. Output
artifacts go to the S3 server under the keys the run recorded (Argo's layout
and archive format); each Pod node's log is served as its pod's ``pods/log``.
``spec.shutdown`` stops or terminates a run; a retried Workflow (phase reset to
Running, ``completed=false``) runs again, keeping what succeeded.
"""

from __future__ import annotations

import copy
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dflowctl.argo import COMPLETED_LABEL, PHASE_LABEL, pod_name
from dflowctl.engines import RunOptions
from dflowctl.errors import DflowctlError
from dflowctl.settings import Settings
from tests.k8s.server import FakeKube, PodLog

FULFILLED = frozenset({"Succeeded", "Failed", "Error", "Skipped", "Omitted"})


def _keys_in(obj: Any) -> set[str]:
    """Every ``s3.key`` mentioned anywhere in a manifest."""
    found: set[str] = set()
    if isinstance(obj, Mapping):
        s3 = obj.get("s3")
        if isinstance(s3, Mapping) and isinstance(s3.get("key"), str):
            found.add(s3["key"])
        for value in obj.values():
            found |= _keys_in(value)
    elif isinstance(obj, list):
        for value in obj:
            found |= _keys_in(value)
    return found


class Controller:
    """Runs what is submitted to ``kube`` in namespace-agnostic fashion."""

    def __init__(self, kube: FakeKube, home: Path, s3: Any = None, *, parallelism: int = 4) -> None:
        self.kube = kube
        self.home = home
        self.s3 = s3  # tests.s3server.S3Env (host, bucket, client) or None
        self.parallelism = parallelism
        self.settings = Settings(home=home)
        self._running: dict[tuple[str, str], threading.Thread] = {}
        self._uploaded: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors: list[str] = []

    def start(self) -> Controller:
        self._thread = threading.Thread(target=self._loop, name="fake-argo-controller", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self.kube.store.cond:
            self.kube.store.cond.notify_all()
        for t in list(self._running.values()):
            t.join(timeout=10)

    # -- the loop --------------------------------------------------------------------------------

    def _loop(self) -> None:
        store = self.kube.store
        last = 0
        while not self._stop.is_set():
            with store.cond:
                events = [e for e in store.events if e.rv > last and e.kind == "workflows"]
                if store.events:
                    last = max(last, store.events[-1].rv)
                if not events:
                    store.cond.wait(timeout=0.5)
                    continue
            for ev in events:
                try:
                    self._handle(ev.type, ev.obj)
                except Exception as err:  # keep the controller alive; tests read .errors
                    self.errors.append(f"{type(err).__name__}: {err}")

    def _handle(self, kind: str, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        key = (meta["namespace"], meta["name"])
        status = obj.get("status") or {}
        spec = obj.get("spec") or {}
        with self._lock:
            running = key in self._running and self._running[key].is_alive()
        if kind == "DELETED":
            if running:
                self._shutdown(meta["name"], "Terminate")
            return
        if kind == "ADDED" and not status.get("phase") and not running:
            self._spawn(key, obj, retry=False)
            return
        if running and spec.get("shutdown"):
            self._shutdown(meta["name"], "Terminate" if spec["shutdown"] == "Terminate" else "Stop")
            return
        labels = meta.get("labels") or {}
        retried = status.get("phase") == "Running" and not status.get("finishedAt")
        if kind == "MODIFIED" and retried and labels.get(COMPLETED_LABEL) == "false" and not running:
            self._spawn(key, obj, retry=True)

    def _spawn(self, key: tuple[str, str], obj: dict[str, Any], *, retry: bool) -> None:
        t = threading.Thread(target=self._run, args=(obj, retry), name=f"run-{key[1]}", daemon=True)
        with self._lock:
            self._running[key] = t
        t.start()

    def _shutdown(self, name: str, strategy: str) -> None:
        """Ask the in-process local run to stop (its controller reads the run's ``shutdown`` file).

        Not ``LocalEngine.stop``: that signals the run's pid, which here is the test process.
        """
        from dflowctl.engines.local.records import RunDir, write_atomic

        run = RunDir(self.home / "runs" / name)
        if run.path.is_dir():
            write_atomic(run.shutdown, strategy)

    def _engine(self) -> Any:
        from dflowctl.engines.local import LocalEngine

        return LocalEngine(self.settings)

    # -- running one workflow ----------------------------------------------------------------

    def _run(self, obj: dict[str, Any], retry: bool) -> None:
        ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        repo_ref = self._repository_ref(ns)
        engine = self._engine()

        def on_update(local: dict[str, Any]) -> None:
            self._publish(ns, name, local, repo_ref)

        options = RunOptions(wait=True, parallelism=self.parallelism, on_update=on_update)
        try:
            if retry:
                final = engine.retry(name, options)
            else:
                with tempfile.TemporaryDirectory(prefix="fake-argo-inputs-") as tmp:
                    inputs = self._fetch_inputs(obj, Path(tmp))
                    manifest = {
                        "apiVersion": obj["apiVersion"],
                        "kind": "Workflow",
                        "metadata": {
                            "name": name,
                            "labels": dict(obj["metadata"].get("labels") or {}),
                            "annotations": dict(obj["metadata"].get("annotations") or {}),
                        },
                        "spec": copy.deepcopy(obj["spec"]),
                    }
                    options = RunOptions(
                        wait=True,
                        parallelism=self.parallelism,
                        on_update=on_update,
                        source_archives=inputs or {},
                    )
                    final = engine.submit(manifest, options)
        except DflowctlError as err:
            self._reject(ns, name, err)
            return
        self._publish(ns, name, final, repo_ref)

    def _fetch_inputs(self, obj: dict[str, Any], tmp: Path) -> dict[str, Path]:
        """Keys the manifest reads that are in S3 (sources, inputs): handed to the local run."""
        if self.s3 is None:
            return {}
        from minio.error import S3Error

        out: dict[str, Path] = {}
        client = self.s3.client
        wanted: set[str] = set()
        for key in _keys_in(obj.get("spec")):
            literal = key.split("{{", 1)[0]
            if literal != key:  # a key with tags (an item's index): what is under its fixed part
                if "/" in literal:
                    listed = client.list_objects(self.s3.bucket, literal, recursive=True)
                    wanted |= {o.object_name for o in listed}
                continue
            wanted.add(key)
            # a folder (a fan-in of an earlier run, an `archive: none` directory): its objects
            prefix = key.rstrip("/") + "/"
            wanted |= {o.object_name for o in client.list_objects(self.s3.bucket, prefix, recursive=True)}
        for i, key in enumerate(sorted(wanted)):
            dest = tmp / str(i) / Path(key).name
            try:
                client.fget_object(self.s3.bucket, key, str(dest))
            except S3Error:
                continue  # written by the run itself, or missing (the run will say so)
            out[key] = dest
        return out

    def _reject(self, ns: str, name: str, err: DflowctlError) -> None:
        """What Argo does with a workflow it cannot run: Failed, ``invalid spec: …``."""
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        first = str(err).splitlines()[0]

        def fail(cur: dict[str, Any]) -> dict[str, Any]:
            labels = cur["metadata"].setdefault("labels", {})
            labels[PHASE_LABEL] = "Failed"
            labels[COMPLETED_LABEL] = "true"
            cur["status"] = {
                "phase": "Failed",
                "startedAt": now,
                "finishedAt": now,
                "message": f"invalid spec: {first}",
                "progress": "0/0",
            }
            return cur

        self.kube.store.update("workflows", ns, name, fail)

    # -- status, logs, artifacts -------------------------------------------------------------

    def _repository_ref(self, ns: str) -> dict[str, Any] | None:
        """status.artifactRepositoryRef as Argo freezes it (from the namespace's ConfigMap)."""
        from ruamel.yaml import YAML

        cm = self.kube.store.get("configmaps", ns, "artifact-repositories")
        if cm is None:
            return None
        key = ((cm.get("metadata") or {}).get("annotations") or {}).get(
            "workflows.argoproj.io/default-artifact-repository"
        )
        data = cm.get("data") or {}
        if not key or key not in data:
            return None
        repo = YAML(typ="safe").load(data[key])
        return {
            "configMap": "artifact-repositories",
            "key": key,
            "namespace": ns,
            "artifactRepository": repo,
        }

    def _publish(self, ns: str, name: str, local: dict[str, Any], repo_ref: dict[str, Any] | None) -> None:
        status = copy.deepcopy(local.get("status") or {})
        if not status:
            return
        run = self.home / "runs" / name
        self._serve_logs(ns, name, status, run)
        self._upload(status, run)
        if repo_ref is not None:
            status["artifactRepositoryRef"] = repo_ref
        phase = status.get("phase") or "Running"
        finished = bool(status.get("finishedAt"))

        def apply(cur: dict[str, Any]) -> dict[str, Any]:
            labels = cur["metadata"].setdefault("labels", {})
            labels[PHASE_LABEL] = phase
            labels[COMPLETED_LABEL] = "true" if finished else "false"
            cur["status"] = status
            return cur

        try:
            self.kube.store.update("workflows", ns, name, apply)
        except Exception:
            pass  # deleted meanwhile

    def _serve_logs(self, ns: str, name: str, status: dict[str, Any], run: Path) -> None:
        nodes = status.get("nodes") or {}
        for nid, node in nodes.items():
            if node.get("type") != "Pod":
                continue
            pod = pod_name(name, str(node.get("templateName") or ""), str(node.get("name")))
            if (ns, pod) in self.kube.pods:
                continue

            def done(nid: str = nid) -> bool:
                cur = self.kube.store.get("workflows", ns, name)
                phase = (((cur or {}).get("status") or {}).get("nodes") or {}).get(nid, {}).get("phase")
                return cur is None or phase in FULFILLED

            self.kube.pods[(ns, pod)] = PodLog(run / "logs" / f"{nid}.log", done)

    def _upload(self, status: dict[str, Any], run: Path) -> None:
        if self.s3 is None:
            return
        for node in (status.get("nodes") or {}).values():
            if node.get("type") != "Pod" or node.get("phase") not in FULFILLED:
                continue
            for art in (node.get("outputs") or {}).get("artifacts") or []:
                key = ((art.get("s3") or {}).get("key") or "").rstrip("/")
                if not key or key in self._uploaded:
                    continue
                src = run / "artifacts" / key
                if src.is_file():
                    self.s3.client.fput_object(self.s3.bucket, key, str(src))
                elif src.is_dir():
                    for f in sorted(p for p in src.rglob("*") if p.is_file()):
                        self.s3.client.fput_object(
                            self.s3.bucket, f"{key}/{f.relative_to(src).as_posix()}", str(f)
                        )
                else:
                    continue
                self._uploaded.add(key)

    def wait_idle(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                busy = [t for t in self._running.values() if t.is_alive()]
            if not busy:
                return
            time.sleep(0.05)
