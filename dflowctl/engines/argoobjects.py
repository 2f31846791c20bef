"""Workflow objects as the Argo API holds them: compressed nodes (``status.compressedNodes``),
pod names (v1/v2), and what ``argo retry`` / ``argo resubmit`` change in a workflow."""

from __future__ import annotations

import base64
import copy
import gzip
import json
from collections.abc import Mapping
from typing import Any

from dflowctl.argo import COMPLETED_LABEL, FAILED_OR_ERROR, PHASE_LABEL, Phase, pod_name
from dflowctl.engines import Workflow
from dflowctl.errors import EngineError, UsageError

SUBMISSION_LABEL = "dflowctl.io/submission"
POD_NAME_FORMAT = "workflows.argoproj.io/pod-name-format"
RETRYABLE_NODE = FAILED_OR_ERROR | {Phase.OMITTED}
# Argo's MAX_WORKFLOW_SIZE: its controller stops a Workflow whose object (spec and status)
# is larger ("workflow is longer than maximum allowed size"); node-status offloading needs
# a database and the Argo server
MAX_WORKFLOW_BYTES = 1024 * 1024


# over this, the Python bootstrap is shipped once (render/bootship.py) instead of in each
# template: the rest of the 1 MiB is left for the node status Argo adds as the run goes
SHIP_BOOTSTRAP_OVER = 256 * 1024


def workflow_size(body: Workflow) -> int:
    """The bytes of ``body`` as JSON, as Argo's controller counts them."""
    return len(json.dumps(body, separators=(",", ":")).encode("utf-8"))


def ship_bootstrap(body: Workflow) -> tuple[Workflow, dict[str, str]]:
    """Over ``SHIP_BOOTSTRAP_OVER``, a copy of ``body`` with the bootstrap shipped once
    (``bootship.ship``) and the texts to store by key; under it, ``body`` and none."""
    if workflow_size(body) <= SHIP_BOOTSTRAP_OVER:
        return body, {}
    from dflowctl.render.bootship import ship

    shipped = copy.deepcopy(body)
    return shipped, ship(shipped)


def check_size(body: Workflow) -> None:
    """Refuse, before it is created, a Workflow whose spec alone is over Argo's limit."""
    size = workflow_size(body)
    if size <= MAX_WORKFLOW_BYTES:
        return
    templates = (body.get("spec") or {}).get("templates") or []
    raise UsageError(
        f"the Workflow is {size / MAX_WORKFLOW_BYTES:.2f} MiB ({len(templates)} templates): Argo's "
        "controller stops a Workflow over 1 MiB (MAX_WORKFLOW_SIZE) at once",
        hint="split it into workflows of fewer steps, or fan out over items (`foreach`, `group:`) "
        "instead of writing steps out one by one, or run it on the local engine",
    )


def decode_nodes(wf: Workflow) -> Workflow:
    """``status.compressedNodes`` (base64 of gzip of the nodes JSON) into ``status.nodes``."""
    status = wf.get("status") or {}
    packed = status.get("compressedNodes")
    if not packed:
        if status.get("offloadNodeStatusVersion") and not status.get("nodes"):
            name = (wf.get("metadata") or {}).get("name")
            raise EngineError(
                f"the node status of {name} is offloaded to Argo's database; "
                "the Kubernetes API does not have it",
                hint="use the Argo Server (argo get) for workflows this large",
            )
        return wf
    raw = base64.b64decode(packed)
    if raw[:2] != b"\x1f\x8b":
        raise EngineError(
            "status.compressedNodes is not gzip (the controller uses another "
            "WORKFLOW_COMPRESSION_ALGORITHM); dflowctl reads gzip only",
            hint="set WORKFLOW_COMPRESSION_ALGORITHM=gzip on the workflow controller",
        )
    wf = dict(wf)
    new_status = dict(status)
    new_status["nodes"] = json.loads(gzip.decompress(raw))
    new_status.pop("compressedNodes", None)
    wf["status"] = new_status
    return wf


def encode_nodes(nodes: Mapping[str, Any]) -> str:
    return base64.b64encode(gzip.compress(json.dumps(nodes, separators=(",", ":")).encode())).decode()


def node_pod_name(wf: Mapping[str, Any], node: Mapping[str, Any]) -> str:
    """The pod of a Pod node (v2 names unless the workflow says v1)."""
    meta = wf.get("metadata") or {}
    if (meta.get("annotations") or {}).get(POD_NAME_FORMAT) == "v1":
        return str(node["id"])
    template = node.get("templateName") or (node.get("templateRef") or {}).get("template") or ""
    return pod_name(str(meta.get("name")), str(template), str(node.get("name")))


def retried_pod_nodes(wf: Workflow) -> list[str]:
    """The Pod nodes ``argo retry`` runs again (and whose pods it deletes first)."""
    nodes: dict[str, Any] = (wf.get("status") or {}).get("nodes") or {}
    return [nid for nid, n in nodes.items() if n.get("type") == "Pod" and n.get("phase") in RETRYABLE_NODE]


def retry_patch(wf: Workflow, *, compressed: bool = False) -> dict[str, Any]:
    """The merge patch ``argo retry`` applies: failed Pod nodes go, their ancestors run again.

    Succeeded nodes are kept (their outputs are reused); the workflow is
    Running again with no finishedAt, ``completed=false`` and no shutdown.
    """
    status = wf.get("status") or {}
    nodes: dict[str, Any] = status.get("nodes") or {}
    parent: dict[str, str] = {}
    for nid, node in nodes.items():
        for child in node.get("children") or []:
            parent.setdefault(child, nid)
    drop = set(retried_pod_nodes(wf))
    drop |= {nid for nid, n in nodes.items() if n.get("phase") == "Omitted"}
    reset: set[str] = set()
    for nid in drop:
        cur = parent.get(nid)
        while cur is not None and cur not in reset:
            reset.add(cur)
            cur = parent.get(cur)
    # failed non-Pod nodes below a reset one (e.g. a failed Retry/StepGroup) run again too
    for nid, n in nodes.items():
        if n.get("type") != "Pod" and n.get("phase") in RETRYABLE_NODE and nid not in drop:
            reset.add(nid)
    changes: dict[str, Any] = {}
    for nid in drop:
        changes[nid] = None
    for nid in reset - drop:
        node = nodes[nid]
        changes[nid] = {"phase": Phase.RUNNING.value, "finishedAt": None, "message": None}
        kept = [c for c in node.get("children") or [] if c not in drop]
        if kept != (node.get("children") or []):
            changes[nid]["children"] = kept
    meta = wf.get("metadata") or {}
    patch: dict[str, Any] = {
        "metadata": {
            "resourceVersion": meta.get("resourceVersion"),
            "labels": {COMPLETED_LABEL: "false", PHASE_LABEL: Phase.RUNNING.value},
        },
        "spec": {"shutdown": None},
        "status": {"phase": Phase.RUNNING.value, "finishedAt": None, "message": None},
    }
    if compressed:
        merged = {k: v for k, v in nodes.items() if k not in drop}
        for nid, ch in changes.items():
            if ch is not None:
                merged[nid] = {k: v for k, v in {**merged[nid], **ch}.items() if v is not None}
        patch["status"]["compressedNodes"] = encode_nodes(merged)
    else:
        patch["status"]["nodes"] = changes
    return patch


def resubmit_manifest(wf: Workflow) -> Workflow:
    """A new Workflow with the same spec (``argo resubmit``)."""
    meta = wf.get("metadata") or {}
    labels = {
        k: v
        for k, v in (meta.get("labels") or {}).items()
        if not k.startswith("workflows.argoproj.io/") and k != SUBMISSION_LABEL
    }
    labels["workflows.argoproj.io/resubmitted-from-workflow"] = str(meta.get("name"))
    new_meta: dict[str, Any] = {"generateName": str(meta.get("name")) + "-", "labels": labels}
    if meta.get("annotations"):
        new_meta["annotations"] = dict(meta["annotations"])
    spec = copy.deepcopy(wf.get("spec") or {})
    spec.pop("shutdown", None)
    return {"apiVersion": wf.get("apiVersion"), "kind": "Workflow", "metadata": new_meta, "spec": spec}
