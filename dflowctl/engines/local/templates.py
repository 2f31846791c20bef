"""A template as Argo's ``executeTemplate`` prepares it: found by name, with
``templateDefaults`` under it, its arguments turned into inputs (``ProcessArgs``)
and those inputs substituted into it; artifact references (``from``) located.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from typing import Any

from dflowctl import expr
from dflowctl.argo import TEMPLATE_KINDS
from dflowctl.engines.local.scope import ArtifactScope, Scope, TemplateError, param_string, walk_strings

_FROM_TAG = re.compile(r"^\s*\{\{\s*([^{}]+?)\s*\}\}\s*$")


def invalid_spec(templates: Mapping[str, Mapping[str, Any]]) -> str | None:
    """Argo's controller validates the spec a ``workflowTemplateRef`` joins before it runs
    anything (the Workflow's own templates passed ``validate``): a template with no type
    fails the workflow with this message."""
    for name, tmpl in templates.items():
        if not any(tmpl.get(k) is not None for k in TEMPLATE_KINDS):
            return (
                f"invalid spec: templates.{name} template type unspecified. choose one of: "
                "container, containerSet, steps, script, resource, dag, suspend, template, template ref"
            )
    return None


def template_table(spec: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The workflow's templates by name, ``spec.templateDefaults`` applied."""
    defaults = spec.get("templateDefaults") or {}
    out = {}
    for tmpl in spec.get("templates") or []:
        out[tmpl["name"]] = merge_defaults(defaults, tmpl) if defaults else tmpl
    return out


def resolve_template(
    templates: Mapping[str, dict[str, Any]], holder: Mapping[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The template a step, task or hook names (or holds inline), by name."""
    if holder.get("inline"):
        return "", dict(holder["inline"])
    if holder.get("templateRef"):
        raise TemplateError("templateRef is not supported by the local engine (use -e argo)")
    name = holder.get("template")
    if not name or name not in templates:
        raise TemplateError(f"template {name!r} not found")
    return str(name), templates[str(name)]


def process_args(
    tmpl: Mapping[str, Any],
    args: Mapping[str, Any],
    arts_scope: ArtifactScope,
    globals_: Scope,
    global_arts: ArtifactScope,
) -> tuple[dict[str, Any], Scope, ArtifactScope]:
    """Argo's ``ProcessArgs``: arguments become inputs; inputs are substituted into the template."""
    tmpl = dict(tmpl)
    arg_params = {p["name"]: p for p in args.get("parameters") or []}
    arg_arts = {a["name"]: a for a in args.get("artifacts") or []}
    inputs = dict(tmpl.get("inputs") or {})
    scope: Scope = dict(globals_)
    params = []
    for p in inputs.get("parameters") or []:
        p = dict(p)
        value = p.get("value", p.get("default"))
        arg = arg_params.get(p["name"])
        if arg is not None and arg.get("value") is not None:
            value = arg["value"]
        if value is None:
            raise TemplateError(f"inputs.parameters.{p['name']} was not supplied")
        text = param_string(value)
        if "{{" in text:
            text = expr.substitute(text, scope, strict=False)
        p["value"] = text
        p.pop("default", None) if arg is not None else None
        params.append(p)
    for p in params:
        scope[f"inputs.parameters.{p['name']}"] = p["value"]
    # Argo's substituteParams, second pass: a value (a default ``{{=…}}`` say) may
    # read the template's other inputs
    for p in params:
        if "{{" in p["value"]:
            p["value"] = expr.substitute(p["value"], scope, strict=False)
            scope[f"inputs.parameters.{p['name']}"] = p["value"]
    scope["inputs.parameters"] = json.dumps(
        [{"name": p["name"], "value": p["value"]} for p in params], separators=(",", ":")
    )
    in_arts: ArtifactScope = {}
    artifacts = []
    for a in inputs.get("artifacts") or []:
        a = walk_strings(dict(a), lambda s: expr.substitute(s, scope, strict=False))
        arg = arg_arts.get(a["name"])
        if arg is not None:
            located = locate_artifact(arg, arts_scope, global_arts)
            if located is not None:
                for key, val in located.items():
                    if key not in ("name", "path", "mode", "optional"):
                        a[key] = val
        if not has_location(a):
            if a.get("optional") or (arg is not None and arg.get("optional")):
                a["optional"] = True
            else:
                raise TemplateError(f"inputs.artifacts.{a['name']} was not supplied")
        if a.get("path"):
            scope[f"inputs.artifacts.{a['name']}.path"] = str(a["path"])
        artifacts.append(a)
        in_arts[f"inputs.artifacts.{a['name']}"] = a
    outs = tmpl.get("outputs") or {}
    for a in outs.get("artifacts") or []:
        if a.get("path"):
            scope[f"outputs.artifacts.{a['name']}.path"] = str(a["path"])
    for p in outs.get("parameters") or []:
        if (p.get("valueFrom") or {}).get("path"):
            scope[f"outputs.parameters.{p['name']}.path"] = str(p["valueFrom"]["path"])
    outputs = tmpl.get("outputs") or {}
    for p in outputs.get("parameters") or []:
        path = (p.get("valueFrom") or {}).get("path")
        if path:
            scope[f"outputs.parameters.{p['name']}.path"] = str(path)
    for a in outputs.get("artifacts") or []:
        if a.get("path"):
            scope[f"outputs.artifacts.{a['name']}.path"] = str(a["path"])
    if params or artifacts:
        inputs = {}
        if params:
            inputs["parameters"] = params
        if artifacts:
            inputs["artifacts"] = artifacts
        tmpl["inputs"] = inputs
    body = {k: v for k, v in tmpl.items() if k not in ("inputs", "name")}
    body = walk_strings(body, lambda s: expr.substitute(s, scope, strict=False))
    body["name"] = tmpl.get("name", "")
    if "inputs" in tmpl:
        body["inputs"] = tmpl["inputs"]
    return body, scope, in_arts


def locate_artifact(
    art: Mapping[str, Any], arts_scope: ArtifactScope, global_arts: ArtifactScope
) -> dict[str, Any] | None:
    """An argument artifact with its location: ``from``/``fromExpression`` resolved."""
    ref = art.get("from")
    if ref:
        match = _FROM_TAG.match(str(ref))
        key = match.group(1) if match else str(ref)
        found = arts_scope.get(key) or global_arts.get(key)
        if found is None:
            if art.get("optional"):
                return None
            raise TemplateError(f"Unable to resolve: {ref}")
        out = {k: v for k, v in found.items() if k not in ("name", "path", "globalName")}
        if art.get("subPath"):
            out["subPath"] = art["subPath"]
        return out
    if has_location(art):
        return {k: v for k, v in art.items() if k not in ("name",)}
    return None


def has_location(art: Mapping[str, Any]) -> bool:
    return any(
        isinstance(art.get(k), Mapping)
        for k in ("s3", "raw", "http", "git", "gcs", "oss", "azure", "artifactory", "hdfs", "plugin")
    )


def merge_defaults(defaults: Mapping[str, Any], tmpl: Mapping[str, Any]) -> dict[str, Any]:
    """``spec.templateDefaults`` under a template (the template wins, maps merge)."""
    kind = next((k for k in TEMPLATE_KINDS if tmpl.get(k) is not None), None)
    out = {k: copy.deepcopy(v) for k, v in defaults.items() if k not in TEMPLATE_KINDS or k == kind}
    for key, val in tmpl.items():
        if isinstance(val, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_defaults(out[key], val)
        else:
            out[key] = val
    return out
