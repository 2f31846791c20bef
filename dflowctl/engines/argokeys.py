"""Step keys of an Argo run's nodes, as ``run -e argo --reuse`` compares them.

``leaf_key`` is ``stepkey.step_key`` (the one rule of both engines) of a leaf template
run with given inputs; ``old_results`` gives every success of an earlier Argo run by
its key: its Pod nodes (from their template and the inputs Argo recorded) and the steps
it reused itself (from the op template they stand for, ``dflowctl-template``).

On Argo an input artifact counts by its location (``artifact_identity``): an S3 key is
written once by the pod that made it, an op's ``source:`` archive is named by its
content digest, and a fan-in folder counts by the keys of the items in it. Pure.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dflowctl.engines.local.scope import Scope, TemplateError
from dflowctl.engines.local.templates import has_location, process_args, template_table
from dflowctl.engines.local.wfglobals import workflow_globals
from dflowctl.expr import ExprError
from dflowctl.render.bootship import inline
from dflowctl.stepkey import REUSED_PARAM, is_cacheable, is_provenance, source_key_digest, step_key

FANIN_MARK = "/dflowctl/fanin/"  # render.body's fan-in keys: <run>/dflowctl/fanin/<step>/<artifact>/<index>
TEMPLATE_PARAM = "dflowctl-template"  # input of a reused step (argoreuse): the op template it stands for


@dataclass(frozen=True)
class Earlier:
    """An earlier success: its outputs (provenance left out), node, and the run they came from."""

    outputs: dict[str, Any]
    node: str
    run: str


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def fanin_prefix(key: str) -> str | None:
    """``<run>/dflowctl/fanin/<step>/<artifact>`` for one item's key under it."""
    if FANIN_MARK not in key or "/" not in key:
        return None
    return key.rsplit("/", 1)[0]


def artifact_identity(art: Mapping[str, Any], fanins: Mapping[str, str]) -> str:
    """What an input artifact counts as in a key, on Argo (see the module doc)."""
    sub = str(art.get("subPath") or "").strip("/")
    s3 = art.get("s3")
    if isinstance(s3, Mapping):
        key = str(s3.get("key") or "").rstrip("/")
        known = source_key_digest(key)
        if known and not sub:
            return known
        # Argo's controller records `from` and `subPath` as one key; a plan has them apart
        key = f"{key}/{sub}" if sub else key
        if FANIN_MARK in key:
            parts = key.split("/")
            for cut in range(len(parts), 0, -1):  # the fan-in folder, or a path inside it
                prefix = "/".join(parts[:cut])
                if prefix in fanins:
                    return f"fanin:{fanins[prefix]}:{'/'.join(parts[cut:])}"
        # digested: the key names the run that wrote it, which ``step_key`` would otherwise
        # replace by its placeholder in the earlier run's keys and not in the planned run's
        return f"s3:{_digest(key)}"
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
    located), as both sides compute it; None for ``cache: false``. A template whose run
    shipped the bootstrap (``render/bootship.py``) counts as the one that carried it."""
    if not is_cacheable(raw):
        return None
    raw = inline(raw)
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
    out: dict[str, Earlier] = {}
    for key, node in _keyed(old):
        origin = _param(node, REUSED_PARAM) or name
        outputs = visible_outputs(node.get("outputs") or {})
        out.setdefault(key, Earlier(outputs, str(node.get("name")), origin))
    return out


def pinned_keys(old: Mapping[str, Any], reuse_steps: Sequence[str]) -> dict[str, str]:
    """``--reuse-step``: the nodes of the earlier Argo run ``old`` those steps name
    (``podcache.pin_of`` -> their key, computed as for ``old_results``)."""
    from dflowctl.engines.local.podcache import pinned_steps

    keys = {str(node.get("id")): key for key, node in _keyed(old)}
    return pinned_steps(old, reuse_steps, key_of=lambda node: keys.get(str(node.get("id"))))


def _keyed(old: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """(key, node) of each successful node of ``old`` whose key can be computed."""
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
    return keyed


def old_fanins(results: Mapping[str, Earlier]) -> FaninTable:
    items: dict[str, list[tuple[str, str]]] = {}
    for key, earlier in results.items():
        _add_items(items, key, earlier.outputs)
    return FaninTable(items)


def output_keys(outputs: Mapping[str, Any]) -> list[str]:
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


__all__ = [
    "FANIN_MARK",
    "TEMPLATE_PARAM",
    "Chain",
    "Earlier",
    "FaninTable",
    "artifact_identity",
    "fanin_prefix",
    "leaf_key",
    "old_fanins",
    "old_results",
    "output_keys",
]
