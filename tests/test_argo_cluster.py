"""dflowctl's ``-e argo`` path against a REAL API server and Argo controller (``make cluster-up``).

Run with ``make test-cluster`` (``pytest -m cluster``; the default run deselects
it). Skipped when no cluster is reachable: no kubeconfig, the API does not
answer, or Argo is not installed. Uses the current context (or
``KUBECONFIG``/``DFLOWCTL_NAMESPACE``); the artifact repository must be
reachable from here (``make cluster-up``'s S3 is on loopback; for a quick-start
MinIO, port-forward it and set ``DFLOWCTL_S3_ENDPOINT=localhost:9000``).
Every command's output is checked for the cluster's S3 secret key.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.fixtures import LOCAL_ONLY_OUTPUTS, cli, cluster_env, tree
from tests.conftest import SPECS, nodes_seen, wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]
__all__ = ["cluster_env"]

ALL_SPECS = sorted(p.name for p in SPECS.glob("*.yaml"))


def outputs(wf: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(template, display name, output parameters) of each Succeeded pod node, sorted.

    A multiset, not a mapping: a template called twice (``small`` and ``large``
    each have a ``sum`` step) has two entries.
    """
    out = []
    for node in (wf.get("status") or {}).get("nodes", {}).values():
        if node.get("type") != "Pod" or node.get("phase") != "Succeeded":
            continue
        params = {
            p["name"]: str(p.get("value"))
            for p in (node.get("outputs") or {}).get("parameters") or []
            if p["name"] not in LOCAL_ONLY_OUTPUTS
        }
        out.append(
            (node.get("templateName", ""), node.get("displayName", ""), json.dumps(params, sort_keys=True))
        )
    return sorted(out)


def run_both(
    spec: str, tmp_path: Path, env: dict[str, str], *extra: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run ``spec`` on Argo and locally at the same time; both must succeed. Returns both Workflows."""
    local_env = {"DFLOWCTL_HOME": str(tmp_path / "local-home"), "DFLOWCTL_ENGINE": "local"}
    with ThreadPoolExecutor(max_workers=1) as pool:
        local_run = pool.submit(cli, "run", "--wait", "-o", "json", spec, *extra, env=local_env, timeout=300)
        run = cli("run", "-e", "argo", "--wait", "-o", "json", spec, *extra, env=env, timeout=600)
        local = local_run.result()
    assert run.returncode == 0, run.stdout + run.stderr
    assert local.returncode == 0, local.stdout + local.stderr
    return json.loads(run.stdout), json.loads(local.stdout)


@pytest.mark.parametrize("example", ALL_SPECS)
def test_spec_on_real_argo(cluster_env: dict[str, str], tmp_path: Path, example: str) -> None:
    spec = str(SPECS / example)
    env = {**cluster_env, "DFLOWCTL_HOME": str(tmp_path / "home")}
    argo_wf, local_wf = run_both(spec, tmp_path, env)
    name = argo_wf["metadata"]["name"]
    try:
        assert argo_wf["status"]["phase"] == "Succeeded"
        assert outputs(argo_wf) == outputs(local_wf)
        status = cli("status", name, env=env)
        assert status.returncode == 0 and "Succeeded" in status.stdout, status.stdout + status.stderr
        as_json = cli("status", name, "-o", "json", env=env)
        assert json.loads(as_json.stdout)["status"]["phase"] == "Succeeded"
        logs = cli("logs", name, env=env)
        assert logs.returncode == 0 and logs.stdout.strip(), logs.stderr
        got = cli("download", name, "-d", str(tmp_path / "argo"), env=env, timeout=300)
        local_env = {"DFLOWCTL_HOME": str(tmp_path / "local-home"), "DFLOWCTL_ENGINE": "local"}
        local_name = local_wf["metadata"]["name"]
        mine = cli("download", local_name, "-d", str(tmp_path / "local"), env=local_env)
        # Same result on both: the files, or (a spec without artifacts) the same refusal.
        assert got.returncode == mine.returncode, got.stderr + mine.stderr
        if got.returncode != 0:
            assert got.stderr.replace(name, "RUN") == mine.stderr.replace(local_name, "RUN")
            assert "has no output artifacts" in got.stderr, got.stderr
        assert tree(tmp_path / "argo") == tree(tmp_path / "local")
    finally:
        if not os.environ.get("DFLOWCTL_KEEP_RUNS"):
            cli("delete", name, env=env)


def test_logs_follow_and_delete(cluster_env: dict[str, str], tmp_path: Path) -> None:
    env = {**cluster_env, "DFLOWCTL_HOME": str(tmp_path / "home")}
    run = cli("run", "-e", "argo", "--no-wait", str(SPECS / "hello.yaml"), env=env)
    assert run.returncode == 0, run.stderr
    name = run.stdout.split()[-1]
    follow = cli("logs", name, "-f", env=env, timeout=300)
    assert follow.returncode == 0, follow.stderr
    after = cli("logs", name, env=env)
    assert follow.stdout.strip() and set(after.stdout.splitlines()) <= set(follow.stdout.splitlines())
    gone = cli("delete", name, env=env)
    assert gone.returncode == 0, gone.stderr
    again = cli("status", name, env=env)
    assert again.returncode == 2, again.stdout + again.stderr


def test_failed_run_exits_1_and_retry(cluster_env: dict[str, str], tmp_path: Path) -> None:
    env = {**cluster_env, "DFLOWCTL_HOME": str(tmp_path / "home")}
    spec = str(SPECS / "retry.yaml")
    run = cli("run", "-e", "argo", "--wait", "-o", "json", spec, "-p", "failures=9", env=env, timeout=600)
    assert run.returncode == 1, run.stdout + run.stderr
    name = json.loads(run.stdout)["metadata"]["name"]
    try:
        assert json.loads(run.stdout)["status"]["phase"] == "Failed"
        retried = cli("retry", name, "--wait", env=env, timeout=600)
        assert retried.returncode == 1, retried.stdout + retried.stderr  # fails again: 9 > limit + 1
        resub = cli("retry", name, "--resubmit", "--no-wait", env=env)
        assert resub.returncode == 0, resub.stdout + resub.stderr
        again = resub.stdout.split()[-1]
        assert again != name and again.startswith("retry-"), resub.stdout
        cli("delete", again, env=env)
    finally:
        cli("delete", name, env=env)


SLEEPY = (
    "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {generateName: sleepy-}\n"
    "spec:\n  entrypoint: main\n  onExit: bye\n  templates:\n  - name: main\n    steps:\n"
    "    - - {name: nap, template: nap}\n    - - {name: after, template: nap}\n"
    "  - name: nap\n    container: {image: busybox, command: [sleep], args: ['300']}\n"
    "  - name: bye\n    container: {image: busybox, command: [echo], args: [bye]}\n"
)


def wait_running(name: str, env: dict[str, str]) -> None:
    """Until the run's first step has a running pod (bounded)."""

    def read() -> dict[str, Any]:
        got = cli("status", name, "-o", "json", env=env)
        return json.loads(got.stdout) if got.returncode == 0 else {}

    wait_until(
        read, nodes_seen(display="nap", phase="Running"), f"{name}: step nap running", timeout=120, interval=1
    )


@pytest.mark.parametrize("terminate", [False, True], ids=["stop", "terminate"])
def test_stop_interrupts_a_running_step(cluster_env: dict[str, str], tmp_path: Path, terminate: bool) -> None:
    """Argo signals the running pod through pods/exec (``argoexec kill 15 1``): the 300 s sleep ends at once.

    ``stop`` still runs the exit handler; ``--terminate`` does not.
    """
    env = {**cluster_env, "DFLOWCTL_HOME": str(tmp_path / "home")}
    wf = tmp_path / "sleepy.yaml"
    wf.write_text(SLEEPY)
    run = cli("run", "-e", "argo", "--no-wait", str(wf), env=env)
    assert run.returncode == 0, run.stderr
    name = run.stdout.split()[-1]
    try:
        wait_running(name, env)
        started = time.monotonic()
        stop = cli("stop", name, *(["--terminate"] if terminate else []), env=env)
        assert stop.returncode == 0, stop.stdout + stop.stderr
        status = cli("status", name, "--watch", "-o", "json", env=env, timeout=300)
        took = time.monotonic() - started
        final = json.loads(status.stdout)
        assert final["status"]["phase"] == "Failed", final["status"]
        assert took < 150, f"the stopped run took {took:.0f}s to end: the pod was not signalled"
        nodes = final["status"]["nodes"].values()
        nap = [n for n in nodes if n.get("displayName") == "nap"]
        assert nap and nap[0]["phase"] in ("Failed", "Error"), nap
        assert not [n for n in nodes if n.get("displayName") == "after"]
        bye = [n for n in nodes if n.get("templateName") == "bye"]
        if terminate:
            assert not bye, bye
        else:
            assert bye and bye[0]["phase"] == "Succeeded", bye
    finally:
        cli("delete", name, env=env)


def test_server_dry_run_creates_nothing(cluster_env: dict[str, str], tmp_path: Path) -> None:
    env = {**cluster_env, "DFLOWCTL_HOME": str(tmp_path / "home")}

    def hello_runs() -> set[str]:
        listing = cli("status", "-o", "json", env=env)
        assert listing.returncode == 0, listing.stderr
        return {
            w["metadata"]["name"]
            for w in json.loads(listing.stdout)
            if w["metadata"]["name"].startswith("hello-")
        }

    before = hello_runs()
    dry = cli("run", "-e", "argo", "--server-dry-run", str(SPECS / "hello.yaml"), env=env)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert hello_runs() <= before  # other tests' runs may come and go; no new hello run


def test_unreachable_cluster_exits_3(cluster_env: dict[str, str], tmp_path: Path) -> None:
    cfg = tmp_path / "kubeconfig"
    text = Path(os.environ.get("KUBECONFIG", Path.home() / ".kube" / "config")).read_text()
    data = json.loads(text) if text.lstrip().startswith("{") else None
    if data is None:
        pytest.skip("the kubeconfig is not the test cluster's JSON one")
    data["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:9"
    cfg.write_text(json.dumps(data))
    env = {**cluster_env, "DFLOWCTL_HOME": str(tmp_path / "home"), "KUBECONFIG": str(cfg)}
    run = cli("run", "-e", "argo", "--wait", str(SPECS / "hello.yaml"), env=env, timeout=120)
    assert run.returncode == 3, run.stdout + run.stderr
    assert run.stderr.startswith("error: cannot reach the Kubernetes API at https://127.0.0.1:9: ")
    assert "Traceback" not in run.stderr


def test_dflow_ops_on_real_argo(cluster_env: dict[str, str], tmp_path: Path) -> None:
    """dflow OPs of tests/test_dflow_ops.py agree on the real controller and the local engine:
    List[Path] into a function OP, an optional output not written into an optional input
    (directly and through a parallelism wrapper), a fan-in of List[Path] outputs stacked,
    Dict[str, Path], None defaults, a list input over a fan-in with a failed item. Rendered,
    the spec is over Argo's 1 MiB (27 Python op templates, each with the bootstrap): its
    bootstrap is shipped once (render/bootship.py), and each pod runs its loader."""
    from dflowctl.actions import render_file
    from dflowctl.engines.argoreuse import reuse_manifest
    from dflowctl.render.bootship import LOADER_MARK
    from tests.test_dflow_ops import OK_SPEC, OPS

    shutil.copytree(OPS, tmp_path / "ops", ignore=shutil.ignore_patterns("__pycache__"))
    spec = tmp_path / "spec.yaml"
    spec.write_text(OK_SPEC, encoding="utf-8")
    env = {**cluster_env, "DFLOWCTL_HOME": str(tmp_path / "home")}
    argo_wf, local_wf = run_both(str(spec), tmp_path, env)
    names: list[str] = []
    try:
        assert argo_wf["status"]["phase"] == "Succeeded"
        assert outputs(argo_wf) == outputs(local_wf)
        got = {
            n["displayName"]: {
                p["name"]: p.get("value") for p in (n.get("outputs") or {}).get("parameters") or []
            }
            for n in argo_wf["status"]["nodes"].values()
            if n.get("type") == "Pod"
        }
        assert got["maybe-not-written"]["present"] == "false" and got["maybe-written"]["present"] == "true"
        assert json.loads(got["stacked"]["names"]) == [
            "log_2.txt",
            "traj_2.dump",
            "log_1.txt",
            "traj_1.dump",
            "log_10.txt",
            "traj_10.dump",
        ]
        assert json.loads(got["use-models"]["keys"]) == ["first", "second"]
        assert got["untagged"]["seen"] == "None None"
        assert json.loads(got["sum-e"]["n"]) == 2
        sources = [t["script"]["source"] for t in argo_wf["spec"]["templates"] if "script" in t]
        assert len(sources) == 27 and all(s.startswith(LOADER_MARK) for s in sources)
        # `--reuse` of it: the keys of its stored templates (loaders) are those of the bootstrap
        name = argo_wf["metadata"]["name"]
        again = cli(
            "run", "-e", "argo", "--wait", "-o", "json", str(spec), "--reuse", name, env=env, timeout=600
        )
        assert again.returncode == 0, again.stderr
        names.append(json.loads(again.stdout)["metadata"]["name"])
        expected = reuse_manifest(render_file(spec)[0], argo_wf)
        assert len(expected.steps) >= 25
        assert f"reusing {expected.pods} pod(s) of {name}: {', '.join(expected.steps)}" in again.stderr
    finally:
        if not os.environ.get("DFLOWCTL_KEEP_RUNS"):
            for name in [argo_wf["metadata"]["name"], *names]:
                cli("delete", name, env=env)
