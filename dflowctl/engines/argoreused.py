"""The template of a reused step (``argoreuse``): a ``steps`` template with one empty group
that runs nothing, whose outputs are its inputs (``valueFrom.expression`` /
``from: {{inputs.artifacts.…}}``); the step passes it the earlier outputs, parameters as
values and artifacts as the earlier run's S3 keys. It declares the op's inputs too, so its
node records them, and ``dflowctl-template`` (the op's template), so a later ``--reuse`` of
this run finds the key again.

A loop's items take their artifacts by the fan-in layout of ``render.body``
(``<run>/dflowctl/fanin/<step>/<artifact>/<index>``): one key pattern with the item's
index, so the manifest does not grow with the width; the steps that read the fan-in read
the earlier run's folder. Other per-item output parameters travel as one JSON list in the
step's arguments, each item picking its own with ``jsonpath``. A ``group:`` loop's pods
(one per group of items) all write into one fan-in folder: each group picks its row by
the group's number, and the folder is the earlier run's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from dflowctl.engines.argokeys import FANIN_MARK, TEMPLATE_PARAM, fanin_prefix
from dflowctl.engines.argoplan import Hit
from dflowctl.stepkey import is_provenance

OUT_PREFIX = "dflowctl-out-"  # inputs of a reused step that carry its outputs
INDEX_PARAM = "dflowctl-index"  # render.body's item index (FANIN_INDEX_PARAM)
FANIN_ROOT = "{{workflow.name}}/dflowctl/fanin/"
_EXPR = re.compile(r"^\{\{=(.+)\}\}$", re.S)
_ITEM_KEY = re.compile(r"^\{\{item\.([A-Za-z0-9_-]+)\}\}$")
_GROUP = re.compile(r"\([^()]*[:,]g:(\d+)[,)]")  # a group pod's node: `calc(1:count:2,first:2,g:1,path:1)`


def _shell(leaf: Mapping[str, Any], name: str) -> dict[str, Any]:
    """A template that runs nothing and takes the op's inputs (so its node records them)."""
    inputs = leaf.get("inputs") or {}
    params = [
        {k: p[k] for k in ("name", "default", "value", "enum") if k in p}
        for p in inputs.get("parameters") or []
    ]
    params.append({"name": TEMPLATE_PARAM, "value": str(leaf["name"])})
    arts = [
        {**{k: v for k, v in a.items() if k not in ("path", "mode", "archive")}, "optional": True}
        for a in inputs.get("artifacts") or []
    ]
    tmpl: dict[str, Any] = {"name": name, "inputs": {"parameters": params}}
    if arts:
        tmpl["inputs"]["artifacts"] = arts
    tmpl["outputs"] = {"parameters": [], "artifacts": []}
    tmpl["steps"] = [[]]
    return tmpl


def _declared(leaf: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    outs = leaf.get("outputs") or {}
    params = [str(p["name"]) for p in outs.get("parameters") or [] if not is_provenance(p.get("name"))]
    return params, [str(a["name"]) for a in outs.get("artifacts") or []]


def _give(tmpl: dict[str, Any], step: dict[str, Any], name: str, kind: str, value: Any) -> None:
    """One output of the reused step, given as an input (``value``: a parameter's text or an
    artifact location) and passed on."""
    wire = f"{OUT_PREFIX}{kind[0]}-{name}"
    args = step.setdefault("arguments", {})
    if kind == "parameters":
        tmpl["inputs"]["parameters"].append({"name": wire})
        tmpl["outputs"]["parameters"].append(
            {"name": name, "valueFrom": {"expression": f"inputs.parameters[{json.dumps(wire)}]"}}
        )
        args.setdefault("parameters", []).append({"name": wire, "value": value})
    else:
        tmpl["inputs"].setdefault("artifacts", []).append({"name": wire})
        tmpl["outputs"]["artifacts"].append({"name": name, "from": f"{{{{inputs.artifacts.{wire}}}}}"})
        args.setdefault("artifacts", []).append({"name": wire, "s3": {"key": value}})


def _finish(tmpl: dict[str, Any]) -> dict[str, Any]:
    for part in ("parameters", "artifacts"):
        if not tmpl["outputs"][part]:
            del tmpl["outputs"][part]
    return tmpl


def _earlier(hit: Hit) -> tuple[dict[str, str], dict[str, str]]:
    """The earlier run's outputs of a hit: parameter values and artifacts' S3 keys, by name."""
    got = hit.earlier.outputs
    values = {str(p["name"]): str(p["value"]) for p in got.get("parameters") or [] if "value" in p}
    keys = {
        str(a["name"]): str((a.get("s3") or {}).get("key")) for a in got.get("artifacts") or [] if a.get("s3")
    }
    return values, keys


def single(step: dict[str, Any], leaf: Mapping[str, Any], hit: Hit, name: str) -> dict[str, Any] | None:
    params, arts = _declared(leaf)
    values, keys = _earlier(hit)
    if any("{{" in v for v in [*values.values(), *keys.values()]) or not set(params) <= set(values):
        return None
    optional = {
        str(a["name"]) for a in (leaf.get("outputs") or {}).get("artifacts") or [] if a.get("optional")
    }
    if not set(arts) - optional <= set(keys):
        return None
    tmpl = _shell(leaf, name)
    step["template"] = name
    for p in params:
        _give(tmpl, step, p, "parameters", values[p])
    for a in arts:
        if a in keys:
            _give(tmpl, step, a, "artifacts", keys[a])
        else:
            _not_written(tmpl, a)
    return _finish(tmpl)


def _not_written(tmpl: dict[str, Any], name: str) -> None:
    """An optional output the earlier run did not write: declared all the same (Argo's
    validation refuses a reference to an output a template lacks: `failed to resolve
    {{steps.X.outputs.artifacts.f}}`), from an optional input given nothing, which Argo's
    controller leaves out of the node's outputs as the pod that did not write it did."""
    wire = f"{OUT_PREFIX}a-{name}"
    tmpl["inputs"].setdefault("artifacts", []).append({"name": wire, "optional": True})
    tmpl["outputs"]["artifacts"].append(
        {"name": name, "from": f"{{{{inputs.artifacts.{wire}}}}}", "optional": True}
    )


def loop(
    step: dict[str, Any],
    leaf: Mapping[str, Any],
    hits: list[Hit],
    name: str,
    old: Mapping[str, Any],
    spec: dict[str, Any],
) -> dict[str, Any] | None:
    """Every item reused: artifacts by the fan-in key pattern, parameters from one JSON list."""
    index_arg = next(
        (p for p in (step.get("arguments") or {}).get("parameters") or [] if p.get("name") == INDEX_PARAM),
        None,
    )
    if index_arg is None:
        return _groups(step, leaf, hits, name, old, spec)
    index_expr = _index_expression(str(index_arg.get("value") or ""))
    if index_expr is None:
        return None
    params, arts = _declared(leaf)
    rows: dict[int, list[str]] = {}
    roots: set[str] = set()
    for h in hits:
        idx = next(
            (p.get("value") for p in h.inputs.get("parameters") or [] if p.get("name") == INDEX_PARAM), None
        )
        if idx is None or not str(idx).isdigit():
            return None
        values, keys = _earlier(h)
        if not set(params) <= set(values) or set(keys) != set(arts):
            return None
        for a, key in keys.items():
            prefix = fanin_prefix(key)
            if prefix is None or key != f"{prefix}/{idx}" or not prefix.endswith(f"/{a}"):
                return None
            roots.add(prefix[: -len(a) - 1])
        rows[int(idx)] = [values[p] for p in params if p != INDEX_PARAM]
    if len(roots) > 1 or sorted(rows) != list(range(len(hits))) or not _whole(old, roots, arts, len(hits)):
        return None
    tmpl = _shell(leaf, name)
    step["template"] = name
    shared = [p for p in params if p != INDEX_PARAM]
    if not _give_rows(tmpl, step, shared, [rows[i] for i in range(len(hits))], index_expr):
        return None
    if INDEX_PARAM in params:
        tmpl["outputs"]["parameters"].append(
            {
                "name": INDEX_PARAM,
                "valueFrom": {"expression": f"inputs.parameters[{json.dumps(INDEX_PARAM)}]"},
            }
        )
    _give_fanin(tmpl, step, spec, roots, arts, f"/{{{{={index_expr}}}}}")
    return _finish(tmpl)


def _give_fanin(
    tmpl: dict[str, Any],
    step: dict[str, Any],
    spec: dict[str, Any],
    roots: set[str],
    arts: list[str],
    item: str,
) -> None:
    """A loop's artifacts from the earlier run's fan-in folder (``roots``: it, or none), each
    ``<root>/<artifact>`` + ``item`` (an item's index, or nothing for a group's shared
    folder); the steps that read the fan-in read that folder."""
    if not roots:
        return
    root = next(iter(roots))
    for a in arts:
        _give(tmpl, step, a, "artifacts", f"{root}/{a}{item}")
    _repoint(spec, f"{FANIN_ROOT}{step['name']}/", f"{root}/")


def _give_rows(
    tmpl: dict[str, Any], step: dict[str, Any], params: list[str], rows: list[list[str]], index_expr: str
) -> bool:
    """Per-item output parameters as one JSON list, each item picking its row by
    ``index_expr`` (Argo expands an item's tags with the item only); False when the list
    cannot travel in a step's arguments."""
    if not params:
        return True
    table = json.dumps(rows, separators=(",", ":"))
    if "{{" in table or "}}" in table:
        return False
    quoted = "'" + table.replace("\\", "\\\\").replace("'", "\\'") + "'"
    for j, p in enumerate(params):
        pick = f"jsonpath({quoted}, '$[' + string({index_expr}) + '][{j}]')"
        _give(tmpl, step, p, "parameters", f"{{{{={pick}}}}}")
    return True


def _groups(
    step: dict[str, Any],
    leaf: Mapping[str, Any],
    hits: list[Hit],
    name: str,
    old: Mapping[str, Any],
    spec: dict[str, Any],
) -> dict[str, Any] | None:
    """A ``group:`` loop, every group reused: its pods (render/bootgroup.py, one per group of
    items, the items ``{g, path, first, count}``) each wrote their items into the one fan-in
    folder, ``<run>/dflowctl/fanin/<step>/<artifact>``; each group picks its row of outputs by
    ``item["g"]``, and the folder is the earlier run's, written by these groups alone."""
    if not str(step.get("withParam") or "").startswith("{{steps.dflowctl-entries.outputs."):
        return None
    params, arts = _declared(leaf)
    rows: dict[int, list[str]] = {}
    roots: set[str] = set()
    for h in hits:
        group = _GROUP.search(h.node)
        values, keys = _earlier(h)
        if group is None or not set(params) <= set(values) or set(keys) != set(arts):
            return None
        for a, key in keys.items():
            if FANIN_MARK not in key or not key.endswith(f"/{a}"):
                return None
            roots.add(key[: -len(a) - 1])
        rows[int(group.group(1))] = [values[p] for p in params]
    if len(roots) > 1 or sorted(rows) != list(range(len(hits))):
        return None
    if roots and sum(key == f"{next(iter(roots))}/{arts[0]}" for key in _output_keys(old)) != len(hits):
        return None  # the folder holds a wider run's groups
    tmpl = _shell(leaf, name)
    step["template"] = name
    if not _give_rows(tmpl, step, params, [rows[g] for g in range(len(hits))], 'asInt(item["g"])'):
        return None
    _give_fanin(tmpl, step, spec, roots, arts, "")
    return _finish(tmpl)


def _output_keys(old: Mapping[str, Any]) -> Iterator[str]:
    """The S3 key of every output artifact of every node of ``old``."""
    for node in ((old.get("status") or {}).get("nodes") or {}).values():
        for art in (node.get("outputs") or {}).get("artifacts") or []:
            yield str((art.get("s3") or {}).get("key") or "")


def _index_expression(value: str) -> str | None:
    """The item's index as an Argo expression of ``item``: a range loop's is one already
    (``{{=asInt(item)}}``); an items loop's pair (``{{item.dflowctl-i}}``) and a folder's entry
    (``{{item.i}}``) are a key of the map ``item`` is in Argo's expressions."""
    match = _EXPR.match(value)
    if match is not None:
        return match.group(1).strip()
    key = _ITEM_KEY.match(value)
    return None if key is None else f"asInt(item[{json.dumps(key.group(1))}])"


def _whole(old: Mapping[str, Any], roots: set[str], arts: list[str], count: int) -> bool:
    """The earlier fan-in folders hold exactly these items (no more, from a wider run)."""
    if not roots:
        return True
    root = next(iter(roots))
    for a in arts:
        prefix = f"{root}/{a}"
        found = {key.rsplit("/", 1)[1] for key in _output_keys(old) if fanin_prefix(key) == prefix}
        if found != {str(i) for i in range(count)}:
            return False
    return True


def _repoint(obj: Any, old: str, new: str) -> None:
    """Steps that read the reused loop's fan-in read the earlier run's folder."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, str) and old in v:
                obj[k] = v.replace(old, new)
            else:
                _repoint(v, old, new)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            if isinstance(v, str) and old in v:
                obj[i] = v.replace(old, new)
            else:
                _repoint(v, old, new)
