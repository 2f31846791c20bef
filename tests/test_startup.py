"""A cold `dflowctl validate` of a valid spec stays light: the startup budget
(bench/validate_startup.py: <= 0.25 s, >= 3x faster than `import dflow`) has no
room for pydantic (typer >= 0.29 imports it for command parameters: pyproject pins
typer below it) or jsonschema (spec.fastschema confirms a valid spec)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

HEAVY = ("pydantic", "pydantic_core", "jsonschema", "referencing", "rpds", "rich")


@pytest.mark.timeout(60)
def test_cold_validate_imports_nothing_heavy() -> None:
    res = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "dflowctl", "validate", "specs/hello.yaml"],
        cwd=REPO,
        env={**os.environ, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in res.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert {"dflowctl", "typer", "ruamel"} <= imported  # the probe sees imports at all
    assert [m for m in HEAVY if m in imported] == []
