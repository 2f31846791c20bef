"""The run's ``status`` in Argo's shape, kept in memory and written to ``workflow.json``.

All node changes go through :class:`NodeBook` under one lock. Writes are
throttled (a few per second) by a background thread so that a 1,000-item
fan-out does not rewrite the whole status per event; ``flush`` writes at once.
"""

from __future__ import annotations

import bisect
import json
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dflowctl.argo import COMPLETED_LABEL, FULFILLED, PHASE_LABEL, node_id, rfc3339
from dflowctl.engines.local.records import write_atomic

WRITE_INTERVAL = 0.25  # seconds between two writes of workflow.json while running


def end_open_nodes(status: dict[str, Any], phase: str, message: str, finished_at: str) -> None:
    """Every node of ``status`` that has not ended ends now, with ``message`` (the run's
    process is gone, or failed inside): no node stays Running or Pending for ever."""
    for node in (status.get("nodes") or {}).values():
        if node.get("phase") not in FULFILLED:
            node["phase"] = phase
            node["message"] = message
            node["finishedAt"] = finished_at


class NodeBook:
    """The ``status.nodes`` map of one workflow, thread-safe."""

    def __init__(self, workflow: dict[str, Any]) -> None:
        self.wf = workflow
        self.wf_name: str = workflow["metadata"]["name"]
        self.status: dict[str, Any] = workflow.setdefault("status", {})
        self.nodes: dict[str, dict[str, Any]] = self.status.setdefault("nodes", {})
        self.lock = threading.RLock()
        self.changed = threading.Event()
        self.version = 0
        self._order: dict[str, dict[str, int]] = {}  # parent id -> child id -> declared position
        self._links: dict[str, list[str]] = {}  # child id -> parents to link it to once created

    def touch(self) -> None:
        self.version += 1
        self.changed.set()

    def create(
        self,
        name: str,
        display: str,
        ntype: str,
        template: str | None,
        boundary: str | None,
        *,
        phase: str = "Running",
        message: str | None = None,
        inputs: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        nid = node_id(self.wf_name, name)
        node: dict[str, Any] = {"id": nid, "name": name, "displayName": display, "type": ntype}
        if template:
            node["templateName"] = template
        node["templateScope"] = f"local/{self.wf_name}"
        node["phase"] = phase
        if boundary:
            node["boundaryID"] = boundary
        now = rfc3339()
        node["startedAt"] = now
        if phase in FULFILLED:
            node["finishedAt"] = now
        if message:
            node["message"] = message
        if inputs:
            node["inputs"] = dict(inputs)
        with self.lock:
            old = self.nodes.get(nid)
            if old is not None and old.get("children"):
                # a node re-run by `retry` keeps links to children that were kept
                node["children"] = [c for c in old["children"] if c in self.nodes]
            self.nodes[nid] = node
            for parent in self._links.pop(nid, ()):
                self.add_child(parent, nid)
            self.touch()
        return node

    def link_on_create(self, child_id: str, parents: list[str]) -> None:
        """Make ``child_id`` a child of ``parents`` as soon as its node is created."""
        with self.lock:
            if child_id in self.nodes:
                for parent in parents:
                    self.add_child(parent, child_id)
            else:
                self._links.setdefault(child_id, []).extend(parents)

    def get(self, nid: str) -> dict[str, Any] | None:
        return self.nodes.get(nid)

    def update(self, node: Mapping[str, Any], **fields: Any) -> None:
        with self.lock:
            target = self.nodes[node["id"]]
            for key, val in fields.items():
                if val is None:
                    target.pop(key, None)
                else:
                    target[key] = val
            self.touch()

    def finish(self, node: Mapping[str, Any], phase: str, message: str | None = None, **fields: Any) -> None:
        with self.lock:
            target = self.nodes[node["id"]]
            target["phase"] = phase
            if message:
                target["message"] = message
            elif message == "":
                target.pop("message", None)
            target["finishedAt"] = rfc3339()
            for key, val in fields.items():
                if val is not None:
                    target[key] = val
            self.touch()

    def reserve(self, parent_id: str, child_ids: list[str]) -> None:
        """Declare the order in which children of ``parent_id`` appear (Argo's creation order)."""
        with self.lock:
            order = self._order.setdefault(parent_id, {})
            for cid in child_ids:
                order.setdefault(cid, len(order))

    def add_child(self, parent_id: str, child_id: str) -> None:
        with self.lock:
            parent = self.nodes.get(parent_id)
            if parent is None:
                return
            children = parent.setdefault("children", [])
            if child_id in children:
                return
            order = self._order.get(parent_id)
            if order and child_id in order:
                pos = order[child_id]
                keys = [order.get(c, 1 << 30) for c in children]
                children.insert(bisect.bisect_right(keys, pos), child_id)
            else:
                children.append(child_id)
            self.touch()

    def outbound(self, nid: str) -> list[str]:
        """Argo's ``getOutboundNodes``: the nodes a following step hangs from."""
        with self.lock:
            node = self.nodes.get(nid)
            if node is None:
                return []
            ntype = node.get("type")
            if ntype in ("Pod", "Skipped", "Suspend", "HTTP", "Plugin", "Container"):
                return [nid]
            children = node.get("children") or []
            if ntype == "TaskGroup":
                if not children:
                    return [nid]
                out: list[str] = []
                for child in children:
                    out.extend(self.outbound(child))
                return out
            if ntype == "Retry":
                return [children[-1]] if children else [nid]
            out = []
            for child in node.get("outboundNodes") or []:
                out.extend(self.outbound(child))
            return out or [nid]

    def progress(self) -> str:
        done = total = 0
        for node in self.nodes.values():
            if node.get("type") == "Pod":
                total += 1
                if node.get("phase") == "Succeeded":
                    done += 1
        return f"{done}/{total}"

    def snapshot_text(self) -> str:
        with self.lock:
            self.status["progress"] = self.progress()
            labels = self.wf["metadata"].setdefault("labels", {})
            phase = self.status.get("phase") or ""
            if phase:
                labels[PHASE_LABEL] = phase
            if self.status.get("finishedAt"):
                labels[COMPLETED_LABEL] = "true"
            else:
                labels[COMPLETED_LABEL] = "false"
            return json.dumps(self.wf, separators=(",", ":"), ensure_ascii=False)


class StatusWriter:
    """Writes ``workflow.json`` at most every ``WRITE_INTERVAL`` s while the run changes."""

    def __init__(
        self, book: NodeBook, path: Path, on_update: Callable[[dict[str, Any]], None] | None
    ) -> None:
        self.book = book
        self.path = path
        self.on_update = on_update
        self._stop = threading.Event()
        self._written = -1
        self._io = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="dflowctl-status", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.book.changed.wait(0.5)
            if self._stop.is_set():
                break
            if self.book.version != self._written:
                self.flush()
                time.sleep(WRITE_INTERVAL)

    def flush(self) -> None:
        with self._io:
            self.book.changed.clear()
            version = self.book.version
            text = self.book.snapshot_text()
            write_atomic(self.path, text)
            self._written = version
            if self.on_update is not None:
                try:
                    self.on_update(json.loads(text))
                except Exception:  # a display problem must not stop the run
                    pass

    def close(self) -> None:
        self._stop.set()
        self.book.changed.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.flush()
