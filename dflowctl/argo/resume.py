"""``argo resume`` / ``argo node set`` on a Workflow's ``status.nodes``, as Argo's
``util.ResumeWorkflow`` and ``updateSuspendedNode`` do it; pure (both engines use it).

Without a node selector every active Suspend node (type ``Suspend``, phase
``Running``) ends Succeeded, its ``valueFrom.supplied`` output parameters taking their
``valueFrom.default`` (one without a default makes the whole resume fail, as Argo's
``OverrideOutputParametersWithDefault``), and ``spec.suspend`` is lifted. With a
selector only the matching active Suspend nodes end, after the given output
parameters are set (``argo node set -p``): only ``supplied`` parameters take a value.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

Node = dict[str, Any]
MAX_PARAMETERS = 256
MAX_VALUE = 256 * 1024  # characters of one supplied value


class ResumeError(ValueError):
    """The resume cannot apply; the message says why (Argo's words where it has them)."""


def is_active_suspend(node: Mapping[str, Any]) -> bool:
    """Argo's ``IsActiveSuspendNode``."""
    return node.get("type") == "Suspend" and node.get("phase") == "Running"


def supplied_outputs(template: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Argo's ``addRawOutputFields``: a suspend template's ``supplied`` output parameters,
    recorded on its node while it waits."""
    outputs = template.get("outputs") or {}
    return [
        copy.deepcopy(dict(p))
        for p in outputs.get("parameters") or []
        if isinstance(p, Mapping) and "supplied" in (p.get("valueFrom") or {})
    ]


def with_defaults(node: Mapping[str, Any]) -> Node:
    """Argo's ``OverrideOutputParametersWithDefault``: supplied parameters not set take
    their default; ``ResumeError`` for one without."""
    out = copy.deepcopy(dict(node))
    for p in (out.get("outputs") or {}).get("parameters") or []:
        vf = p.get("valueFrom")
        if isinstance(vf, Mapping) and "supplied" in vf:
            if vf.get("default") is None:
                raise ResumeError(
                    f"raw output parameter '{p['name']}' has not been set and does not have a default value"
                )
            p["value"] = str(vf["default"])
            p.pop("valueFrom")
    return out


def _fields(node: Mapping[str, Any]) -> dict[str, str]:
    """The fields a node selector matches (Argo's ``SelectorMatchesNode``)."""
    fields = {
        "displayName": str(node.get("displayName", "")),
        "templateName": str(node.get("templateName", "")),
        "phase": str(node.get("phase", "")),
        "name": str(node.get("name", "")),
        "id": str(node.get("id", "")),
    }
    for p in (node.get("inputs") or {}).get("parameters") or []:
        fields[f"inputs.parameters.{p.get('name')}.value"] = str(p.get("value", ""))
    return fields


def matches(node: Mapping[str, Any], selector: str) -> bool:
    """``selector``: a node's display name, name or id; or Argo's field selector
    (``displayName=approve``, ``a=b,c!=d``)."""
    fields = _fields(node)
    if "=" not in selector:
        return selector in (fields["displayName"], fields["name"], fields["id"])
    for term in selector.split(","):
        term = term.strip()
        if "!=" in term:
            key, want = term.split("!=", 1)
            if fields.get(key.strip(), "") == want.strip():
                return False
        else:
            key, want = term.split("==", 1) if "==" in term else term.split("=", 1)
            if fields.get(key.strip()) != want.strip():
                return False
    return True


def check_selector(selector: str) -> None:
    """A field selector's terms have a key (``ResumeError`` otherwise)."""
    if "=" not in selector:
        if not selector.strip():
            raise ResumeError("the node selector is empty")
        return
    for term in selector.split(","):
        key = term.split("=", 1)[0].rstrip("!").strip()
        if not key:
            raise ResumeError(f"invalid node selector {selector!r}: a term has no field name")


def resume_nodes(
    nodes: Mapping[str, Mapping[str, Any]],
    selector: str | None,
    parameters: Mapping[str, str],
    now: str,
    fail: str | None = None,
) -> dict[str, Node]:
    """The nodes a resume changes (id -> new node); ``ResumeError`` if it cannot apply.
    An empty result with no selector means nothing was suspended. ``fail``: end the
    selected nodes Failed with this message instead (``argo stop --node-field-selector``,
    Argo's updateSuspendedNode with phase Failed)."""
    if fail is not None and selector is None:
        raise ResumeError("stopping suspended nodes needs a node selector")
    if len(parameters) > MAX_PARAMETERS:
        raise ResumeError(f"too many parameters (at most {MAX_PARAMETERS})")
    if parameters and selector is None:
        raise ResumeError("output parameters are set on a node: give the node")
    for key, value in parameters.items():
        if len(value) > MAX_VALUE:
            raise ResumeError(f"the value of {key!r} is longer than {MAX_VALUE} characters")
    changed: dict[str, Node] = {}
    for nid, node in nodes.items():
        if not is_active_suspend(node):
            continue
        if selector is None:
            new = with_defaults(node)
        elif matches(node, selector):
            new = _set_outputs(node, parameters)
        else:
            continue
        new["phase"] = "Succeeded" if fail is None else "Failed"
        if fail:
            new["message"] = fail
        new["finishedAt"] = now
        changed[nid] = new
    if selector is not None and not changed:
        raise ResumeError(f"no suspended node matches {selector!r}")
    return changed


def _set_outputs(node: Mapping[str, Any], parameters: Mapping[str, str]) -> Node:
    out = copy.deepcopy(dict(node))
    if not parameters:
        return out
    params = (out.get("outputs") or {}).get("parameters")
    if not params:
        raise ResumeError("cannot set output parameters because node is not expecting any raw parameters")
    for name, value in parameters.items():
        for p in params:
            if p.get("name") == name:
                vf = p.get("valueFrom")
                if not isinstance(vf, Mapping) or "supplied" not in vf:
                    raise ResumeError(
                        f"cannot set output parameter '{name}' because it does not use valueFrom.raw "
                        "or it was already set"
                    )
                p["value"] = value
                p.pop("valueFrom")
                break
        else:
            raise ResumeError(f"node is not expecting output parameter '{name}'")
    return out


def global_outputs(status: Mapping[str, Any], changed: Mapping[str, Node]) -> list[dict[str, Any]] | None:
    """``status.outputs.parameters`` after the set values with a ``globalName`` are added
    (Argo's ``AddParamToGlobalScope``); None when none has one."""
    found = [
        p
        for node in changed.values()
        for p in (node.get("outputs") or {}).get("parameters") or []
        if p.get("globalName") and "value" in p
    ]
    if not found:
        return None
    params = [dict(p) for p in ((status.get("outputs") or {}).get("parameters") or [])]
    for p in found:
        for g in params:
            if g.get("name") == p["globalName"]:
                g["value"] = p["value"]
                break
        else:
            params.append({"name": p["globalName"], "value": p["value"]})
    return params
