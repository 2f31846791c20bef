"""A run's record on disk while it runs: a snapshot and an append-only log of what changed.

``workflow.json`` is the Workflow object in Argo's shape (``status.nodes`` …). Rewriting
it on every change costs the size of the run per change; instead the process running the
run appends the changes to ``events.<gen>.jsonl`` (one JSON event a line, a batch a few
times a second) and folds them into a new snapshot only when the log has grown as large
as the snapshot (so each event is written a bounded number of times), and at the end.

A snapshot written mid-run names its log (``SNAPSHOT_KEY``: ``gen``); a snapshot without
it (every finished run, records of older versions) is the whole record. Readers
(``read_record``) take the snapshot and replay its log; a line cut short by a crash
(``kill -9`` mid-write) is ignored. A fold writes the new snapshot (atomic rename) before
it removes the old log, so a crash at any moment leaves a snapshot and the one log that
continues it.

Events (``apply_event``):

- ``{"n": NODE}``: node ``NODE["id"]`` is now ``NODE`` (its ``children`` kept);
- ``{"c": [PARENT, CHILD, INDEX]}``: ``CHILD`` inserted in ``PARENT``'s children at ``INDEX``;
- ``{"C": [ID, CHILDREN]}``: node ``ID``'s children are ``CHILDREN`` (``None``: none);
- ``{"s": FIELDS}``: the status' own fields (all but ``nodes``) are ``FIELDS``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from dflowctl.argo import COMPLETED_LABEL, PHASE_LABEL

SNAPSHOT_KEY = "dflowctl.io/events"
LOG_GLOB = "events.*.jsonl"
SUMMARY = "summary.json"  # the record without status.nodes: what the run list needs


def log_path(folder: Path, gen: str) -> Path:
    return folder / f"events.{gen}.jsonl"


def stamp_labels(wf: dict[str, Any]) -> None:
    """The labels Argo's controller keeps from the status: phase and completed."""
    status = wf.get("status") or {}
    labels = wf.setdefault("metadata", {}).setdefault("labels", {})
    phase = status.get("phase") or ""
    if phase:
        labels[PHASE_LABEL] = phase
    labels[COMPLETED_LABEL] = "true" if status.get("finishedAt") else "false"


def apply_event(wf: dict[str, Any], nodes: dict[str, dict[str, Any]], event: dict[str, Any]) -> None:
    node = event.get("n")
    if node is not None:
        old = nodes.get(node["id"])
        if old is not None and "children" in old:
            node["children"] = old["children"]
        nodes[node["id"]] = node
        return
    link = event.get("c")
    if link is not None:
        parent = nodes.get(link[0])
        if parent is not None:
            children = parent.setdefault("children", [])
            children.insert(min(int(link[2]), len(children)), link[1])
        return
    kids = event.get("C")
    if kids is not None:
        target = nodes.get(kids[0])
        if target is not None:
            if kids[1]:
                target["children"] = list(kids[1])
            else:
                target.pop("children", None)
        return
    fields = event.get("s")
    if fields is not None:
        status = wf.setdefault("status", {})
        for key in [k for k in status if k != "nodes" and k not in fields]:
            del status[key]
        status.update(fields)


def _events(data: bytes) -> list[dict[str, Any]]:
    """The whole lines of a log (a last line without its newline was cut short)."""
    end = data.rfind(b"\n")
    if end < 0:
        return []
    body = data[:end]
    try:
        parsed = json.loads(b"[" + body.replace(b"\n", b",") + b"]")
        return [e for e in parsed if isinstance(e, dict)]
    except ValueError:  # a damaged line: keep every readable one
        out = []
        for line in body.split(b"\n"):
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                out.append(event)
        return out


def replay(wf: dict[str, Any], data: bytes) -> None:
    """Apply a log's events to the Workflow object ``wf`` (its snapshot)."""
    events = _events(data)
    if not events:
        return
    nodes = wf.setdefault("status", {}).setdefault("nodes", {})
    for event in events:
        apply_event(wf, nodes, event)
    stamp_labels(wf)


def read_record(path: Path) -> Any:
    """The record at ``path`` (``workflow.json``): its snapshot with its log replayed.
    Raises ``OSError``/``ValueError`` as reading the file does."""
    for _ in range(5):
        before = os.stat(path)
        wf = json.loads(path.read_bytes())
        if not isinstance(wf, dict):
            return wf
        gen = wf.pop(SNAPSHOT_KEY, None)
        if gen is None:
            return wf
        try:
            data = log_path(path.parent, str(gen)).read_bytes()
        except FileNotFoundError:
            try:
                folded = os.stat(path).st_ino != before.st_ino
            except FileNotFoundError:
                folded = False
            if folded:  # a newer snapshot replaced this one meanwhile: read that one
                continue
            return wf  # nothing logged since the snapshot
        replay(wf, data)
        return wf
    return wf


def summary_text(wf: dict[str, Any], status_text: str) -> str:
    """``summary.json``: the Workflow object without ``status.nodes`` (``status_text``: the
    status' own fields as JSON)."""
    rest = json.dumps(
        {k: v for k, v in wf.items() if k != "status"}, separators=(",", ":"), ensure_ascii=False
    )
    return rest[:-1] + ("," if len(rest) > 2 else "") + '"status":' + status_text + "}"


def read_summary(path: Path) -> Any:
    """The summary beside the record ``path`` when it is at least as new as the record;
    None when there is none (or an older one: the record was written by other means)."""
    summary = path.with_name(SUMMARY)
    try:
        if os.stat(summary).st_mtime_ns < os.stat(path).st_mtime_ns:
            return None
        data = json.loads(summary.read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def record_stamp(path: Path) -> tuple[int, ...]:
    """Changes whenever the record does (snapshot rewritten or log appended): for watchers."""
    st = os.stat(path)
    stamp = [st.st_ino, st.st_mtime_ns]
    for log in path.parent.glob(LOG_GLOB):
        try:
            lst = log.stat()
        except FileNotFoundError:
            continue
        stamp += [lst.st_ino, lst.st_size]
    return tuple(stamp)


def last_write(path: Path) -> float:
    """When the record was last written (snapshot or log), epoch seconds."""
    latest = os.stat(path).st_mtime
    for log in path.parent.glob(LOG_GLOB):
        try:
            latest = max(latest, log.stat().st_mtime)
        except FileNotFoundError:
            continue
    return latest


def drop_logs(folder: Path, keep: str | None) -> None:
    """Remove every log but ``keep``'s (logs of folded snapshots, of earlier processes)."""
    for log in folder.glob(LOG_GLOB):
        if keep is None or log.name != f"events.{keep}.jsonl":
            try:
                log.unlink()
            except FileNotFoundError:
                pass
