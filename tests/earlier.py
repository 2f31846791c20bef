"""An earlier Argo run made without a cluster: a manifest walked by Argo's semantics
(tests/test_local_semantics.py's ``FakeRuntime``, no pod), each Pod node given outputs
where its template stores them. For ``--reuse`` planning tests and bench/argo_reuse.py."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tests.test_local_semantics import WF, FakeRuntime, Outcome

__all__ = ["WF", "earlier_run", "fanout_outcome"]


def fanout_outcome(_name: str, inputs: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    if "dflowctl-index" in inputs:
        return "Succeeded", {"dflowctl-index": inputs["dflowctl-index"]}
    return "Succeeded", {"total": "5"}


def earlier_run(manifest: Mapping[str, Any], outcome: Outcome = fanout_outcome) -> dict[str, Any]:
    """The manifest run as workflow ``wf`` by Argo's semantics (no pod): its status, with
    each Pod node's outputs where the template stores them."""
    text = json.dumps(manifest)
    for p in manifest["spec"].get("arguments", {}).get("parameters") or []:
        text = text.replace(f"{{{{workflow.parameters.{p['name']}}}}}", p["value"])
    spec = json.loads(text)["spec"]

    rt = FakeRuntime(spec["templates"], outcome)
    rt.execute(WF, WF, {"template": spec["entrypoint"]}, {}, None)
    templates = {t["name"]: t for t in spec["templates"]}
    for node in rt.book.nodes.values():
        if node["type"] != "Pod":
            continue
        params = {p["name"]: p.get("value", "") for p in node["inputs"].get("parameters") or []}
        arts = []
        for a in (templates[node["templateName"]].get("outputs") or {}).get("artifacts") or []:
            key = (a.get("s3") or {}).get("key") or f"{WF}/{node['id']}/{a['name']}.tgz"
            for k, v in params.items():
                key = key.replace(f"{{{{inputs.parameters.{k}}}}}", v)
            arts.append({"name": a["name"], "s3": {"key": key}})
        if arts:
            node.setdefault("outputs", {})["artifacts"] = arts
    return {"metadata": {"name": WF}, "spec": spec, "status": {"nodes": rt.book.nodes}}
