"""A Pod node and the step cache: its key, a reused result, a kept one, its provenance.

``PodNodes`` asks ``StepReuse`` for a pod's key (``stepkey.step_key`` over the
template and its staged input artifacts), for an earlier result under that key
when the run's ``ReusePolicy`` allows it, and keeps each successful pod's
outputs in the cache. Every cacheable Pod node gets Argo's ``memoizationStatus``
and the hidden ``dflowctl-…`` output parameters (key, input and output digests,
and the run it was reused from).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from dflowctl.engines.local.artifacts import LocalRepository
from dflowctl.engines.local.cache import Entry, ReusePolicy, StepCache
from dflowctl.engines.local.records import RunDir
from dflowctl.stepkey import (
    CACHE_NAME,
    HIDDEN_PREFIX,
    INPUTS_PARAM,
    KEY_PARAM,
    OUTPUTS_PARAM,
    REUSED_PARAM,
    STEP_KEY_PARAM,
    folder_digest,
    is_cacheable,
    is_provenance,
    path_digest,
    source_key_digest,
    step_key,
)

# one staged input artifact: (name, path in the container, host path, S3 key or None)
Staged = tuple[str, str, Path, str | None]
_INDEX = re.compile(r"\(\d+(?::[^()]*)?\)$")


def step_base(display: str) -> str:
    """A node's step name without its item or attempt suffix: ``relax(3:3)`` -> ``relax``."""
    return _INDEX.sub("", display)


def step_names(display: str, template: str, named: str | None) -> set[str | None]:
    """What ``--rerun S`` / ``--reuse-step S`` may call a node: its step (any item), its
    display name, its op template, or its step's `key:` (``named``)."""
    return {step_base(display), display, template, named}


class StepReuse:
    """The step cache as one run uses it (thread-safe)."""

    def __init__(self, cache: StepCache, policy: ReusePolicy, wf_name: str, repo: LocalRepository) -> None:
        self.cache = cache
        self.policy = policy
        self.wf_name = wf_name
        self.repo = repo
        self._lock = threading.Lock()
        self._digests: dict[tuple[str, str], str] = {}
        self._stored: dict[str, str] = {}  # host path of an output this run stored -> its digest

    # ------------------------------------------------------------------ key

    def key(
        self, template: Mapping[str, Any], staged: Sequence[Staged], runtime: Mapping[str, str] | None = None
    ) -> tuple[str, dict[str, str]] | None:
        """The pod's key and its input artifacts' digests; None for ``cache: false``."""
        if not is_cacheable(template):
            return None
        digests = {name: self._digest(host, s3_key, template, name) for name, _p, host, s3_key in staged}
        return step_key(template, self.wf_name, digests, runtime), digests

    def _digest(self, host: Path, s3_key: str | None, template: Mapping[str, Any], name: str) -> str:
        if s3_key is None:
            return path_digest(host)
        known = source_key_digest(s3_key)
        sub = next(
            (
                str(a.get("subPath") or "")
                for a in (template.get("inputs") or {}).get("artifacts") or []
                if a.get("name") == name
            ),
            "",
        )
        if known and not sub:
            return known
        memo = (s3_key, sub)
        with self._lock:
            if memo in self._digests:
                return self._digests[memo]
        # a run's artifacts do not change once stored; fan-in entries are named after pods
        with self._lock:
            stored = dict(self._stored) if self._stored else None
        digest = folder_digest(host, self.wf_name, stored)  # a fan-in: its items' outputs known
        with self._lock:
            self._digests[memo] = digest
        return digest

    def forced(self, display: str, template_name: str, named: str | None = None) -> bool:
        """``--rerun S``: S names this step (any item), its op, or its `key:` (``named``)."""
        rerun = self.policy.rerun
        return bool(rerun) and not rerun.isdisjoint(step_names(display, template_name, named))

    # ------------------------------------------------------------------ reuse

    def earlier(self, key: str, display: str, template_name: str, named: str | None = None) -> Entry | None:
        """An earlier success under ``key`` that this run may take, checked whole; else None.
        A step pinned by ``--reuse-step`` takes its node's result in the earlier run under
        that node's key, whatever its key is now (the entry's ``key`` then differs)."""
        if not self.policy.enabled or self.forced(display, template_name, named):
            return None
        pinned = self.policy.pinned.get(pin_of(display, named))
        if pinned is not None:
            return self.cache.lookup(pinned)
        if self.policy.keys is not None and key not in self.policy.keys:
            return None
        return self.cache.lookup(key)

    def keep(self, key: str, node_name: str, outputs: Mapping[str, Any]) -> dict[str, str]:
        """Keep a successful pod's outputs; returns output artifact name -> digest."""
        params = {
            str(p["name"]): str(p["value"])
            for p in outputs.get("parameters") or []
            if "value" in p and not is_provenance(p["name"])  # a declared hidden one (the item's index) stays
        }
        arts: dict[str, Path] = {}
        for a in outputs.get("artifacts") or []:
            key_ = (a.get("s3") or {}).get("key")
            if key_:
                arts[str(a["name"])] = self.repo.path_of(str(key_))
        digests = self.cache.store(
            key,
            run=self.wf_name,
            node=node_name,
            parameters=params,
            result=outputs.get("result"),
            exit_code=outputs.get("exitCode"),
            artifacts=arts,
        )
        with self._lock:  # a fan-in over these outputs takes their digests from here
            self._stored.update({str(arts[name]): digest for name, digest in digests.items()})
        return digests


def step_key_of(node_or_template: Mapping[str, Any]) -> str | None:
    """The spec's `key:` of a step (its ``dflowctl-step-key`` input), if it has one."""
    for p in (node_or_template.get("inputs") or {}).get("parameters") or []:
        if p.get("name") == STEP_KEY_PARAM and p.get("value"):
            return str(p["value"])
    return None


def provenance(
    outputs: dict[str, Any],
    key: str,
    inputs: Mapping[str, str],
    produced: Mapping[str, str],
    reused_from: str | None,
) -> None:
    """Add the hidden ``dflowctl-…`` output parameters to a node's ``outputs``."""
    params = [p for p in outputs.get("parameters") or [] if not is_provenance(p.get("name"))]
    params.append({"name": KEY_PARAM, "value": key})
    params.append({"name": INPUTS_PARAM, "value": json.dumps(dict(inputs), sort_keys=True)})
    params.append({"name": OUTPUTS_PARAM, "value": json.dumps(dict(produced), sort_keys=True)})
    if reused_from is not None:
        params.append({"name": REUSED_PARAM, "value": reused_from})
    outputs["parameters"] = params


def run_keys(workflow: Mapping[str, Any]) -> list[str]:
    """The keys of a run's successful Pod nodes (its provenance), in node order."""
    keys = []
    for node in ((workflow.get("status") or {}).get("nodes") or {}).values():
        if node.get("type") != "Pod" or node.get("phase") != "Succeeded":
            continue
        key = _node_key(node)
        if key:
            keys.append(key)
    return keys


def _node_key(node: Mapping[str, Any]) -> str | None:
    """A Pod node's step key: its ``memoizationStatus``, else its provenance parameter."""
    memo = node.get("memoizationStatus") or {}
    key = memo.get("key") or next(
        (
            p.get("value")
            for p in (node.get("outputs") or {}).get("parameters") or []
            if p.get("name") == KEY_PARAM
        ),
        None,
    )
    return str(key) if key else None


def pinned_steps(
    workflow: Mapping[str, Any],
    names: Sequence[str],
    key_of: Callable[[Mapping[str, Any]], str | None] | None = None,
) -> dict[str, str]:
    """``--reuse-step NAME``: ``pin_of`` -> key of each successful Pod node of ``workflow``
    that NAME names (its step, display name, op/template or `key:`). A pin two such nodes
    share is left out (it would be ambiguous: those steps run). A NAME that names no such
    node is an error, with the names there are. ``key_of``: a node's key (default: the key
    a local run recorded; an Argo run's are computed, ``argokeys.pinned_keys``)."""
    wanted = set(names)
    key_of = key_of or _node_key
    found: dict[str, str | None] = {}
    matched: set[str] = set()
    known: set[str] = set()
    for node in ((workflow.get("status") or {}).get("nodes") or {}).values():
        if node.get("phase") != "Succeeded":
            continue
        key = key_of(node)
        if node.get("type") != "Pod" and key is None:  # (an Argo run's reused step has a key)
            continue
        display = str(node.get("displayName") or "")
        named = step_key_of(node)
        aliases = step_names(display, str(node.get("templateName") or ""), named)
        if not step_base(display).startswith(HIDDEN_PREFIX):  # not dflowctl's own helper pods
            known.add(step_base(display))
        hit = wanted.intersection(a for a in aliases if a)
        if not hit or not key:
            continue
        matched.update(hit)
        pin = pin_of(display, named)
        found[pin] = None if pin in found else str(key)
    missing = sorted(wanted - matched)
    if missing:
        from dflowctl.errors import UsageError

        there = ", ".join(sorted(known)) or "(none)"
        raise UsageError(
            f"--reuse-step {missing[0]}: {workflow.get('metadata', {}).get('name')} has no step of that name "
            "that succeeded",
            hint=f"its steps that succeeded: {there}",
        )
    return {pin: key for pin, key in found.items() if key is not None}


def pin_of(display: str, named: str | None) -> str:
    """How ``--reuse-step`` finds a node again in a new run: by the step's `key:` value
    (dflow's key, stable when the items move), else by its display name."""
    return f"key={named}" if named else display


def memoization(key: str, hit: bool) -> dict[str, Any]:
    """Argo's node field ``memoizationStatus``."""
    return {"hit": hit, "key": key, "cacheName": CACHE_NAME}


__all__ = [
    "Staged",
    "StepReuse",
    "memoization",
    "pin_of",
    "pinned_steps",
    "provenance",
    "run_keys",
    "step_base",
    "step_key_of",
    "step_names",
]


REUSE_FILE = "reuse.json"  # the run's ReusePolicy, read by whichever process runs it


def cache_root(run: RunDir) -> Path:
    """The step cache of the home this run is in: ``$DFLOWCTL_HOME/cache``."""
    return run.path.resolve().parent.parent / "cache"


def read_policy(run: RunDir) -> ReusePolicy:
    """What this run may reuse (``run --reuse``), as ``submit`` recorded it."""
    try:
        return ReusePolicy.from_json(json.loads((run.path / REUSE_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, AttributeError):
        return ReusePolicy()


def step_reuse(run: RunDir) -> StepReuse:
    """The reuse hooks of one run: its home's cache, its recorded policy."""
    return StepReuse(StepCache(cache_root(run)), read_policy(run), run.name, LocalRepository(run.artifacts))
