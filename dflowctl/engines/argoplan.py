"""Reuse on Argo, decided before submitting: which steps of a new workflow an earlier one ran.

The new manifest is walked with the local engine's own Argo semantics (steps, DAGs,
loops, ``when``, retries: ``engines.local.flow``) through ``PlanRuntime``, which runs no
pod. Each leaf's key is ``stepkey.step_key`` of its template with its inputs (the one
key rule of both engines); the earlier run's Pod nodes get theirs the same way from
their recorded inputs (``old_results``). A leaf whose key an earlier success has is a
*hit*: it ends Succeeded with that success's outputs, which later steps then read. A
*miss* never ends: whatever depends on it (its outputs, its phase, a later group) is
never reached, so every hit is one whose inputs are known for sure.

On Argo an input artifact counts by its location (``artifact_identity``): an S3 key
is written once by the pod that made it, an op's ``source:`` archive is named by its
content digest, and a fan-in folder counts by the keys of the items in it.
Pure: no cluster, no S3.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from dflowctl.argo import TEMPLATE_KINDS
from dflowctl.engines.local.dag import run_dag
from dflowctl.engines.local.retry import execute_with_retries
from dflowctl.engines.local.runtime import Node
from dflowctl.engines.local.scope import ArtifactScope, Scope, TemplateError
from dflowctl.engines.local.slots import Slots
from dflowctl.engines.local.status import NodeBook
from dflowctl.engines.local.steps import run_steps
from dflowctl.engines.local.templates import (
    has_location,
    locate_artifact,
    process_args,
    resolve_template,
    template_table,
)
from dflowctl.engines.local.wfglobals import workflow_globals
from dflowctl.expr import ExprError
from dflowctl.stepkey import (
    REUSED_PARAM,
    STEP_KEY_PARAM,
    is_cacheable,
    is_provenance,
    source_key_digest,
    step_key,
)

FANIN_MARK = "/dflowctl/fanin/"  # render.body's fan-in keys: <run>/dflowctl/fanin/<step>/<artifact>/<index>
TEMPLATE_PARAM = "dflowctl-template"  # input of a reused step (argoreuse): the op template it stands for
PLAN_NAME = "dflowctl-reuse-plan"  # the new run's name while planning (keys never contain it)
_STOP = ".[("  # what follows a node's name in the names of the nodes under it
LEAF_KINDS = ("container", "script")  # templates that run a pod
# --rerun: (display name, template, the step's `key:`, node name) -> run it in any case
Forced = Callable[[str, str, str | None, str], bool]


@dataclass(frozen=True)
class Earlier:
    """An earlier success: its outputs (provenance left out), node, and the run they came from."""

    outputs: dict[str, Any]
    node: str
    run: str


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
        return not any(m == name or (m.startswith(name) and m[len(name)] in _STOP) for m in self.misses)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def fanin_prefix(key: str) -> str | None:
    """``<run>/dflowctl/fanin/<step>/<artifact>`` for one item's key under it."""
    if FANIN_MARK not in key or "/" not in key:
        return None
    return key.rsplit("/", 1)[0]


def artifact_identity(art: Mapping[str, Any], fanins: Mapping[str, str]) -> str:
    """What an input artifact counts as in a key, on Argo (see the module doc)."""
    sub = str(art.get("subPath") or "")
    s3 = art.get("s3")
    if isinstance(s3, Mapping):
        key = str(s3.get("key") or "").rstrip("/")
        known = source_key_digest(key)
        if known and not sub:
            return known
        if key in fanins:
            return f"fanin:{fanins[key]}:{sub}"
        return f"s3:{key}:{sub}"
    loc = {k: v for k, v in art.items() if k not in ("name", "path", "mode", "optional", "archive")}
    return "loc:" + _digest(json.dumps(loc, sort_keys=True, default=str))


class FaninTable(Mapping[str, str]):
    """Each fan-in prefix as the digest of its items' (index, key) pairs, computed when
    asked (a consumer reads a fan-in once; its producers are many)."""

    def __init__(
        self, items: Mapping[str, list[tuple[str, str]]], lock: threading.Lock | None = None
    ) -> None:
        self._items = items
        self._lock = lock or threading.Lock()

    def __getitem__(self, prefix: str) -> str:
        with self._lock:
            pairs = sorted(self._items[prefix])
        return _digest(json.dumps(pairs))

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)


class Chain(Mapping[str, str]):
    """The first of two tables that has a prefix."""

    def __init__(self, first: Mapping[str, str], second: Mapping[str, str]) -> None:
        self._first, self._second = first, second

    def __getitem__(self, prefix: str) -> str:
        return self._first[prefix] if prefix in self._first else self._second[prefix]

    def __iter__(self) -> Iterator[str]:
        return iter({*self._first, *self._second})

    def __len__(self) -> int:
        return len({*self._first, *self._second})


def leaf_key(
    raw: Mapping[str, Any],
    inputs: Mapping[str, Any],
    globals_: Scope,
    wf_name: str,
    fanins: Mapping[str, str],
) -> str | None:
    """The key of a leaf template run with ``inputs`` (parameters with values, artifacts
    located), as both sides compute it; None for ``cache: false``."""
    if not is_cacheable(raw):
        return None
    args = {
        "parameters": [
            {"name": p["name"], "value": p["value"]} for p in inputs.get("parameters") or [] if "value" in p
        ],
        "artifacts": [dict(a) for a in inputs.get("artifacts") or [] if has_location(a)],
    }
    tmpl, _scope, _arts = process_args(raw, args, {}, globals_, {})
    digests = {
        str(a["name"]): artifact_identity(a, fanins)
        for a in (tmpl.get("inputs") or {}).get("artifacts") or []
        if has_location(a)
    }
    return step_key(tmpl, wf_name, digests)


def visible_outputs(outputs: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(outputs)
    if out.get("parameters"):
        out["parameters"] = [p for p in out["parameters"] if not is_provenance(p.get("name"))]
    return out


def _param(node: Mapping[str, Any], name: str) -> str | None:
    for p in (node.get("outputs") or {}).get("parameters") or []:
        if p.get("name") == name and "value" in p:
            return str(p["value"])
    return None


def old_results(old: Mapping[str, Any]) -> dict[str, Earlier]:
    """The successes of an earlier Argo run by key: its Pod nodes (keys computed from the
    template and recorded inputs) and the steps it reused itself (their recorded key)."""
    name = str(old["metadata"]["name"])
    spec = old.get("spec") or {}
    templates = template_table(spec)
    globals_ = workflow_globals({"metadata": dict(old["metadata"]), "spec": spec})
    nodes = [
        n for n in ((old.get("status") or {}).get("nodes") or {}).values() if n.get("phase") == "Succeeded"
    ]
    items: dict[str, list[tuple[str, str]]] = {}
    keyed: list[tuple[str, Mapping[str, Any]]] = []
    fanins = FaninTable(items)
    # a fan-in counts by its items' keys: producers end before their consumers start
    nodes.sort(key=lambda n: (str(n.get("startedAt") or ""), str(n.get("finishedAt") or "")))
    for node in nodes:
        raw = templates.get(_op_template(node))
        if raw is None:
            continue
        try:
            key = leaf_key(raw, node.get("inputs") or {}, globals_, name, fanins)
        except (TemplateError, ExprError):
            continue
        if key is None:
            continue
        keyed.append((key, node))
        _add_items(items, key, node.get("outputs") or {})
    out: dict[str, Earlier] = {}
    for key, node in keyed:
        origin = _param(node, REUSED_PARAM) or name
        outputs = visible_outputs(node.get("outputs") or {})
        out.setdefault(key, Earlier(outputs, str(node.get("name")), origin))
    return out


def old_fanins(results: Mapping[str, Earlier]) -> FaninTable:
    items: dict[str, list[tuple[str, str]]] = {}
    for key, earlier in results.items():
        _add_items(items, key, earlier.outputs)
    return FaninTable(items)


def _keys(outputs: Mapping[str, Any]) -> list[str]:
    return [str(a["s3"]["key"]) for a in outputs.get("artifacts") or [] if (a.get("s3") or {}).get("key")]


def _op_template(node: Mapping[str, Any]) -> str:
    """The op template a node ran: a Pod's own, or the one a reused step stands for."""
    if node.get("type") == "Pod":
        return str(node.get("templateName") or "")
    for p in (node.get("inputs") or {}).get("parameters") or []:
        if p.get("name") == TEMPLATE_PARAM:
            return str(p.get("value") or "")
    return ""


def _add_items(items: dict[str, list[tuple[str, str]]], key: str, outputs: Mapping[str, Any]) -> None:
    for a in outputs.get("artifacts") or []:
        k = str((a.get("s3") or {}).get("key") or "")
        prefix = fanin_prefix(k)
        if prefix is not None:
            items.setdefault(prefix, []).append((k.rsplit("/", 1)[1], key))


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
        if retry is not None:
            node = execute_with_retries(self, name, display, tmpl_name, tmpl, scope, in_arts, boundary, retry)
        else:
            node = self.execute_once(name, display, tmpl_name, tmpl, scope, in_arts, boundary, None)
        if node is None or not self.plan.clean(name):
            return self._unknown(name, display, holder, boundary, step, node)
        return node

    def execute_once(
        self,
        name: str,
        display: str,
        tmpl_name: str,
        tmpl: dict[str, Any],
        scope: Scope,
        in_arts: ArtifactScope,
        boundary: str | None,
        retries: int | None,
    ) -> Node | None:
        kind = next((k for k in TEMPLATE_KINDS if tmpl.get(k) is not None), None)
        if kind in ("steps", "dag"):
            run = run_steps if kind == "steps" else run_dag
            return run(self, name, display, tmpl_name, tmpl, scope, in_arts, boundary)
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
            found = self.earlier.get(key) if key is not None else None
            if found is not None and self.forced(display, tmpl_name, named, name):
                found = None
            if found is not None and not all(self.present(k) for k in _keys(found.outputs)):
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
) -> Plan:
    """Walk ``manifest`` against the successes of the earlier run ``old``; ``present`` says
    whether an S3 key is (still) in the repository the new run reads."""
    earlier = old_results(old)
    rt = PlanRuntime(manifest, earlier, forced, old_fanins(earlier), present)
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
    "FANIN_MARK",
    "PLAN_NAME",
    "Earlier",
    "Forced",
    "Hit",
    "Plan",
    "PlanRuntime",
    "artifact_identity",
    "fanin_prefix",
    "hit_of",
    "leaf_key",
    "old_results",
    "plan_reuse",
    "step_nodes",
]
