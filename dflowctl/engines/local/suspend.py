"""Suspended runs: ``suspend`` templates, ``spec.suspend``, and ``dflowctl resume`` reaching
the process that runs them.

A Suspend node waits, ``Running``, until it is resumed, its ``duration`` (if any) has
passed, or the run stops. ``spec.suspend: true`` holds every template from starting
until the run is resumed (what has started goes on). The rules of a resume are
Argo's (``dflowctl.argo.resume``).

``dflowctl resume`` talks to the run's process through files in ``RUN/control/``:
it writes one request, ``resume-<ns>-<pid>.json`` (``{"node": …, "parameters": {…}}``,
at most ``MAX_REQUEST`` bytes, written to a temporary name and renamed, so a reader
never sees half of one), and waits for ``<same stem>.answer`` (``{"resumed": [...]}``
or ``{"error": "…"}``), which it removes. The run's process looks for requests every
``POLL`` seconds, answers each one (an unreadable or oversized request gets an error
answer) and removes it; at its start it clears what an earlier process left behind
(a request addressed to a process that died is not applied later to a retry). At most
``MAX_PENDING`` requests wait at once; a client gives up after ``ANSWER_WAIT`` seconds
or as soon as the run's process is gone.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dflowctl.argo import parse_duration, rfc3339
from dflowctl.argo.resume import ResumeError, resume_nodes, supplied_outputs, with_defaults
from dflowctl.engines.local.records import write_atomic
from dflowctl.engines.local.status import NodeBook

CONTROL = "control"
POLL = 0.2
WAIT_STEP = 0.5  # longest sleep of a waiting node between checks of its run's state
MAX_REQUEST = 1 << 20
MAX_PENDING = 16
ANSWER_WAIT = 15.0
REQUEST_PREFIX = "resume-"

Node = dict[str, Any]


def control_dir(run_path: Path) -> Path:
    return run_path / CONTROL


# ---------------------------------------------------------------------- the client side


class ControlError(Exception):
    """A request could not be sent or was not answered."""


def send_request(
    run_path: Path, node: str | None, parameters: Mapping[str, str], fail: str | None = None
) -> str:
    """Write one resume request (``fail``: a node stop's message) for the run's process; its id."""
    folder = control_dir(run_path)
    folder.mkdir(exist_ok=True)
    pending = [p for p in folder.iterdir() if p.name.startswith(REQUEST_PREFIX) and p.suffix == ".json"]
    if len(pending) >= MAX_PENDING:
        raise ControlError(f"{len(pending)} resume requests are already waiting for the run's process")
    body = json.dumps({"node": node, "parameters": dict(parameters), "fail": fail})
    if len(body.encode()) > MAX_REQUEST:
        raise ControlError(f"the request is larger than {MAX_REQUEST} bytes")
    rid = f"{REQUEST_PREFIX}{time.time_ns()}-{os.getpid()}"
    write_atomic(folder / f"{rid}.json", body)
    return rid


def await_answer(run_path: Path, rid: str, alive: Callable[[], bool], timeout: float = ANSWER_WAIT) -> dict:
    """The answer to request ``rid`` (removed once read); ``ControlError`` when the run's
    process is gone or silent for ``timeout`` seconds (the request is withdrawn)."""
    folder = control_dir(run_path)
    answer, request = folder / f"{rid}.answer", folder / f"{rid}.json"
    deadline = time.monotonic() + timeout
    while True:
        if answer.exists():
            try:
                text = answer.read_text(encoding="utf-8")
            finally:
                answer.unlink(missing_ok=True)
            try:
                data = json.loads(text)
            except ValueError:
                raise ControlError("the run's process gave an unreadable answer") from None
            return (
                data if isinstance(data, dict) else {"error": "the run's process gave an unreadable answer"}
            )
        if time.monotonic() > deadline or not alive():
            request.unlink(missing_ok=True)
            why = "ended" if not alive() else f"did not answer within {timeout:.0f} s"
            raise ControlError(f"the run's process {why}")
        time.sleep(0.05)


# ---------------------------------------------------------------------- the run's side


class Suspensions:
    """The suspended parts of one run, and the requests that resume them."""

    def __init__(
        self, book: NodeBook, spec: dict[str, Any], control: Path | None, flush: Callable[[], None]
    ) -> None:
        self.book = book
        self.spec = spec
        self.control = control
        self.flush = flush
        self.held = bool(spec.get("suspend"))
        self.cond = threading.Condition()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- requests

    def start(self) -> None:
        """Clear what an earlier process left in ``control/`` and answer requests from now on."""
        if self.control is None:
            return
        self.control.mkdir(exist_ok=True)
        for path in self.control.iterdir():
            if path.is_file():
                path.unlink(missing_ok=True)
        self._thread = threading.Thread(target=self._loop, name="dflowctl-resume", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._closed.set()
        with self.cond:
            self.cond.notify_all()
        if self._thread is not None:
            self._thread.join(2)
            self.poll()  # a request that came in meanwhile is answered, not left waiting

    def wake(self) -> None:
        """The run is stopping: waiting nodes look again now."""
        with self.cond:
            self.cond.notify_all()

    def _loop(self) -> None:
        while not self._closed.wait(POLL):
            self.poll()

    def poll(self) -> None:
        if self.control is None:
            return
        try:
            names = sorted(p.name for p in self.control.iterdir())
        except OSError:
            return
        for name in names:
            if not (name.startswith(REQUEST_PREFIX) and name.endswith(".json")):
                continue
            path = self.control / name
            answer = self._answer(path)
            try:
                write_atomic(path.with_suffix(".answer"), json.dumps(answer))
            except OSError:
                pass
            path.unlink(missing_ok=True)

    def _answer(self, path: Path) -> dict[str, Any]:
        if self._closed.is_set():
            return {"error": "the run has ended"}
        try:
            if path.stat().st_size > MAX_REQUEST:
                return {"error": f"the request is larger than {MAX_REQUEST} bytes"}
            data = json.loads(path.read_text(encoding="utf-8"))
            node, fail = data.get("node"), data.get("fail")
            params = data.get("parameters") or {}
            if (node is not None and not isinstance(node, str)) or not isinstance(params, dict):
                raise ValueError
            if fail is not None and not isinstance(fail, str):
                raise ValueError
            params = {str(k): str(v) for k, v in params.items()}
        except (OSError, ValueError, AttributeError):
            return {"error": "unreadable resume request"}
        try:
            return {"resumed": self.resume(node, params, fail)}
        except ResumeError as err:
            return {"error": str(err)}

    def resume(
        self, selector: str | None, parameters: Mapping[str, str], fail: str | None = None
    ) -> list[str]:
        """Apply one resume (Argo's rules; ``fail``: a node stop); the display names of the nodes it ended."""
        with self.book.lock:
            changed = resume_nodes(self.book.nodes, selector, parameters, rfc3339(), fail)
            released = selector is None and self.held
            if selector is None and not changed and not released:
                raise ResumeError("nothing is suspended")
            for nid, new in changed.items():
                target = self.book.nodes[nid]  # the same dict the waiting thread holds
                target.clear()
                target.update(new)
                self.book.touch(nid)
            if released:
                self.held = False
                self.spec.pop("suspend", None)
                self.book.touch()  # the spec changed: only a snapshot records it
        with self.cond:
            self.cond.notify_all()
        self.flush()
        names = [str(n.get("displayName", nid)) for nid, n in changed.items()]
        return names + (["spec.suspend"] if released else [])

    # ---------------------------------------------------------------- waiting

    def wait_released(self, cancel: threading.Event) -> bool:
        """While ``spec.suspend`` holds the run, nothing new starts; False if it stops meanwhile."""
        with self.cond:
            while self.held and not cancel.is_set():
                self.cond.wait(WAIT_STEP)
        return not cancel.is_set()

    def run_node(
        self,
        name: str,
        display: str,
        tmpl_name: str,
        tmpl: Mapping[str, Any],
        boundary: str | None,
        cancel: threading.Event,
        interrupted: Callable[[], str],
    ) -> Node:
        """A Suspend node, waiting until resumed, its duration passed or the run stops."""
        outputs = supplied_outputs(tmpl)
        with self.book.lock:  # recorded at once with its outputs
            node = self.book.create(name, display, "Suspend", tmpl_name, boundary, inputs=tmpl.get("inputs"))
            if outputs:
                self.book.update(node, outputs={"parameters": outputs})
        duration = (tmpl.get("suspend") or {}).get("duration")
        ends = time.monotonic() + parse_duration(duration) if duration is not None else None
        with self.cond:
            while True:
                if node.get("phase") != "Running":  # resumed
                    return node
                if cancel.is_set():
                    self.book.finish(node, "Failed", interrupted())
                    return node
                left = None if ends is None else ends - time.monotonic()
                if left is not None and left <= 0:
                    break
                self.cond.wait(WAIT_STEP if left is None else min(left, WAIT_STEP))
        with self.book.lock:  # the duration passed: Argo's auto-resume
            if node.get("phase") != "Running":
                return node
            try:
                done = with_defaults(node)
            except ResumeError as err:
                self.book.finish(node, "Error", str(err))
                return node
            self.book.finish(node, "Succeeded", outputs=done.get("outputs"))
        return node
