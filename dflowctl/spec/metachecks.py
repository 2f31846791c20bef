"""Kubernetes' rules for what a spec puts in object metadata: the namespace
(a DNS-1123 label), label keys and values, annotation keys, node selectors.
Checked on the loaded document, where a key that is not a string (``1``,
``~``, ``[a, b]``) still has its position."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from dflowctl.errors import Diagnostic
from dflowctl.spec.load import YamlDocument
from dflowctl.spec.locate import PathItem

# k8s.io/apimachinery/pkg/util/validation
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = QUALIFIED_NAME
MAX_LABEL = 63
MAX_SUBDOMAIN = 253


def label_key_problem(key: str) -> str | None:
    """Why ``key`` is not a Kubernetes label/annotation key (``[prefix/]name``), or None."""
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > MAX_SUBDOMAIN or not DNS1123_SUBDOMAIN.match(prefix)):
        return "its prefix (before `/`) must be a DNS subdomain: lowercase letters, digits, `-` and `.`"
    if not name or len(name) > MAX_LABEL or not QUALIFIED_NAME.match(name):
        return (
            f"its name must be 1-{MAX_LABEL} letters, digits, `-`, `_` or `.`, "
            "starting and ending with a letter or digit"
        )
    return None


def label_value_problem(value: str) -> str | None:
    if value and (len(value) > MAX_LABEL or not LABEL_VALUE.match(value)):
        return (
            f"a label value is empty or 1-{MAX_LABEL} letters, digits, `-`, `_` or `.`, "
            "starting and ending with a letter or digit"
        )
    return None


def namespace_problem(name: str) -> str | None:
    if len(name) > MAX_LABEL or not DNS1123_LABEL.match(name):
        return (
            f"a namespace is 1-{MAX_LABEL} lowercase letters, digits and `-`, "
            "starting and ending with a letter or digit"
        )
    return None


def metadata_diagnostics(doc: YamlDocument) -> list[Diagnostic]:
    """Every metadata value Kubernetes would refuse, with its position."""
    data = doc.data
    meta = data.get("metadata")
    spec = data.get("spec")
    out: list[Diagnostic] = []

    def add(message: str, path: Sequence[PathItem], hint: str | None, *, key: bool) -> None:
        out.append(doc.diagnostic(message, doc.loc(path, key=key), hint))

    if isinstance(meta, Mapping):
        ns = meta.get("namespace")
        if isinstance(ns, str):
            problem = namespace_problem(ns)
            if problem:
                add(
                    f"namespace `{_show(ns)}` is not a Kubernetes namespace name",
                    ["metadata", "namespace"],
                    problem,
                    key=False,
                )
        _string_map(meta.get("labels"), ["metadata", "labels"], "label", add, values=True)
        _string_map(meta.get("annotations"), ["metadata", "annotations"], "annotation", add, values=False)
    if isinstance(spec, Mapping):
        _string_map(spec.get("node_selector"), ["spec", "node_selector"], "node_selector", add, values=True)
    return out


def _string_map(node: Any, path: list[PathItem], what: str, add: Any, *, values: bool) -> None:
    if not isinstance(node, Mapping):
        return
    for key, value in node.items():
        if not isinstance(key, str):
            add(
                f"{what} key `{_show(key)}` is not a string",
                [*path, key],
                f'quote it, e.g. "{_show(key)}": ...' if isinstance(key, (int, float, bool)) else None,
                key=True,
            )
            continue
        problem = label_key_problem(key)
        if problem:
            add(f"{what} key `{_show(key)}` is not a Kubernetes key", [*path, key], problem, key=True)
        if values and isinstance(value, str):
            problem = label_value_problem(value)
            if problem:
                add(
                    f"{what} `{_show(key)}` has a value Kubernetes refuses: `{_show(value)}`",
                    [*path, key],
                    problem,
                    key=False,
                )


def _show(value: Any) -> str:
    if value is None:
        return "~"
    text = value if isinstance(value, str) else str(list(value) if isinstance(value, tuple) else value)
    text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= 60 else text[:57] + "..."
