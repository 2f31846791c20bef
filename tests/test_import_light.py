"""A cold `python -m dflowctl validate` never imports kubernetes or minio."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

HEAVY = ("kubernetes", "minio")


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "spec", ["tests/data/valid/everything.yaml", "tests/data/invalid/unknown_output.yaml"]
)
def test_validate_does_not_import_heavy_modules(spec: str) -> None:
    imported = _imported_by_validate(spec)
    assert "dflowctl" in imported and "ruamel" in imported  # the probe sees imports at all
    assert [m for m in HEAVY if m in imported] == []


@pytest.mark.timeout(60)
def test_validate_small_spec_skips_pyyaml() -> None:
    """Below spec.load.FAST_PATH_MIN_CHARS ruamel alone parses the file: PyYAML's
    import would cost more than it saves."""
    from dflowctl.spec.load import FAST_PATH_MIN_CHARS

    spec = "specs/hello.yaml"
    assert len((REPO / spec).read_text(encoding="utf-8")) < FAST_PATH_MIN_CHARS
    imported = _imported_by_validate(spec)
    assert "ruamel" in imported and "yaml" not in imported


def _imported_by_validate(spec: str) -> set[str]:
    return {name.split(".")[0] for name in _imported_by("validate", spec, cwd=REPO)}


def _imported_by(
    *args: str, cwd: Path, env: dict[str, str] | None = None, ok: tuple[int, ...] = (0, 2)
) -> set[str]:
    """The modules a cold `python -m dflowctl ARGS` (ending with an exit code in ``ok``)
    imports (full dotted names)."""
    res = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "dflowctl", *args],
        cwd=cwd,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode in ok, res.stderr
    return {
        line.split("|")[-1].strip() for line in res.stderr.splitlines() if line.startswith("import time:")
    }


@pytest.mark.timeout(120)
def test_readers_of_a_local_run_do_not_import_the_controller(tmp_path: Path) -> None:
    """`status` (and the other readers) need the local engine's records, not the
    controller that runs pods: its import cost every reader a fifth of a second."""
    imported = _imported_by("status", cwd=tmp_path, env={"DFLOWCTL_HOME": str(tmp_path / "home")}, ok=(0,))
    assert "dflowctl.engines.local.engine" in imported  # the probe sees the engine's import
    assert "dflowctl.engines.local.controller" not in imported


@pytest.mark.timeout(300)
def test_a_report_of_a_local_run_does_not_import_rich(tmp_path: Path) -> None:
    """`report` writes a file and prints its path: nothing of `rich` (the console) is
    needed for that, and its import cost every report a few hundredths of a second."""
    from tests.conftest import SPECS, run_cli

    env = {"DFLOWCTL_HOME": str(tmp_path / "home"), "DFLOWCTL_CONFIG": str(tmp_path / "no-config.yaml")}
    res = run_cli("run", str(SPECS / "hello.yaml"), cwd=tmp_path, env=env, timeout=240)
    assert res.returncode == 0, res.stderr
    page = tmp_path / "page.html"
    imported = _imported_by("report", "@latest", "-o", str(page), cwd=tmp_path, env=env, ok=(0,))
    assert "dflowctl.report.html" in imported
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert not {name for name in imported if name == "rich" or name.startswith("rich.")}
