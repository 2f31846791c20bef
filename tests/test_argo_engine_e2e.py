"""End to end on the Argo engine: the real CLI, the real kubernetes and minio clients.

The cluster is the stand-in (tests/k8s): its controller runs each submitted
Workflow with the local engine and stores outputs in a loopback S3 server
(moto) in Argo's key layout, so `dflowctl run -e argo`, `status`, `logs`,
`download`, `stop`, `retry` and `delete` go the whole way.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, SPECS, run_cli
from tests.k8s import fixtures
from tests.k8s.fixtures import NAMESPACE, ArgoCluster

# fixtures used here
argo_cluster = fixtures.argo_cluster
fake_kube = fixtures.fake_kube
s3 = fixtures.s3
s3_server = fixtures.s3_server

pytestmark = pytest.mark.timeout(180)

EXAMPLES = sorted(p.name for p in SPECS.glob("*.yaml"))


def cli(cluster: ArgoCluster, *args: str, timeout: float = 90) -> Any:
    return run_cli(*args, env=cluster.env, timeout=timeout)


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def only_run(cluster: ArgoCluster) -> dict[str, Any]:
    items = cluster.kube.store.items("workflows", NAMESPACE)
    assert len(items) == 1
    return items[0]


def wait_for(cond: Any, timeout: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES)
def test_every_example_runs_on_argo_like_local(
    argo_cluster: ArgoCluster, tmp_path: Path, example: str
) -> None:
    spec = str(SPECS / example)
    local_env = {"DFLOWCTL_HOME": str(tmp_path / "local-home"), "DFLOWCTL_ENGINE": "local"}
    with ThreadPoolExecutor(2) as pool:  # the two engines at once: half the wall time
        local_job = pool.submit(run_cli, "run", "--wait", spec, env=local_env, timeout=120)
        on_argo = cli(argo_cluster, "run", "-e", "argo", "--wait", spec, timeout=120)
        local = local_job.result()
    assert on_argo.returncode == local.returncode, on_argo.stdout + on_argo.stderr
    assert "Traceback" not in on_argo.stderr
    assert argo_cluster.kube.pruned == [], "fields Argo's CRD does not know (the API server drops them)"
    wf = only_run(argo_cluster)
    name = wf["metadata"]["name"]
    assert wf["status"]["phase"] == ("Succeeded" if local.returncode == 0 else "Failed")
    assert wf["metadata"]["labels"]["workflows.argoproj.io/completed"] == "true"
    assert (
        wf["status"]["artifactRepositoryRef"]["artifactRepository"]["s3"]["bucket"] == argo_cluster.s3.bucket
    )

    local_name = json.loads(run_cli("status", "-o", "json", env=local_env).stdout)[0]["metadata"]["name"]
    with ThreadPoolExecutor(2) as pool:
        local_job = pool.submit(run_cli, "download", local_name, "-d", str(tmp_path / "local"), env=local_env)
        got_argo = cli(argo_cluster, "download", name, "-d", str(tmp_path / "argo"))
        got_local = local_job.result()
    assert got_argo.returncode == got_local.returncode, got_argo.stderr
    assert tree(tmp_path / "argo") == tree(tmp_path / "local")

    status = cli(argo_cluster, "status", name)
    assert status.returncode == 0 and name in status.stdout
    listing = cli(argo_cluster, "status", "-o", "json")
    assert [w["metadata"]["name"] for w in json.loads(listing.stdout)] == [name]


def workflow_file(tmp_path: Path, script: str, name: str = "e2e") -> Path:
    """A two-step spec: `first` echoes, then `second` runs ``script``."""
    spec = {
        "apiVersion": "dflowctl/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {
            "ops": {
                "ok": {"image": "alpine:3.20", "script": "echo first-ok\n"},
                "work": {"image": "alpine:3.20", "script": script + "\n"},
            },
            "steps": [{"name": "first", "op": "ok"}, {"name": "second", "op": "work"}],
        },
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(json.dumps(spec, indent=2))
    return path


@pytest.fixture
def marker_dir() -> Iterator[Path]:
    """A folder outside /tmp (the local engine gives each pod its own /tmp)."""
    base = Path("/var/tmp")
    if not os.access(base, os.W_OK):
        pytest.skip("/var/tmp is not writable")
    path = Path(tempfile.mkdtemp(prefix="dflowctl-e2e-", dir=base))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.slow
def test_run_status_logs_retry_delete(argo_cluster: ArgoCluster, tmp_path: Path, marker_dir: Path) -> None:
    marker = marker_dir / "fixed"
    script = (
        f'echo "line one"\necho "line two"\n[ -f {marker} ] || {{ echo broken >&2; exit 3; }}\necho fixed'
    )
    spec = workflow_file(tmp_path, script)
    first = cli(argo_cluster, "run", "-e", "argo", "--wait", str(spec))
    assert first.returncode == 1, first.stdout + first.stderr
    wf = only_run(argo_cluster)
    name = wf["metadata"]["name"]
    assert wf["status"]["phase"] == "Failed"

    status = cli(argo_cluster, "status", name)
    assert status.returncode == 0
    assert "first" in status.stdout and "second" in status.stdout and "Failed" in status.stdout

    logs = cli(argo_cluster, "logs", name)
    assert logs.returncode == 0, logs.stderr
    for text in ("first-ok", "line one", "line two", "broken"):
        assert text in logs.stdout

    nodes = wf["status"]["nodes"]
    ok_node = next(n for n in nodes.values() if n.get("displayName") == "first")
    marker.write_text("yes")
    again = cli(argo_cluster, "retry", name, "--wait")
    assert again.returncode == 0, again.stdout + again.stderr
    wf = only_run(argo_cluster)
    assert wf["status"]["phase"] == "Succeeded"
    kept = wf["status"]["nodes"][ok_node["id"]]
    assert kept["phase"] == "Succeeded" and kept["startedAt"] == ok_node["startedAt"]  # not run again
    assert "fixed" in cli(argo_cluster, "logs", name).stdout

    gone = cli(argo_cluster, "delete", name)
    assert gone.returncode == 0, gone.stderr
    assert argo_cluster.kube.store.items("workflows", NAMESPACE) == []
    missing = cli(argo_cluster, "status", name)
    assert missing.returncode == 2 and name in missing.stderr


def test_stop_a_running_workflow(argo_cluster: ArgoCluster, tmp_path: Path) -> None:
    spec = workflow_file(tmp_path, "echo started\nsleep 60\necho never", name="long")
    submitted = cli(argo_cluster, "run", "-e", "argo", "--no-wait", str(spec))
    assert submitted.returncode == 0, submitted.stderr
    name = only_run(argo_cluster)["metadata"]["name"]
    assert name in submitted.stdout

    def second_running() -> bool:
        nodes = (only_run(argo_cluster).get("status") or {}).get("nodes") or {}
        return any(n.get("displayName") == "second" and n.get("phase") == "Running" for n in nodes.values())

    wait_for(second_running, what="the long step to start")
    stopped = cli(argo_cluster, "stop", name)
    assert stopped.returncode == 0, stopped.stderr
    assert only_run(argo_cluster)["spec"]["shutdown"] == "Stop"
    final = wait_for(
        lambda: (only_run(argo_cluster).get("status") or {}).get("finishedAt") and only_run(argo_cluster),
        what="the run to stop",
    )
    assert final["status"]["phase"] in ("Failed", "Error")
    waited = cli(argo_cluster, "status", name)
    assert "never" not in cli(argo_cluster, "logs", name).stdout
    assert waited.returncode == 0


def test_follow_logs_live(argo_cluster: ArgoCluster, tmp_path: Path) -> None:
    spec = workflow_file(tmp_path, "for i in 1 2 3; do echo tick $i; sleep 0.3; done", name="ticks")
    cli(argo_cluster, "run", "-e", "argo", "--no-wait", str(spec))
    name = only_run(argo_cluster)["metadata"]["name"]
    got = cli(argo_cluster, "logs", name, "-f", timeout=60)
    assert got.returncode == 0, got.stderr
    lines = [ln for ln in got.stdout.splitlines() if "tick" in ln or "first-ok" in ln]
    assert len(lines) == 4 and lines[-1].endswith("tick 3")


@pytest.mark.parametrize("fault", ["cut stream", "burst of 500s", "410 gone", "slow api"])
def test_run_survives_api_faults(argo_cluster: ArgoCluster, tmp_path: Path, fault: str) -> None:
    kube = argo_cluster.kube
    if fault == "cut stream":
        kube.cut_watch_after, kube.cut_watches = 1, 2
    elif fault == "burst of 500s":
        kube.fail_next, kube.fail_match = 4, "GET /apis/argoproj.io"
    elif fault == "410 gone":
        kube.expire_next_watch = 2
    else:
        kube.delay = 0.2
    spec = workflow_file(tmp_path, "echo working; sleep 0.5; echo done", name="faulty")
    got = cli(argo_cluster, "run", "-e", "argo", "--wait", str(spec))
    assert got.returncode == 0, got.stdout + got.stderr
    assert "Succeeded" in got.stdout
    assert only_run(argo_cluster)["status"]["phase"] == "Succeeded"


def test_clear_errors_exit_3(argo_cluster: ArgoCluster, tmp_path: Path) -> None:
    spec = str(workflow_file(tmp_path, "echo hi"))
    kube = argo_cluster.kube
    cases: list[tuple[dict[str, str], str]] = []
    kube.add_user("viewer", "system:serviceaccount:argo:viewer", {("list", "workflows")})
    viewer = kube.kubeconfig(tmp_path / "viewer", token="viewer")
    cases.append(
        ({"KUBECONFIG": str(viewer)}, 'workflows.argoproj.io is forbidden: User "system:serviceaccount')
    )
    bad = kube.kubeconfig(tmp_path / "bad", token="not-a-token")
    cases.append(({"KUBECONFIG": str(bad)}, "401 Unauthorized"))
    cases.append(({"DFLOWCTL_NAMESPACE": "nowhere"}, 'namespace "nowhere" does not exist'))
    for env, message in cases:
        got = run_cli("run", "-e", "argo", "--wait", spec, env={**argo_cluster.env, **env})
        assert got.returncode == 3, (env, got.stdout, got.stderr)
        assert message in got.stderr and "Traceback" not in got.stderr
    kube.crd_installed = False
    got = cli(argo_cluster, "status")
    assert got.returncode == 3
    assert "Argo Workflows is not installed in this cluster (no workflows.argoproj.io CRD)" in got.stderr
    kube.stop()
    got = cli(argo_cluster, "status")
    assert got.returncode == 3 and "cannot reach the Kubernetes API" in got.stderr


@pytest.mark.slow
def test_no_secret_in_any_output(argo_cluster: ArgoCluster, tmp_path: Path) -> None:
    """Every byte dflowctl printed or wrote, and what it sent: no bearer token, no S3 key."""
    secrets = [argo_cluster.kube.token.encode(), argo_cluster.s3.secret_key.encode()]
    outputs: list[str] = []
    spec = str(SPECS / "hello.yaml")
    for args in (
        ("run", "-e", "argo", "--wait", spec),
        ("run", "-e", "argo", "--dry-run", spec),
        ("run", "-e", "argo", "--server-dry-run", "-o", "yaml", spec),
        ("status",),
        ("status", "-o", "json"),
    ):
        got = cli(argo_cluster, *args)
        outputs += [got.stdout, got.stderr]
    name = next(w for w in argo_cluster.kube.store.items("workflows", NAMESPACE))["metadata"]["name"]
    for args in (
        ("status", name, "-o", "yaml"),
        ("logs", name),
        ("download", name, "-d", str(tmp_path / "out")),
    ):
        got = cli(argo_cluster, *args)
        outputs += [got.stdout, got.stderr]
    blob = "\n".join(outputs).encode()
    written = [p for root in (argo_cluster.home, tmp_path / "out") if root.exists() for p in root.rglob("*")]
    blob += b"".join(p.read_bytes() for p in written if p.is_file())
    blob += json.dumps(argo_cluster.kube.store.items("workflows", NAMESPACE)).encode()
    blob += "\n".join(argo_cluster.kube.request_log).encode()
    assert b"hello-" in blob  # the grep sees real output
    for secret in secrets:
        assert secret not in blob


def test_watch_is_used_not_polling(argo_cluster: ArgoCluster, tmp_path: Path) -> None:
    script = "; ".join(f"echo {i}; sleep 0.1" for i in range(10))
    spec = workflow_file(tmp_path, script, name="quiet")
    got = cli(argo_cluster, "run", "-e", "argo", "--wait", str(spec))
    assert got.returncode == 0, got.stderr
    log = argo_cluster.kube.request_log
    workflow_gets = [r for r in log if r.startswith("GET /apis/argoproj.io") and "watch=true" not in r]
    assert sum("watch=true" in r for r in log) == 1
    assert len(workflow_gets) <= 2  # the first GET (+ the namespace check's list, if any)


@pytest.mark.slow
def test_local_inputs_are_uploaded_once_and_reach_the_run(argo_cluster: ArgoCluster, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_text("alpha\n")
    (tmp_path / "note.txt").write_text("beta\n")
    spec = {
        "apiVersion": "dflowctl/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "inputs"},
        "spec": {
            "artifacts": {"folder": "./data", "note": "./note.txt"},
            "ops": {
                "join": {
                    "image": "alpine:3.20",
                    "script": "cat /in/folder/a.txt /in/note > /out.txt\n",
                    "inputs": {"artifacts": {"folder": {"path": "/in/folder"}, "note": {"path": "/in/note"}}},
                    "outputs": {"artifacts": {"joined": {"path": "/out.txt"}}},
                }
            },
            "steps": [
                {
                    "name": "join",
                    "op": "join",
                    "artifacts": {
                        "folder": "{{workflow.artifacts.folder}}",
                        "note": "{{workflow.artifacts.note}}",
                    },
                }
            ],
        },
    }
    path = tmp_path / "inputs.yaml"
    path.write_text(json.dumps(spec))
    first = cli(argo_cluster, "run", "-e", "argo", "--wait", str(path))
    assert first.returncode == 0, first.stdout + first.stderr
    client, bucket = argo_cluster.s3.client, argo_cluster.s3.bucket
    uploaded = {
        o.object_name: o.last_modified for o in client.list_objects(bucket, "dflowctl/", recursive=True)
    }
    assert len(uploaded) == 2, uploaded  # the folder and the file, content-addressed
    time.sleep(1.1)  # S3 times have a resolution of one second
    second = cli(argo_cluster, "run", "-e", "argo", "--wait", str(path))
    assert second.returncode == 0, second.stderr
    again = {o.object_name: o.last_modified for o in client.list_objects(bucket, "dflowctl/", recursive=True)}
    assert again == uploaded  # unchanged inputs are not uploaded twice
    name = json.loads(cli(argo_cluster, "status", "-o", "json").stdout)[0]["metadata"]["name"]
    got = cli(argo_cluster, "download", name, "-d", str(tmp_path / "out"))
    assert got.returncode == 0, got.stderr
    assert tree(tmp_path / "out") == {"join/joined/out.txt": b"alpha\nbeta\n"}  # /out.txt keeps its name


def test_dflow_tutorial_op_runs_unchanged_on_argo(argo_cluster: ArgoCluster, tmp_path: Path) -> None:
    """dflow's HelloWorld OP file as is, from a spec declaring no inputs or outputs, on the
    stand-in (nothing but Python in the "image"): the artifact holds msg.txt and results.txt."""
    res = cli(argo_cluster, "run", "-e", "argo", "--wait", str(SPECS / "dflow-hello.yaml"))
    assert res.returncode == 0, res.stdout + res.stderr
    name = only_run(argo_cluster)["metadata"]["name"]
    got = cli(argo_cluster, "download", name, "-d", str(tmp_path / "out"))
    assert got.returncode == 0, got.stderr
    assert tree(tmp_path / "out") == {
        "write/out_art/msg.txt": b"HelloWorld!HelloWorld!",
        "write/out_art/results.txt": b"number: 2",
    }


def test_failure_reason_and_fatal_error_on_argo(argo_cluster: ArgoCluster, tmp_path: Path) -> None:
    """On the stand-in too: the node message carries the bootstrap's termination-log line, and
    the rendered retryStrategy.expression retries a TransientError but not a FatalError."""
    import shutil

    shutil.copytree(REPO / "tests" / "data" / "dflow" / "ops", tmp_path / "ops")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "apiVersion: dflowctl/v1alpha1\nkind: Workflow\nmetadata: {name: fatal}\nspec:\n  ops:\n"
        "    flaky: {python: 'dflow_ops:Flaky', source: ./ops, retry: 1}\n"
        "    broken: {python: 'dflow_ops:Broken', source: ./ops, retry: 2}\n"
        "  steps:\n    - - {name: flaky, op: flaky}\n      - {name: broken, op: broken}\n",
        encoding="utf-8",
    )
    res = cli(argo_cluster, "run", "-e", "argo", "--wait", str(spec))
    assert res.returncode == 1, res.stdout + res.stderr
    nodes = only_run(argo_cluster)["status"]["nodes"].values()
    pods = [n for n in nodes if n["type"] == "Pod"]
    flaky = [n for n in pods if n["displayName"].startswith("flaky")]
    broken = [n for n in pods if n["displayName"].startswith("broken")]
    assert len(flaky) == 2 and len(broken) == 1
    assert all(
        n["message"].startswith("Error (exit code 1): TransientError: the license server is busy (ops/")
        for n in flaky
    )
    assert broken[0]["message"].startswith(
        "Error (exit code 2): FatalError: the structure has no atoms (ops/"
    )


def test_download_never_writes_through_a_link_on_argo(argo_cluster: ArgoCluster, tmp_path: Path) -> None:
    """The same rule as on the local engine (one code path: dflowctl/download/)."""
    res = cli(argo_cluster, "run", "-e", "argo", "--wait", str(SPECS / "hello.yaml"))
    assert res.returncode == 0, res.stdout + res.stderr
    name = json.loads(cli(argo_cluster, "status", "-o", "json").stdout)[0]["metadata"]["name"]
    dest, elsewhere = tmp_path / "dl", tmp_path / "elsewhere"
    dest.mkdir()
    elsewhere.mkdir()
    (dest / "write").symlink_to(elsewhere)
    got = cli(argo_cluster, "download", name, "-d", str(dest))
    assert got.returncode == 2
    link = dest / "write"
    assert got.stderr.startswith(f"error: {link} is a symbolic link; download never writes through one")
    assert list(elsewhere.iterdir()) == []


@pytest.mark.slow
def test_typed_fan_in_aligns_failed_items_on_argo(argo_cluster: ArgoCluster) -> None:
    got = cli(
        argo_cluster,
        "run",
        "-e",
        "argo",
        "--wait",
        str(SPECS / "typed-fanin.yaml"),
        "-p",
        "fail=[3, 7]",
        "-o",
        "json",
        timeout=150,
    )
    assert got.returncode == 0, got.stdout + got.stderr
    wf = json.loads(got.stdout)
    total = next(n for n in wf["status"]["nodes"].values() if n["displayName"] == "sum")
    values = {p["name"]: p["value"] for p in total["outputs"]["parameters"]}
    assert json.loads(values["ys"]) == [None if i in (3, 7) else i * i for i in range(10)]
