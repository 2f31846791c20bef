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


def test_an_unusable_home_is_one_line_not_a_traceback(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    res = run_cli("run", "specs/hello.yaml", env={"DFLOWCTL_HOME": str(blocker / "home")})
    assert res.returncode == 1
    assert "Traceback" not in res.stderr
    assert "internal error" not in res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("error: Not a directory: ")
