"""Argo's own examples on the local engine: which run to Argo's phase and values, which are refused.

Every ``kind: Workflow`` file in Argo's ``examples/`` (default:
``../shared/reference/argo/examples``) goes through the real CLI, ``dflowctl run
FILE -o json``, in a subprocess with a private ``$DFLOWCTL_HOME`` and a time limit,
several at once (most examples sleep; the long ones start first). The verdict per
example comes from ``tests/test_conformance.py`` (the expected phase, values and
refusals); this prints the table (example, result, seconds) and the totals.

Usage:
    python bench/conformance.py [--examples DIR] [--workers N] [--timeout S] [NAME...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_EXAMPLES = Path(os.environ.get("DFLOWCTL_SHARED", REPO.parent / "shared")) / "reference/argo/examples"
NOT_SUPPORTED = "not supported"
PARALLELISM = 32


@dataclass
class Outcome:
    """What one example did: ``kind`` is ran, refused, invalid, timeout or crash."""

    name: str
    kind: str
    seconds: float
    phase: str | None = None
    message: str = ""
    stderr: str = ""
    workflow: dict[str, Any] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)

    @property
    def nodes(self) -> list[dict[str, Any]]:
        return list(((self.workflow.get("status") or {}).get("nodes") or {}).values())

    def pods(self, display: str | None = None) -> list[dict[str, Any]]:
        """Pod nodes (those named ``display`` or its loop items ``display(i:item)``, or all),
        in start order."""
        pods = [n for n in self.nodes if n.get("type") == "Pod" and (display is None or _named(n, display))]
        return sorted(pods, key=lambda n: (n.get("startedAt") or "", n.get("name", "")))

    def log(self, display: str | None = None) -> str:
        """The combined logs of the pods named ``display`` (or of all pods)."""
        return "".join(self.logs.get(n["id"], "") for n in self.pods(display))

    def node(self, display: str) -> dict[str, Any]:
        found = [n for n in self.nodes if n.get("displayName") == display]
        if len(found) != 1:
            raise KeyError(f"{len(found)} nodes named {display!r}")
        return found[0]

    def result(self, display: str) -> str | None:
        return (self.node(display).get("outputs") or {}).get("result")

    def output(self, display: str, param: str) -> str | None:
        for p in (self.node(display).get("outputs") or {}).get("parameters") or []:
            if p.get("name") == param:
                return p.get("value")
        return None

    def global_output(self, name: str) -> str | None:
        for p in ((self.workflow.get("status") or {}).get("outputs") or {}).get("parameters") or []:
            if p.get("name") == name:
                return p.get("value")
        return None

    def phases(self) -> dict[str, str]:
        """displayName -> phase of every node but the root and the step/task groups."""
        root = (self.workflow.get("metadata") or {}).get("name")
        return {
            str(n.get("displayName")): str(n.get("phase"))
            for n in self.nodes
            if n.get("name") != root and n.get("type") not in ("StepGroup", "TaskGroup")
        }


def _named(node: Mapping[str, Any], display: str) -> bool:
    shown = str(node.get("displayName"))
    return shown == display or (shown.startswith(display + "(") and shown.endswith(")"))


def is_workflow_file(path: Path) -> bool:
    return any(line.strip() == "kind: Workflow" for line in path.read_text(encoding="utf-8").splitlines())


def discover(examples: Path) -> list[Path]:
    """Example files holding a ``kind: Workflow`` document (top level of ``examples``)."""
    return sorted(p for p in examples.glob("*.yaml") if is_workflow_file(p))


def _read_logs(home: Path, workflow: Mapping[str, Any]) -> dict[str, str]:
    name = (workflow.get("metadata") or {}).get("name")
    logs: dict[str, str] = {}
    if not name:
        return logs
    folder = home / "runs" / str(name) / "logs"
    for path in folder.glob("*.log") if folder.is_dir() else []:
        logs[path.stem] = path.read_text(encoding="utf-8", errors="replace")
    return logs


Resume = Sequence[tuple[str, Mapping[str, str]]]
Actor = Callable[[Path, Mapping[str, str], str, threading.Event], None]


def only_run(home: Path) -> dict[str, Any] | None:
    from dflowctl.engines.local.runlog import read_record  # the snapshot with its event log

    for record in (home / "runs").glob("*/workflow.json"):
        try:
            wf = read_record(record)
        except (OSError, ValueError):
            return None
        return wf if isinstance(wf, dict) else None
    return None


def _resumer(
    home: Path, env: Mapping[str, str], cwd: str, python: str, steps: Resume, stop: threading.Event
) -> threading.Thread:
    """Plays the user of a suspended example: as each named node waits (a Suspend node
    Running), ``dflowctl resume NAME --node NODE -p k=v`` (argo resume / argo node set)."""

    def waiting(display: str) -> str | None:
        wf = only_run(home) or {}
        for n in ((wf.get("status") or {}).get("nodes") or {}).values():
            if n.get("displayName") == display and n.get("type") == "Suspend" and n.get("phase") == "Running":
                return str(wf["metadata"]["name"])
        return None

    def go() -> None:
        for display, params in steps:
            while not stop.is_set():
                name = waiting(display)
                if name is not None:
                    cmd = [python, "-m", "dflowctl", "resume", name, "--node", display]
                    cmd += [a for k, v in params.items() for a in ("-p", f"{k}={v}")]
                    subprocess.run(cmd, cwd=cwd, env=dict(env), capture_output=True, timeout=60, check=False)
                    break
                stop.wait(0.2)

    thread = threading.Thread(target=go, name="conformance-resume", daemon=True)
    thread.start()
    return thread


def run_example(
    path: Path,
    *,
    timeout: float,
    edit: Callable[[dict[str, Any]], None] | None = None,
    python: str = sys.executable,
    resume: Resume = (),
    templates: str | None = None,
    actor: Actor | None = None,
) -> Outcome:
    """Run one example file through ``dflowctl run FILE -o json`` in a subprocess.

    ``edit`` changes the Workflow before it runs (a copy is written next to the run's
    home; used for ``forever.yaml``'s deadline); ``resume`` names the suspended nodes to
    resume meanwhile, in order, with the output parameters to set (``_resumer``);
    ``templates``: YAML documents the cluster would hold (a ConfigMap of semaphore
    limits), given with ``--templates``; ``actor(home, env, cwd, stop)`` plays a user
    meanwhile, in a thread of its own (bench/argo_e2e.py: `stop`, `resume`)."""
    with tempfile.TemporaryDirectory(prefix="dflowctl-conformance-") as tmp:
        home = Path(tmp) / "home"
        target = path
        if edit is not None:
            import yaml

            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
            edit(doc)
            target = Path(tmp) / path.name
            target.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        env = {**os.environ, "DFLOWCTL_HOME": str(home), "NO_COLOR": "1", "DFLOWCTL_ENGINE": "local"}
        env["DFLOWCTL_CONFIG"] = str(Path(tmp) / "no-config.yaml")
        started = time.monotonic()
        # no cap below Argo's: pods that sleep do not need a CPU each
        cmd = [python, "-m", "dflowctl", "run", str(target), "-o", "json", "--parallelism", str(PARALLELISM)]
        if templates:
            extra = Path(tmp) / "cluster-objects.yaml"
            extra.write_text(templates, encoding="utf-8")
            cmd += ["--templates", str(extra)]
        proc = subprocess.Popen(
            cmd,
            cwd=tmp,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        stop = threading.Event()
        if resume:
            _resumer(home, env, tmp, python, resume, stop)
        if actor is not None:
            threading.Thread(
                target=actor, args=(home, env, tmp, stop), name="conformance-actor", daemon=True
            ).start()
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _interrupt(proc)
            out, err = proc.communicate()
            return Outcome(path.name, "timeout", time.monotonic() - started, stderr=err[-2000:])
        finally:
            stop.set()
        seconds = time.monotonic() - started
        if proc.returncode == 2:
            kind = "refused" if NOT_SUPPORTED in err else "invalid"
            first = err.strip().splitlines()[0] if err.strip() else ""
            return Outcome(
                path.name, kind, seconds, message=first.replace(str(target), path.name), stderr=err
            )
        try:
            workflow = json.loads(out)
            status = workflow["status"]
        except (ValueError, KeyError, TypeError):
            # stopped from outside (`dflowctl stop`: exit 130, no JSON): the run's record says how it ended
            record = only_run(home) if proc.returncode == 130 else None
            if not record or not (record.get("status") or {}).get("finishedAt"):
                return Outcome(
                    path.name, "crash", seconds, message=f"exit {proc.returncode}", stderr=err[-2000:]
                )
            workflow, status = record, record["status"]
        return Outcome(
            path.name,
            "ran",
            seconds,
            phase=status.get("phase"),
            message=str(status.get("message") or ""),
            stderr=err[-2000:],
            workflow=workflow,
            logs=_read_logs(home, workflow),
        )


def _interrupt(proc: subprocess.Popen[str]) -> None:
    """Ctrl-C the run (its group), then kill it if it does not end."""
    import signal

    for sig, wait in ((signal.SIGINT, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_all(
    paths: Iterable[Path],
    *,
    workers: int,
    timeout: Callable[[str], float],
    edits: Mapping[str, Callable[[dict[str, Any]], None]] | None = None,
    first: Iterable[str] = (),
    resumes: Mapping[str, Resume] | None = None,
    templates: Mapping[str, str] | None = None,
    actors: Mapping[str, Actor] | None = None,
) -> dict[str, Future[Outcome]]:
    """Start every example (those in ``first`` before the others); futures by file name."""
    order = sorted(paths, key=lambda p: (p.name not in set(first), p.name))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="conformance")
    futures = {
        p.name: pool.submit(
            run_example,
            p,
            timeout=timeout(p.name),
            edit=(edits or {}).get(p.name),
            resume=(resumes or {}).get(p.name, ()),
            templates=(templates or {}).get(p.name),
            actor=(actors or {}).get(p.name),
        )
        for p in order
    }
    pool.shutdown(wait=False)
    return futures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--examples", type=Path, default=DEFAULT_EXAMPLES)
    parser.add_argument("--workers", type=int, default=0, help="examples at once (default: 6 per CPU)")
    parser.add_argument("--timeout", type=float, default=0, help="seconds per example (default: the test's)")
    parser.add_argument("names", nargs="*", help="only these example files")
    args = parser.parse_args(argv)
    if not args.examples.is_dir():
        print(f"no examples at {args.examples}", file=sys.stderr)
        return 2
    sys.path.insert(0, str(REPO))
    from tests import test_conformance as expect

    paths = [p for p in discover(args.examples) if not args.names or p.name in args.names]
    workers = args.workers or expect.workers()
    started = time.monotonic()
    futures = run_all(
        paths,
        workers=workers,
        timeout=(lambda _n: args.timeout) if args.timeout else expect.time_limit,
        edits=expect.EDITS,
        first=expect.LONG,
        resumes=expect.RESUME,
        templates=expect.TEMPLATES,
    )
    rows: list[tuple[str, str, float, str]] = []
    lock = threading.Lock()
    for name, fut in sorted(futures.items()):
        outcome = fut.result()
        verdict, detail = expect.judge(outcome)
        with lock:
            rows.append((name, verdict, outcome.seconds, detail))
            print(f"{name:58s} {verdict:9s} {outcome.seconds:6.1f}s  {detail}", flush=True)
    wall = time.monotonic() - started
    counts: dict[str, int] = {}
    for _n, verdict, _s, _d in rows:
        counts[verdict] = counts.get(verdict, 0) + 1
    runnable = (
        counts.get("ok", 0) + counts.get("differs", 0) + counts.get("timeout", 0) + counts.get("crash", 0)
    )
    print()
    print(f"examples: {len(rows)}  " + "  ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    if runnable:
        print(
            f"run locally: {counts.get('ok', 0)}/{runnable} reach Argo's phase and values "
            f"({100 * counts.get('ok', 0) / runnable:.0f}%)"
        )
    clear = len(rows) - counts.get("timeout", 0) - counts.get("crash", 0) - counts.get("unexpected", 0)
    print(f"run or refused clearly: {clear}/{len(rows)}; wall {wall:.0f}s with {workers} at once")
    return 0


if __name__ == "__main__":
    sys.exit(main())
