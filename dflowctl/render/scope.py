"""Where a body is rendered (``Scope``: steps or dag, its steps, its fan-in root),
unique template names (``Namer``), and what the workflow's ops need before any body is
rendered: which take a step key, which carry the ``dflowctl-scope`` parameter."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from dflowctl.spec import model

SCOPE_PARAM = "dflowctl-scope"
FANIN_ROOT = "{{workflow.name}}/dflowctl/fanin"
SCOPE_TAG = f"{{{{inputs.parameters.{SCOPE_PARAM}}}}}"


def plain(value: Any) -> Any:
    """Model values (tuples, mappings) as plain JSON-able lists and dicts."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


@dataclass(frozen=True)
class Scope:
    """Where a body is rendered: steps or dag, its steps by name, and whether the
    template carries the ``dflowctl-scope`` parameter (composite ops that fan in)."""

    kind: str  # "steps" | "dag"
    steps: Mapping[str, model.Step]
    scoped: bool
    top: bool
    template: str

    @cached_property
    def order(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.steps)}

    @property
    def fanin_root(self) -> str:
        return f"{FANIN_ROOT}/{SCOPE_TAG}" if self.scoped else FANIN_ROOT


class Namer:
    """Unique template names (Argo: ``^[a-zA-Z0-9][-a-zA-Z0-9]*$``, at most 128)."""

    def __init__(self, taken: set[str]) -> None:
        self.taken = set(taken)

    def fresh(self, base: str) -> str:
        base = base[:120].rstrip("-") or "t"
        name, n = base, 1
        while name in self.taken:
            n += 1
            name = f"{base}-{n}"
        self.taken.add(name)
        return name


def keyed_ops(wf: model.Workflow) -> set[str]:
    """Ops some step runs with a `key:` (their templates take ``dflowctl-step-key``)."""
    bodies = [wf.steps or (), *(op.steps or () for op in wf.ops.values())]
    steps = [s for groups in bodies for group in groups for s in group]
    steps += [s for dag in (wf.dag, *(op.dag for op in wf.ops.values())) for s in dag or ()]
    return {s.op for s in steps if s.key is not None}


def needs_scope(wf: model.Workflow) -> set[str]:
    """Composite ops that (directly or through other composites) fan in artifacts."""

    def uses(op: model.Op) -> list[model.Step]:
        if op.steps is not None:
            return [s for group in op.steps for s in group]
        return list(op.dag or ())

    result: set[str] = set()
    changed = True
    while changed:
        changed = False
        for op in wf.ops.values():
            if not op.composite or op.name in result:
                continue
            for step in uses(op):
                inner = wf.ops.get(step.op)
                if inner is None:
                    continue
                fans_in = step.foreach is not None and not inner.composite and bool(inner.outputs_artifacts)
                if fans_in or inner.name in result:
                    result.add(op.name)
                    changed = True
                    break
    return result
