"""A local run's pod logs as lines, streamed: bounded memory, whatever the logs' size.

Each pod's log (``logs/<node-id>.log``) is read in chunks from where the last read
ended; only an unfinished last line is kept between reads (and a line longer than a
chunk is given in pieces). ``follow`` keeps reading until the run ends. With
``timestamps`` each line also gets the time its first byte came
(``logs/<node-id>.times``: ``logtimes``), read alongside, forwards only; a log kept
without times (a reused step's note) gets its pod's start.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from dflowctl.argo import FULFILLED
from dflowctl.engines import LogBlock, LogLine, Workflow
from dflowctl.engines.local.logtimes import TimeIndex, stamp, times_path
from dflowctl.engines.local.records import RunDir
from dflowctl.engines.local.runlog import record_stamp

CHUNK = 1 << 20  # bytes read at a time
FOLLOW_POLL = 0.2


def stream_logs(
    run: RunDir,
    load: Callable[[RunDir], Workflow],
    node_ids: list[str] | None,
    follow: bool,
    timestamps: bool = False,
) -> Iterator[LogLine]:
    """Lines of the pods (``node_ids``: only these), in the order they started; ``load``
    reads the record (and says how a run whose process is gone ended)."""
    for block in stream_log_blocks(run, load, node_ids, follow, timestamps):
        yield from block.lines()


def stream_log_blocks(
    run: RunDir,
    load: Callable[[RunDir], Workflow],
    node_ids: list[str] | None,
    follow: bool,
    timestamps: bool = False,
) -> Iterator[LogBlock]:
    """As ``stream_logs``, whole lines at a time (up to a chunk of them): for printing."""
    offsets: dict[str, int] = {}
    partial: dict[str, bytes] = {}
    indexes: dict[str, TimeIndex] | None = {} if timestamps else None
    wf: Workflow | None = None
    seen: tuple[int, ...] = ()
    wanted = set(node_ids) if node_ids else None
    try:
        while True:
            # The record is parsed again only when it changed (a big fan-out's is large),
            # or when its process is gone (then ``load`` says how it ended).
            try:
                mtime = record_stamp(run.workflow)
            except FileNotFoundError:
                mtime = ()  # ``load`` says the run has no record
            if wf is None or mtime != seen or not mtime or not run.is_running():
                wf = load(run)
                seen = mtime
            finished = bool((wf.get("status") or {}).get("finishedAt"))
            nodes = (wf.get("status") or {}).get("nodes") or {}
            pods = [
                n for n in nodes.values() if n.get("type") == "Pod" and (wanted is None or n["id"] in wanted)
            ]
            pods.sort(key=lambda n: (n.get("startedAt") or "", n.get("name", "")))
            for node in pods:
                done = node.get("phase") in FULFILLED or not follow
                yield from _pod_blocks(run, node, offsets, partial, done, indexes)
            if not follow or finished:
                return
            time.sleep(FOLLOW_POLL)
    finally:
        for index in (indexes or {}).values():
            index.close()


def _pod_blocks(
    run: RunDir,
    node: dict[str, Any],
    offsets: dict[str, int],
    partial: dict[str, bytes],
    done: bool,
    indexes: dict[str, TimeIndex] | None,
) -> Iterator[LogBlock]:
    nid = str(node["id"])
    display = str(node.get("displayName", node["name"]))
    log_path = run.log_path(nid)
    try:
        fh = open(log_path, "rb")  # noqa: SIM115 - closed below, across yields
    except FileNotFoundError:
        return
    index: TimeIndex | None = None
    if indexes is not None:
        index = indexes.get(nid) or indexes.setdefault(nid, TimeIndex(times_path(log_path)))

    def block(data: bytes, at: int) -> LogBlock:
        text = data.decode("utf-8", errors="replace")
        if index is None:
            return LogBlock(nid, display, text)
        return LogBlock(nid, display, text, _times(index, data, at, str(node.get("startedAt") or "")))

    with fh:
        fh.seek(offsets.get(nid, 0))
        while True:
            data = fh.read(CHUNK)
            if not data:
                break
            offsets[nid] = fh.tell()
            data = partial.pop(nid, b"") + data
            base = offsets[nid] - len(data)  # where ``data`` starts in the log
            end = data.rfind(b"\n")
            whole, rest = (data[:end], data[end + 1 :]) if end >= 0 else (None, data)
            if whole is not None:
                yield block(whole, base)
            if len(rest) >= CHUNK:  # a line longer than a chunk: give what there is
                yield block(rest, base + end + 1)
            elif rest:
                partial[nid] = rest
    if done and nid in partial:
        rest = partial.pop(nid)
        yield block(rest, offsets.get(nid, 0) - len(rest))


def _times(index: TimeIndex, data: bytes, at: int, fallback: str) -> tuple[str, ...]:
    """The time of each line of ``data`` (which starts at offset ``at`` of the log)."""
    times = []
    pos = at
    last: float | None = None
    shown = fallback
    for line in data.split(b"\n"):
        when = index.time_at(pos)
        if when != last:  # lines of one chunk share its time: format it once
            last, shown = when, stamp(when) if when is not None else fallback
        times.append(shown)
        pos += len(line) + 1
    return tuple(times)
