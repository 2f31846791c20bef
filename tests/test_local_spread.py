"""A run's pod folders are spread over the disk's block groups (engines/local/spread.py, issue 16)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from dflowctl.engines.local.spread import FS_TOPDIR_FL, folder_flags, spread_subfolders
from tests.conftest import run_cli


def _lsattr(folder: Path) -> str:
    """The folder's attributes as e2fsprogs' ``lsattr -d`` prints them (read without our code)."""
    out = subprocess.run(["lsattr", "-d", str(folder)], capture_output=True, text=True, check=True)
    return out.stdout.split()[0]


def _chattr_can_mark(folder: Path) -> bool:
    """Whether this file system takes the ``T`` attribute at all (asked with e2fsprogs' chattr)."""
    probe = folder / "probe"
    probe.mkdir()
    try:
        return subprocess.run(["chattr", "+T", str(probe)], capture_output=True).returncode == 0
    finally:
        probe.rmdir()


@pytest.fixture
def ext_folder(tmp_path: Path) -> Path:
    if not (shutil.which("lsattr") and shutil.which("chattr")):
        pytest.skip("e2fsprogs' lsattr and chattr are not installed")
    if not _chattr_can_mark(tmp_path):
        pytest.skip(f"the file system of {tmp_path} has no 'T' attribute (not ext2/3/4)")
    return tmp_path


def test_a_run_s_work_folder_spreads_its_pods_folders(ext_folder: Path, dflowctl_home: Path) -> None:
    res = run_cli("run", "specs/hello.yaml")
    assert res.returncode == 0, res.stderr
    (run,) = (dflowctl_home / "runs").iterdir()
    assert "T" in _lsattr(run / "work")  # where every pod's scratch folder is made
    assert "T" not in _lsattr(run / "logs")  # only there: the rest of the record stays together
    assert "T" not in _lsattr(run)


def test_marking_a_folder_keeps_its_other_attributes_and_is_idempotent(ext_folder: Path) -> None:
    folder = ext_folder / "work"
    folder.mkdir()
    subprocess.run(["chattr", "+d", str(folder)], check=True)  # no-dump: another flag, kept
    before = folder_flags(folder)
    assert before is not None and not before & FS_TOPDIR_FL
    assert spread_subfolders(folder) is True
    assert folder_flags(folder) == before | FS_TOPDIR_FL
    assert set(_lsattr(folder)) >= {"T", "d"}
    assert spread_subfolders(folder) is True  # already marked
    assert folder_flags(folder) == before | FS_TOPDIR_FL


def test_where_the_file_system_has_no_such_flag_nothing_happens(tmp_path: Path) -> None:
    assert spread_subfolders(tmp_path / "missing") is False
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert spread_subfolders(a_file) is False  # not a folder
    assert folder_flags(a_file) is None
    shm = Path("/dev/shm")
    if shm.is_dir():  # tmpfs: no 'T' attribute; refused quietly, the folder as it was
        folder = shm / f"dflowctl-spread-{tmp_path.name}"
        folder.mkdir()
        try:
            flags = folder_flags(folder)
            assert spread_subfolders(folder) is False
            assert folder_flags(folder) == flags
        finally:
            folder.rmdir()
