"""Fuzzing through the real CLI entry point: mutated specs, parameter files, Argo
files and ``-p`` values (a seeded mutator, ``tests/fuzz.py``) must each end with exit
0 or 2 — never a traceback or an internal error — in bounded time and memory.

DFLOWCTL_FUZZ_SEED / DFLOWCTL_FUZZ_CASES change the run (defaults keep it < 60 s)."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys

import pytest

from tests.conftest import REPO

SEED = int(os.environ.get("DFLOWCTL_FUZZ_SEED", "8"))
CASES = int(os.environ.get("DFLOWCTL_FUZZ_CASES", "400"))
MEMORY_CAP = 2 << 30  # the whole worker: every case stays far below
CASE_SECONDS = 10.0


@pytest.mark.timeout(240)
def test_fuzzed_inputs_end_in_exit_0_or_2() -> None:
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))

    proc = subprocess.run(
        [sys.executable, "-m", "tests.fuzz", str(SEED), str(CASES)],
        cwd=REPO,
        env={**os.environ, "NO_COLOR": "1", "DFLOWCTL_CONFIG": "/nonexistent/dflowctl-config.yaml"},
        capture_output=True,
        text=True,
        timeout=230,
        preexec_fn=cap,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len({r["case"] for r in results}) == CASES
    wrong = [r for r in results if r["bad"] or r["code"] not in (0, 2)]
    assert wrong == [], json.dumps(wrong[:5], indent=1)
    slow = [r for r in results if r["seconds"] > CASE_SECONDS]
    assert slow == [], slow[:5]
    # the mutator reaches both outcomes (a fuzz test that only sees errors tests little)
    assert {r["code"] for r in results} == {0, 2}
