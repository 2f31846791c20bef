"""Benchmarks on the real test cluster (``make cluster-up``; ``make bench-cluster``; not in CI).

Prints ratios measured in this one run:
  download   bench/download.py against the cluster's keep-alive S3 (gofakes3 over Go's
             net/http): 1,000 small files vs a bare minio loop (target >= 4x) and one
             256 MB file (target >= 0.9x)
  watch      API requests while following an N-step run on real Argo: dflowctl's watch
             vs a GET once a second (both runs the same workflow)
  first pod  `dflowctl run --no-wait` started -> the run's first pod Running (median of 3)
  fan-out    specs/fanout.yaml with n=FANOUT items end to end: real Argo vs the local engine
Usage: python bench/cluster.py [download|watch|first-pod|fanout ...]  (default: all)
env: BENCH_FANOUT (1000), BENCH_PARALLELISM (Argo's spec.parallelism for the fan-out, 16),
BENCH_STEPS (20, the watch run's steps), BENCH_DOWNLOAD_ARGS ("256 1000 3").
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dflowctl.engines import RunOptions  # noqa: E402
from dflowctl.engines.argo import ArgoEngine, is_finished  # noqa: E402
from dflowctl.settings import Settings  # noqa: E402
from tests.cluster.layout import HOST, layout  # noqa: E402

SPECS = REPO / "specs"


def env_cluster() -> dict[str, str]:
    lay = layout()
    if not lay.kubeconfig.exists():
        raise SystemExit("bench/cluster.py: no test cluster (make cluster-up)")
    return {**os.environ, "KUBECONFIG": str(lay.kubeconfig), "DFLOWCTL_ENGINE": "argo", "NO_COLOR": "1"}


def dflowctl(*args: str, env: dict[str, str], timeout: float = 3600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dflowctl", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def bench_download() -> None:
    lay = layout()
    keys = json.loads(lay.s3_keys.read_text())
    pid = int((lay.pids / "s3.pid").read_text())
    env = {
        **os.environ,
        "BENCH_S3_ENDPOINT": f"{HOST}:{lay.ports.s3}",
        "BENCH_S3_ACCESS_KEY": keys["access"],
        "BENCH_S3_SECRET_KEY": keys["secret"],
        "BENCH_S3_PID": str(pid),
        "BENCH_S3_NAME": f"the test cluster's S3 (gofakes3, Go net/http keep-alive) at {HOST}:{lay.ports.s3}",
    }
    args = os.environ.get("BENCH_DOWNLOAD_ARGS", "256 1000 3").split()
    print("== download (bench/download.py against the cluster's S3)", flush=True)
    subprocess.run([sys.executable, str(REPO / "bench" / "download.py"), *args], env=env, check=True)


def steps_workflow(n: int) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "bench-watch-"},
        "spec": {
            "entrypoint": "main",
            "templates": [
                {"name": "main", "steps": [[{"name": f"s{i}", "template": "tick"}] for i in range(n)]},
                {"name": "tick", "container": {"image": "busybox", "command": ["true"]}},
            ],
        },
    }


def bench_watch() -> None:
    n = int(os.environ.get("BENCH_STEPS", "20"))
    settings = Settings(kubeconfig=str(layout().kubeconfig), engine="argo")
    print(f"== watch vs polling: a {n}-step run on real Argo, followed each way", flush=True)

    watcher = ArgoEngine(settings)
    name = watcher.submit(steps_workflow(n), RunOptions(wait=False))["metadata"]["name"]
    before = watcher.kube.requests
    seen: list[str] = []
    start = time.monotonic()
    watcher.watch(name, lambda wf: seen.append(str(wf["metadata"].get("resourceVersion"))))
    watch_s = time.monotonic() - start
    watch_requests = watcher.kube.requests - before
    changes = len(set(seen))

    poller = ArgoEngine(settings)
    name2 = poller.submit(steps_workflow(n), RunOptions(wait=False))["metadata"]["name"]
    before = poller.kube.requests
    start = time.monotonic()
    tick = start
    while not is_finished(poller.get_run(name2)):
        tick += 1.0
        time.sleep(max(tick - time.monotonic(), 0))
    poll_s = time.monotonic() - start
    poll_requests = poller.kube.requests - before
    for engine, run in ((watcher, name), (poller, name2)):
        engine.delete(run)
    print(
        f"watch  : {watch_requests:4d} API requests over {watch_s:5.1f} s; {changes} Workflow versions seen"
    )
    print(f"polling: {poll_requests:4d} API requests over {poll_s:5.1f} s (GET once a second)")
    print(f"ratio polling/watch: {poll_requests / max(watch_requests, 1):.1f}x fewer requests with the watch")


def first_pod_running(env: dict[str, str], kubeconfig: str) -> float:
    from dflowctl.kube import KubeClient

    kube = KubeClient(Settings(kubeconfig=kubeconfig, engine="argo"))
    spec = SPECS / "hello.yaml"
    start = time.monotonic()
    sub = dflowctl("run", "-e", "argo", "--no-wait", str(spec), env=env, timeout=300)
    if sub.returncode != 0:
        raise SystemExit(f"submit failed: {sub.stderr}")
    name = sub.stdout.split()[-1]
    label = f"workflows.argoproj.io/workflow={name}"
    try:
        while time.monotonic() - start < 300:
            pods = kube.core().list_namespaced_pod(kube.namespace, label_selector=label).items
            if any(p.status and p.status.phase == "Running" for p in pods):
                return time.monotonic() - start
            time.sleep(0.05)
        raise SystemExit(f"{name}: no pod Running after 300 s")
    finally:
        dflowctl("wait", name, env=env, timeout=600)
        dflowctl("delete", name, env=env)


def bench_first_pod() -> None:
    env = env_cluster()
    times = [first_pod_running(env, env["KUBECONFIG"]) for _ in range(3)]
    print("== submit -> first pod Running (dflowctl run --no-wait, then the pod's phase through the API)")
    print(f"median {statistics.median(times):.2f} s ({', '.join(f'{t:.2f}' for t in times)})")


def bench_fanout() -> None:
    n = int(os.environ.get("BENCH_FANOUT", "1000"))
    parallelism = os.environ.get("BENCH_PARALLELISM", "16")
    env = env_cluster()
    spec = str(SPECS / "fanout.yaml")
    print(f"== fan-out: specs/fanout.yaml n={n}, end to end (run --wait)", flush=True)
    start = time.monotonic()
    argo = dflowctl("run", "-e", "argo", "--wait", "-o", "json", spec, "-p", f"n={n}", "--parallelism", parallelism, env=env, timeout=4 * 3600)  # fmt: skip
    argo_s = time.monotonic() - start
    if argo.returncode != 0:
        raise SystemExit(f"the Argo run failed: {argo.stderr[-2000:]}")
    wf = json.loads(argo.stdout)
    pods = sum(1 for node in wf["status"]["nodes"].values() if node.get("type") == "Pod")
    dflowctl("delete", wf["metadata"]["name"], env=env)
    with tempfile.TemporaryDirectory() as home:
        local_env = {**env, "DFLOWCTL_ENGINE": "local", "DFLOWCTL_HOME": home}
        start = time.monotonic()
        local = dflowctl("run", spec, "-p", f"n={n}", env=local_env, timeout=3600)
        local_s = time.monotonic() - start
    if local.returncode != 0:
        raise SystemExit(f"the local run failed: {local.stderr[-2000:]}")
    print(f"real Argo (process kubelet, parallelism {parallelism}): {argo_s:7.1f} s for {pods} pods")
    print(f"local engine:                                 {local_s:7.1f} s")
    print(f"ratio Argo/local: {argo_s / local_s:.1f}x (the local engine is that much faster end to end)")


BENCHES = {
    "download": bench_download,
    "watch": bench_watch,
    "first-pod": bench_first_pod,
    "fanout": bench_fanout,
}


def main(argv: list[str]) -> int:
    chosen = argv or list(BENCHES)
    unknown = [c for c in chosen if c not in BENCHES]
    if unknown:
        raise SystemExit(f"bench/cluster.py: unknown {unknown}; choose from {list(BENCHES)}")
    env_cluster()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"bench/cluster.py: {os.cpu_count()} CPUs, load average {load}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    for name in chosen:
        BENCHES[name]()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
