"""A run's pod logs on the Argo engine: each Pod node's ``pods/log`` (``timestamps``: the
kubelet's time before each line), the ``main-logs`` artifact Argo archived for a pod
that is gone, and, with ``follow``, every pod's log as its node starts."""

from __future__ import annotations

import queue
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dflowctl.argo import WORKFLOW_FINAL, Phase, is_finished
from dflowctl.engines import LogLine, Workflow
from dflowctl.engines.argoobjects import node_pod_name
from dflowctl.errors import NotFoundError
from dflowctl.kube import is_connection_error, stream_lines

if TYPE_CHECKING:
    from dflowctl.engines.argo import ArgoEngine


class ArgoLogs:
    """The logs of ``engine``'s runs (its client, its settings)."""

    def __init__(self, engine: ArgoEngine) -> None:
        self.engine = engine

    def _pod_nodes(self, wf: Workflow, node_ids: list[str] | None) -> list[dict[str, Any]]:
        nodes = (wf.get("status") or {}).get("nodes") or {}
        wanted = set(node_ids) if node_ids is not None else None
        pods = [
            dict(n, id=nid)
            for nid, n in nodes.items()
            if n.get("type") == "Pod" and (wanted is None or nid in wanted)
        ]
        pods.sort(key=lambda n: (str(n.get("startedAt") or "~"), str(n.get("name"))))
        return pods

    def _read_log(
        self, wf: Workflow, node: Mapping[str, Any], follow: bool, timestamps: bool = False
    ) -> Iterator[LogLine]:
        pod = node_pod_name(wf, node)
        ns = wf["metadata"].get("namespace") or self.engine.kube.namespace
        try:
            resp = self.engine.kube.pod_log(ns, pod, follow=follow, timestamps=timestamps)
        except NotFoundError:
            # never started, or deleted (podGC): Argo may have archived the log (archiveLogs)
            yield from self._archived_log(wf, node, timestamps)
            return
        display = str(node.get("displayName") or node.get("name"))
        try:
            for line in stream_lines(resp):
                if timestamps:  # the kubelet's "<RFC 3339> " before each line
                    when, _, line = line.partition(" ")
                    yield LogLine(str(node["id"]), display, line, when)
                else:
                    yield LogLine(str(node["id"]), display, line)
        except Exception as err:
            if not is_connection_error(err):
                raise
        finally:
            resp.release_conn()

    def _archived_log(self, wf: Workflow, node: Mapping[str, Any], timestamps: bool) -> Iterator[LogLine]:
        """The ``main-logs`` artifact Argo keeps when the repository has ``archiveLogs: true``
        (without times: ``timestamps`` gives each line its pod's start)."""
        when = str(node.get("startedAt") or "") if timestamps else None
        arts = (node.get("outputs") or {}).get("artifacts") or []
        art = next((a for a in arts if a.get("name") == "main-logs" and a.get("s3")), None)
        if art is None:
            return
        from dflowctl.storage import store_for_run

        display = str(node.get("displayName") or node.get("name"))
        with tempfile.TemporaryDirectory(prefix="dflowctl-log-") as tmp:
            dest = Path(tmp) / "main.log"
            store_for_run(wf, self.engine.settings, self.engine.kube).fetch(art, dest)
            files = [dest] if dest.is_file() else sorted(p for p in dest.rglob("*") if p.is_file())
            for path in files:
                for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                    yield LogLine(str(node["id"]), display, line, when)

    def lines(
        self, name: str, node_ids: list[str] | None = None, follow: bool = False, timestamps: bool = False
    ) -> Iterator[LogLine]:
        wf = self.engine.get_run(name)
        if not follow or is_finished(wf):
            for node in self._pod_nodes(wf, node_ids):
                if node.get("phase") == Phase.PENDING and not node.get("startedAt"):
                    continue
                yield from self._read_log(wf, node, False, timestamps)
            return
        yield from self._follow_logs(name, node_ids, timestamps)

    def _follow_logs(self, name: str, node_ids: list[str] | None, timestamps: bool) -> Iterator[LogLine]:
        """Stream every pod's log as its node starts, until the workflow ends and all logs are read."""
        started: set[str] = set()
        wf = self.engine.get_run(name)
        for node in self._pod_nodes(wf, node_ids):  # what has ended already comes first, in order
            if node.get("phase") in WORKFLOW_FINAL:
                started.add(node["id"])
                yield from self._read_log(wf, node, False, timestamps)
        if is_finished(wf):
            return
        lines: queue.Queue[LogLine | None] = queue.Queue()
        lock = threading.Lock()
        readers: list[threading.Thread] = []
        errors: list[BaseException] = []

        def read(wf: Workflow, node: dict[str, Any]) -> None:
            try:
                for line in self._read_log_when_ready(wf, node, timestamps):
                    lines.put(line)
            except BaseException as err:  # reported in the main thread
                errors.append(err)

        def on_update(wf: Workflow) -> None:
            for node in self._pod_nodes(wf, node_ids):
                if node.get("phase") == Phase.PENDING and not node.get("startedAt"):
                    continue
                with lock:
                    if node["id"] in started:
                        continue
                    started.add(node["id"])
                t = threading.Thread(target=read, args=(wf, node), daemon=True)
                readers.append(t)
                t.start()

        def follow() -> None:
            try:
                # its own client: a watch stream must not share a connection pool with the readers
                type(self.engine)(self.engine.settings, kube=self.engine.kube.clone()).watch(name, on_update)
                for t in list(readers):
                    t.join()
            except BaseException as err:
                errors.append(err)
            finally:
                lines.put(None)

        threading.Thread(target=follow, daemon=True).start()
        while True:
            item = lines.get()
            if item is None:
                break
            yield item
        if errors:
            raise errors[0]

    def _read_log_when_ready(self, wf: Workflow, node: dict[str, Any], timestamps: bool) -> Iterator[LogLine]:
        """Follow one pod's log; a pod that is not there yet is asked for again shortly."""
        for _ in range(50):
            got = False
            for line in self._read_log(wf, node, True, timestamps):
                got = True
                yield line
            if got or node.get("phase") in WORKFLOW_FINAL:
                return
            time.sleep(0.2)
            try:
                fresh = self.engine.get_run(str(wf["metadata"]["name"]))
            except NotFoundError:
                return
            node = dict((fresh.get("status") or {}).get("nodes", {}).get(node["id"]) or node, id=node["id"])
            if node.get("phase") in WORKFLOW_FINAL:
                yield from self._read_log(fresh, node, False, timestamps)
                return
