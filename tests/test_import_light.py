"""A cold `python -m dflowctl validate` never imports kubernetes or minio."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

HEAVY = ("kubernetes", "minio")


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "spec", ["tests/data/valid/everything.yaml", "tests/data/invalid/unknown_output.yaml"]
)
def test_validate_does_not_import_heavy_modules(spec: str) -> None:
    env = {**os.environ, "NO_COLOR": "1"}
    res = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "dflowctl", "validate", spec],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode in (0, 2), res.stderr
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in res.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "dflowctl" in imported and "jsonschema" in imported  # the probe sees imports at all
    assert [m for m in HEAVY if m in imported] == []
