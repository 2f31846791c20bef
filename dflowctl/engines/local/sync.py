"""``synchronization``: mutexes and semaphores, as Argo's controller holds them, on this machine.

Argo's locks are shared by every workflow of the namespace; here, by every run of the
same dflowctl home (``<home>/locks``, next to ``runs/``) — within a run and across the
local runs on this machine. A lock of ``limit`` holders is ``limit`` slot files, each
taken with ``flock``: the kernel drops a slot when the process that held it ends,
however it ends, so a run that crashed never keeps a lock. A template (or workflow)
with several locks takes all of them or none, trying again every ``RETRY`` seconds,
so two runs never hold half of each other's locks.

Keys are Argo's: ``<namespace>/Mutex/<name>`` and ``<namespace>/ConfigMap/<name>/<key>``
(a semaphore's limit is the ConfigMap's value, given by ``dflowctl.configmaps`` from a
``kind: ConfigMap`` document of the file or of ``--templates``); a mutex with
``database: true`` is the same mutex. While it waits, a node (or the workflow) is
``Pending`` with Argo's message ``Waiting for <key> lock. Lock status: 0/<limit>``;
``status.synchronization`` lists what is held.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dflowctl.argo import TEMPLATE_KINDS, node_id
from dflowctl.engines.local.runtime import Node, Runtime
from dflowctl.engines.local.scope import TemplateError
from dflowctl.engines.local.status import NodeBook

LOCKS = "locks"  # the folder of a home's locks, beside runs/
RETRY = 0.2  # seconds between two attempts at locks held elsewhere
MAX_LIMIT = 10_000


@dataclass(frozen=True)
class Lock:
    key: str
    limit: int
    kind: str  # "mutex" or "semaphore"


def locks_of(sync: Any, namespace: str) -> list[Lock]:
    """The locks a ``synchronization`` block names (``TemplateError`` if one cannot be held)."""
    if not isinstance(sync, Mapping):
        return []
    out: list[Lock] = []
    mutexes = list(sync.get("mutexes") or []) + ([sync["mutex"]] if sync.get("mutex") else [])
    for m in mutexes:
        if not isinstance(m, Mapping) or not m.get("name"):
            raise TemplateError("a synchronization mutex needs a name")
        ns = str(m.get("namespace") or namespace)
        out.append(Lock(f"{ns}/Mutex/{m['name']}", 1, "mutex"))
    semaphores = list(sync.get("semaphores") or []) + ([sync["semaphore"]] if sync.get("semaphore") else [])
    for s in semaphores:
        ref = s.get("configMapKeyRef") if isinstance(s, Mapping) else None
        if not isinstance(ref, Mapping):
            raise TemplateError(
                "a synchronization semaphore needs its limit from a ConfigMap (configMapKeyRef)"
            )
        if s.get("value") is None:
            raise TemplateError(
                f"the semaphore's limit: ConfigMap {ref.get('name')!r} has no key {ref.get('key')!r}"
            )
        ns = str(s.get("namespace") or namespace)
        text = str(s["value"]).strip()
        if not text.lstrip("-").isdigit() or not 0 <= int(text) <= MAX_LIMIT:
            raise TemplateError(
                f"invalid semaphore limit {text!r} in ConfigMap {ref.get('name')!r} key {ref.get('key')!r}"
            )
        out.append(Lock(f"{ns}/ConfigMap/{ref.get('name')}/{ref.get('key')}", int(text), "semaphore"))
    return sorted(set(out), key=lambda lk: lk.key)


_NODE_TYPES = {"steps": "Steps", "dag": "DAG", "suspend": "Suspend"}


class Held:
    """Slots taken for one holder; ``release`` gives them back (once)."""

    def __init__(self, fds: list[int], on_release: Callable[[], None]) -> None:
        self._fds = fds
        self._on_release = on_release
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            fds, self._fds = self._fds, []
        for fd in fds:
            os.close(fd)  # closing the descriptor drops its flock
        if fds:
            self._on_release()


class LockTable:
    """The locks of one run, in ``folder`` (shared with the other runs of the home)."""

    def __init__(self, folder: Path, namespace: str, book: NodeBook) -> None:
        self.folder = folder
        self.namespace = namespace
        self.book = book

    def take_for_workflow(self, rt: Runtime) -> Held | None:
        """``spec.synchronization``: the run waits ``Pending`` until it holds its locks
        (None: it has none, or it stopped while waiting)."""
        status = self.book.status
        locks = locks_of((rt.book.wf.get("spec") or {}).get("synchronization"), self.namespace)
        if not locks:
            return None

        def waiting(message: str) -> None:
            with self.book.lock:
                status["phase"] = "Pending"
                status["message"] = message
                self.book.touch_status()

        held = self.acquire(locks, rt.name, rt.cancel, waiting)
        with self.book.lock:
            if status.get("phase") == "Pending":
                status["phase"] = "Running"
                status.pop("message", None)
                self.book.touch_status()
        return held

    def holding(
        self,
        rt: Runtime,
        name: str,
        display: str,
        tmpl_name: str,
        tmpl: Mapping[str, Any],
        boundary: str | None,
        retried: bool,
        body: Callable[[], Node | None],
    ) -> Node | None:
        """``body()`` (the template's run) while holding the template's locks, if it has any."""
        if not tmpl.get("synchronization"):
            return body()
        try:
            held = self.take_for_node(rt, name, display, tmpl_name, tmpl, boundary, retried)
        except TemplateError as err:
            return self.book.create(
                name, display, "Skipped", tmpl_name, boundary, phase="Error", message=str(err)
            )
        if held is None:
            return self.book.get(node_id(rt.name, name))  # stopped while it waited
        try:
            return body()
        finally:
            held.release()

    def take_for_node(
        self,
        rt: Runtime,
        name: str,
        display: str,
        tmpl_name: str,
        tmpl: Mapping[str, Any],
        boundary: str | None,
        retried: bool,
    ) -> Held | None:
        """A template's locks before its node runs: meanwhile the node is ``Pending`` with
        Argo's message (the node its kind creates then takes its place). None: the run
        stopped while it waited (the node ends Failed)."""
        locks = locks_of(tmpl.get("synchronization"), self.namespace)
        if not locks:
            return Held([], lambda: None)
        kind = next((k for k in TEMPLATE_KINDS if tmpl.get(k) is not None), "")
        ntype = "Retry" if retried else _NODE_TYPES.get(kind, "Pod")

        def waiting(message: str) -> None:
            self.book.create(name, display, ntype, tmpl_name, boundary, phase="Pending", message=message)

        held = self.acquire(locks, node_id(rt.name, name), rt.cancel, waiting)
        if held is None:
            node = self.book.get(node_id(rt.name, name))
            if node is None:
                node = self.book.create(name, display, ntype, tmpl_name, boundary, phase="Pending")
            self.book.finish(node, "Failed", rt.interrupted_message())
        return held

    def _slot(self, lock: Lock, index: int) -> Path:
        digest = hashlib.sha256(lock.key.encode()).hexdigest()[:32]
        path = self.folder / digest
        path.mkdir(parents=True, exist_ok=True)
        name = path / "key"
        if not name.exists():
            name.write_text(lock.key + "\n", encoding="utf-8")
        return path / f"slot-{index}.lock"

    def _try(self, lock: Lock) -> int | None:
        for index in range(lock.limit):
            fd = os.open(self._slot(lock, index), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            return fd
        return None

    def acquire(
        self,
        locks: list[Lock],
        holder: str,
        cancel: threading.Event,
        waiting: Callable[[str], None],
    ) -> Held | None:
        """All of ``locks`` for ``holder`` (a node id or the workflow's name); None if the run
        stops first. ``waiting(message)`` is called once, when it has to wait."""
        told = False
        while True:
            fds: list[int] = []
            blocked: Lock | None = None
            for lock in locks:
                fd = self._try(lock) if lock.limit > 0 else None
                if fd is None:
                    blocked = lock
                    break
                fds.append(fd)
            if blocked is None:
                self._record(locks, holder, add=True)
                return Held(fds, lambda: self._record(locks, holder, add=False))
            for fd in fds:
                os.close(fd)
            if not told:
                waiting(f"Waiting for {blocked.key} lock. Lock status: 0/{blocked.limit}")
                told = True
            if cancel.wait(RETRY):
                return None

    def _record(self, locks: list[Lock], holder: str, *, add: bool) -> None:
        """``status.synchronization``: Argo's ``holding`` lists."""
        with self.book.lock:
            sync = self.book.status.setdefault("synchronization", {})
            for lock in locks:
                part = sync.setdefault(lock.kind, {})
                holding = part.setdefault("holding", [])
                field = "mutex" if lock.kind == "mutex" else "semaphore"
                entry = next((h for h in holding if h.get(field) == lock.key), None)
                if add:
                    if entry is None:
                        entry = {field: lock.key}
                        holding.append(entry)
                    if lock.kind == "mutex":
                        entry["holder"] = holder
                    else:
                        entry.setdefault("holders", []).append(holder)
                elif entry is not None:
                    if lock.kind == "semaphore" and holder in entry.get("holders", []):
                        entry["holders"].remove(holder)
                    if lock.kind == "mutex" or not entry.get("holders"):
                        holding.remove(entry)
            self.book.touch_status()
