"""``run -e argo --reuse RUN``: the new Workflow with what RUN already ran rendered without pods.

``argoplan`` finds the hits. A step (or task) whose every node is a hit -- one leaf, or
each item of a loop -- gets a template of its own that runs nothing (``argoreused``),
at any depth: a loop's wrappers, composite ops (one that several steps call is copied
for each call with a hit under it). A hit that cannot be rendered so runs, and what
reads it is planned again. Not through Argo's ``memoize``: its cache is a ConfigMap, at
most 1 MiB per namespace, with no content check (docs/argo.md).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dflowctl.engines.argokeys import pinned_keys
from dflowctl.engines.argoplan import PLAN_NAME, Forced, Plan, hit_of, plan_reuse, step_nodes
from dflowctl.engines.argoreused import loop, single
from dflowctl.stepkey import REUSED_PARAM

REUSES_ANNOTATION = "dflowctl.io/reuses"  # runs whose artifacts this run reads, comma-separated
ARTIFACT_GC_FINALIZER = "workflows.argoproj.io/artifact-gc"  # Argo deletes the outputs before the object


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
        """The steps (tasks) of ``tmpl``, whose node is ``base``, and those of the steps or DAG
        templates they call (a loop's wrappers, composite ops): one that other steps call too
        is copied for this step first (when something under it is a hit), so that the steps
        reused in it change no other call."""
        for node, step in _children(tmpl, base):
            target = self.templates.get(str(step.get("template") or ""))
            if target is None:
                continue
            looped = any(step.get(k) is not None for k in ("withItems", "withParam", "withSequence"))
            if target.get("steps") is not None or target.get("dag") is not None:
                if looped or not self.plan.hit_under(node):
                    continue
                if self.calls.get(str(target["name"])) != 1:
                    target = self._own_copy(step, target)
                self.body(target, node)
                continue
            if ("container" in target or "script" in target) and not _uses_result(self.spec, step):
                self.leaf(node, step, target, looped)

    def _own_copy(self, step: dict[str, Any], target: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of the steps or DAG template ``step`` calls, for ``step`` alone; the
        templates it calls are called once more each (so they are copied in their turn)."""
        own = copy.deepcopy(dict(target))
        own["name"] = _unique(f"{target['name']}-{step['name']}", self.taken)
        self.templates[own["name"]] = own
        self.added.append(own)
        self.calls[own["name"]] = 1
        step["template"] = own["name"]
        for _node, inner in _children(own, ""):
            name = str(inner.get("template") or "")
            self.calls[name] = self.calls.get(name, 0) + 1
        return own

    def leaf(self, base: str, step: dict[str, Any], leaf: Mapping[str, Any], looped: bool) -> None:
        nodes = step_nodes(self.plan, base, looped)
        hits = [hit_of(self.plan, n) for n in nodes]
        if not nodes or not self.plan.clean(base) or any(h is None for h in hits):
            return
        found = [h for h in hits if h is not None]
        name = _unique(f"dflowctl-reused-{step['name']}", self.taken)
        if looped:
            made = loop(step, leaf, found, name, self.old, self.spec)
        else:
            made = single(step, leaf, found[0], name)
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
    "REUSES_ANNOTATION",
    "Plan",
    "Reuse",
    "StoredKeys",
    "keep_artifacts_patch",
    "readers",
    "reuse_manifest",
]
