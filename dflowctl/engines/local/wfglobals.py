"""Argo's global scope of a run: ``workflow.*`` variables, global outputs, failures."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from dflowctl import expr
from dflowctl.argo import FAILED_OR_ERROR, pod_name, rfc3339
from dflowctl.engines.local.scope import ArtifactScope, Scope, param_string
from dflowctl.engines.local.status import NodeBook


def workflow_globals(wf: Mapping[str, Any]) -> Scope:
    """The ``workflow.*`` variables of a run (Argo's global scope)."""
    spec = wf["spec"]
    name = wf["metadata"]["name"]
    meta = wf["metadata"]
    g: Scope = {}
    g["workflow.name"] = name
    g["workflow.namespace"] = str(meta.get("namespace") or "default")
    g["workflow.uid"] = str(meta.setdefault("uid", str(uuid.uuid4())))
    g["workflow.creationTimestamp"] = str(meta.setdefault("creationTimestamp", rfc3339()))
    g["workflow.serviceAccountName"] = str(spec.get("serviceAccountName") or "default")
    g["workflow.mainEntrypoint"] = str(spec.get("entrypoint") or "")
    if spec.get("priority") is not None:
        g["workflow.priority"] = str(spec["priority"])
    for key, val in (meta.get("labels") or {}).items():
        g[f"workflow.labels.{key}"] = str(val)
    for key, val in (meta.get("annotations") or {}).items():
        g[f"workflow.annotations.{key}"] = str(val)
    params: list[str] = []
    for p in (spec.get("arguments") or {}).get("parameters") or []:
        value = p.get("value", p.get("default"))
        if value is None:
            continue
        g[f"workflow.parameters.{p['name']}"] = param_string(value)
        params.append(p["name"])
    # values may refer to other globals (e.g. "{{workflow.name}}", "{{=…}}")
    for key, val in list(g.items()):
        if "{{" in val and key.startswith("workflow.parameters."):
            g[key] = expr.substitute(val, g, strict=False)
    listed = [{"name": n, "value": g[f"workflow.parameters.{n}"]} for n in params]
    g["workflow.parameters"] = json.dumps(listed, separators=(",", ":"))
    return g


def failures_json(book: NodeBook, wf_name: str) -> str:
    """``workflow.failures``: the failed and errored pods, as Argo lists them."""
    out = []
    with book.lock:
        nodes = list(book.nodes.values())
    for node in nodes:
        if node.get("phase") in FAILED_OR_ERROR and node.get("type") == "Pod":
            out.append(
                {
                    "displayName": node.get("displayName", ""),
                    "message": node.get("message", ""),
                    "templateName": node.get("templateName", ""),
                    "phase": node.get("phase"),
                    "podName": pod_name(wf_name, str(node.get("templateName", "")), node["name"]),
                    "finishedAt": node.get("finishedAt", ""),
                }
            )
    return json.dumps(out, separators=(",", ":"))


def register_globals(
    book: NodeBook, globals_: Scope, global_arts: ArtifactScope, node: Mapping[str, Any]
) -> None:
    """A node's outputs with a ``globalName`` become ``workflow.outputs.*``."""
    outputs = node.get("outputs") or {}
    if node.get("phase") != "Succeeded" and node.get("type") != "Pod":
        return
    changed = False
    with book.lock:
        gout = book.status.setdefault("outputs", {})
        for p in outputs.get("parameters") or []:
            if p.get("globalName") and "value" in p:
                globals_[f"workflow.outputs.parameters.{p['globalName']}"] = str(p["value"])
                _upsert(gout.setdefault("parameters", []), {"name": p["globalName"], "value": p["value"]})
                changed = True
        for a in outputs.get("artifacts") or []:
            if a.get("globalName"):
                art = {k: v for k, v in a.items() if k != "globalName"}
                art["name"] = a["globalName"]
                global_arts[f"workflow.outputs.artifacts.{a['globalName']}"] = art
                _upsert(gout.setdefault("artifacts", []), art)
                changed = True
        if not gout:
            book.status.pop("outputs", None)
        if changed:
            book.touch_status()


def _upsert(items: list[dict[str, Any]], entry: dict[str, Any]) -> None:
    for i, old in enumerate(items):
        if old.get("name") == entry["name"]:
            items[i] = entry
            return
    items.append(entry)
