"""A step's key: the digest of everything that determines its result.

The key of a leaf step (one pod) is the SHA-256 of a canonical JSON text of its
template as it runs (inputs already substituted: image, command or script,
the Python bootstrap and the op's interface, env, input parameter values) with
each input artifact replaced by the digest of its content. Left out, since they
do not change what the step computes: the template's name, metadata, retry,
time limits and scheduling fields, and where its outputs are stored. The run's
own name is replaced by a placeholder, so two runs of one spec agree.

Both engines record a step's provenance the same way: output parameters named
``dflowctl-…`` (hidden from the usual views) and Argo's ``memoizationStatus``.
Pure and standard library only.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

HIDDEN_PREFIX = "dflowctl-"
KEY_PARAM = "dflowctl-key"  # the step's key
INPUTS_PARAM = "dflowctl-inputs"  # JSON: input artifact name -> content digest
OUTPUTS_PARAM = "dflowctl-outputs"  # JSON: output artifact name -> content digest
REUSED_PARAM = "dflowctl-reused"  # the run whose result was reused (absent when the step ran)
STEP_KEY_PARAM = "dflowctl-step-key"  # input parameter: the spec's `key:` of the step (a name, not an input)
CACHE_NAME = "dflowctl"  # memoizationStatus.cacheName
NO_CACHE_ANNOTATION = "dflowctl.io/cache"  # template metadata annotation: "false" for `cache: false`
KEY_VERSION = "1"  # bumped when the key's recipe changes (every old entry then misses)

# template fields that do not change what a step computes
_IGNORED = frozenset(
    {
        "name",
        "metadata",
        "retryStrategy",
        "timeout",
        "activeDeadlineSeconds",
        "nodeSelector",
        "tolerations",
        "affinity",
        "priority",
        "priorityClassName",
        "schedulerName",
        "serviceAccountName",
        "automountServiceAccountToken",
        "podSpecPatch",
        "memoize",
        "synchronization",
        "metrics",
        "parallelism",
        "failFast",
    }
)
# a container's fields at their zero value, as a stored Workflow's templates carry them
_ZERO: tuple[tuple[str, object], ...] = (("name", ""), ("resources", {}))
_SOURCE_KEY = re.compile(r"(?:^|/)dflowctl/sources/([0-9a-f]{64})\.tgz$")
_CHUNK = 1 << 20


def is_provenance(name: object) -> bool:
    """One of the step cache's own record parameters (not an output a template declares):
    kept out of a template's scope and a loop's aggregates, unlike the other hidden names."""
    return name in (KEY_PARAM, INPUTS_PARAM, OUTPUTS_PARAM, REUSED_PARAM)


def is_hidden(name: object) -> bool:
    """The one rule for what the usual views (summary, outputs, report, rerun) leave out: a
    name dflowctl adds for itself (``dflowctl-…``: provenance, the item's index of an aligned
    fan-in, the interpreter of a Python pod), not one a user wrote."""
    return str(name).startswith(HIDDEN_PREFIX)


def is_cacheable(template: Mapping[str, Any]) -> bool:
    """False for an op that said ``cache: false`` (its result is not a function of its inputs)."""
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(NO_CACHE_ANNOTATION, "true")).lower() != "false"


def step_key(
    template: Mapping[str, Any],
    workflow_name: str,
    artifact_digests: Mapping[str, str],
    runtime: Mapping[str, str] | None = None,
) -> str:
    """The key of a leaf template with its inputs substituted.

    ``artifact_digests`` maps each input artifact's name to its content digest
    (``path_digest``); an optional artifact that is absent has no entry.
    ``runtime``: what runs it beyond the template, e.g. the local Python chosen
    for it (path and version).
    """
    body = {k: v for k, v in template.items() if k not in _IGNORED}
    for kind in ("container", "script"):
        if isinstance(body.get(kind), Mapping):  # zero values Argo's controller writes back
            body[kind] = {k: v for k, v in body[kind].items() if (k, v) not in _ZERO}
    inputs = dict(body.get("inputs") or {})
    if inputs.get("parameters"):
        inputs["parameters"] = [p for p in inputs["parameters"] if p.get("name") != STEP_KEY_PARAM]
    if inputs.get("artifacts"):
        inputs["artifacts"] = [
            {
                "name": a.get("name"),
                "path": a.get("path"),
                "mode": a.get("mode"),
                "digest": artifact_digests.get(str(a.get("name"))),
            }
            for a in inputs["artifacts"]
        ]
    body["inputs"] = inputs
    outputs = dict(body.get("outputs") or {})
    if outputs.get("artifacts"):
        outputs["artifacts"] = [{k: v for k, v in a.items() if k != "s3"} for a in outputs["artifacts"]]
    body["outputs"] = outputs
    long_texts: list[str] = []
    canon = _canonical(body, workflow_name, long_texts)
    text = json.dumps(
        [KEY_VERSION, canon, dict(runtime or {})], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    for n, encoded in enumerate(long_texts):  # the long strings' JSON, kept from the last items
        text = text.replace(json.dumps(f"{_MARK}{n}\0"), encoded, 1)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# A long string (a pod's script: the same for every item of a fan-out) stands in the dumped
# text as a mark no input can hold (NUL and a per-process random part), replaced by its
# JSON text afterwards: the key is that of dumping it in place, without encoding it again.
_MARK = f"\0dflowctl-{os.urandom(8).hex()}-"
_LONG = 256


def _canonical(value: Any, workflow_name: str, long_texts: list[str]) -> Any:
    """Mappings as such (sorted when dumped), lists of named entries sorted by name,
    the run's name replaced by ``{{workflow.name}}``; strings over ``_LONG`` characters
    as marks, their JSON text in ``long_texts``."""
    if type(value) is str:
        if len(value) <= _LONG:
            return _rename(value, workflow_name)
        long_texts.append(_encoded(value, workflow_name))
        return f"{_MARK}{len(long_texts) - 1}\0"
    if isinstance(value, Mapping):  # (a name stays itself: named entries are sorted by it)
        return {
            str(k): _rename(v, workflow_name)
            if k == "name" and type(v) is str
            else _canonical(v, workflow_name, long_texts)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        items = [_canonical(v, workflow_name, long_texts) for v in value]
        if items and all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in items):
            items.sort(key=lambda i: i["name"])
        return items
    if isinstance(value, str):
        return _rename(value, workflow_name)
    return value


def _rename(value: str, workflow_name: str) -> str:
    return value.replace(workflow_name, "{{workflow.name}}") if workflow_name else value


@functools.lru_cache(maxsize=64)
def _encoded(value: str, workflow_name: str) -> str:
    return json.dumps(_rename(value, workflow_name), ensure_ascii=False)


def source_key_digest(s3_key: str) -> str | None:
    """The content digest a ``dflowctl/sources/<sha256>.tgz`` key already names."""
    m = _SOURCE_KEY.search(s3_key)
    return f"sources:{m.group(1)}" if m else None


def path_digest(path: Path) -> str:
    """The content digest of a file or a folder tree (names, kinds, bytes, the
    executable bit, link targets); modification times do not count."""
    h = hashlib.sha256()
    _feed(h, path, "")
    return h.hexdigest()


def folder_digest(path: Path, run_name: str, known: Mapping[str, str] | None = None) -> str:
    """``path_digest`` of a fan-in folder (one entry per item) whose entries are named
    after the pods of run ``run_name``: those names differ from run to run, so such
    an entry counts by its content alone; other entries by name and content.
    ``known``: host path -> ``path_digest`` of entries already digested (a run's stored
    outputs, which do not change): those are not read again."""
    if not path.is_dir() or path.is_symlink() or not run_name:
        return path_digest(path)
    parts = []
    for entry in os.listdir(path):
        name = "" if entry.startswith(f"{run_name}-") else entry
        digest = known.get(os.path.join(path, entry)) if known else None
        parts.append(f"{name}\0{digest or path_digest(path / entry)}")
    return hashlib.sha256("\n".join(["fanin", *sorted(parts)]).encode()).hexdigest()


def _feed(h: Any, path: Path, rel: str) -> None:
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        h.update(f"L\0{rel}\0{os.readlink(path)}\0".encode())
    elif stat.S_ISDIR(st.st_mode):
        h.update(f"D\0{rel}\0".encode())
        for entry in sorted(os.listdir(path)):
            _feed(h, path / entry, f"{rel}/{entry}" if rel else entry)
    elif stat.S_ISREG(st.st_mode):
        x = "x" if st.st_mode & 0o111 else "-"
        h.update(f"F\0{rel}\0{x}\0{st.st_size}\0".encode())
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
    else:
        h.update(f"O\0{rel}\0".encode())


__all__ = [
    "CACHE_NAME",
    "HIDDEN_PREFIX",
    "INPUTS_PARAM",
    "KEY_PARAM",
    "NO_CACHE_ANNOTATION",
    "OUTPUTS_PARAM",
    "REUSED_PARAM",
    "STEP_KEY_PARAM",
    "folder_digest",
    "is_cacheable",
    "is_hidden",
    "is_provenance",
    "path_digest",
    "source_key_digest",
    "step_key",
]
