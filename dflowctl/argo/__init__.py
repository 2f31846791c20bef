"""Argo Workflows facts as code: node ids, pod names, phases, durations, times.

Each function mirrors one rule of Argo's controller so that the local engine
records runs exactly as Argo would (``Workflow.NodeID``, ``GeneratePodName``
with ``POD_NAMES=v2``, ``wfv1.NodePhase``, Go's ``time.ParseDuration``).
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone

__all__ = [
    "COMPLETED_LABEL",
    "FAILED_OR_ERROR",
    "FULFILLED",
    "PHASE_LABEL",
    "TEMPLATE_KINDS",
    "fnv32a",
    "node_id",
    "parse_duration",
    "parse_rfc3339",
    "pod_name",
    "rfc3339",
]

# the kinds of template, exactly one of which a template has (workflow/validate/validate.go)
TEMPLATE_KINDS = (
    "container",
    "script",
    "steps",
    "dag",
    "suspend",
    "resource",
    "containerSet",
    "data",
    "http",
    "plugin",
)

PHASE_LABEL = "workflows.argoproj.io/phase"
COMPLETED_LABEL = "workflows.argoproj.io/completed"

# Kubernetes resource names are at most 253 characters; Argo keeps room for "-<hash>".
_MAX_K8S_NAME = 253
_HASH_LENGTH = 10
_MAX_POD_PREFIX = _MAX_K8S_NAME - _HASH_LENGTH - 1  # 242

FAILED_OR_ERROR = frozenset({"Failed", "Error"})
# A node is "fulfilled" (will not change any more) in these phases.
FULFILLED = frozenset({"Succeeded", "Failed", "Error", "Skipped", "Omitted"})


def fnv32a(text: str) -> int:
    """The 32-bit FNV-1a hash of the UTF-8 bytes of ``text`` (Go's hash/fnv New32a)."""
    h = 0x811C9DC5
    for byte in text.encode("utf-8"):
        h ^= byte
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def node_id(wf_name: str, node_name: str) -> str:
    """Argo's ``Workflow.NodeID``: the workflow name for the root node, else ``<wf>-<fnv32a(name)>``."""
    if node_name == wf_name:
        return wf_name
    return f"{wf_name}-{fnv32a(node_name)}"


def pod_name(wf_name: str, template_name: str, node_name: str) -> str:
    """Argo's pod name (``POD_NAMES=v2``): ``<wf>-<template>-<fnv32a(node name)>``.

    The root node's pod is named like the workflow; the prefix is cut to 242
    characters so the whole name fits Kubernetes' 253.
    """
    if node_name == wf_name:
        return wf_name
    prefix = f"{wf_name}-{template_name}" if template_name else wf_name
    prefix = prefix[:_MAX_POD_PREFIX]
    return f"{prefix}-{fnv32a(node_name)}"


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_duration(value: str | int | float) -> float:
    """Seconds in an Argo duration: Go's ``time.ParseDuration`` ("90s", "1m30s", "1.5h").

    A bare number counts as seconds, as Argo does for ``activeDeadlineSeconds``,
    ``timeout`` and backoff ``duration``. Raises ``ValueError`` on anything else.
    """
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    if re.fullmatch(r"[-+]?\d+(\.\d+)?", text):
        return float(text)
    sign = 1.0
    if not text:
        raise ValueError(f"invalid duration {value!r}")
    if text[0] in "+-":
        sign = -1.0 if text[0] == "-" else 1.0
        text = text[1:]
    if text == "0":
        return 0.0
    pos = 0
    total = 0.0
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        if match is None:
            raise ValueError(f"invalid duration {value!r}")
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos == 0:
        raise ValueError(f"invalid duration {value!r}")
    return sign * total


def rfc3339(epoch: float | None = None) -> str:
    """A Kubernetes ``metav1.Time`` as JSON: UTC, whole seconds, ``Z`` suffix."""
    moment = time.time() if epoch is None else epoch
    return datetime.fromtimestamp(int(moment), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> float:
    """Seconds since the epoch of a time written by :func:`rfc3339`."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
