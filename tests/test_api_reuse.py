"""`api.run(..., reuse=, rerun=, reuse_steps=)`: the fix-and-rerun loop from a notebook,
the same rules as `run --reuse [RUN] --rerun --reuse-step` (tests/test_reuse_step.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dflowctl import api
from dflowctl.errors import UsageError
from tests.test_reuse_step import SPEC, WORK


def _hits(run: api.Run) -> dict[str, bool]:
    nodes = run.workflow["status"]["nodes"].values()
    return {n["displayName"]: bool(n["memoizationStatus"]["hit"]) for n in nodes if n["type"] == "Pod"}


def test_reuse_from_python(dflowctl_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops" / "work.py").write_text(WORK)
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    first = api.run(spec, home=dflowctl_home)
    assert first.succeeded and not any(_hits(first).values())
    assert api.run(spec, home=dflowctl_home, reuse=first.name).workflow["status"]["phase"] == "Succeeded"
    again = api.run(spec, home=dflowctl_home, reuse=True, rerun=["relax"])
    assert _hits(again)["prepare"] and not any(h for d, h in _hits(again).items() if d.startswith("relax("))
    # the fix: relax changes, and with it the key of prepare (one module)
    (tmp_path / "ops" / "work.py").write_text(WORK.replace("FACTOR = 10", "FACTOR = 100"))
    plain = api.run(spec, home=dflowctl_home, reuse=first.name)
    assert not _hits(plain)["prepare"]
    pinned = api.run(spec, home=dflowctl_home, reuse=first.name, reuse_steps=["prepare"])
    assert _hits(pinned)["prepare"]
    assert sorted(o["outputs"]["y"] for o in pinned.outputs("relax")) == [0, 100, 200]
    latest = api.run(spec, home=dflowctl_home, reuse="@latest")  # = pinned: its relax results
    assert all(h for d, h in _hits(latest).items() if d.startswith("relax("))
    none = api.run(spec, home=dflowctl_home, reuse=False)
    assert not any(_hits(none).values())
    with pytest.raises(UsageError, match="--reuse-step takes steps from one earlier run"):
        api.run(spec, home=dflowctl_home, reuse=True, reuse_steps=["prepare"])
