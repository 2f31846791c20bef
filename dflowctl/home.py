"""Where local runs are recorded when nothing says: ``.dflowctl`` in this folder or the
nearest parent that has one (as git finds ``.git``), and a hint naming runs found nearby."""

from __future__ import annotations

import os
from pathlib import Path

HOME_DIR = ".dflowctl"
MAX_NEIGHBOURS = 200  # sub-folders looked at for a hint


def find_home(start: Path | None = None) -> Path:
    """``./.dflowctl`` if it exists, else the nearest parent's ``.dflowctl``, else ``./.dflowctl``."""
    here = (start or Path.cwd()).absolute()
    for folder in (here, *here.parents):
        candidate = folder / HOME_DIR
        if candidate.is_dir():
            return candidate if folder != here else Path(HOME_DIR)
    return Path(HOME_DIR)


def _has_runs(home: Path) -> bool:
    try:
        return any(entry.is_dir() for entry in os.scandir(home / "runs"))
    except OSError:
        return False


def elsewhere_hint(home: Path) -> str:
    """For an empty run list: where this command looked, and sub-folders that hold runs."""
    where = home.absolute()
    found: list[str] = []
    try:
        entries = sorted(os.scandir("."), key=lambda e: e.name)[:MAX_NEIGHBOURS]
    except OSError:
        entries = []
    for entry in entries:
        if entry.is_dir() and not entry.name.startswith(".") and _has_runs(Path(entry.name) / HOME_DIR):
            found.append(str(Path(entry.name) / HOME_DIR))
    if found:
        listed = ", ".join(found[:3])
        return f"hint: no runs in {where}; runs are recorded in {listed} (cd there, or set DFLOWCTL_HOME)"
    return f"hint: runs are recorded in {where}/runs (DFLOWCTL_HOME sets another place)"
