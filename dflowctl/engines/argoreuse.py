"""``run -e argo --reuse RUN``: the new Workflow with what RUN already ran rendered without pods.

``argoplan`` finds the hits. A step (or task) of the entrypoint template whose every
node is a hit -- one leaf, or each item of a loop -- gets a template of its own that
runs nothing: a ``steps`` template with one empty group whose outputs are its inputs
(``valueFrom.expression`` / ``from: {{inputs.artifacts.…}}``), and the step passes it
the earlier outputs: parameters as values, artifacts as the earlier run's S3 keys.
It declares the op's inputs too, so its node records them, and ``dflowctl-template``
(the op's template), so a later ``--reuse`` of this run finds the key again.

A loop's items take their artifacts by the fan-in layout of ``render.body``
(``<run>/dflowctl/fanin/<step>/<artifact>/<index>``): one key pattern with the item's
index, so the manifest does not grow with the width; the steps that read the fan-in
read the earlier run's folder. Other per-item output parameters travel in one
workflow parameter (``dflowctl-reuse-<step>``, a JSON list), each item picking its
own with ``jsonpath``. Not through Argo's ``memoize``: its cache is a ConfigMap,
at most 1 MiB per namespace, with no content check (docs/argo.md).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dflowctl.engines.argokeys import FANIN_MARK, TEMPLATE_PARAM, fanin_prefix, pinned_keys
from dflowctl.engines.argoplan import PLAN_NAME, Forced, Hit, Plan, hit_of, plan_reuse, step_nodes
from dflowctl.stepkey import REUSED_PARAM, is_provenance

REUSES_ANNOTATION = "dflowctl.io/reuses"  # runs whose artifacts this run reads, comma-separated
ARTIFACT_GC_FINALIZER = "workflows.argoproj.io/artifact-gc"  # Argo deletes the outputs before the object
OUT_PREFIX = "dflowctl-out-"  # inputs of a reused step that carry its outputs
INDEX_PARAM = "dflowctl-index"  # render.body's item index (FANIN_INDEX_PARAM)
FANIN_ROOT = "{{workflow.name}}/dflowctl/fanin/"
_EXPR = re.compile(r"^\{\{=(.+)\}\}$", re.S)
_ITEM_KEY = re.compile(r"^\{\{item\.([A-Za-z0-9_-]+)\}\}$")


@dataclass
class Reuse:
    manifest: dict[str, Any]
    steps: list[str] = field(default_factory=list)  # steps rendered without pods
    pods: int = 0  # pods that do not run
    runs: set[str] = field(default_factory=set)  # runs whose artifacts the manifest reads
    covered: set[str] = field(default_factory=set)  # planned nodes these steps stand for


def step_matcher(rerun: Iterable[str]) -> Callable[[str, str, str | None], bool]:
    """``--rerun S``: S names a step (any item), its display name, op template or `key:`."""
    from dflowctl.engines.local.podcache import step_names

    wanted = frozenset(rerun)

    def forced(display: str, template: str, named: str | None) -> bool:
        return bool(wanted) and not wanted.isdisjoint(step_names(display, template, named))

    return forced


class StoredKeys:
    """Whether a key is in the repository (an object, or a folder of objects), from one
    listing per run prefix (``<workflow>/``)."""

    def __init__(self, list_prefix: Callable[[str], Iterable[str]]) -> None:
        self.list_prefix = list_prefix
        self.known: dict[str, set[str]] = {}

    def __call__(self, key: str) -> bool:
        key = key.rstrip("/")
        top = key.split("/", 1)[0]
        if top not in self.known:
            found: set[str] = set()
            for name in self.list_prefix(top + "/"):
                parts = name.rstrip("/").split("/")
                found.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
            self.known[top] = found
        return key in self.known[top]


def reuse_manifest(
    manifest: Mapping[str, Any],
    old: Mapping[str, Any],
    rerun: Iterable[str] = (),
    present: Callable[[str], bool] = lambda _key: True,
    reuse_steps: Sequence[str] = (),
) -> Reuse:
    """``manifest`` with the steps ``old`` already ran rendered without pods.

    A hit that cannot be rendered without its pod (inside a composite op, a loop that
    is not all hits, …) runs again, so what depends on it is planned again with it as
    a miss, until the steps rendered without pods are the same twice. ``reuse_steps``
    (``--reuse-step``) are taken from ``old`` even though their keys changed.
    """
    forced = step_matcher(rerun)
    pins = pinned_keys(old, reuse_steps) if reuse_steps else None
    blocked: set[str] = set()
    while True:  # ends: `blocked` grows every round, and there are as many hits as planned leaves
        plan = plan_reuse(manifest, old, _matcher(forced, frozenset(blocked)), present, pins)
        out = _rewrite(manifest, old, plan)
        left = set(plan.hits) - out.covered
        if left <= blocked:
            return out
        blocked |= left


def _matcher(forced: Callable[[str, str, str | None], bool], blocked: frozenset[str]) -> Forced:
    return lambda display, template, named, node: node in blocked or forced(display, template, named)


def _rewrite(manifest: Mapping[str, Any], old: Mapping[str, Any], plan: Plan) -> Reuse:
    out = Reuse(copy.deepcopy(dict(manifest)))
    spec = out.manifest["spec"]
    templates = {str(t["name"]): t for t in spec.get("templates") or []}
    entry = templates.get(str(spec.get("entrypoint") or ""))
    if entry is None or spec.get("onExit") == spec.get("entrypoint"):
        return out
    rewriting = _Rewriting(out, spec, templates, plan, old, set(templates), _calls(templates.values()))
    rewriting.body(entry, PLAN_NAME)
    spec["templates"] = list(spec.get("templates") or []) + rewriting.added
    if out.runs:
        meta = out.manifest.setdefault("metadata", {})
        meta.setdefault("annotations", {})[REUSES_ANNOTATION] = ",".join(sorted(out.runs))
    return out


@dataclass
class _Rewriting:
    """One rewrite of a manifest: the steps it renders without pods, in place."""

    out: Reuse
    spec: dict[str, Any]
    templates: dict[str, dict[str, Any]]
    plan: Plan
    old: Mapping[str, Any]
    taken: set[str]
    calls: dict[str, int]
    added: list[dict[str, Any]] = field(default_factory=list)

    def body(self, tmpl: Mapping[str, Any], base: str) -> None:
        """The steps (tasks) of ``tmpl``, whose node is ``base``; into a steps or DAG template
        only one step calls (a wrapper: a loop's slices, its `parallelism`; a composite op
        used once), so that its own reused steps change no other call."""
        for node, step in _children(tmpl, base):
            target = self.templates.get(str(step.get("template") or ""))
            if target is None:
                continue
            looped = any(step.get(k) is not None for k in ("withItems", "withParam", "withSequence"))
            if target.get("steps") is not None or target.get("dag") is not None:
                if not looped and self.calls.get(str(target["name"])) == 1:
                    self.body(target, node)
                continue
            if ("container" in target or "script" in target) and not _uses_result(self.spec, step):
                self.leaf(node, step, target, looped)

    def leaf(self, base: str, step: dict[str, Any], leaf: Mapping[str, Any], looped: bool) -> None:
        nodes = step_nodes(self.plan, base, looped)
        hits = [hit_of(self.plan, n) for n in nodes]
        if not nodes or not self.plan.clean(base) or any(h is None for h in hits):
            return
        found = [h for h in hits if h is not None]
        name = _unique(f"dflowctl-reused-{step['name']}", self.taken)
        if looped:
            made = _loop(step, leaf, found, name, self.old, self.spec)
        else:
            made = _single(step, leaf, found[0], name)
        if made is None:
            return
        made["outputs"].setdefault("parameters", []).append(
            {"name": REUSED_PARAM, "valueFrom": {"expression": json.dumps(str(self.old["metadata"]["name"]))}}
        )
        self.added.append(made)
        self.out.steps.append(str(step["name"]))
        self.out.pods += len(found)
        self.out.covered |= {h.node for h in found}
        for h in found:
            self.out.runs |= _runs_of(h.earlier.outputs)


def _calls(templates: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """How many steps and tasks call each template."""
    out: dict[str, int] = {}
    for tmpl in templates:
        for _node, step in _children(tmpl, ""):
            name = str(step.get("template") or "")
            out[name] = out.get(name, 0) + 1
    return out


def _children(tmpl: Mapping[str, Any], base: str) -> list[tuple[str, dict[str, Any]]]:
    """(node name, step) of each step or task of ``tmpl``, whose node is named ``base``."""
    if tmpl.get("steps") is not None:
        return [
            (f"{base}[{g}].{s['name']}", s)
            for g, group in enumerate(tmpl["steps"] or [])
            for s in group or []
            if s.get("template")
        ]
    if tmpl.get("dag") is not None:
        return [(f"{base}.{t['name']}", t) for t in tmpl["dag"].get("tasks") or [] if t.get("template")]
    return []


def _uses_result(spec: Mapping[str, Any], step: Mapping[str, Any]) -> bool:
    """Argo gives a steps template no ``result``/``exitCode``: a step read that way runs."""
    text = json.dumps(spec)
    name = re.escape(str(step["name"]))
    return re.search(rf"(steps|tasks)\.{name}\.outputs\.(result|exitCode)", text) is not None


def _unique(name: str, taken: set[str]) -> str:
    out, n = name[:63], 2
    while out in taken:
        out = f"{name[:58]}-{n}"
        n += 1
    taken.add(out)
    return out


def _runs_of(outputs: Mapping[str, Any]) -> set[str]:
    """The runs whose S3 keys these outputs are (Argo's layout: ``<workflow>/…``)."""
    runs = set()
    for a in outputs.get("artifacts") or []:
        key = str((a.get("s3") or {}).get("key") or "")
        if "/" in key and not key.startswith("dflowctl/"):
            runs.add(key.split("/", 1)[0])
    return runs


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


def _single(step: dict[str, Any], leaf: Mapping[str, Any], hit: Hit, name: str) -> dict[str, Any] | None:
    params, arts = _declared(leaf)
    got = hit.earlier.outputs
    values = {str(p["name"]): str(p["value"]) for p in got.get("parameters") or [] if "value" in p}
    keys = {
        str(a["name"]): str((a.get("s3") or {}).get("key")) for a in got.get("artifacts") or [] if a.get("s3")
    }
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


def _loop(
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
    index_expr = _index_expression(str((index_arg or {}).get("value") or ""))
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
        got = h.earlier.outputs
        values = {str(p["name"]): str(p["value"]) for p in got.get("parameters") or [] if "value" in p}
        keys = {str(a["name"]): str((a.get("s3") or {}).get("key")) for a in got.get("artifacts") or []}
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
    if shared:
        # one JSON list, picked by the item alone (Argo expands an item's tags with the item only)
        table = json.dumps([rows[i] for i in range(len(hits))], separators=(",", ":"))
        if "{{" in table or "}}" in table:
            return None
        quoted = "'" + table.replace("\\", "\\\\").replace("'", "\\'") + "'"
        for j, p in enumerate(shared):
            pick = f"jsonpath({quoted}, '$[' + string({index_expr}) + '][{j}]')"
            _give(tmpl, step, p, "parameters", f"{{{{={pick}}}}}")
    if INDEX_PARAM in params:
        tmpl["outputs"]["parameters"].append(
            {
                "name": INDEX_PARAM,
                "valueFrom": {"expression": f"inputs.parameters[{json.dumps(INDEX_PARAM)}]"},
            }
        )
    if roots:
        root = roots.pop()
        for a in arts:
            _give(tmpl, step, a, "artifacts", f"{root}/{a}/{{{{={index_expr}}}}}")
        _repoint(spec, f"{FANIN_ROOT}{step['name']}/", f"{root}/")
    return _finish(tmpl)


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
        found = set()
        for node in ((old.get("status") or {}).get("nodes") or {}).values():
            for art in (node.get("outputs") or {}).get("artifacts") or []:
                key = str((art.get("s3") or {}).get("key") or "")
                if fanin_prefix(key) == prefix:
                    found.add(key.rsplit("/", 1)[1])
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


def readers(workflows: Iterable[Mapping[str, Any]], name: str) -> list[str]:
    """The runs among ``workflows`` that read artifacts of run ``name`` (their annotation)."""
    out = []
    for wf in workflows:
        meta = wf.get("metadata") or {}
        reads = str((meta.get("annotations") or {}).get(REUSES_ANNOTATION) or "").split(",")
        if meta.get("name") != name and name in reads:
            out.append(str(meta.get("name")))
    return sorted(out)


def keep_artifacts_patch(wf: Mapping[str, Any]) -> dict[str, Any] | None:
    """The merge patch that turns Argo's artifact GC off for ``wf`` before it is deleted
    (another run reads its artifacts); None when it has none."""
    meta = wf.get("metadata") or {}
    finalizers = list(meta.get("finalizers") or [])
    if ARTIFACT_GC_FINALIZER not in finalizers and not (wf.get("spec") or {}).get("artifactGC"):
        return None
    return {
        "metadata": {
            "resourceVersion": meta.get("resourceVersion"),
            "finalizers": [f for f in finalizers if f != ARTIFACT_GC_FINALIZER],
        },
        "spec": {"artifactGC": {"strategy": "Never"}},
    }


__all__ = [
    "FANIN_MARK",
    "REUSES_ANNOTATION",
    "TEMPLATE_PARAM",
    "Plan",
    "Reuse",
    "StoredKeys",
    "keep_artifacts_patch",
    "readers",
    "reuse_manifest",
]
