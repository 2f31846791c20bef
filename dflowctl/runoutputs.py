"""A run's outputs for the summary and ``status NAME``: the workflow's own, then those
of the steps that end it (a Retry node standing for its attempts); hidden names left
out (``stepkey.is_hidden``); where an artifact is stored, as recorded. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dflowctl.stepkey import is_hidden
from dflowctl.tree import natural_key, root_id


@dataclass(frozen=True)
class OutputItem:
    """One output of a run, for the summary: a parameter value or an artifact's place."""

    step: str  # display name of the node ("" for the workflow's own outputs)
    kind: str  # "parameter" | "result" | "artifact"
    name: str
    value: str  # the value, or where an artifact is (its key)


def _outputs_of(step: str, outputs: Mapping[str, Any] | None) -> list[OutputItem]:
    if not outputs:
        return []
    items = [
        OutputItem(step, "parameter", str(p.get("name")), str(p.get("value", "")))
        for p in outputs.get("parameters") or []
        if not is_hidden(p.get("name"))
    ]
    if outputs.get("result") not in (None, ""):
        items.append(OutputItem(step, "result", "result", str(outputs["result"])))
    for art in outputs.get("artifacts") or []:
        items.append(OutputItem(step, "artifact", str(art.get("name")), artifact_location(art)))
    return items


def artifact_location(artifact: Mapping[str, Any]) -> str:
    """Where an output artifact is stored, as recorded (``s3://bucket/key`` or the key)."""
    s3 = artifact.get("s3") or {}
    key = s3.get("key")
    if key:
        return f"s3://{s3['bucket']}/{key}" if s3.get("bucket") else str(key)
    for kind in ("http", "gcs", "oss", "azure", "artifactory", "hdfs", "git"):
        loc = artifact.get(kind)
        if isinstance(loc, Mapping):
            return str(loc.get("url") or loc.get("key") or loc.get("path") or loc.get("repo") or kind)
    return str(artifact.get("path") or "")


def final_nodes(workflow: Mapping[str, Any]) -> list[str]:
    """Ids of the nodes whose outputs end the run: the root's ``outboundNodes``,
    else the work nodes nothing follows (the last steps / leaf tasks)."""
    nodes: Mapping[str, Any] = (workflow.get("status") or {}).get("nodes") or {}
    rid = root_id(workflow)
    if rid is None:
        return []
    outbound = [n for n in nodes[rid].get("outboundNodes") or [] if n in nodes]
    if outbound:
        return outbound
    attempts = {c for raw in nodes.values() if raw.get("type") == "Retry" for c in raw.get("children") or []}

    def is_last(nid: str) -> bool:
        raw = nodes[nid]
        kids = [c for c in raw.get("children") or [] if c in nodes]
        if raw.get("type") == "Retry":
            return all(c in attempts and not nodes[c].get("children") for c in kids)
        return not kids

    return [
        nid
        for nid, raw in nodes.items()
        if raw.get("type") in ("Pod", "Retry")
        and nid not in attempts
        and is_last(nid)
        and ".onExit" not in str(raw.get("name", ""))
    ]


def _hooked(raw: Mapping[str, Any]) -> bool:
    """A lifecycle hook's node (Argo's ``nodeFlag.hooked``), beside a Retry node's attempts."""
    return bool((raw.get("nodeFlag") or {}).get("hooked"))


def run_outputs(workflow: Mapping[str, Any]) -> list[OutputItem]:
    """The workflow's outputs (``status.outputs``, the root node's) then the final steps' outputs."""
    status = workflow.get("status") or {}
    nodes: Mapping[str, Any] = status.get("nodes") or {}
    items = _outputs_of("", status.get("outputs"))
    rid = root_id(workflow)
    # an attempt stands for its step: show the Retry node (it carries the same outputs)
    retry_of = {
        c: nid for nid, raw in nodes.items() if raw.get("type") == "Retry" for c in raw.get("children") or []
    }
    finals = list(dict.fromkeys(retry_of.get(n, n) for n in final_nodes(workflow)))
    finals.sort(key=lambda n: natural_key(str(nodes[n].get("name", n))))
    if not items and rid is not None and rid not in finals:
        items = _outputs_of("", nodes[rid].get("outputs"))
    for nid in finals:
        raw = nodes[nid]
        outputs = raw.get("outputs")
        if not outputs and nid in retry_of.values():  # outputs recorded on the attempt only
            tries = [c for c in raw.get("children") or [] if c in nodes and not _hooked(nodes[c])]
            last = tries[-1:]
            outputs = nodes[last[0]].get("outputs") if last else None
        items.extend(_outputs_of(str(raw.get("displayName") or raw.get("name") or nid), outputs))
    return items
