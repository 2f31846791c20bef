"""The run's ``status`` in Argo's shape, kept in memory and recorded on disk as it changes.

All node changes go through :class:`NodeBook` under one lock; it notes which nodes
changed and how children were linked. :class:`StatusWriter` appends those changes a few
times a second to the run's event log and now and then folds them into a snapshot
(``recorder``, ``runlog``): writing costs what changed, not the size of the run.
"""

from __future__ import annotations

import bisect
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

from dflowctl.argo import FULFILLED, node_id, rfc3339
from dflowctl.engines.local import runlog

_LAST = 1 << 30  # the declared position of a child whose position was not declared


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def end_open_nodes(status: dict[str, Any], phase: str, message: str, finished_at: str) -> None:
    """Every node of ``status`` that has not ended ends now, with ``message`` (the run's
    process is gone, or failed inside): no node stays Running or Pending for ever."""
    for node in (status.get("nodes") or {}).values():
        if node.get("phase") not in FULFILLED:
            node["phase"] = phase
            node["message"] = message
            node["finishedAt"] = finished_at


class NodeBook:
    """The ``status.nodes`` map of one workflow, thread-safe; notes what changed since
    the last ``take_events`` (changed nodes, child links) for the run's event log."""

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
        self._members: dict[str, set[str]] = {}  # parent id -> its children, as a set
        self._keys: dict[str, list[int]] = {}  # parent id -> declared positions of its children
        self._dirty: dict[str, None] = {}  # nodes changed since the last take_events, in order
        self._ops: list[dict[str, Any]] = []  # child links since the last take_events, in order
        self._unsaid = False  # touch() without a node: a change the events cannot tell
        self.status_json = ""  # the status' own fields as last recorded (JSON)
        self._pods = [0, 0]  # Pod nodes: succeeded, all
        self._flags: dict[str, dict[str, bool]] = {}  # node id -> its nodeFlag once created
        self._on_finish: dict[str, list[Callable[[dict[str, Any]], None]]] = {}  # node id -> followers

    def touch(self, nid: str | None = None) -> None:
        """Something changed: node ``nid``, or (without it) anything, e.g. by hand."""
        if nid is None:
            self._unsaid = True
        else:
            self._dirty[nid] = None
        self.version += 1
        self.changed.set()

    def touch_status(self) -> None:
        """The status' own fields changed (phase, outputs, ...), no node: the next write
        records them (they are compared at every write)."""
        self.version += 1
        self.changed.set()

    def _count(self, node: Mapping[str, Any], sign: int) -> None:
        if node.get("type") == "Pod":
            self._pods[1] += sign
            if node.get("phase") == "Succeeded":
                self._pods[0] += sign

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
            flag = self._flags.pop(nid, None)
            if flag:
                node["nodeFlag"] = flag
            old = self.nodes.get(nid)
            if old is not None:
                self._count(old, -1)
                self._members.pop(nid, None)
                self._keys.pop(nid, None)
                if old.get("children"):
                    # a node re-run by `retry` keeps links to children that were kept
                    node["children"] = [c for c in old["children"] if c in self.nodes]
                self._ops.append({"C": [nid, node.get("children")]})
            self.nodes[nid] = node
            self._count(node, 1)
            self.touch(nid)
            for parent in self._links.pop(nid, ()):
                self.add_child(parent, nid)
        return node

    def link_on_create(self, child_id: str, parents: list[str]) -> None:
        """Make ``child_id`` a child of ``parents`` as soon as its node is created."""
        with self.lock:
            if child_id in self.nodes:
                for parent in parents:
                    self.add_child(parent, child_id)
            else:
                self._links.setdefault(child_id, []).extend(parents)

    def flag_on_create(self, nid: str, flag: Mapping[str, bool]) -> None:
        """Argo's ``nodeFlag`` (``hooked``, ``retried``) of node ``nid`` when it is created."""
        with self.lock:
            self._flags[nid] = dict(flag)

    def get(self, nid: str) -> dict[str, Any] | None:
        return self.nodes.get(nid)

    def update(self, node: Mapping[str, Any], **fields: Any) -> None:
        with self.lock:
            target = self.nodes[node["id"]]
            self._count(target, -1)
            for key, val in fields.items():
                if val is None:
                    target.pop(key, None)
                else:
                    target[key] = val
            self._count(target, 1)
            self.touch(target["id"])

    def finish(self, node: Mapping[str, Any], phase: str, message: str | None = None, **fields: Any) -> None:
        with self.lock:
            target = self.nodes[node["id"]]
            self._count(target, -1)
            target["phase"] = phase
            if message:
                target["message"] = message
            elif message == "":
                target.pop("message", None)
            target["finishedAt"] = rfc3339()
            for key, val in fields.items():
                if val is not None:
                    target[key] = val
            self._count(target, 1)
            self.touch(target["id"])
            followers = self._on_finish.pop(target["id"], [])
        for follow in followers:
            follow(target)

    def when_finished(self, nid: str, follow: Callable[[dict[str, Any]], None]) -> None:
        """Call ``follow(node)`` once node ``nid`` is next finished (a daemon's Retry node
        follows its attempt); hold ``lock`` to look at the node and register at once."""
        with self.lock:
            self._on_finish.setdefault(nid, []).append(follow)

    def reserve(self, parent_id: str, child_ids: list[str]) -> None:
        """Declare the order in which children of ``parent_id`` appear (Argo's creation order)."""
        with self.lock:
            order = self._order.setdefault(parent_id, {})
            for cid in child_ids:
                order.setdefault(cid, len(order))
            self._keys.pop(parent_id, None)

    def add_child(self, parent_id: str, child_id: str) -> None:
        with self.lock:
            parent = self.nodes.get(parent_id)
            if parent is None:
                return
            children = parent.setdefault("children", [])
            members = self._members.get(parent_id)
            if members is None or len(members) != len(children):  # changed by hand meanwhile
                members = self._members[parent_id] = set(children)
                self._keys.pop(parent_id, None)
            if child_id in members:
                return
            order = self._order.get(parent_id) or {}
            keys = self._keys.get(parent_id)
            if keys is None or len(keys) != len(children):
                keys = self._keys[parent_id] = [order.get(c, _LAST) for c in children]
            key = order.get(child_id, _LAST)
            pos = bisect.bisect_right(keys, key) if key != _LAST else len(children)
            keys.insert(pos, key)
            children.insert(pos, child_id)
            members.add(child_id)
            self._ops.append({"c": [parent_id, child_id, pos]})
            self.version += 1
            self.changed.set()

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
            if ntype == "Retry":  # its last attempt (hooks hang from it too)
                tries = self.attempts(node)
                return [tries[-1]] if tries else [nid]
            out = []
            for child in node.get("outboundNodes") or []:
                out.extend(self.outbound(child))
            return out or [nid]

    def attempts(self, retry: Mapping[str, Any]) -> list[str]:
        """A Retry node's attempts: its children but the hooks (``nodeFlag.hooked``)."""
        with self.lock:
            return [
                c
                for c in retry.get("children") or []
                if not ((self.nodes.get(c) or {}).get("nodeFlag") or {}).get("hooked")
            ]

    def progress(self) -> str:
        return f"{self._pods[0]}/{self._pods[1]}"

    def _recount(self) -> None:
        self._pods = [0, 0]
        for node in self.nodes.values():
            self._count(node, 1)

    def _status_text(self) -> str:
        self.status["progress"] = self.progress()
        return _dumps({k: v for k, v in self.status.items() if k != "nodes"})

    def summary(self) -> str:
        """``runlog.summary_text`` of the run now (after ``take_events`` or a snapshot)."""
        with self.lock:
            runlog.stamp_labels(self.wf)
            return runlog.summary_text(self.wf, self.status_json)

    def needs_fold(self) -> bool:
        """Changes were made that only a snapshot records (``touch()`` without a node)."""
        return self._unsaid

    def take_events(self) -> bytes:
        """The changes since the last call (or snapshot), as lines of the run's event log."""
        with self.lock:
            parts = []
            for nid in self._dirty:
                node = self.nodes.get(nid)
                if node is not None:
                    parts.append(_dumps({"n": {k: v for k, v in node.items() if k != "children"}}))
            parts.extend(_dumps(op) for op in self._ops)
            self._dirty.clear()
            self._ops.clear()
            text = self._status_text()
            if text != self.status_json:
                parts.append('{"s":' + text + "}")
                self.status_json = text
        return "".join(p + "\n" for p in parts).encode("utf-8")

    def snapshot_text(self, gen: str | None = None) -> str:
        """The whole Workflow object as JSON; ``gen``: the log that will continue it."""
        with self.lock:
            self._recount()
            self._dirty.clear()
            self._ops.clear()
            self._unsaid = False
            self.status_json = self._status_text()
            runlog.stamp_labels(self.wf)
            if gen is None:
                return _dumps(self.wf)
            return _dumps({**self.wf, runlog.SNAPSHOT_KEY: gen})

    def view(self) -> dict[str, Any]:
        """A copy of the Workflow object for a display (nodes copied one level deep)."""
        with self.lock:
            status = {k: v for k, v in self.status.items() if k != "nodes"}
            status["progress"] = self.progress()
            status["nodes"] = {
                nid: {**n, "children": list(n["children"])} if "children" in n else dict(n)
                for nid, n in self.nodes.items()
            }
            wf = {**self.wf, "status": status}
            runlog.stamp_labels(wf)
        return wf
