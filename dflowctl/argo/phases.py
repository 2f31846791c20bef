"""Argo's node and workflow phases (``wfv1.NodePhase``, ``wfv1.WorkflowPhase``) as one enum.

``Phase`` is a ``str`` enum: a member *is* its text, so records, JSON and
comparisons with plain strings stay exactly as Argo writes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any


class Phase(str, Enum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    SKIPPED = "Skipped"
    FAILED = "Failed"
    ERROR = "Error"
    OMITTED = "Omitted"

    def __str__(self) -> str:  # "Succeeded", not "Phase.SUCCEEDED", in f-strings and str()
        return str(self.value)


# A node is "fulfilled" (will not change any more) in these phases.
FULFILLED: frozenset[str] = frozenset(
    {Phase.SUCCEEDED, Phase.FAILED, Phase.ERROR, Phase.SKIPPED, Phase.OMITTED}
)
FAILED_OR_ERROR: frozenset[str] = frozenset({Phase.FAILED, Phase.ERROR})
# the phases a whole workflow ends in
WORKFLOW_FINAL: frozenset[str] = frozenset({Phase.SUCCEEDED, Phase.FAILED, Phase.ERROR})
# a node that did what it was asked (a skipped step counts: its group goes on)
SUCCESSFUL: frozenset[str] = frozenset({Phase.SUCCEEDED, Phase.SKIPPED})

COMPLETED_LABEL = "workflows.argoproj.io/completed"


def is_fulfilled(phase: object) -> bool:
    """A node in this phase will not change any more."""
    return phase in FULFILLED


def is_finished(workflow: Mapping[str, Any]) -> bool:
    """A workflow object that has ended: ``finishedAt`` set, a final phase, or Argo's
    ``completed`` label (the one rule for both engines and the CLI)."""
    status = workflow.get("status") or {}
    labels = (workflow.get("metadata") or {}).get("labels") or {}
    return (
        bool(status.get("finishedAt"))
        or status.get("phase") in WORKFLOW_FINAL
        or labels.get(COMPLETED_LABEL) == "true"
    )
