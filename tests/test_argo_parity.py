"""Argo as the parity oracle: Argo's own examples on the real controller and on the local engine.

Each chosen example (from ../shared/reference/argo/examples) runs on the cluster
of ``make cluster-up`` and locally; the runs must agree on the workflow's phase
and, node by node (by display name), on each pod node's phase and output
parameters. The test prints the counts. Examples whose results differ for a
known reason are in ``KNOWN`` with that reason (docs/argo-examples.md).
"""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.fixtures import LOCAL_ONLY_OUTPUTS, cli, cluster_env
from tests.conftest import ARGO_EXAMPLES, require_shared

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(3600)]
__all__ = ["cluster_env"]

EXAMPLES = [
    "arguments-parameters.yaml",
    "artifact-passing.yaml",
    "conditionals.yaml",
    "continue-on-fail.yaml",
    "dag-continue-on-fail.yaml",
    "dag-diamond-steps.yaml",
    "dag-diamond.yaml",
    "dag-enhanced-depends.yaml",
    "dag-inline-workflow.yaml",
    "dag-multiroot.yaml",
    "dag-nested.yaml",
    "dag-targets.yaml",
    "exit-code-output-variable.yaml",
    "exit-handler-dag-level.yaml",
    "expression-destructure-json-complex.yaml",
    "expression-destructure-json.yaml",
    "expression-reusing-verbose-snippets.yaml",
    "expression-tag-template-workflow.yaml",
    "gc-ttl.yaml",
    "global-outputs.yaml",
    "global-parameters.yaml",
    "hello-world.yaml",
    "key-only-artifact.yaml",
    "label-value-from-workflow.yaml",
    "loops-arbitrary-sequential-steps.yaml",
    "loops-dag.yaml",
    "loops-param-result.yaml",
    "loops-sequence.yaml",
    "loops.yaml",
    "nested-workflow.yaml",
    "output-parameter.yaml",
    "parallelism-limit.yaml",
    "parallelism-nested-dag.yaml",
    "parallelism-nested.yaml",
    "parallelism-template-limit.yaml",
    "parameter-aggregation-dag.yaml",
    "parameter-aggregation-script.yaml",
    "parameter-aggregation.yaml",
    "pod-gc-strategy-with-label-selector.yaml",
    "pod-gc-strategy.yaml",
    "recursive-for-loop.yaml",
    "status-reference.yaml",
    "steps-inline-workflow.yaml",
    "steps.yaml",
    "title-and-description-with-markdown.yaml",
    "volumes-emptydir.yaml",
]

# example -> why the two engines' results differ (kept in step with docs/argo-examples.md).
KNOWN: dict[str, str] = {
    "conditionals.yaml": "needs `cowsay` from the argosay:v1 image; the local engine has a stand-in, "
    "the process kubelet's host sh lacks it",
}


def summary(wf: dict[str, Any]) -> dict[str, Any]:
    nodes: dict[str, Any] = {}
    for node in (wf.get("status") or {}).get("nodes", {}).values():
        if node.get("type") != "Pod":
            continue
        params = {
            p["name"]: p.get("value")
            for p in (node.get("outputs") or {}).get("parameters") or []
            if p["name"] not in LOCAL_ONLY_OUTPUTS
        }
        # a one-pod workflow's node is named after the run (random suffix): compare it as the root
        key = (
            "(root)"
            if node.get("id") == (wf.get("metadata") or {}).get("name")
            else node.get("displayName", "")
        )
        nodes.setdefault(key, []).append((node.get("phase"), json.dumps(params, sort_keys=True)))
    return {"phase": (wf.get("status") or {}).get("phase"), "nodes": {k: sorted(v) for k, v in nodes.items()}}


def run_one(example: str, engine: str, home: Path, env: dict[str, str]) -> dict[str, Any]:
    full = {**env, "DFLOWCTL_HOME": str(home), "DFLOWCTL_ENGINE": engine}
    try:
        proc = cli(
            "run", "-e", engine, "--wait", "-o", "json", str(ARGO_EXAMPLES / example), env=full, timeout=900
        )
    except subprocess.TimeoutExpired:
        return {"phase": "timeout", "nodes": {}}
    if not proc.stdout.strip().startswith("{"):
        return {"phase": f"exit {proc.returncode}: {proc.stderr.strip()[:200]}", "nodes": {}}
    wf = json.loads(proc.stdout)
    if engine == "argo":
        cli("delete", wf["metadata"]["name"], env=full)
    return summary(wf)


def test_argo_examples_agree_with_the_local_engine(
    cluster_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require_shared()
    jobs = [(ex, eng) for ex in EXAMPLES for eng in ("argo", "local")]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda j: run_one(j[0], j[1], tmp_path / j[1] / j[0], cluster_env), jobs))
    by = {job: res for job, res in zip(jobs, results, strict=True)}
    same = [ex for ex in EXAMPLES if by[(ex, "argo")] == by[(ex, "local")]]
    differ = {ex: (by[(ex, "argo")], by[(ex, "local")]) for ex in EXAMPLES if ex not in same}
    lines = [f"parity: {len(same)}/{len(EXAMPLES)} of Argo's examples agree node by node"]
    for ex, (argo, local) in differ.items():
        why = f"known: {KNOWN[ex]}" if ex in KNOWN else "NOT EXPLAINED"
        lines.append(f"  {ex} ({why}): argo={json.dumps(argo)[:300]} local={json.dumps(local)[:300]}")
    with capsys.disabled():  # the counts show in every run, passed or not
        print("\n" + "\n".join(lines))
    assert len(EXAMPLES) >= 40
    unexplained = sorted(set(differ) - set(KNOWN))
    assert not unexplained, unexplained
    stale = sorted(set(KNOWN) & set(same))  # a known difference that went away: drop it from KNOWN
    assert not stale, stale
