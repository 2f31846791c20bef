"""Reuse on Argo, decided before submitting: which steps of a new workflow an earlier one ran.

The new manifest is walked with the local engine's own Argo semantics (steps, DAGs,
loops, ``when``, retries: ``engines.local.flow``) through ``PlanRuntime``, which runs no
pod. Each leaf's key is ``argokeys.leaf_key`` (``stepkey.step_key``, the one key rule of
both engines); the earlier run's successes by key come from ``argokeys.old_results``.
A leaf whose key an earlier success has is a *hit*: it ends Succeeded with that
success's outputs, which later steps then read. Any other step runs for real: here it
ends Succeeded with no outputs, so what follows it in order is still planned, and every
step that reads it in any way (``sibling_refs``: outputs, status, ``depends``) runs too.
So every hit is one whose inputs are known for sure. Pure: no cluster, no S3.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dflowctl.argo import TEMPLATE_KINDS
from dflowctl.engines.argokeys import (
    Chain,
    Earlier,
    FaninTable,
    fanin_prefix,
    leaf_key,
    old_fanins,
    old_results,
    output_keys,
)
from dflowctl.engines.local.dag import run_dag
from dflowctl.engines.local.podcache import pin_of
from dflowctl.engines.local.retry import execute_with_retries
from dflowctl.engines.local.runtime import Call, Node
from dflowctl.engines.local.scope import ArtifactScope, TemplateError
from dflowctl.engines.local.slots import Slots
from dflowctl.engines.local.status import NodeBook
from dflowctl.engines.local.steps import run_steps
from dflowctl.engines.local.templates import locate_artifact, process_args, resolve_template, template_table
from dflowctl.engines.local.wfglobals import workflow_globals
from dflowctl.expr import ExprError
from dflowctl.stepkey import STEP_KEY_PARAM

PLAN_NAME = "dflowctl-reuse-plan"  # the new run's name while planning (keys never contain it)
_STOP = ".[("  # what follows a node's name in the names of the nodes under it
LEAF_KINDS = ("container", "script")  # templates that run a pod
# --rerun: (display name, template, the step's `key:`, node name) -> run it in any case
Forced = Callable[[str, str, str | None, str], bool]


@dataclass
class Hit:
    key: str
    earlier: Earlier
    template: str
    inputs: dict[str, Any]
    node: str  # its node in the plan


@dataclass
class Plan:
    """What the walk found: hits by node name, and the names of the misses."""

    book: NodeBook
    hits: dict[str, Hit] = field(default_factory=dict)
    misses: set[str] = field(default_factory=set)

    def clean(self, name: str) -> bool:
        """No miss at or under node ``name``."""
        return not any(_at_or_under(m, name) for m in self.misses)

    def hit_under(self, name: str) -> bool:
        """A hit at or under node ``name``."""
        return any(_at_or_under(h, name) for h in self.hits)


def _at_or_under(node: str, name: str) -> bool:
    """Node ``node`` is node ``name`` or one under it (its steps, items, retries)."""
    return node == name or (node.startswith(name) and node[len(name)] in _STOP)


_REF = re.compile(r"\b(?:steps|tasks)\.([A-Za-z0-9][-A-Za-z0-9_]*)")
_WORD = re.compile(r"[A-Za-z0-9][-A-Za-z0-9_]*")


def sibling_refs(
    templates: Mapping[str, Mapping[str, Any]],
) -> dict[tuple[str, str], tuple[frozenset[str], bool]]:
    """For each step or task: the siblings it names anywhere (``steps.X…``, ``tasks.X…``,
    ``depends``, ``dependencies``), and whether it reads ``workflow.outputs``."""
    out: dict[tuple[str, str], tuple[frozenset[str], bool]] = {}
    for tname, tmpl in templates.items():
        if tmpl.get("steps") is not None:
            entries = [s for group in tmpl["steps"] or [] for s in group or []]
        elif tmpl.get("dag") is not None:
            entries = list((tmpl["dag"] or {}).get("tasks") or [])
        else:
            continue
        names = {str(e.get("name")) for e in entries}
        for e in entries:
            text = json.dumps(e)
            refs = set(_REF.findall(text)) | {str(d) for d in e.get("dependencies") or []}
            refs |= set(_WORD.findall(str(e.get("depends") or "")))
            own = str(e.get("name"))
            out[(tname, own)] = (frozenset((refs & names) - {own}), "workflow.outputs." in text)
    return out


class PlanRuntime:
    """A ``Runtime`` over the new manifest whose pods are decided by earlier results."""

    def __init__(
        self,
        manifest: Mapping[str, Any],
        earlier: Mapping[str, Earlier],
        forced: Forced,
        old_fanin: Mapping[str, str],
        present: Callable[[str], bool] = lambda _key: True,
        pins: Mapping[str, str] | None = None,
    ) -> None:
        self.name = PLAN_NAME
        meta = {k: v for k, v in (manifest.get("metadata") or {}).items() if k != "generateName"}
        meta["name"] = PLAN_NAME
        self.wf = {"metadata": meta, "spec": manifest.get("spec") or {}}
        self.book = NodeBook(self.wf)
        self.plan = Plan(self.book)
        self.cancel = threading.Event()
        self.templates = template_table(self.wf["spec"])
        self.globals = workflow_globals(self.wf)
        self.earlier = earlier
        self.forced = forced
        self.old_fanin = old_fanin
        self.present = present
        self.pins = pins or {}  # --reuse-step: a node (podcache.pin_of) -> the key of its result in RUN
        self._items: dict[str, list[tuple[str, str]]] = {}
        self._lock = threading.Lock()
        self.refs = sibling_refs(self.templates)
        self.fanins = Chain(FaninTable(self._items, self._lock), old_fanin)
        self._unknown_steps: dict[str, set[str]] = {}  # boundary id -> its steps that run for real

    def interrupted_message(self) -> str:
        return "not planned"

    def template(self, name: str) -> Mapping[str, Any] | None:
        return self.templates.get(name)

    def width(self, sem: Slots | None) -> int:
        return sem.size if sem is not None else 8

    def locate_artifact(self, art: Mapping[str, Any], arts_scope: ArtifactScope) -> dict[str, Any] | None:
        return locate_artifact(art, arts_scope, {})

    def end_scope(self, scope_id: str) -> None:  # a plan runs no pod: no daemon to end
        pass

    def scope_open(self, scope_id: str) -> bool:
        return False

    def keep_daemoned(self, scope_id: str | None, node: dict[str, Any]) -> None:
        pass

    def run(self) -> Plan:
        entry = str(self.wf["spec"].get("entrypoint") or "")
        self.execute(self.name, self.name, {"template": entry}, self.wf["spec"].get("arguments") or {}, None)
        return self.plan

    def execute(
        self,
        name: str,
        display: str,
        holder: Mapping[str, Any],
        args: Mapping[str, Any],
        boundary: str | None,
        *,
        arts_scope: ArtifactScope | None = None,
    ) -> Node | None:
        step = str(holder.get("name") or "")
        if self._reads_unknown(boundary, step):
            return self._unknown(name, display, holder, boundary, step)
        try:
            tmpl_name, tmpl = resolve_template(self.templates, holder)
            tmpl, scope, in_arts = process_args(tmpl, args, arts_scope or {}, self.globals, {})
        except (TemplateError, ExprError):
            return self._unknown(name, display, holder, boundary, step)
        retry = tmpl.get("retryStrategy")
        call = Call(name, display, tmpl_name, tmpl, scope, in_arts, boundary)
        node = execute_with_retries(self, call, retry) if retry is not None else self.execute_once(call, None)
        if node is None or not self.plan.clean(name):
            return self._unknown(name, display, holder, boundary, step, node)
        return node

    def execute_once(self, call: Call, retries: int | None) -> Node | None:
        name, display, tmpl_name, tmpl = call.name, call.display, call.tmpl_name, call.tmpl
        boundary = call.boundary
        kind = next((k for k in TEMPLATE_KINDS if tmpl.get(k) is not None), None)
        if kind in ("steps", "dag"):
            run = run_steps if kind == "steps" else run_dag
            return run(self, call)
        inputs = tmpl.get("inputs") or {}
        found: Earlier | None = None
        key: str | None = None
        if kind in LEAF_KINDS and tmpl_name:
            named = next(
                (str(p["value"]) for p in inputs.get("parameters") or [] if p.get("name") == STEP_KEY_PARAM),
                None,
            )
            try:
                key = leaf_key(self.templates[tmpl_name], inputs, self.globals, self.name, self.fanins)
            except (TemplateError, ExprError):
                key = None
            pinned = self.pins.get(pin_of(display, named)) if self.pins else None
            if pinned is not None:  # taken whatever its key is now, under the key of the result
                key = pinned
            found = self.earlier.get(key) if key is not None else None
            if found is not None and self.forced(display, tmpl_name, named, name):
                found = None
            if found is not None and not all(self.present(k) for k in output_keys(found.outputs)):
                found = None  # an artifact no longer in the repository: a miss, never a wrong result
        node = self.book.create(name, display, "Pod", tmpl_name, boundary, phase="Pending", inputs=inputs)
        if key is None or found is None:
            self._miss(name)
            self.book.finish(node, "Succeeded", "")  # runs for real: its outputs are unknown here
            return node
        with self._lock:
            self.plan.hits[name] = Hit(key, found, tmpl_name, dict(inputs), name)
            for a in (tmpl.get("outputs") or {}).get("artifacts") or []:
                prefix = fanin_prefix(str((a.get("s3") or {}).get("key") or ""))
                if prefix is not None:
                    index = str(a["s3"]["key"]).rsplit("/", 1)[1]
                    self._items.setdefault(prefix, []).append((index, key))
        self.book.finish(node, "Succeeded", "", outputs=found.outputs or None)
        return node

    def _reads_unknown(self, boundary: str | None, step: str) -> bool:
        """Whether a step reads (outputs, status, ``depends``) a sibling that runs for real."""
        parent = self.book.get(boundary) if boundary and step else None
        if parent is None:
            return False
        refs, globals_ = self.refs.get((str(parent.get("templateName") or ""), step), (frozenset(), False))
        with self._lock:
            unknown = self._unknown_steps.get(str(boundary), set())
            return bool(refs & unknown) or (globals_ and bool(self.plan.misses))

    def _unknown(
        self,
        name: str,
        display: str,
        holder: Mapping[str, Any],
        boundary: str | None,
        step: str,
        node: Node | None = None,
    ) -> Node:
        """A step whose result is not known before it runs. It ends Succeeded here (so what
        follows it in order is planned), but with no outputs, and every step that reads it
        in any way (``_reads_unknown``) is unknown too."""
        with self._lock:
            self.plan.misses.add(name)
            if boundary and step:
                self._unknown_steps.setdefault(boundary, set()).add(step)
        if node is None:
            node = self.book.create(name, display, "Pod", holder.get("template"), boundary, phase="Pending")
            self.book.finish(node, "Succeeded", "")
        return node

    def _miss(self, name: str) -> None:
        with self._lock:
            self.plan.misses.add(name)


def plan_reuse(
    manifest: Mapping[str, Any],
    old: Mapping[str, Any],
    forced: Forced = lambda _d, _t, _k, _n: False,
    present: Callable[[str], bool] = lambda _key: True,
    pins: Mapping[str, str] | None = None,
) -> Plan:
    """Walk ``manifest`` against the successes of the earlier run ``old``; ``present`` says
    whether an S3 key is (still) in the repository the new run reads; ``pins``: the steps
    ``--reuse-step`` takes from ``old`` whatever their key is now."""
    earlier = old_results(old)
    rt = PlanRuntime(manifest, earlier, forced, old_fanins(earlier), present, pins)
    return rt.run()


def step_nodes(plan: Plan, base: str, looped: bool) -> list[Node]:
    """The planned nodes of the step whose node is named ``base`` (its items when looped)."""
    item = re.compile(re.escape(base) + r"\(\d+:[^()]*\)$")
    with plan.book.lock:
        nodes = list(plan.book.nodes.values())
    if not looped:
        return [n for n in nodes if n.get("name") == base]
    return [n for n in nodes if item.match(str(n.get("name")))]


def hit_of(plan: Plan, node: Node) -> Hit | None:
    """The hit a planned step node stands for (a Retry node: its successful attempt)."""
    if node.get("type") == "Retry":
        kids = [plan.book.get(c) for c in node.get("children") or []]
        names = [str(k["name"]) for k in kids if k is not None and k.get("phase") == "Succeeded"]
        return plan.hits.get(names[-1]) if names else None
    return plan.hits.get(str(node.get("name")))


__all__ = [
    "PLAN_NAME",
    "Forced",
    "Hit",
    "Plan",
    "PlanRuntime",
    "hit_of",
    "plan_reuse",
    "sibling_refs",
    "step_nodes",
]
