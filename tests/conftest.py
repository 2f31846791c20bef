"""Shared fixtures. Real parts wherever one can run here (see docs/architecture.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# loopback S3 server (moto) fixtures: s3_server, s3, s3_proxy, s3_auth (see tests/s3server.py)
pytest_plugins = ["tests.s3server"]

REPO = Path(__file__).resolve().parent.parent
SPECS = REPO / "specs"
SHARED = Path(os.environ.get("DFLOWCTL_SHARED", REPO.parent / "shared")).resolve()
ARGO_VALIDATE = SHARED / "tools" / "argo-validate"
ARGO_EXAMPLES = SHARED / "reference" / "argo" / "examples"


def require_shared() -> None:
    if not ARGO_VALIDATE.exists():
        pytest.skip(f"../shared is absent ({SHARED}): Argo's schema and examples are not available")


@pytest.fixture
def dflowctl_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private $DFLOWCTL_HOME for run records."""
    home = tmp_path / "home"
    monkeypatch.setenv("DFLOWCTL_HOME", str(home))
    monkeypatch.setenv("DFLOWCTL_CONFIG", str(tmp_path / "no-config.yaml"))
    return home


def run_cli(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `python -m dflowctl ARGS` in a subprocess (the real entry point)."""
    full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    full_env.pop("DFLOWCTL_ENGINE", None) if env is None or "DFLOWCTL_ENGINE" not in env else None
    return subprocess.run(
        [sys.executable, "-m", "dflowctl", *args],
        cwd=cwd or REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
    )
