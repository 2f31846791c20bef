"""Removing pods' scratch folders off the pods' threads.

A pod's scratch folder (its staged inputs, its root and overlay folders, what it wrote)
is a dozen folders and files; removing it with ``shutil.rmtree`` in the run's process
was about a third of that process's Python time per pod outside waits, and half of its
system calls (docs/benchmarks.md). ``Trash.discard`` renames the folder into the run's
trash folder instead (one ``rename``: the folder is gone from where it was at once) and
every ``BATCH`` folders one ``rm -rf`` process removes them together, beside the run.
``close`` waits for it and removes whatever is left, so nothing outlives the run's
end; a folder that cannot be moved (another file system) is removed at once, as
before.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import threading
from pathlib import Path

BATCH = 64  # folders removed by one ``rm`` process
RM = "/bin/rm"


class Trash:
    """The run's trash folder ``folder`` (made when first used, removed by ``close``)."""

    def __init__(self, folder: Path, batch: int = BATCH) -> None:
        self.folder = folder
        self.batch = max(1, batch)
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self._remover: subprocess.Popen[bytes] | None = None
        self._names = itertools.count()
        self._usable = os.access(RM, os.X_OK)

    def discard(self, path: Path) -> None:
        """Remove ``path`` (a folder of the run), now or soon; never raises."""
        if self._usable:
            target = str(self.folder / str(next(self._names)))
            try:
                os.rename(path, target)
            except FileNotFoundError:
                if not path.exists():  # nothing to remove (it was never made)
                    return
                with contextlib.suppress(OSError):  # the trash folder itself is missing
                    self.folder.mkdir(parents=True, exist_ok=True)
                    os.rename(path, target)
            except OSError:
                pass
            if not path.exists():
                with self._lock:
                    self._pending.append(target)
                    if len(self._pending) >= self.batch:
                        self._start()
                return
        shutil.rmtree(path, ignore_errors=True)

    def _start(self) -> None:
        """Hand the pending folders to a new ``rm`` once the last one has ended (under the lock)."""
        if self._remover is not None:
            if self._remover.poll() is None:
                return  # still busy: these go with the next batch
            self._remover = None
        batch, self._pending = self._pending, []
        try:
            self._remover = subprocess.Popen(
                [RM, "-rf", "--", *batch],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={"LC_ALL": "C"},
                close_fds=True,
            )
        except OSError:
            for target in batch:
                shutil.rmtree(target, ignore_errors=True)

    def close(self) -> None:
        """Wait for the last ``rm`` and remove what is left, the trash folder too."""
        with self._lock:
            remover, self._remover = self._remover, None
            self._pending = []
        if remover is not None:
            remover.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


__all__ = ["BATCH", "Trash"]
