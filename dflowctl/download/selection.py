"""Which output artifacts a download (or a report's previews) takes, from the Workflow
object's ``status``: every work node's, or those of ``--step`` (``STEP[N]``: a loop item
by index; a group pod's items), narrowed to ``--artifact``. The step tree is built once
per call (or given by the caller who built it already)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from dflowctl.download.places import LOOP_ITEM, LOOP_SUFFIX, safe_part
from dflowctl.errors import NotFoundError, UsageError
from dflowctl.itemgroups import (
    SLICES_ARTIFACT,
    group_indices,
    holds_item,
    is_group,
    item_artifacts,
)
from dflowctl.tree import TreeNode, build_tree, child_paths, walk_paths

ITEM_SELECTOR = re.compile(r"^(?P<step>.+)\[(?P<index>\d+)\]$")
# Argo's archived logs, a slices step's folder laid out by item: only when asked by name
SKIP_BY_DEFAULT = frozenset({"main-logs", SLICES_ARTIFACT})


@dataclass(frozen=True)
class Selected:
    node_id: str
    step: str  # the step's path of display names, e.g. "inner/square(3:3)"
    artifact: Mapping[str, Any]

    @property
    def name(self) -> str:
        return str(self.artifact.get("name"))


def _artifacts(node: TreeNode) -> list[Mapping[str, Any]]:
    return [
        a for a in (node.outputs or {}).get("artifacts") or [] if isinstance(a, Mapping) and a.get("name")
    ]


def _reused(node: TreeNode) -> bool:
    """A step an Argo run took from an earlier one (rendered without a pod: a Steps node)."""
    from dflowctl.stepkey import REUSED_PARAM

    return any(p.get("name") == REUSED_PARAM for p in (node.outputs or {}).get("parameters") or [])


def _has_location(artifact: Mapping[str, Any]) -> bool:
    return any(isinstance(v, Mapping) for k, v in artifact.items() if k not in ("archive", "artifactGC"))


def with_item(step: str | None, item: int | None) -> str | None:
    """``--step S --item N`` as the one selector ``S[N]``."""
    if item is None:
        return step
    if step is None:
        raise UsageError("--item needs --step", hint="e.g. --step square --item 3, or --step 'square[3]'")
    if item < 0:
        raise UsageError(f"--item must be 0 or more, got {item}")
    return f"{step}[{item}]"


def matches_step(node: TreeNode, step: str) -> bool:
    """``step`` names this node: its display name or name, or the step it is a loop
    item or retry attempt of (``square`` names ``square(3:3)``); ``square[3]`` names
    the item of index 3 only."""
    if step in (node.display_name, node.name):
        return True
    selector = ITEM_SELECTOR.match(step)
    if selector:
        item = LOOP_ITEM.match(node.display_name)
        if not item or item.group("base") != selector.group("step"):
            return False
        index = int(selector.group("index"))
        if is_group(item.group("value")):  # a group pod: item N is one of its items
            return holds_item(item.group("value"), index)
        return int(item.group("index")) == index
    m = LOOP_SUFFIX.match(node.display_name)
    return bool(m and m.group("base") == step)


def _children(node: TreeNode, path: str) -> list[tuple[str, TreeNode]]:
    return child_paths(node, path, lambda n: safe_part(n.display_name))


def _paths(root: TreeNode) -> Iterator[tuple[str, TreeNode]]:
    return walk_paths(root, lambda n: safe_part(n.display_name))


def _work_artifacts(path: str, node: TreeNode) -> list[Selected]:
    """The artifacts a node produced: its own (a Pod, or a Retry node that carries its
    successful attempt's), else those of the work nodes under it."""
    own = _artifacts(node)
    if own and (node.is_leaf_kind or node.type == "Retry" or _reused(node)):
        indices = group_indices(node.outputs)
        if indices is not None:  # a group pod: one entry per item it ran
            return [
                Selected(node.id, p, art)
                for a in own
                for p, art in (
                    item_artifacts(path, a, indices) if a.get("name") != SLICES_ARTIFACT else [(path, a)]
                )
            ]
        return [Selected(node.id, path, a) for a in own]
    found: list[Selected] = []
    for child_path, child in _children(node, path):
        found.extend(_work_artifacts(child_path, child))
    return found


def step_names(root: TreeNode) -> list[str]:
    names: set[str] = set()
    for _, node in root.walk():
        if node is root:
            continue
        names.add(node.display_name)
        m = LOOP_SUFFIX.match(node.display_name)
        if m:
            names.add(m.group("base"))
    return sorted(names)


def did_you_mean(word: str, choices: list[str]) -> str | None:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    return f"did you mean {close[0]!r}?" if close else None


def _run_name(workflow: Mapping[str, Any]) -> str:
    return str((workflow.get("metadata") or {}).get("name") or "")


def find_steps(
    workflow: Mapping[str, Any], step: str, root: TreeNode | None = None
) -> list[tuple[str, TreeNode]]:
    """The nodes ``step`` names (outermost matches only), with their paths; ``root``:
    the run's tree when the caller has built it.

    ``NotFoundError`` (with a did-you-mean hint) when none does.
    """
    root = root if root is not None else build_tree(workflow)
    run = _run_name(workflow)
    if root is None:
        raise NotFoundError(f"run {run!r} has no steps yet")
    found: list[tuple[str, TreeNode]] = []
    inside: list[str] = []
    for path, node in _paths(root):
        if any(path.startswith(p + "/") or path.startswith(p + "(") for p in inside):
            continue
        if matches_step(node, step) or path == step:
            found.append((path, node))
            inside.append(path)
    if not found:
        names = step_names(root)
        hint = did_you_mean(step, names) or ("steps: " + ", ".join(names[:15]) if names else None)
        raise NotFoundError(f"run {run!r} has no step {step!r}", hint=hint)
    return found


def _grouped_item(workflow: Mapping[str, Any], step: str, root: TreeNode) -> list[Selected] | None:
    """``STEP[N]`` of a grouped step: item N among its group pods' items (None: not grouped)."""
    selector = ITEM_SELECTOR.match(step)
    if selector is None:
        return None
    try:
        found = find_steps(workflow, selector.group("step"), root)
    except NotFoundError:
        return None
    nodes = [n for _, node in found for _, n in node.walk()]
    if not any(n.is_leaf_kind and group_indices(n.outputs) is not None for n in nodes):
        return None
    index = int(selector.group("index"))
    items = [s for path, node in found for s in _work_artifacts(path, node)]
    chosen = [
        s for s in items if (m := LOOP_ITEM.match(s.step.rpartition("/")[2])) and int(m["index"]) == index
    ]
    if not chosen:
        raise NotFoundError(f"run {_run_name(workflow)!r} has no step {step!r}")
    return chosen


def select(
    workflow: Mapping[str, Any],
    step: str | None = None,
    artifact: str | None = None,
    *,
    root: TreeNode | None = None,
) -> list[Selected]:
    """The output artifacts to download: all work nodes' (``main-logs`` only when named),
    or those of ``step``, narrowed to ``artifact``; ``root``: the run's tree when the
    caller has built it (a report: one tree for the page and its previews)."""
    run = _run_name(workflow)
    root = root if root is not None else build_tree(workflow)
    if root is None:
        raise NotFoundError(f"run {run!r} has no steps yet")
    if step is not None:
        candidates = _grouped_item(workflow, step, root)
        if candidates is None:
            found = find_steps(workflow, step, root)
            candidates = [s for path, node in found for s in _work_artifacts(path, node)]
    else:
        candidates = [s for path, node in _children(root, "") for s in _work_artifacts(path, node)]
    candidates = [c for c in candidates if _has_location(c.artifact)]
    where = f"step {step!r} of run {run!r}" if step else f"run {run!r}"
    if artifact is not None:
        chosen = [c for c in candidates if c.name == artifact]
        if not chosen:
            names = sorted({c.name for c in candidates})
            hint = did_you_mean(artifact, names) or ("artifacts: " + ", ".join(names) if names else None)
            raise NotFoundError(f"{where} has no output artifact {artifact!r}", hint=hint)
        return chosen
    chosen = [c for c in candidates if c.name not in SKIP_BY_DEFAULT]
    if not chosen:
        raise NotFoundError(f"{where} has no output artifacts")
    return chosen
