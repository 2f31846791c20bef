"""bench/pod_floor.py runs the pod shape's kernel work through the engine's own view and
cleans up after itself (the numbers are the bench's business, not the test's)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


def test_the_floor_runs_each_layer_and_leaves_nothing(tmp_path: Path) -> None:
    args = ["--n", "12", "--workers", "2", "--scratch", str(tmp_path), "--no-dflowctl"]
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "pod_floor.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    if "SKIPPED" in proc.stdout:
        pytest.skip(proc.stdout.strip())
    rows = [line.split()[0:2] for line in proc.stdout.splitlines() if "ms CPU/item" in line]
    assert rows == [["fork", "+"], ["+", "private"], ["+", "the"], ["(folders", "not"]], proc.stdout
    assert list(tmp_path.iterdir()) == []
