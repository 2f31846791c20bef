"""Pods' scratch folders are removed beside the run (engines/local/trash.py, issue 16 item 3)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dflowctl.engines.local import trash as trash_mod
from dflowctl.engines.local.trash import Trash
from tests.conftest import REPO, run_cli


def _scratch(base: Path, n: int) -> Path:
    folder = base / f"pod-{n}"
    (folder / "pod" / "root" / "tmp" / "deep").mkdir(parents=True)
    (folder / "pod" / "root" / "tmp" / "deep" / "out.txt").write_text("x" * 100)
    (folder / "pod" / "link").symlink_to("/etc")  # a link is removed, never followed
    locked = folder / "pod" / "locked"
    locked.mkdir()
    (locked / "f").write_text("y")
    locked.chmod(0o500)  # as the kernel leaves an overlay's work folder (root removes it all the same)
    return folder


@pytest.mark.skipif(not os.access(trash_mod.RM, os.X_OK), reason="no /bin/rm here")
def test_discarded_folders_go_at_once_and_are_removed_in_batches(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    bin_ = Trash(work / ".trash", batch=2)
    folders = [_scratch(work, n) for n in range(5)]
    for folder in folders:
        bin_.discard(folder)
        assert not folder.exists()  # moved out of the way at once
    bin_.discard(work / "never-made")  # nothing there: nothing to do, no error
    assert bin_._remover is not None  # two batches went to `rm`
    bin_._remover.wait()
    left = sorted(p.name for p in (work / ".trash").iterdir())
    assert len(left) <= 3  # the first batch (or two) gone, the rest waits for the next batch or close
    bin_.close()
    assert sorted(p.name for p in work.iterdir()) == []
    assert Path("/etc").is_dir()


def test_without_rm_a_folder_is_removed_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trash_mod, "RM", str(tmp_path / "no-rm"))
    bin_ = Trash(tmp_path / ".trash")
    folder = _scratch(tmp_path, 0)
    os.chmod(folder / "pod" / "locked", 0o700)
    bin_.discard(folder)
    assert not folder.exists()
    assert not (tmp_path / ".trash").exists()
    bin_.close()


def test_a_fan_out_leaves_no_scratch_folder(dflowctl_home: Path) -> None:
    n = trash_mod.BATCH + 6  # more than one batch, and some left for the run's end
    res = run_cli("run", str(REPO / "specs" / "fanout.yaml"), "-p", f"n={n}", timeout=300)
    assert res.returncode == 0, res.stderr
    assert f"total = {sum(i * i for i in range(n))}" in res.stdout
    (run,) = (dflowctl_home / "runs").iterdir()
    assert sorted(p.name for p in (run / "work").iterdir()) == []
