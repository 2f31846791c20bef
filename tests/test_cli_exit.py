"""The command ends the process as Python's exit does, minus tearing down the modules it
imported (cli._exit): threads waited for, atexit handlers run, every byte of output
written, the exit code kept."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.timeout(60)

PROGRAM = """
import atexit, sys, threading, time
from pathlib import Path
marks = Path(sys.argv[1])

def late():
    time.sleep(0.3)
    (marks / "thread").write_text("done")

class TornDown:
    def __del__(self):
        (marks / "teardown").write_text("ran")

kept = TornDown()  # freed only by the interpreter's teardown of its modules
atexit.register(lambda: (marks / "atexit").write_text("ran"))
threading.Thread(target=late).start()
sys.argv = ["dflowctl", *sys.argv[2:]]
from dflowctl.cli import main
main()
"""


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROGRAM, str(tmp_path), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "DFLOWCTL_HOME": str(tmp_path / "home")},
    )


def test_the_end_of_a_command_keeps_what_exit_does_without_the_teardown(tmp_path: Path) -> None:
    res = _run(tmp_path, "render", "specs/fanout.yaml", "-o", "json")
    assert res.returncode == 0, res.stderr
    whole = subprocess.run(
        [sys.executable, "-m", "dflowctl", "render", "specs/fanout.yaml", "-o", "json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.stdout == whole.stdout and len(res.stdout) > 1000  # all of it, flushed
    assert (tmp_path / "thread").read_text() == "done"  # a non-daemon thread was waited for
    assert (tmp_path / "atexit").read_text() == "ran"
    assert not (tmp_path / "teardown").exists()  # the modules were not torn down


def test_the_exit_code_is_the_commands(tmp_path: Path) -> None:
    res = _run(tmp_path, "validate", "tests/data/invalid/dag_cycle.yaml")
    assert res.returncode == 2
    assert "cycle" in res.stderr and (tmp_path / "atexit").exists()


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path: Path) -> None:
    spec = tmp_path / "seq.yaml"
    spec.write_text(
        "apiVersion: dflowctl/v1alpha1\nkind: Workflow\nmetadata: {name: seq}\nspec:\n"
        "  ops:\n    s: {image: 'alpine:3', script: 'seq 1 300000'}\n  steps:\n    - {name: s, op: s}\n",
        encoding="utf-8",
    )
    env = {"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "DFLOWCTL_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-m", "dflowctl", "run", str(spec)],
        cwd=REPO,
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    reader = subprocess.Popen(
        [sys.executable, "-m", "dflowctl", "logs", "@latest"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert reader.stdout is not None and reader.stderr is not None
    assert reader.stdout.read(8) == b"s: 1\ns: "
    reader.stdout.close()  # `dflowctl logs @latest | head -3`
    err = reader.stderr.read()
    assert reader.wait(60) == 1
    assert err == b""  # no traceback, no "Exception ignored" from the last flush
