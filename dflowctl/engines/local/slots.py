"""A counting semaphore that a stopping run can wake: parallelism limits that never poll.

Threads waiting for a slot sleep on a condition (no timeouts, so 1,000 waiting
loop items cost nothing); ``wake_all`` makes them re-check their cancel event.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import ClassVar


class Slots:
    _all: ClassVar[weakref.WeakSet[Slots]] = weakref.WeakSet()
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, size: int) -> None:
        self.size = max(1, int(size))
        self.free = self.size
        self.cond = threading.Condition()
        with Slots._registry_lock:
            Slots._all.add(self)

    def acquire(self, cancel: threading.Event, stopped: Callable[[], bool] | None = None) -> bool:
        """Take a slot; False (and no slot) if ``cancel`` is set (or ``stopped()`` holds)
        first. ``stopped`` is checked when the waiter is woken (``wake_all``)."""

        def given_up() -> bool:
            return cancel.is_set() or (stopped is not None and stopped())

        with self.cond:
            while self.free <= 0 and not given_up():
                self.cond.wait()
            if given_up():
                return False
            self.free -= 1
            return True

    def release(self) -> None:
        with self.cond:
            self.free += 1
            self.cond.notify()

    def wake_all(self) -> None:
        with self.cond:
            self.cond.notify_all()

    @classmethod
    def wake_everyone(cls) -> None:
        with cls._registry_lock:
            every = list(cls._all)
        for slots in every:
            slots.wake_all()
