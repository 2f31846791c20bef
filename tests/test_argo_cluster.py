"""The Argo end to end against a REAL cluster (Argo Workflows + MinIO), see docs/argo.md.

Run with ``pytest -m cluster`` (the default run deselects it). Skipped when no
cluster is reachable: no kubeconfig, the API does not answer, or Argo is not
installed. Uses the current context (or ``KUBECONFIG``/``DFLOWCTL_NAMESPACE``);
if MinIO is only reachable inside the cluster, port-forward it and set
``DFLOWCTL_S3_ENDPOINT=localhost:9000``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import SPECS, run_cli

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def cluster_env() -> dict[str, str]:
    from dflowctl.errors import DflowctlError
    from dflowctl.kube import KubeClient
    from dflowctl.settings import load_settings

    try:
        kube = KubeClient(load_settings({"engine": "argo"}))
        if not kube.argo_installed():
            pytest.skip("the cluster has no Argo Workflows")
        kube.list_workflows(label_selector="app.kubernetes.io/managed-by=dflowctl")
    except DflowctlError as err:
        pytest.skip(f"no reachable cluster: {err}")
    return {"DFLOWCTL_ENGINE": "argo"}


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("example", ["hello.yaml", "fanout.yaml"])
def test_example_on_a_real_cluster(cluster_env: dict[str, str], tmp_path: Path, example: str) -> None:
    spec = str(SPECS / example)
    env = {**cluster_env, "DFLOWCTL_HOME": str(tmp_path / "home")}
    run = run_cli("run", "-e", "argo", "--wait", "-o", "json", spec, env=env, timeout=540)
    assert run.returncode == 0, run.stdout + run.stderr
    name = json.loads(run.stdout)["metadata"]["name"]
    try:
        status = run_cli("status", name, env=env)
        assert status.returncode == 0 and "Succeeded" in status.stdout
        logs = run_cli("logs", name, env=env)
        assert logs.returncode == 0, logs.stderr
        got = run_cli("download", name, "-d", str(tmp_path / "argo"), env=env, timeout=300)
        assert got.returncode == 0, got.stderr
        local_env = {"DFLOWCTL_HOME": str(tmp_path / "local-home"), "DFLOWCTL_ENGINE": "local"}
        local = run_cli("run", "--wait", "-o", "json", spec, env=local_env, timeout=300)
        local_name = json.loads(local.stdout)["metadata"]["name"]
        run_cli("download", local_name, "-d", str(tmp_path / "local"), env=local_env)
        assert tree(tmp_path / "argo") == tree(tmp_path / "local")
    finally:
        if not os.environ.get("DFLOWCTL_KEEP_RUNS"):
            run_cli("delete", name, env=env)
