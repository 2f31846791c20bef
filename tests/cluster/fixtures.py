"""Pytest fixtures and helpers for the ``cluster`` tests: a real API server with real Argo.

The cluster is the current kubeconfig's (``make test-cluster`` points
``KUBECONFIG`` at the one ``make cluster-up`` wrote); the tests skip when none is
reachable or it has no Argo. Secrets the test cluster holds (the S3 secret key)
are read from its run folder when it is ours, so tests can check no output shows them.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from dflowctl.stepkey import INPUTS_PARAM, KEY_PARAM, OUTPUTS_PARAM, REUSED_PARAM
from dflowctl.tree import PYTHON_OUTPUT
from tests.cluster.layout import layout
from tests.conftest import run_cli

# Output parameters only the local engine records (its interpreter, the step cache's
# provenance): left out when a run's nodes are compared with Argo's. The item index is
# declared by the rendered template, so both engines have it.
LOCAL_ONLY_OUTPUTS = frozenset({PYTHON_OUTPUT, KEY_PARAM, INPUTS_PARAM, OUTPUTS_PARAM, REUSED_PARAM})


@pytest.fixture(scope="session")
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


def cluster_secrets() -> list[str]:
    """The test cluster's S3 secret key (and access key), if this is the cluster of ``make cluster-up``."""
    keys = layout().s3_keys
    if not keys.exists() or os.environ.get("KUBECONFIG") != str(layout().kubeconfig):
        return []
    data = json.loads(keys.read_text())
    return [data["secret"]]


def argo_cli() -> Path:
    return layout().bin / "argo"


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def cli(
    *args: str, env: dict[str, str], timeout: float = 300, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``run_cli`` that also checks that no secret of the cluster shows in the output."""
    proc = run_cli(*args, env=env, timeout=timeout, cwd=cwd)
    for secret in cluster_secrets():
        assert secret not in proc.stdout + proc.stderr, f"secret in the output of {args}"
    return proc
