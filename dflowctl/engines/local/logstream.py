"""A local run's pod logs as lines, streamed: bounded memory, whatever the logs' size.

Each pod's log (``logs/<node-id>.log``) is read in chunks from where the last read
ended; only an unfinished last line is kept between reads (and a line longer than a
chunk is given in pieces). ``follow`` keeps reading until the run ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from dflowctl.argo import FULFILLED
from dflowctl.engines import LogBlock, LogLine, Workflow
from dflowctl.engines.local.records import RunDir
from dflowctl.engines.local.runlog import record_stamp

CHUNK = 1 << 20  # bytes read at a time
FOLLOW_POLL = 0.2


def stream_logs(
    run: RunDir, load: Callable[[RunDir], Workflow], node_ids: list[str] | None, follow: bool
) -> Iterator[LogLine]:
    """Lines of the pods (``node_ids``: only these), in the order they started; ``load``
    reads the record (and says how a run whose process is gone ended)."""
    for block in stream_log_blocks(run, load, node_ids, follow):
        for line in block.text.split("\n"):
            yield LogLine(block.node_id, block.node_name, line)


def stream_log_blocks(
    run: RunDir, load: Callable[[RunDir], Workflow], node_ids: list[str] | None, follow: bool
) -> Iterator[LogBlock]:
    """As ``stream_logs``, whole lines at a time (up to a chunk of them): for printing."""
    offsets: dict[str, int] = {}
    partial: dict[str, bytes] = {}
    wf: Workflow | None = None
    seen: tuple[int, ...] = ()
    wanted = set(node_ids) if node_ids else None
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
        pods = [n for n in nodes.values() if n.get("type") == "Pod" and (wanted is None or n["id"] in wanted)]
        pods.sort(key=lambda n: (n.get("startedAt") or "", n.get("name", "")))
        for node in pods:
            done = node.get("phase") in FULFILLED or not follow
            yield from _pod_blocks(run, node, offsets, partial, done)
        if not follow or finished:
            return
        time.sleep(FOLLOW_POLL)


def _pod_blocks(
    run: RunDir, node: dict[str, Any], offsets: dict[str, int], partial: dict[str, bytes], done: bool
) -> Iterator[LogBlock]:
    nid = str(node["id"])
    display = str(node.get("displayName", node["name"]))
    try:
        fh = open(run.log_path(nid), "rb")  # noqa: SIM115 - closed below, across yields
    except FileNotFoundError:
        return
    with fh:
        fh.seek(offsets.get(nid, 0))
        while True:
            data = fh.read(CHUNK)
            if not data:
                break
            offsets[nid] = fh.tell()
            data = partial.pop(nid, b"") + data
            end = data.rfind(b"\n")
            whole, rest = (data[:end], data[end + 1 :]) if end >= 0 else (None, data)
            if whole is not None:
                yield LogBlock(nid, display, whole.decode("utf-8", errors="replace"))
            if len(rest) >= CHUNK:  # a line longer than a chunk: give what there is
                yield LogBlock(nid, display, rest.decode("utf-8", errors="replace"))
            elif rest:
                partial[nid] = rest
    if done and nid in partial:
        yield LogBlock(nid, display, partial.pop(nid).decode("utf-8", errors="replace"))
