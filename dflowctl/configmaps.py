"""``ConfigMap`` documents next to a Workflow in the same file, for local runs.

Argo reads ``valueFrom.configMapKeyRef`` (of a parameter, or of a container's
``env``) from the cluster when the node starts. A local run has no cluster, but a
file may carry the ConfigMaps it needs as documents of its own (``kind: ConfigMap``);
``resolve`` gives those references their values before the run, as Argo's
``ProcessArgs`` and the kubelet would. A reference to a ConfigMap the file does not
hold stays as it is (the local engine refuses it up front: ``engines.local.support``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ConfigMaps = dict[str, dict[str, str]]
_WF_PARAM = re.compile(r"\{\{\s*workflow\.parameters\.([-\w.]+)\s*\}\}")


def workflow_parameters(workflow: Any) -> dict[str, str]:
    """``spec.arguments.parameters`` that have a value, by name."""
    spec = workflow.get("spec") if isinstance(workflow, Mapping) else None
    args = spec.get("arguments") if isinstance(spec, Mapping) else None
    params = args.get("parameters") if isinstance(args, Mapping) else None
    return {
        str(p["name"]): str(p["value"])
        for p in params or []
        if isinstance(p, Mapping) and p.get("name") is not None and p.get("value") is not None
    }


def ref_name(ref: Mapping[str, Any], params: Mapping[str, str]) -> str:
    """The ConfigMap a ``configMapKeyRef`` names, ``{{workflow.parameters.x}}`` in it
    substituted (Argo substitutes the workflow's parameters before reading it)."""
    return _WF_PARAM.sub(lambda m: params.get(m.group(1), m.group(0)), str(ref.get("name")))


def of_file(path: Path | str) -> ConfigMaps:
    """The ``data`` of each ``kind: ConfigMap`` document of the file, by name."""
    text = Path(path).read_text(encoding="utf-8")
    if "ConfigMap" not in text:
        return {}
    import yaml

    out: ConfigMaps = {}
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError:
        return {}  # the Workflow's own loader reports the file's YAML errors
    for doc in docs:
        if not isinstance(doc, Mapping) or doc.get("kind") != "ConfigMap" or doc.get("apiVersion") != "v1":
            continue
        name = (doc.get("metadata") or {}).get("name")
        data = doc.get("data") or {}
        if isinstance(name, str) and isinstance(data, Mapping):
            out[name] = {str(k): "" if v is None else str(v) for k, v in data.items()}
    return out


def resolve(obj: Any, maps: Mapping[str, Mapping[str, str]], params: Mapping[str, str] | None = None) -> None:
    """Give every ``valueFrom.configMapKeyRef`` naming one of ``maps`` its value, in place.

    A parameter or env entry becomes ``value: <data[key]>``; a synchronization
    semaphore (``{configMapKeyRef: …}``) keeps its reference and gets its limit as
    ``value``. A key the ConfigMap lacks, or a ConfigMap neither the file nor
    ``--templates`` holds, takes the parameter's ``valueFrom.default``; without one the
    entry is left as it is
    (the node then fails as Argo's does, the parameter not supplied)."""
    if params is None:
        params = workflow_parameters(obj)
    if isinstance(obj, list):
        for item in obj:
            resolve(item, maps, params)
        return
    if not isinstance(obj, dict):
        return
    sem = obj.get("configMapKeyRef")
    if "valueFrom" not in obj and isinstance(sem, Mapping) and ref_name(sem, params) in maps:
        # a synchronization semaphore: its limit, beside the reference that names the lock
        data = maps[ref_name(sem, params)]
        if str(sem.get("key")) in data:
            obj["value"] = data[str(sem.get("key"))]
        return
    vf = obj.get("valueFrom")
    ref = vf.get("configMapKeyRef") if isinstance(vf, Mapping) else None
    if isinstance(vf, Mapping) and isinstance(ref, Mapping) and ref_name(ref, params) in maps:
        data = maps[ref_name(ref, params)]
        key = str(ref.get("key"))
        if key in data:
            obj["value"] = data[key]
            del obj["valueFrom"]
        elif vf.get("default") is not None:
            obj["value"] = str(vf["default"])
            del obj["valueFrom"]
        elif ref.get("optional"):
            obj["value"] = ""
            del obj["valueFrom"]
        return
    if isinstance(vf, Mapping) and isinstance(ref, Mapping) and vf.get("default") is not None:
        # a ConfigMap neither the file nor --templates holds is missing: Argo takes the default
        obj["value"] = str(vf["default"])
        del obj["valueFrom"]
        return
    for value in obj.values():
        resolve(value, maps, params)
