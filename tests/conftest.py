"""Shared fixtures. Real parts wherever one can run here (see docs/architecture.md)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C as a terminal gives it: a shell that starts the suite in the background
    without job control (``make test &`` in a script) leaves SIGINT ignored, which the
    tests' own runs would inherit, and the tests of what Ctrl-C does would hang."""
    import signal

    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


# loopback S3 server (moto) fixtures: s3_server, s3, s3_proxy, s3_auth (see tests/s3server.py)
pytest_plugins = ["tests.s3server"]

REPO = Path(__file__).resolve().parent.parent
SPECS = REPO / "specs"
SHARED = Path(os.environ.get("DFLOWCTL_SHARED", REPO.parent / "shared")).resolve()
ARGO_VALIDATE = SHARED / "tools" / "argo-validate"
ARGO_EXAMPLES = SHARED / "reference" / "argo" / "examples"


def require_shared() -> None:
    if not ARGO_VALIDATE.exists():
        pytest.skip(f"../shared is absent ({SHARED}): Argo's schema and examples are not available")


@pytest.fixture
def dflowctl_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private $DFLOWCTL_HOME for run records."""
    home = tmp_path / "home"
    monkeypatch.setenv("DFLOWCTL_HOME", str(home))
    monkeypatch.setenv("DFLOWCTL_CONFIG", str(tmp_path / "no-config.yaml"))
    return home


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder pods write to and the test reads: outside /tmp (private to each pod) and
    outside the overlaid root file system, so writes really reach the host."""
    base = Path("/dev/shm")
    if not base.is_dir():
        pytest.skip("no /dev/shm to share files with pods")
    folder = Path(tempfile.mkdtemp(prefix="dflowctl-test-", dir=base))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def run_cli(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `python -m dflowctl ARGS` in a subprocess (the real entry point)."""
    full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    full_env.pop("DFLOWCTL_ENGINE", None) if env is None or "DFLOWCTL_ENGINE" not in env else None
    return subprocess.run(
        [sys.executable, "-m", "dflowctl", *args],
        cwd=cwd or REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
    )


# ---------------------------------------------------------------- runs going on in the background

Record = dict[str, Any]


def start_run(path: Path, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    """``dflowctl run PATH --no-wait -o json ARGS``: the run goes on in the background; its name."""
    res = run_cli("run", str(path), "--no-wait", "-o", "json", *args, cwd=cwd, env=env)
    assert res.returncode == 0, res.stderr
    return str(json.loads(res.stdout)["metadata"]["name"])


def local_record(home: Path, name: str) -> Record:
    """A local run's record as every reader sees it (its snapshot with the event log
    replayed); ``{}`` while it is not written yet."""
    from dflowctl.engines.local.runlog import read_record

    try:
        wf: Record = read_record(home / "runs" / name / "workflow.json")
    except (OSError, ValueError):
        return {}
    return wf


def record_nodes(wf: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(((wf.get("status") or {}).get("nodes") or {}).values())


def nodes_seen(
    *,
    display: str | None = None,
    suffix: str | None = None,
    type: str | None = None,
    phase: str | None = None,
    at_least: int = 1,
) -> Callable[[Mapping[str, Any]], bool]:
    """A condition on a record: at least ``at_least`` nodes with this display name (or
    name ending in ``suffix``), type and phase (each when given)."""

    def matches(n: Mapping[str, Any]) -> bool:
        return (
            (display is None or n.get("displayName") == display)
            and (suffix is None or str(n.get("name", "")).endswith(suffix))
            and (type is None or n.get("type") == type)
            and (phase is None or n.get("phase") == phase)
        )

    return lambda wf: sum(1 for n in record_nodes(wf) if matches(n)) >= at_least


def wait_until(
    read: Callable[[], Record],
    cond: Callable[[Record], bool],
    what: str,
    *,
    timeout: float = 60,
    interval: float = 0.1,
) -> Record:
    """Reads a run (``read``) until ``cond`` holds and returns what it read. Fails after
    ``timeout`` seconds naming ``what`` and the run's last phase, message and nodes.
    (Not sooner when the run looks ended: a record read just after ``retry`` may still
    be the ended run's.)"""
    deadline = time.monotonic() + timeout
    while True:
        wf = read()
        if wf and cond(wf):
            return wf
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s; {_run_state(wf)}")
        time.sleep(interval)


def wait_for_run(
    home: Path, name: str, cond: Callable[[Record], bool], what: str, *, timeout: float = 60
) -> Record:
    """``wait_until`` on a local run's record (``local_record``)."""
    return wait_until(lambda: local_record(home, name), cond, what, timeout=timeout)


def _run_state(wf: Mapping[str, Any]) -> str:
    if not wf:
        return "no record yet"
    status = wf.get("status") or {}
    nodes = ", ".join(
        f"{n.get('displayName') or n.get('name')} {n.get('type')} {n.get('phase')}" for n in record_nodes(wf)
    )
    text = f"phase {status.get('phase')!r}, message {status.get('message')!r}, nodes: {nodes or 'none'}"
    return text if len(text) <= 3000 else text[:3000] + "…"


# ---------------------------------------------------------------- wall-clock bounds under load

SLOWDOWN_CAP = 8.0  # a bound never stretches further: a real slowdown still fails it


def slowdown(sample: float = 0.03) -> float:
    """How much slower than on an idle machine this process runs now: the wall time of a
    short busy loop over the CPU time it got (1 when it had a core to itself; 3 when
    three runnable processes share each core), at most ``SLOWDOWN_CAP``."""
    wall0, cpu0 = time.perf_counter(), time.process_time()
    while time.process_time() - cpu0 < sample:
        pass
    ratio = (time.perf_counter() - wall0) / max(time.process_time() - cpu0, 1e-9)
    return min(max(ratio, 1.0), SLOWDOWN_CAP)


class Within:
    """``with Within(2.0, "the stop") as took: ...`` then ``took.check()``: the block took at
    most ``fixed`` seconds (waits the code makes on purpose: a grace period, a timeout) plus
    ``seconds`` of work on an idle machine, scaled by the slowdown measured just before and
    just after it (the larger; see ``slowdown``). ``took.seconds``: the wall time it took."""

    def __init__(self, seconds: float, what: str, *, fixed: float = 0.0) -> None:
        self.bound = seconds
        self.fixed = fixed
        self.what = what
        self.seconds = 0.0
        self.factor = 1.0

    def __enter__(self) -> Within:
        self.factor = slowdown()
        self._start = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.monotonic() - self._start
        self.factor = max(self.factor, slowdown())

    @property
    def idle_seconds(self) -> float:
        """What the block would have taken on an idle machine (its wait time left out)."""
        return self.fixed + max(self.seconds - self.fixed, 0.0) / self.factor

    @property
    def limit(self) -> float:
        return self.fixed + self.bound * self.factor

    def check(self) -> None:
        idle = f"{self.fixed:g} + {self.bound:g}" if self.fixed else f"{self.bound:g}"
        assert self.seconds < self.limit, (
            f"{self.what} took {self.seconds:.2f} s: more than {idle} s on an idle machine "
            f"(x{self.factor:.1f} for the load now: {self.limit:.2f} s)"
        )
