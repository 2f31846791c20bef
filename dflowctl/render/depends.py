"""A DAG task's ``depends``: the spec's expression plus every task its values,
``when`` and ``foreach`` refer to (``{{tasks.X…}}``), joined with ``&&``."""

from __future__ import annotations

import re

from dflowctl.render.scope import Scope, plain
from dflowctl.render.values import encode, tags
from dflowctl.spec import model

_TASK_REF = re.compile(r"\btasks\.([a-zA-Z0-9][-a-zA-Z0-9]*)")
_DEPENDS_NAME = re.compile(r"[a-zA-Z0-9][-a-zA-Z0-9]*")


def dag_depends(step: model.Step, scope: Scope) -> str | None:
    """The task's ``depends`` (None: it has none); the spec's own expression is
    parenthesised when it has ``||``."""
    texts: list[str] = [encode(plain(v)) for v in step.parameters.values()]
    texts.extend(step.artifacts.values())
    if step.when:
        texts.append(step.when)
    if step.foreach is not None:
        fe = step.foreach
        texts.extend(str(v) for v in (fe.param, fe.count, fe.start, fe.end) if v is not None)
    refs = {m.group(1) for t in texts for tag in tags(t) for m in _TASK_REF.finditer(tag)}
    refs = {r for r in refs if r in scope.steps and r != step.name}
    explicit = step.depends
    mentioned = set(_DEPENDS_NAME.findall(explicit or ""))
    missing = sorted((r for r in refs if r not in mentioned), key=scope.order.__getitem__)
    if not missing:
        return explicit
    if not explicit:
        return " && ".join(missing)
    left = f"({explicit})" if "||" in explicit else explicit
    return " && ".join([left, *missing])
