"""Daemon templates on a REAL Argo controller (``make cluster-up``) and on the local
engine: the same nodes, phases and daemon record (``make test-cluster``; skipped when no
cluster answers)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.fixtures import cli, cluster_env
from tests.test_local_daemons import FAILS_WHEN_UP, SLEEPING_STEPS, free_port

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]
__all__ = ["cluster_env"]


def _shape(wf: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {
        str(n["displayName"]).replace(wf["metadata"]["name"], "WF"): (n["type"], n["phase"])
        for n in wf["status"]["nodes"].values()
    }


def test_daemons_agree_with_argo(cluster_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(SLEEPING_STEPS, encoding="utf-8")
    env = {**cluster_env, "DFLOWCTL_HOME": str(tmp_path / "home")}
    got = {}
    for engine in ("argo", "local"):
        res = cli("run", "-e", engine, "--wait", "-o", "json", str(path), env=env, timeout=300)
        assert res.stdout.strip(), res.stderr
        got[engine] = json.loads(res.stdout)
        if engine == "argo":
            cli("delete", got[engine]["metadata"]["name"], "-e", "argo", env=env)
    argo_wf, local_wf = got["argo"], got["local"]
    assert argo_wf["status"]["phase"] == local_wf["status"]["phase"] == "Succeeded"
    assert _shape(argo_wf) == _shape(local_wf)
    for wf in (argo_wf, local_wf):
        daemon = next(n for n in wf["status"]["nodes"].values() if n["displayName"] == "daemoned")
        beside = next(n for n in wf["status"]["nodes"].values() if n["displayName"] == "beside")
        # killed with its steps: Succeeded, no longer daemoned, finishedAt the time it was up
        assert daemon["phase"] == "Succeeded" and "daemoned" not in daemon and daemon.get("podIP")
        assert daemon["finishedAt"] <= beside["startedAt"]


@pytest.mark.parametrize("limit", ["2", "0"])
def test_a_daemon_failing_after_it_was_up_is_retried_as_argo_does(
    cluster_env: dict[str, str], tmp_path: Path, limit: str
) -> None:
    """e2e TestDaemonPodRetry's shape: the first attempt is up (the task after it starts),
    then fails on its own. With retries left, a second pod is up until the DAG ends
    (Succeeded); with none, the Retry node stays daemoned and ends Succeeded with `No more
    retries left` when the DAG ends. The same nodes and phases on both engines."""
    path = tmp_path / "wf.yaml"
    text = FAILS_WHEN_UP.replace("LIMIT", limit).replace("PORT", str(free_port()))
    path.write_text(text, encoding="utf-8")
    env = {**cluster_env, "DFLOWCTL_HOME": str(tmp_path / "home")}
    got = {}
    for engine in ("argo", "local"):
        res = cli("run", "-e", engine, "--wait", "-o", "json", str(path), env=env, timeout=400)
        assert res.stdout.strip(), res.stderr
        got[engine] = json.loads(res.stdout)
        if engine == "argo":
            cli("delete", got[engine]["metadata"]["name"], "-e", "argo", env=env)
    assert got["argo"]["status"]["phase"] == got["local"]["status"]["phase"] == "Succeeded"
    assert _shape(got["argo"]) == _shape(got["local"])
    for wf in got.values():
        retry = next(n for n in wf["status"]["nodes"].values() if n["displayName"] == "daemoned")
        assert retry.get("message") == (None if limit == "2" else "No more retries left")
