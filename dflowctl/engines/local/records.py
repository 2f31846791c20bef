"""Run records on disk: ``$DFLOWCTL_HOME/runs/<name>/`` (see docs/architecture.md).

Every file is written atomically (temporary name, then rename), or appended to a
line at a time (the run's event log, ``runlog``), so a crash or a kill leaves a
readable record.
"""

from __future__ import annotations

import difflib
import fcntl
import os
import secrets
import string
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dflowctl.engines.local.runlog import read_record
from dflowctl.engines.local.spread import spread_subfolders
from dflowctl.errors import NotFoundError, UsageError
from dflowctl.names import is_plain_name

_ALPHABET = string.ascii_lowercase + string.digits
MAX_NAME = 63


@dataclass(frozen=True)
class RunDir:
    """The folder holding one run's record (an absolute path: pods and fork servers
    started in other folders are handed paths under it)."""

    path: Path

    def __post_init__(self) -> None:
        if not self.path.is_absolute():
            object.__setattr__(self, "path", self.path.absolute())

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def manifest(self) -> Path:
        return self.path / "manifest.yaml"

    @property
    def workflow(self) -> Path:
        return self.path / "workflow.json"

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    @property
    def artifacts(self) -> Path:
        return self.path / "artifacts"

    @property
    def work(self) -> Path:
        return self.path / "work"

    @property
    def pid(self) -> Path:
        return self.path / "pid"

    @property
    def shutdown(self) -> Path:
        """Written by ``stop``: the strategy ("Stop" or "Terminate") the run must follow."""
        return self.path / "shutdown"

    def log_path(self, node_id: str) -> Path:
        return self.logs / f"{node_id}.log"

    def create(self) -> None:
        for folder in (self.path, self.logs, self.artifacts, self.work):
            folder.mkdir(parents=True, exist_ok=True)
        spread_subfolders(self.work)  # each pod's scratch folder in a block group of its own

    def load_workflow(self) -> dict[str, Any]:
        try:
            data = read_record(self.workflow)
        except FileNotFoundError:
            raise NotFoundError(f"run {self.name!r} has no record") from None
        except (OSError, ValueError) as err:
            raise NotFoundError(f"run {self.name!r}: cannot read its record: {err}") from None
        if not isinstance(data, dict):
            raise NotFoundError(f"run {self.name!r}: its record is not a Workflow object")
        return data

    @property
    def lock(self) -> Path:
        """Locked (``flock``) by the one process running the run, for as long as it runs."""
        return self.path / "lock"

    def claim(self, attempts: int = 10) -> int | None:
        """Take the run's lock: an open fd to keep (and pass on) while running it; None
        if another process holds it. The kernel drops the lock when its holder ends,
        however it ends (``kill -9`` included)."""
        for attempt in range(attempts):
            fd = os.open(self.lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                os.close(fd)
            if attempt + 1 < attempts:
                time.sleep(0.02)  # a reader's is_running() holds it for an instant
        return None

    def is_running(self) -> bool:
        """Whether a process runs this run now (holds its lock)."""
        try:
            fd = os.open(self.lock, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def running_pid(self) -> int | None:
        """The pid of the live process running this run, if there is one."""
        try:
            pid = int(self.pid.read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        return pid


def _check_name(name: str) -> None:
    """A run's folder is one entry of ``runs/``: never a path that leads elsewhere."""
    if not is_plain_name(name):
        raise UsageError(
            f"invalid run name {name!r}",
            hint="a Kubernetes object name: lower-case letters, digits, '-', '.'",
        )


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(3)}.tmp")
    if isinstance(data, str):
        tmp.write_text(data, encoding="utf-8")
    else:
        tmp.write_bytes(data)
    os.replace(tmp, path)


def write_yaml(path: Path, data: Any) -> None:
    """JSON-shaped ``data`` as block YAML, written atomically (the renderer's emitter:
    a general YAML library takes seconds on a large manifest)."""
    from dflowctl.render.dump import dump_yaml

    write_atomic(path, dump_yaml(data))


def read_yaml(path: Path) -> Any:
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))


def random_suffix(length: int = 5) -> str:
    """Kubernetes' generateName suffix: lowercase letters and digits."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


class RunStore:
    """All run records under one ``runs`` folder."""

    def __init__(self, runs_dir: Path) -> None:
        self.root = runs_dir

    def new_run(self, metadata: dict[str, Any]) -> RunDir:
        """A fresh, unused run folder named like Kubernetes names the Workflow."""
        name = metadata.get("name")
        if name:
            _check_name(str(name))
            run = RunDir(self.root / str(name))
            if run.path.exists():
                raise UsageError(
                    f"a run named {name!r} already exists",
                    hint="delete it first (dflowctl delete) or use metadata.generateName",
                )
            run.create()
            return run
        prefix = str(metadata.get("generateName") or "workflow-")[: MAX_NAME - 5]
        _check_name(prefix + "x")
        self.root.mkdir(parents=True, exist_ok=True)
        for _ in range(100):
            path = self.root / (prefix + random_suffix())
            try:
                path.mkdir()
            except FileExistsError:
                continue
            run = RunDir(path)
            run.create()
            return run
        raise RuntimeError("cannot find a free run name")  # pragma: no cover - 36**5 names

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "workflow.json").is_file())

    def get(self, name: str) -> RunDir:
        run = RunDir(self.root / name)
        if is_plain_name(name) and run.workflow.is_file():
            return run
        known = self.names()
        close = difflib.get_close_matches(name, known, n=1)
        if close:
            hint = f"did you mean {close[0]!r}?"
        elif known:
            hint = "list runs with: dflowctl status"
        else:
            hint = f"there are no local runs in {self.root}"
        raise NotFoundError(f"unknown run {name!r}", hint=hint)
