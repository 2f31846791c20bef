"""API requests made while following a 60-step Argo run: watch vs polling once a second.

A benchmark, not a test: prints figures and the ratio. The cluster is the
Kubernetes stand-in (tests/k8s/server.py) on loopback, driven by the real
`kubernetes` client; a scripted controller moves a 60-step workflow through
121 state changes (each step starts, then ends; then the workflow ends).
Time is scaled: one simulated second = SCALE real seconds, each step runs
STEP_SECONDS simulated seconds, so "polling once a second" polls every SCALE
real seconds. The watch follower is dflowctl's (`ArgoEngine.watch`), with one
dropped stream and one 410 Gone injected on the way; the poller GETs the
Workflow once per simulated second until it has finished.

Target (issue 4): at most one request per state change plus reconnects.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dflowctl.engines import RunOptions  # noqa: E402
from dflowctl.engines.argo import ArgoEngine, is_finished  # noqa: E402
from dflowctl.settings import Settings  # noqa: E402
from tests.k8s.server import FakeKube  # noqa: E402

STEPS = 60
STEP_SECONDS = 3.0  # simulated duration of one step
SCALE = 0.05  # real seconds per simulated second
NS = "argo"
MANIFEST: dict[str, Any] = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"generateName": "bench-"},
    "spec": {"entrypoint": "main", "templates": [{"name": "main", "container": {"image": "alpine"}}]},
}


def controller(kube: FakeKube, name: str, faults: bool) -> int:
    """Move the workflow through its states; returns the number of state changes written."""
    changes = 0
    nodes: dict[str, Any] = {name: {"id": name, "name": name, "type": "Steps", "phase": "Running"}}

    def write(phase: str, done: bool = False) -> None:
        nonlocal changes

        def apply(cur: dict[str, Any]) -> dict[str, Any]:
            cur["metadata"].setdefault("labels", {})["workflows.argoproj.io/completed"] = str(done).lower()
            cur["status"] = {
                "phase": phase,
                "nodes": nodes,
                **({"finishedAt": "2026-01-01T00:00:00Z"} if done else {}),
            }
            return cur

        kube.store.update("workflows", NS, name, apply)
        changes += 1

    for i in range(STEPS):
        nid = f"{name}-{i}"
        nodes[nid] = {"id": nid, "name": f"{name}[{i}].s", "type": "Pod", "phase": "Running"}
        write("Running")
        if faults and i == STEPS // 3:
            kube.drop_streams()  # a dropped stream mid-run
        if faults and i == 2 * STEPS // 3:
            kube.expire_next_watch = 1
            kube.drop_streams()  # ... and a reconnect that gets 410 Gone
        time.sleep(STEP_SECONDS * SCALE)
        nodes[nid]["phase"] = "Succeeded"
        write("Running")
    nodes[name]["phase"] = "Succeeded"
    write("Succeeded", done=True)
    return changes


def follow_with_watch(kube: FakeKube, settings: Settings) -> tuple[int, int, float]:
    eng = ArgoEngine(settings)
    name = eng.submit(MANIFEST, RunOptions(wait=False))["metadata"]["name"]
    before = len(kube.request_log)
    result: dict[str, int] = {}
    t = threading.Thread(target=lambda: result.update(changes=controller(kube, name, faults=True)))
    start = time.monotonic()
    t.start()
    updates = [0]
    eng.watch(name, lambda _wf: updates.__setitem__(0, updates[0] + 1))
    elapsed = time.monotonic() - start
    t.join()
    return len(kube.request_log) - before, result["changes"], elapsed


def follow_by_polling(kube: FakeKube, settings: Settings) -> tuple[int, int]:
    eng = ArgoEngine(settings)
    name = eng.submit(MANIFEST, RunOptions(wait=False))["metadata"]["name"]
    before = len(kube.request_log)
    result: dict[str, int] = {}
    t = threading.Thread(target=lambda: result.update(changes=controller(kube, name, faults=False)))
    t.start()
    tick = time.monotonic()
    while not is_finished(eng.get_run(name)):
        tick += SCALE  # once a (simulated) second, on a fixed schedule
        time.sleep(max(tick - time.monotonic(), 0))
    t.join()
    return len(kube.request_log) - before, result["changes"]


def main() -> int:
    kube = FakeKube(bookmark_interval=60 * SCALE).start()
    kube.add_namespace(NS)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(kubeconfig=str(kube.kubeconfig(Path(tmp) / "kubeconfig")))
            watch_requests, changes, elapsed = follow_with_watch(kube, settings)
            poll_requests, _ = follow_by_polling(kube, settings)
    finally:
        kube.stop()
    run_seconds = STEPS * STEP_SECONDS
    print(
        f"a {STEPS}-step run of {run_seconds:.0f} simulated s ({elapsed:.1f} s real): {changes} state changes"
    )
    print(f"watch (1 dropped stream, 1 410 Gone): {watch_requests} API requests")
    print(f"polling once a second:                {poll_requests} API requests")
    print(
        f"requests per state change: watch {watch_requests / changes:.3f}, polling {poll_requests / changes:.2f}"
    )
    print(f"ratio polling/watch: {poll_requests / watch_requests:.1f}x fewer requests with the watch")
    target = watch_requests <= changes + 4
    print(f"target (<= one request per state change + reconnects): {'met' if target else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
