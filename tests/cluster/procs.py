"""Start and stop the test cluster's processes, each with a pid file and a log file."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.cluster.layout import Layout


def start(
    lay: Layout, name: str, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> int:
    lay.logs.mkdir(parents=True, exist_ok=True)
    lay.pids.mkdir(parents=True, exist_ok=True)
    with (lay.logs / f"{name}.log").open("ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
        )
    (lay.pids / f"{name}.pid").write_text(str(proc.pid))
    return proc.pid


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (our own exited child) is not alive
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def running(lay: Layout) -> dict[str, int]:
    out = {}
    for f in sorted(lay.pids.glob("*.pid")) if lay.pids.exists() else []:
        try:
            pid = int(f.read_text().strip())
        except ValueError:
            continue
        if alive(pid):
            out[f.stem] = pid
    return out


def stop(lay: Layout, name: str, grace: float = 10) -> None:
    """Stop process ``name`` and its process group: SIGTERM, then SIGKILL after ``grace`` seconds."""
    f = lay.pids / f"{name}.pid"
    if not f.exists():
        return
    pid = int(f.read_text().strip())
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not alive(pid):
            break
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            break
        end = time.monotonic() + grace
        while alive(pid) and time.monotonic() < end:
            time.sleep(0.1)
    f.unlink(missing_ok=True)


def wait_for(
    what: str, check: Callable[[], bool], timeout: float, log: Path | None = None, lay: Layout | None = None
) -> None:
    """Until ``check()`` is true, at most ``timeout`` seconds; with ``lay``, fail at once when a
    started process has exited."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if lay is not None:
            ensure_alive(lay)
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.5)
    tail = ""
    if log is not None and log.exists():
        tail = "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:])
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s{tail}")


def tail(path: Path, lines: int = 12) -> str:
    if not path.exists():
        return "  (no log)"
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return "\n".join("  | " + line[:300] for line in text)


def dead(lay: Layout) -> list[str]:
    """Processes that were started (a pid file) and are no longer running."""
    started = sorted(f.stem for f in lay.pids.glob("*.pid")) if lay.pids.exists() else []
    alive_now = running(lay)
    return [name for name in started if name not in alive_now]


def ensure_alive(lay: Layout) -> None:
    """Raise at once (with the log's tail) if a started process has exited."""
    gone = dead(lay)
    if gone:
        raise RuntimeError(
            f"{gone[0]} exited; the end of {lay.logs / (gone[0] + '.log')}:\n{tail_of(lay, gone[0])}"
        )


def tail_of(lay: Layout, name: str, lines: int = 12) -> str:
    return tail(lay.logs / f"{name}.log", lines)


def diagnosis(lay: Layout) -> str:
    """A short account of the started processes: which exited (with their logs' ends), else the
    ends of the controller's and the kubelet's logs."""
    gone = dead(lay)
    names = gone or [n for n in ("workflow-controller", "kubelet") if (lay.pids / f"{n}.pid").exists()]
    out = [f"exited: {', '.join(gone)}" if gone else f"running: {', '.join(running(lay)) or 'nothing'}"]
    for name in names:
        out.append(f"the end of {lay.logs / (name + '.log')}:\n{tail_of(lay, name)}")
    return "\n".join(out)
