"""What every view of a run shares, without ``rich``: phase icons and styles, text
safe to print (``printable``, ``print_paths``), a node's one-line message, a workflow's name and phase."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from dflowctl.argo.phases import Phase
from dflowctl.tree import TreeNode

ICONS = {
    "Succeeded": "✔",
    "Failed": "✖",
    "Error": "⚠",
    "Running": "●",
    "Pending": "◷",
    "Skipped": "○",
    "Omitted": "○",
}
STYLES = {
    "Succeeded": "green",
    "Failed": "red",
    "Error": "red",
    "Running": "yellow",
    "Pending": "dim",
    "Skipped": "dim",
    "Omitted": "dim",
}


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def workflow_name(workflow: Mapping[str, Any]) -> str:
    return str((workflow.get("metadata") or {}).get("name") or "")


def workflow_phase(workflow: Mapping[str, Any]) -> str:
    return str((workflow.get("status") or {}).get("phase") or Phase.PENDING)


# a loop item's suffix in a node's display name: `(3)`, `(3:value)` (retry attempts too)
LOOP_ITEM = re.compile(r"\(\d+(:.*)?\)$")

# C0 and C1 control characters (ESC starts terminal escape sequences), DEL
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """``text`` safe to print on a terminal: control characters (escape sequences,
    bells, line breaks) shown as ``\\n``, ``\\x1b`` …, never sent raw. Values a run
    produced (outputs, messages) always pass through here."""
    return _CONTROL.sub(lambda m: _NAMED.get(m.group(), f"\\x{ord(m.group()):02x}"), text)


def print_paths(paths: Iterable[str]) -> None:
    """One line each (control characters shown escaped), in one write: a download of
    10,000 files prints 10,000 paths."""
    sys.stdout.write("".join(f"{printable(p)}\n" for p in paths))


def node_message(node: TreeNode | None) -> str:
    """A node's message on one line, printable."""
    return printable((node.message or "").replace("\r", " ").replace("\n", " ")) if node else ""
