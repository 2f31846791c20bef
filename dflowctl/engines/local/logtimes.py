"""When each part of a pod's log arrived: ``logs/<node-id>.times`` beside its ``.log``.

The log itself stays the pod's bytes, untouched, so readers that want no times
read it as fast as ever. The index holds one fixed-size record per chunk the
runner wrote (``<offset, epoch seconds>``, little-endian u64 + f64), at most one
per ``RESOLUTION``: a line's time is that of the record at or before its first
byte, i.e. when its first byte reached the runner (within a millisecond), as
the kubelet stamps a container's lines. Read forwards only, with bounded memory.
"""

from __future__ import annotations

import struct
import time
from pathlib import Path
from typing import BinaryIO

RECORD = struct.Struct("<Qd")
RESOLUTION = 0.001  # seconds between two records at most
READ_RECORDS = 4096  # records read at a time


def times_path(log_path: Path) -> Path:
    return log_path.with_suffix(".times")


class TimedLog:
    """A pod's log file that also records when each chunk was written."""

    def __init__(self, log: BinaryIO, index: BinaryIO) -> None:
        self._log = log
        self._index = index
        self._offset = 0
        self._last = -1.0

    def write(self, data: bytes) -> int:
        if data:
            now = time.time()
            if now - self._last >= RESOLUTION:
                self._index.write(RECORD.pack(self._offset, now))
                self._last = now
            self._offset += len(data)
        return self._log.write(data)


class TimeIndex:
    """The times of a log's lines, asked for in increasing offsets (a growing log too)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fh: BinaryIO | None = None
        self._buf = b""
        self._pos = 0
        self._current: float | None = None  # the time of the last record at or before the asked offset
        self._next: tuple[int, float] | None = None  # the first record after it

    def time_at(self, offset: int) -> float | None:
        """The time of the byte at ``offset`` (None: no record of it)."""
        while True:
            if self._next is None:
                self._next = self._read()
                if self._next is None:
                    return self._current
            at, when = self._next
            if at > offset:
                return self._current
            self._current = when
            self._next = None

    def _read(self) -> tuple[int, float] | None:
        if len(self._buf) - self._pos < RECORD.size:
            if self._fh is None:
                try:
                    self._fh = open(self._path, "rb")  # noqa: SIM115 - closed by close()
                except FileNotFoundError:
                    return None
            self._buf = self._buf[self._pos :] + self._fh.read(RECORD.size * READ_RECORDS)
            self._pos = 0
            if len(self._buf) < RECORD.size:
                return None
        at, when = RECORD.unpack_from(self._buf, self._pos)
        self._pos += RECORD.size
        return at, when

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def stamp(epoch: float) -> str:
    """RFC 3339 with microseconds, UTC: how ``--timestamps`` shows a line's time."""
    whole = int(epoch)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((epoch - whole) * 1e6):06d}Z"
