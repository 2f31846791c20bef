"""Render a spec model to an Argo Workflow (``argoproj.io/v1alpha1``).

``render_workflow`` is pure and deterministic: the same model and the same
``sources`` keys give the same dict, key order included. Packing the local files
behind `source:` and local workflow artifacts is the caller's (``dflowctl.uploads``).
Conventions: docs/architecture.md, "Rendering conventions".
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dflowctl.render.workflow import render_with_ops, upload_paths
from dflowctl.spec import model

__all__ = ["render_workflow", "render_workflow_ops", "upload_paths"]


def render_workflow(wf: model.Workflow, sources: Mapping[Path, str] | None = None) -> dict[str, Any]:
    """The Argo Workflow dict for ``wf``: pure (no file is read, nothing is archived).

    ``sources`` maps each path of ``upload_paths(wf)`` (op `source:` dirs, local
    workflow artifacts) to its repository key (``dflowctl.uploads.source_keys``);
    an optional local artifact without a key is absent, an op `source:` without
    one is a ``ValueError`` (the caller forgot to pack it).
    """
    return render_workflow_ops(wf, sources)[0]


def render_workflow_ops(
    wf: model.Workflow, sources: Mapping[Path, str] | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """``render_workflow``, and which op each leaf template runs (template name → op name):
    what the local engine needs to apply an op's `local:` to all its templates."""
    return render_with_ops(wf, dict(sources or {}))
