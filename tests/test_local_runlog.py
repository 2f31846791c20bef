"""The run record while a run goes on: a snapshot plus an append-only event log
(``engines/local/runlog.py``, written by ``recorder.StatusWriter``). Readers see the same
Argo-shaped Workflow as the process running it; a crash at any point leaves a readable
record; writes cost what changed, not the size of the run."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from dflowctl.argo import node_id
from dflowctl.engines.local import recorder, runlog
from dflowctl.engines.local.recorder import StatusWriter
from dflowctl.engines.local.records import RunDir
from dflowctl.engines.local.status import NodeBook
from tests.conftest import nodes_seen, run_cli, start_run, wait_for_run

pytestmark = pytest.mark.timeout(180)


def _book() -> NodeBook:
    wf = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "w"}, "spec": {}}
    book = NodeBook(wf)
    book.status["phase"] = "Running"
    return book


def _expected(book: NodeBook) -> dict[str, Any]:
    """What a reader must see: the book's whole Workflow object, as a final snapshot has it."""
    return json.loads(book.snapshot_text())


def _fan_out(book: NodeBook, n: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    root = book.create("w", "w", "Steps", "main", None)
    group = book.create("w[0]", "[0]", "StepGroup", None, root["id"])
    book.add_child(root["id"], group["id"])
    names = [f"w[0].sq({i}:{i})" for i in range(n)]
    book.reserve(group["id"], [node_id("w", x) for x in names])
    return group, [
        {"name": x, "display": f"sq({i}:{i})", "group": group["id"], "root": root["id"]}
        for i, x in enumerate(names)
    ]


def test_readers_see_what_the_process_has_after_events_and_folds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recorder, "FOLD_MIN", 2000)  # fold often: every path is taken
    book = _book()
    path = tmp_path / "workflow.json"
    writer = StatusWriter(book, path, None)
    writer.flush()  # the first write is a snapshot naming its log
    assert runlog.SNAPSHOT_KEY in json.loads(path.read_text())
    group, items = _fan_out(book, 40)
    # items start out of order (the children keep the declared order) and finish
    order = list(range(40))[::3] + [i for i in range(40) if i % 3]
    folds = set()
    for step, i in enumerate(order):
        it = items[i]
        book.link_on_create(node_id("w", it["name"]), [it["group"]])
        node = book.create(it["name"], it["display"], "Pod", "sq", it["root"], phase="Pending")
        book.update(node, phase="Running")
        if step % 4 == 0:
            writer.flush()
            folds.add(json.loads(path.read_text()).get(runlog.SNAPSHOT_KEY))
        book.finish(node, "Succeeded", outputs={"parameters": [{"name": "y", "value": str(i * i)}]})
        if step % 5 == 0:
            writer.flush()
            assert runlog.read_record(path) == _expected(book)
    book.finish(group, "Succeeded")
    writer.flush()
    assert len(folds) > 2, "the log was folded into new snapshots as it grew"
    assert len(list(tmp_path.glob(runlog.LOG_GLOB))) == 1  # the folded logs are gone
    seen = runlog.read_record(path)
    assert seen == _expected(book)
    assert seen["status"]["progress"] == "40/40"
    assert seen["status"]["nodes"][group["id"]]["children"] == [node_id("w", it["name"]) for it in items]
    assert seen["metadata"]["labels"] == {
        "workflows.argoproj.io/phase": "Running",
        "workflows.argoproj.io/completed": "false",
    }
    # the end: one plain snapshot in Argo's shape, no log
    book.status["phase"] = "Succeeded"
    book.status["finishedAt"] = "2026-01-01T00:00:00Z"
    writer.close()
    final = json.loads(path.read_text())
    assert runlog.SNAPSHOT_KEY not in final
    assert list(tmp_path.glob(runlog.LOG_GLOB)) == []
    assert final == _expected(book) == runlog.read_record(path)


def test_a_write_between_folds_costs_what_changed_not_the_run(tmp_path: Path) -> None:
    book = _book()
    path = tmp_path / "workflow.json"
    writer = StatusWriter(book, path, None)
    _group, items = _fan_out(book, 3000)
    nodes = []
    for it in items:
        book.link_on_create(node_id("w", it["name"]), [it["group"]])
        nodes.append(book.create(it["name"], it["display"], "Pod", "sq", it["root"], phase="Succeeded"))
    writer.flush()
    snapshot = path.stat().st_size
    assert snapshot > 500_000
    book.update(nodes[7], phase="Failed", message="exit 1")
    writer.flush()
    (log,) = tmp_path.glob(runlog.LOG_GLOB)
    assert log.stat().st_size < 2_000  # one node and the status' own fields
    assert path.stat().st_size == snapshot  # the snapshot was not rewritten
    assert runlog.read_record(path)["status"]["nodes"][nodes[7]["id"]]["message"] == "exit 1"
    assert runlog.read_record(path)["status"]["progress"] == "2999/3000"
    # the status' own fields go to the log too; a change by hand (touch()) gets a snapshot
    book.status["message"] = "child failed"
    book.touch_status()
    writer.flush()
    assert path.stat().st_size == snapshot
    assert runlog.read_record(path)["status"]["message"] == "child failed"
    book.nodes[nodes[8]["id"]]["phase"] = "Error"
    book.touch()
    writer.flush()
    assert path.stat().st_size != snapshot
    assert runlog.read_record(path) == _expected(book)


def test_a_line_cut_short_by_a_crash_is_left_out(tmp_path: Path) -> None:
    book = _book()
    path = tmp_path / "workflow.json"
    writer = StatusWriter(book, path, None)
    writer.flush()
    node = book.create("w", "w", "Pod", "t", None)
    writer.flush()
    before = runlog.read_record(path)
    (log,) = tmp_path.glob(runlog.LOG_GLOB)
    with open(log, "ab") as fh:  # the process died in the middle of a write
        fh.write(b'{"n":{"id":"' + node["id"].encode() + b'","phase":"Succ')
    assert runlog.read_record(path) == before
    assert before["status"]["nodes"][node["id"]]["phase"] == "Running"


def test_a_crash_in_the_middle_of_a_fold_leaves_the_newer_snapshot(tmp_path: Path) -> None:
    book = _book()
    path = tmp_path / "workflow.json"
    writer = StatusWriter(book, path, None)
    writer.flush()
    node = book.create("w", "w", "Pod", "t", None)
    writer.flush()
    (old_log,) = tmp_path.glob(runlog.LOG_GLOB)
    kept = old_log.read_bytes()
    book.finish(node, "Succeeded")
    writer._fold(False)  # a new snapshot ...
    old_log.write_bytes(kept)  # ... and the old log still there: the crash came before its removal
    seen = runlog.read_record(path)
    assert seen["status"]["nodes"][node["id"]]["phase"] == "Succeeded"
    assert seen == _expected(book)


def test_records_of_earlier_versions_and_ended_runs_are_read_as_they_are(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "r")
    run.create()
    wf = {"metadata": {"name": "r"}, "status": {"phase": "Succeeded", "nodes": {}}}
    run.workflow.write_text(json.dumps(wf))
    assert run.load_workflow() == wf


SLOW_FAN_OUT = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: fan-}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: item
        template: nap
        arguments: {parameters: [{name: i, value: "{{item}}"}]}
        withSequence: {count: "40"}
  - name: nap
    inputs: {parameters: [{name: i}]}
    container:
      image: busybox
      command: [sh, -c, 'if [ {{inputs.parameters.i}} -lt 6 ]; then echo done; else sleep 60; fi']
"""


def test_kill_9_mid_run_leaves_the_logged_events_readable(dflowctl_home: Path, tmp_path: Path) -> None:
    spec = tmp_path / "fan.yaml"
    spec.write_text(SLOW_FAN_OUT)
    name = start_run(spec, "--parallelism", "10", cwd=tmp_path)
    folder = dflowctl_home / "runs" / name
    done, going = (
        nodes_seen(type="Pod", phase="Succeeded", at_least=6),
        nodes_seen(type="Pod", phase="Running", at_least=10),
    )
    wait_for_run(
        dflowctl_home, name, lambda wf: done(wf) and going(wf), "6 pods Succeeded, 10 Running", timeout=90
    )
    assert list(folder.glob(runlog.LOG_GLOB)), "mid-run, changes are in the event log"
    pid = int((folder / "pid").read_text())
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:  # gone, its lock with it
        time.sleep(0.05)
    got = json.loads(run_cli("status", name, "-o", "json", cwd=tmp_path).stdout)["status"]
    assert got["phase"] == "Failed"
    assert got["message"] == "the process running this workflow ended unexpectedly"
    pods = [n for n in got["nodes"].values() if n["type"] == "Pod"]
    assert sorted(n["displayName"] for n in pods if n["phase"] == "Succeeded") == [
        f"item({i}:{i})" for i in range(6)
    ]
    assert all(n["outputs"]["result"] == "done" for n in pods if n["phase"] == "Succeeded")
    assert sum(n["phase"] == "Failed" for n in pods) == 34  # running or waiting when it died
    # the run list reads the small summary beside the record, and says the same
    assert (folder / runlog.SUMMARY).is_file()
    table = run_cli("status", cwd=tmp_path).stdout.splitlines()
    row = next(line for line in table if line.startswith(name))
    assert row.split()[1] == "Failed" and row.endswith("the process running this workflow ended unexpectedly")
    run_cli("delete", name, cwd=tmp_path)


def _engine(home: Path) -> Any:
    from dflowctl.engines.local import LocalEngine
    from dflowctl.settings import Settings

    return LocalEngine(Settings(home=home))


def test_the_run_list_reads_summaries_that_say_what_the_record_says(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "runs" / "w")
    run.create()
    book = _book()
    book.wf["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
    writer = StatusWriter(book, run.workflow, None)
    writer.flush()
    _group, items = _fan_out(book, 5)
    for it in items:
        book.create(it["name"], it["display"], "Pod", "sq", it["root"], phase="Succeeded")
    writer.flush()
    engine = _engine(tmp_path)
    full = engine.list_runs()
    (summary,) = engine.list_summaries()
    assert summary["status"]["progress"] == "5/5"
    assert summary == {**full[0], "status": {k: v for k, v in full[0]["status"].items() if k != "nodes"}}
    # a record written by other means later (retry --no-wait) makes the summary stale: not used
    time.sleep(0.01)
    record = json.loads(run.workflow.read_text())
    record["status"]["phase"] = "Failed"
    record.pop(runlog.SNAPSHOT_KEY)
    run.workflow.write_text(json.dumps(record))
    assert engine.list_summaries()[0]["status"]["phase"] == "Failed"


def test_the_end_of_a_run_does_not_wait_out_the_pause_between_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer pauses ``WRITE_INTERVAL`` after each write; ``close`` (the run's end) ends
    that pause instead of waiting for it (it was up to a quarter of a second of every run)."""
    monkeypatch.setattr(recorder, "WRITE_INTERVAL", 600)
    book = _book()
    writer = StatusWriter(book, tmp_path / "workflow.json", None)
    writer.start()
    book.create("w", "w", "Pod", "t", None)
    deadline = time.monotonic() + 30
    while writer._written != book.version and time.monotonic() < deadline:
        time.sleep(0.01)
    assert writer._written == book.version  # written once: the writer now pauses
    writer.close()
    assert not writer._thread.is_alive()  # the old code: still asleep after close's 5 s join
    assert runlog.read_record(tmp_path / "workflow.json") == _expected(book)
