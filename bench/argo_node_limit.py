"""How many nodes a Workflow's status holds on the real Argo controller before it no longer fits.

Argo (v4.0.5, workflow/packer) keeps a Workflow under MAX_WORKFLOW_SIZE (1 MiB, the
default; etcd's own request limit is 1.5 MiB): past it the controller gzips
``status.nodes`` into ``status.compressedNodes``, and when even that is too large the
run fails with "workflow is longer than maximum allowed size". Without node-status
offloading (a database and the Argo server) that is the ceiling.

Measured on the cluster of ``make cluster-up`` with loops whose items are all skipped
(``when: "false"``: one node each and no pod, so tens of thousands cost seconds):
doubling N until the controller refuses, then halving the gap. Prints the largest N
that fitted and the first that did not, with the stored sizes. With a
``dflowctl run -e argo -o json`` output of a real fan-out (``--pods FILE``), also prints
the bytes per Pod node, raw and compressed, and the limit they imply.
Usage: python bench/argo_node_limit.py [--start N] [--pods RUN.json]
"""

from __future__ import annotations

import base64
import gzip
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dflowctl.engines import RunOptions  # noqa: E402
from dflowctl.engines.argo import ArgoEngine  # noqa: E402
from dflowctl.settings import Settings  # noqa: E402
from tests.cluster.layout import layout  # noqa: E402

LIMIT = 1024 * 1024


def skipped_loop(n: int) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "node-limit-"},
        "spec": {
            "entrypoint": "main",
            "templates": [
                {
                    "name": "main",
                    "steps": [
                        [
                            {
                                "name": "item",
                                "template": "noop",
                                "withSequence": {"count": str(n)},
                                "when": "false",
                            }
                        ]
                    ],
                },
                {"name": "noop", "container": {"image": "busybox", "command": ["true"]}},
            ],
        },
    }


def attempt(eng: ArgoEngine, n: int) -> tuple[bool, str, int, int]:
    """(fitted, phase and message, nodes, stored size of the Workflow in bytes)."""
    name = eng.submit(skipped_loop(n), RunOptions(wait=False))["metadata"]["name"]
    path = ("argoproj.io", "v1alpha1", eng.kube.namespace, "workflows", name)
    try:
        end = time.monotonic() + 600
        raw: dict[str, Any] = {}
        while time.monotonic() < end:
            raw = eng.kube.custom().get_namespaced_custom_object(*path)
            phase = (raw.get("status") or {}).get("phase")
            if phase in ("Succeeded", "Failed", "Error"):
                break
            time.sleep(2)
        status = raw.get("status") or {}
        message = str(status.get("message") or "")
        nodes = status.get("nodes") or {}
        if not nodes and status.get("compressedNodes"):
            nodes = json.loads(gzip.decompress(base64.b64decode(status["compressedNodes"])))
        fitted = status.get("phase") == "Succeeded" and "maximum allowed size" not in message
        return fitted, f"{status.get('phase')} {message}".strip(), len(nodes), len(json.dumps(raw))
    finally:
        eng.delete(name)


def pods_figures(run_json: Path) -> None:
    wf = json.loads(run_json.read_text())
    nodes = wf["status"]["nodes"]
    pods = {k: v for k, v in nodes.items() if v.get("type") == "Pod"}
    raw = len(json.dumps(pods, separators=(",", ":")))
    packed = len(base64.b64encode(gzip.compress(json.dumps(pods, separators=(",", ":")).encode())))
    print(
        f"pod nodes of {run_json.name}: {len(pods)}; {raw / len(pods):.0f} bytes each as JSON, "
        f"{packed / len(pods):.0f} gzip+base64 (as compressedNodes)"
    )
    print(
        f"  -> uncompressed status fits up to ~{LIMIT // (raw // len(pods)):,} pod nodes; "
        f"compressed up to ~{LIMIT // max(packed // len(pods), 1):,}"
    )


def main(argv: list[str]) -> int:
    start = int(argv[argv.index("--start") + 1]) if "--start" in argv else 2000
    if "--pods" in argv:
        pods_figures(Path(argv[argv.index("--pods") + 1]))
    eng = ArgoEngine(Settings(kubeconfig=str(layout().kubeconfig), engine="argo"))
    fitted, failed = 0, 0
    n = start
    while not failed:
        ok, how, nodes, size = attempt(eng, n)
        print(
            f"N={n:7d}: {'fits     ' if ok else 'TOO LARGE'} nodes={nodes} stored={size:,} bytes  {how[:160]}"
        )
        if ok:
            fitted, n = n, n * 2
        else:
            failed = n
    while failed - fitted > max(fitted // 20, 1):
        n = (fitted + failed) // 2
        ok, how, nodes, size = attempt(eng, n)
        print(
            f"N={n:7d}: {'fits     ' if ok else 'TOO LARGE'} nodes={nodes} stored={size:,} bytes  {how[:160]}"
        )
        if ok:
            fitted = n
        else:
            failed = n
    print(f"skipped-item nodes: {fitted:,} fit, {failed:,} do not (limit {LIMIT:,} bytes of Workflow JSON)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
