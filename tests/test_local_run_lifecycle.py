"""A local run's life around its process: one runner at a time (the run's lock), a runner
killed hard, a broken record, deleting a running run, large logs. Through the real CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from dflowctl.engines import RunOptions
from dflowctl.engines.local import LocalEngine
from dflowctl.engines.local.records import RunDir
from dflowctl.errors import UsageError
from dflowctl.settings import Settings
from tests.conftest import nodes_seen, run_cli, start_run, wait_for_run

pytestmark = pytest.mark.timeout(180)

SLEEPY = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: sleepy-}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: a, template: nap}
      - {name: b, template: nap}
  - name: nap
    container:
      image: busybox
      command: [sh, -c, "sleep 60"]
"""


def _write(tmp_path: Path, text: str, name: str = "wf.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _status(name: str, tmp_path: Path) -> dict:
    res = run_cli("status", name, "-o", "json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def _wait_running(home: Path, name: str, pods: int) -> None:
    wait_for_run(home, name, nodes_seen(type="Pod", phase="Running", at_least=pods), f"{pods} pod(s) Running")


def test_after_kill_9_of_the_runner_the_run_and_its_nodes_have_ended(
    dflowctl_home: Path, tmp_path: Path
) -> None:
    name = start_run(_write(tmp_path, SLEEPY), cwd=tmp_path)
    _wait_running(dflowctl_home, name, 2)
    pid = int((dflowctl_home / "runs" / name / "pid").read_text())
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    first = _status(name, tmp_path)
    status = first["status"]
    assert status["phase"] == "Failed"
    assert status["message"] == "the process running this workflow ended unexpectedly"
    for node in status["nodes"].values():
        assert node["phase"] in ("Failed", "Succeeded"), node
        assert node.get("finishedAt"), node
    pods = [n for n in status["nodes"].values() if n["type"] == "Pod"]
    assert [n["message"] for n in pods] == ["the process running this workflow ended unexpectedly"] * 2
    time.sleep(1.1)
    assert _status(name, tmp_path) == first  # nothing grows: durations included
    table = run_cli("status", name, cwd=tmp_path)
    assert "Running" not in table.stdout
    # and it can be retried (the dead runner's lock went with it)
    retry = run_cli("retry", name, "--no-wait", cwd=tmp_path)
    assert retry.returncode == 0, retry.stderr
    run_cli("stop", name, cwd=tmp_path)


def test_a_corrupt_record_is_listed_with_an_error(dflowctl_home: Path, tmp_path: Path) -> None:
    ok = run_cli("run", str(_write(tmp_path, SLEEPY.replace("sleep 60", "true"))), "-o", "json", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    good = json.loads(ok.stdout)["metadata"]["name"]
    broken = dflowctl_home / "runs" / "broken-run"
    broken.mkdir(parents=True)
    (broken / "workflow.json").write_text('{"metadata": {"name": ')
    res = run_cli("status", "-o", "json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    runs = {r["metadata"]["name"]: r["status"] for r in json.loads(res.stdout)}
    assert runs[good]["phase"] == "Succeeded"
    assert runs["broken-run"]["phase"] == "Error"
    assert runs["broken-run"]["message"].startswith("run 'broken-run': cannot read its record: ")
    table = run_cli("status", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "broken-run" in table.stdout and good in table.stdout


def test_two_retries_at_once_run_the_steps_once(
    dflowctl_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = Path("/dev/shm") / f"dflowctl-retry-{uuid.uuid4().hex}"  # shared with pods on purpose
    wf = SLEEPY.replace("sleep 60", f"echo x >> {counter}; exit 1").replace(
        "      - {name: b, template: nap}\n", ""
    )
    try:
        res = run_cli("run", str(_write(tmp_path, wf)), "-o", "json", cwd=tmp_path)
        assert res.returncode == 1, res.stderr
        name = json.loads(res.stdout)["metadata"]["name"]
        assert counter.read_text() == "x\n"
        # Both retries read the stopped record before either starts running it: the race
        # a "still running?" check loses, made certain here.
        arrived: list[int] = []
        both = threading.Event()
        real_load = RunDir.load_workflow

        def load_workflow(run: RunDir) -> dict:
            got = real_load(run)
            if threading.current_thread().name.startswith("retry-"):
                arrived.append(1)
                if len(arrived) >= 2:
                    both.set()
                both.wait(3)
            return got

        monkeypatch.setattr(RunDir, "load_workflow", load_workflow)
        engine = LocalEngine(Settings(home=dflowctl_home))
        outcomes: list[object] = []

        def retry() -> None:
            try:
                outcomes.append(engine.retry(name, RunOptions(wait=True))["status"]["phase"])
            except UsageError as err:
                outcomes.append(str(err))

        threads = [threading.Thread(target=retry, name=f"retry-{i}") for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(map(str, outcomes)) == sorted(["Failed", f"run {name!r} is still running"]), outcomes
        assert counter.read_text() == "x\nx\n"  # the step ran once more, not twice
    finally:
        counter.unlink(missing_ok=True)


def test_stop_as_soon_as_a_detached_run_starts_records_the_stop(dflowctl_home: Path, tmp_path: Path) -> None:
    """`stop` right after `run --no-wait` returns, while its process may still be starting
    Python: the run ends stopped, as a stop says, never "ended unexpectedly"."""
    engine = LocalEngine(Settings(home=dflowctl_home))
    for _ in range(3):
        name = start_run(_write(tmp_path, SLEEPY), cwd=tmp_path)
        said = engine.stop(name)
        record = RunDir(dflowctl_home / "runs" / name).load_workflow()
        for status in (said["status"], record["status"]):
            assert (status["phase"], status["message"]) == ("Failed", "Stopped with strategy 'Stop'"), status


def test_delete_of_a_running_run_stops_it_cleanly(dflowctl_home: Path, tmp_path: Path) -> None:
    env = {**os.environ, "NO_COLOR": "1"}
    fg = subprocess.Popen(
        [sys.executable, "-m", "dflowctl", "run", str(_write(tmp_path, SLEEPY))],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    runs = dflowctl_home / "runs"
    deadline = time.monotonic() + 30
    while not (runs.is_dir() and any(runs.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.05)
    name = next(runs.iterdir()).name
    _wait_running(dflowctl_home, name, 1)
    res = run_cli("delete", name, cwd=tmp_path)
    assert (res.returncode, res.stdout.strip(), res.stderr) == (0, f"{name} deleted", "")
    assert not (runs / name).exists()
    _out, err = fg.communicate(timeout=30)
    assert fg.returncode == 130, err
    assert "Traceback" not in err and "local engine" not in err
    assert not (runs / name).exists()  # nothing wrote into the removed folder


def test_logs_of_100_mb_stream_quickly_in_bounded_memory(dflowctl_home: Path, tmp_path: Path) -> None:
    res = run_cli(
        "run", str(_write(tmp_path, SLEEPY.replace("sleep 60", "echo first"))), "-o", "json", cwd=tmp_path
    )
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    name = out["metadata"]["name"]
    pod = next(n for n in out["status"]["nodes"].values() if n["type"] == "Pod" and n["displayName"] == "a")
    line = b"a line of log text that is about eighty characters long, more or less, it is" + b"\n"
    count = 100_000_000 // len(line)
    with open(dflowctl_home / "runs" / name / "logs" / f"{pod['id']}.log", "ab") as fh:
        for _ in range(count // 10_000):
            fh.write(line * 10_000)
    probe = (
        "import resource, subprocess, sys, time\n"
        "t = time.monotonic()\n"
        "with open(sys.argv[1], 'wb') as out:\n"
        "    cmd = [sys.executable, '-m', 'dflowctl', 'logs', sys.argv[2]]\n"
        "    rc = subprocess.run(cmd, stdout=out).returncode\n"
        "print(rc, time.monotonic() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    printed = tmp_path / "printed.txt"
    res = subprocess.run(
        [sys.executable, "-c", probe, str(printed), name],
        cwd=tmp_path,
        env={**os.environ, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=170,
    )
    rc, seconds, max_kb = res.stdout.split()
    assert rc == "0", res.stderr
    assert float(seconds) < 30, seconds  # was ~1.5 MB/s: over a minute
    assert int(max_kb) < 150_000, max_kb  # was several times the log's size
    with open(printed, "rb") as fh:
        assert fh.readline() == b"a: first\n"
        assert fh.readline() == b"a: " + line
    assert printed.stat().st_size == len(b"a: first\n") + count // 10_000 * 10_000 * (len(line) + 3) + len(
        b"b: first\n"
    )
