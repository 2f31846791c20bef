from __future__ import annotations

from dflowctl import __version__
from tests.conftest import run_cli


def test_version() -> None:
    res = run_cli("--version")
    assert res.returncode == 0
    assert res.stdout.strip() == f"dflowctl {__version__}"


def test_unknown_flag_is_a_usage_error() -> None:
    res = run_cli("--bogus")
    assert res.returncode == 2
    assert "No such option: --bogus" in res.stderr
    assert "Traceback" not in res.stderr
