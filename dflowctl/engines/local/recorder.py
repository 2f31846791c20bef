"""Recording a run as it goes: ``StatusWriter`` takes what changed in the ``NodeBook``
a few times a second and appends it to the run's event log, folds the log into a new
snapshot once it is as large as the last one (``runlog`` has the format and the
readers), keeps ``summary.json`` (the record without its nodes) up to date, and hands
the display (``on_update``) the run as often as it can keep up with.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dflowctl.engines.local import runlog
from dflowctl.engines.local.records import write_atomic

if TYPE_CHECKING:
    from dflowctl.engines.local.status import NodeBook

WRITE_INTERVAL = 0.25  # seconds between two writes of the record while running
FOLD_MIN = 1 << 20  # bytes of log before a fold is worth it; else: once the log is as big as the snapshot
UPDATE_SHARE = 20  # on_update (the live view) may take at most 1/UPDATE_SHARE of the time


class StatusWriter:
    """Records the run's status: events appended at most every ``WRITE_INTERVAL`` s while
    the run changes, a snapshot when the log has grown as large as the last one."""

    def __init__(
        self, book: NodeBook, path: Path, on_update: Callable[[dict[str, Any]], None] | None
    ) -> None:
        self.book = book
        self.path = path
        self.on_update = on_update
        self._stop = threading.Event()
        self._written = -1
        self._io = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="dflowctl-status", daemon=True)
        self._token = secrets.token_hex(4)
        self._folds = 0
        self._gen: str | None = None  # the log continuing the last snapshot (None: none yet)
        self._fd: int | None = None
        self._snapshot_bytes = 0
        self._log_bytes = 0
        self._next_update = 0.0  # monotonic: the next on_update may run from then
        self._shown = -1  # the version the display last got

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.book.changed.wait(0.5)
            if self._stop.is_set():
                break
            if self.book.version != self._written:
                self.flush()
                self._stop.wait(WRITE_INTERVAL)  # close() ends the pause: the run's end waits for no timer
            elif self._shown != self._written:
                self._notify(False)

    def flush(self, final: bool = False) -> None:
        with self._io:
            self.book.changed.clear()
            version = self.book.version
            limit = max(FOLD_MIN, self._snapshot_bytes)
            before = self.book.status_json
            fold = final or self._gen is None or self.book.needs_fold() or self._log_bytes >= limit
            if fold:
                self._fold(final)
            else:
                self._append(self.book.take_events())
            if fold or self.book.status_json != before:  # never older than the snapshot
                write_atomic(self.path.with_name(runlog.SUMMARY), self.book.summary())
            self._written = version
            self._notify(final)

    def _fold(self, final: bool) -> None:
        self._folds += 1
        gen = None if final else f"{self._token}-{self._folds}"
        text = self.book.snapshot_text(gen)
        write_atomic(self.path, text)
        self._close_log()
        runlog.drop_logs(self.path.parent, gen)
        self._gen = gen
        self._snapshot_bytes = len(text)
        self._log_bytes = 0

    def _append(self, data: bytes) -> None:
        if not data or self._gen is None:
            return
        if self._fd is None:
            log = runlog.log_path(self.path.parent, self._gen)
            self._fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        self._log_bytes += len(data)

    def _close_log(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _notify(self, final: bool) -> None:
        """The display gets the run, as often as it can keep up with (at most a
        ``1/UPDATE_SHARE`` of the time goes into it); always the last state."""
        if self.on_update is None:
            return
        if not final and time.monotonic() < self._next_update:
            return
        self._shown = self._written
        t0 = time.monotonic()
        try:
            self.on_update(self.book.view())
        except Exception:  # a display problem must not stop the run
            pass
        cost = time.monotonic() - t0
        self._next_update = time.monotonic() + max(WRITE_INTERVAL, cost * UPDATE_SHARE)

    def close(self) -> None:
        self._stop.set()
        self.book.changed.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.flush(final=True)
