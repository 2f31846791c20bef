"""Argo's template tags and expressions, for the local engine.

- :func:`substitute` — ``{{tag}}`` from a flat scope and ``{{=expr}}`` (expr-lang).
- :func:`evaluate_when` — a step's ``when`` after substitution (govaluate rules).
- :func:`evaluate_expr` — an expr-lang expression against a nested environment.
- :func:`evaluate_depends` / :func:`depends_tasks` / :func:`dependencies_to_depends`
  — Argo's enhanced ``depends`` logic for DAG tasks.
- :func:`evaluate_retry_expression` — ``retryStrategy.expression``.
- :func:`substitute_tree` — :func:`substitute` over a JSON-like tree (keys too).
- :func:`item_scope` / :func:`loop_node_name` — a loop item's ``{{item…}}`` tags
  and its node name ``<name>(<i>:<label>)``.

Never ``eval``: everything is parsed and interpreted here.
"""

from __future__ import annotations

from dflowctl.expr.depends import TaskResult, dependencies_to_depends, depends_tasks, evaluate_depends
from dflowctl.expr.govaluate import evaluate_when
from dflowctl.expr.items import item_label, item_scope, loop_node_name
from dflowctl.expr.template import (
    build_env,
    evaluate_expr,
    evaluate_retry_expression,
    find_tags,
    substitute,
    substitute_tree,
)
from dflowctl.expr.values import ABSENT, Absent, ExprError, go_json, go_sprint, render_value

__all__ = [
    "ABSENT",
    "Absent",
    "ExprError",
    "TaskResult",
    "build_env",
    "dependencies_to_depends",
    "depends_tasks",
    "evaluate_depends",
    "evaluate_expr",
    "evaluate_retry_expression",
    "evaluate_when",
    "find_tags",
    "go_json",
    "go_sprint",
    "item_label",
    "item_scope",
    "loop_node_name",
    "render_value",
    "substitute",
    "substitute_tree",
]
