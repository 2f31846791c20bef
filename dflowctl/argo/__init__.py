"""Argo Workflows facts as code: node ids, pod names, phases, durations, times.

Each function mirrors one rule of Argo's controller so that the local engine
records runs exactly as Argo would (``Workflow.NodeID``, ``GeneratePodName``
with ``POD_NAMES=v2``, ``wfv1.NodePhase``, Go's ``time.ParseDuration``).
"""

from __future__ import annotations

from dflowctl.argo.phases import (
    COMPLETED_LABEL,
    FAILED_OR_ERROR,
    FULFILLED,
    SUCCESSFUL,
    WORKFLOW_FINAL,
    Phase,
    is_finished,
    is_fulfilled,
)
from dflowctl.argo.times import (
    go_duration,
    is_go_duration,
    parse_duration,
    parse_rfc3339,
    parse_rfc3339_time,
    rfc3339,
)

__all__ = [
    "COMPLETED_LABEL",
    "FAILED_OR_ERROR",
    "FULFILLED",
    "PHASE_LABEL",
    "SUCCESSFUL",
    "TEMPLATE_KINDS",
    "WORKFLOW_FINAL",
    "Phase",
    "fnv32a",
    "go_duration",
    "is_finished",
    "is_fulfilled",
    "is_go_duration",
    "node_id",
    "parse_duration",
    "parse_rfc3339",
    "parse_rfc3339_time",
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

# Kubernetes resource names are at most 253 characters; Argo keeps room for "-<hash>".
_MAX_K8S_NAME = 253
_HASH_LENGTH = 10
_MAX_POD_PREFIX = _MAX_K8S_NAME - _HASH_LENGTH - 1  # 242


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
