"""Each tests/data/invalid/NAME.yaml has NAME.expected: the exact stderr of
`dflowctl validate tests/data/invalid/NAME.yaml`. These files are the spec of
our messages; regenerate them with DFLOWCTL_REGENERATE=1 (never in CI) and
review the diff by eye."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dflowctl.cli import main
from tests.conftest import REPO, run_cli

INVALID = REPO / "tests" / "data" / "invalid"
CASES = sorted(p.stem for p in INVALID.glob("*.yaml"))
REGENERATE = bool(os.environ.get("DFLOWCTL_REGENERATE"))


def test_enough_cases() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("name", CASES)
def test_invalid_spec_output(
    name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    code = main(["validate", f"tests/data/invalid/{name}.yaml"])
    out = capsys.readouterr()
    assert code == 2
    assert out.out == ""
    expected = INVALID / f"{name}.expected"
    if REGENERATE:
        expected.write_text(out.err, encoding="utf-8")
    assert expected.exists(), f"{expected} is missing: run with DFLOWCTL_REGENERATE=1 and review it"
    assert out.err == expected.read_text(encoding="utf-8")
    assert "Traceback" not in out.err


@pytest.mark.timeout(60)
def test_subprocess_output_is_the_same() -> None:
    """The in-process runs above print what the real command prints."""
    for name in ("unknown_key_op", "dag_cycle", "not_utf8"):
        res = run_cli("validate", f"tests/data/invalid/{name}.yaml")
        assert res.returncode == 2
        assert res.stderr == (INVALID / f"{name}.expected").read_text(encoding="utf-8")


def test_every_expected_has_a_spec() -> None:
    stray = [p.name for p in INVALID.glob("*.expected") if not Path(INVALID / (p.stem + ".yaml")).exists()]
    assert stray == []
