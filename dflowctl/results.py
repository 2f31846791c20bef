"""A run's output parameters as rows: one per step, one per item of a fan-out.

Read from the Workflow object's ``status`` (both engines record it in Argo's
shape); pure, no I/O. A row of a loop item carries the item's index and value
(from the node's display name, ``square(3:3)`` → 3, ``"3"``). ``decode`` turns
a wire value back into the Python value its op declared (parameters are strings
on the wire: a ``str`` as is, anything else JSON).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dflowctl.itemgroups import group_indices, shown_item
from dflowctl.stepkey import is_hidden
from dflowctl.tree import GROUP_TYPES, TreeNode, build_tree, walk_paths

LOOP_ITEM = re.compile(r"^(?P<base>.*?)\((?P<index>\d+)(?::(?P<item>.*))?\)$", re.DOTALL)
# the op's interface the renderer embeds in a Python op's bootstrap (render/bootstrap.py)
_CONFIG_LINE = re.compile(r'^\s*CONFIG: dict\[str, Any\] = json\.loads\((".*")\)\s*$', re.MULTILINE)


@dataclass(frozen=True)
class OutputRow:
    """The output parameters of one step, or of one item of a fan-out step."""

    step: str  # the step's path ("inner/square"), items folded under their step's name
    index: int | None  # the item's index in its fan-out, None for a plain step
    item: str | None  # the item's value as Argo names it, None for a plain step
    node_id: str
    phase: str
    values: dict[str, str] = field(default_factory=dict)  # output name → wire value
    template: str | None = None


def split_item(display_name: str) -> tuple[str, int | None, str | None]:
    """``square(3:3)`` → (``square``, 3, ``"3"``); a name without a loop suffix → (name, None, None)."""
    m = LOOP_ITEM.match(display_name)
    if not m:
        return display_name, None, None
    item = m.group("item")
    return m.group("base"), int(m.group("index")), None if item is None else shown_item(item)


def _parameters(node: TreeNode) -> dict[str, str]:
    params = (node.outputs or {}).get("parameters") or []
    return {
        str(p.get("name")): str(p.get("value", ""))
        for p in params
        if isinstance(p, Mapping) and not is_hidden(p.get("name"))
    }


def output_rows(workflow: Mapping[str, Any], step: str | None = None) -> list[OutputRow]:
    """Rows of every step (work node, or group with outputs) that has output parameters.

    A retry attempt stands for its step only when the step (the Retry node) has no
    outputs of its own. ``step`` keeps the rows of that step (its name, or path),
    all of its items included.
    """
    root = build_tree(workflow)
    if root is None:
        return []
    rows: list[OutputRow] = []
    folded_paths = {n.id: p for p, n in walk_paths(root, lambda n: split_item(n.display_name)[0])}
    for path, node in walk_paths(root):
        values = _parameters(node)
        if not values or is_hidden(node.display_name):  # a slices step's own pods
            continue
        if node.is_leaf_kind and _is_attempt(node, root):
            continue
        if not node.is_leaf_kind and _wraps_loop(node):  # its items have the rows
            continue
        _base, index, item = split_item(node.display_name)
        folded = folded_paths.get(node.id, path)
        head, _, last = folded.rpartition("/")
        if index is not None and head.rpartition("/")[2] == last:
            folded = head  # the loop inside a wrapper step of its name (parallelism, slices)
        if step is not None and step not in (folded, folded.rpartition("/")[2], path, node.display_name):
            continue
        indices = group_indices(node.outputs) if node.is_leaf_kind else None
        if indices is not None:  # a group pod (foreach.group): a row per item it ran
            rows.extend(_group_rows(folded, node, values, indices))
            continue
        rows.append(OutputRow(folded, index, item, node.id, node.phase, values, node.template))
    # steps in the order they ran; a fan-out's items by their index, not by when each started
    first: dict[str, int] = {}
    for i, row in enumerate(rows):
        first.setdefault(row.step, i)
    return sorted(rows, key=lambda r: (first[r.step], -1 if r.index is None else r.index))


def _group_rows(step: str, node: TreeNode, values: dict[str, str], indices: list[int]) -> list[OutputRow]:
    """A group pod's outputs (one JSON list per output, in ``indices`` order) as its items' rows."""
    lists: dict[str, list[Any]] = {}
    for name, text in values.items():
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        lists[name] = (
            value if isinstance(value, list) and len(value) == len(indices) else [text] * len(indices)
        )
    rows = []
    for k, i in enumerate(indices):
        own = {n: v[k] if isinstance(v[k], str) else json.dumps(v[k]) for n, v in lists.items()}
        rows.append(OutputRow(step, i, str(i), node.id, node.phase, own, node.template))
    return rows


def _wraps_loop(node: TreeNode) -> bool:
    """A wrapper step (parallelism, slices) whose loop inside has its name."""
    if node.type not in ("Steps", "DAG"):
        return False
    for _, n in node.walk():
        base, _, item = split_item(n.display_name)
        if n is not node and base == node.display_name and (item is not None or n.type in GROUP_TYPES):
            return True
    return False


def _is_attempt(node: TreeNode, root: TreeNode) -> bool:
    """A retry attempt (``step(1)`` under a Retry node that has the outputs itself)."""
    for _, parent in root.walk():
        if parent.type == "Retry" and any(c is node for c in parent.children):
            return bool(_parameters(parent))
    return False


def step_names(rows: list[OutputRow]) -> list[str]:
    return list(dict.fromkeys(r.step for r in rows))


def columns(rows: list[OutputRow]) -> list[str]:
    """Every output name, in the order first seen."""
    names: dict[str, None] = {}
    for row in rows:
        for name in row.values:
            names.setdefault(name, None)
    return list(names)


# ---------------------------------------------------------------- decoding


def declared_types(workflow: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Per template, the declared type of each output parameter, where the manifest says
    it: a Python op's bootstrap carries its interface (``CONFIG``) as JSON."""
    found: dict[str, dict[str, str]] = {}
    for tmpl in (workflow.get("spec") or {}).get("templates") or []:
        if not isinstance(tmpl, Mapping):
            continue
        source = str((tmpl.get("script") or {}).get("source") or "")
        m = _CONFIG_LINE.search(source) if "CONFIG: dict[str, Any]" in source else None
        if not m:
            continue
        try:
            config = json.loads(json.loads(m.group(1)))
            params = config["outputs"]["parameters"]
        except (ValueError, KeyError, TypeError):
            continue
        if isinstance(params, Mapping):
            found[str(tmpl.get("name"))] = {str(k): str(v) for k, v in params.items()}
    return found


def decode(text: str, declared: str | None = None) -> Any:
    """A wire value as a Python value: by the declared type when known (``str`` stays
    text), else JSON when it parses to something other than a string, else the text."""
    if declared == "str":
        return text
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if declared in (None, "any") and isinstance(value, str):
        return text
    if declared == "int" and isinstance(value, float) and value.is_integer():
        return int(value)
    if declared == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def decoded_values(row: OutputRow, types: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    own = types.get(row.template or "", {})
    if not own and row.template:  # variant templates (``<op>-fanin``, ``<op>-<step>``) share the op's
        for name, declared in types.items():
            if row.template.startswith(f"{name}-"):
                own = declared
                break
    return {name: decode(value, own.get(name)) for name, value in row.values.items()}


def as_records(workflow: Mapping[str, Any], rows: list[OutputRow]) -> list[dict[str, Any]]:
    """Rows as plain dicts (``step``, ``index``, ``item``, ``phase``, ``outputs``), values decoded."""
    types = declared_types(workflow)
    return [
        {
            "step": r.step,
            "index": r.index,
            "item": r.item,
            "phase": r.phase,
            "outputs": decoded_values(r, types),
        }
        for r in rows
    ]
