"""Render a spec model to an Argo Workflow (``argoproj.io/v1alpha1``).

``render_workflow`` is deterministic: the same model (and the same local files
behind `source:` and local workflow artifacts) gives the same dict, key order
included. Conventions: docs/architecture.md, "Rendering conventions".
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dflowctl.errors import Diagnostic, SpecError
from dflowctl.render.sources import source_archive, source_key
from dflowctl.render.workflow import is_local, local_artifact_path, render_with_ops, upload_paths
from dflowctl.spec import model

__all__ = ["render_workflow", "render_workflow_ops", "source_archive", "source_key", "upload_paths"]


def render_workflow(wf: model.Workflow, sources: Mapping[Path, str] | None = None) -> dict[str, Any]:
    """The Argo Workflow dict for ``wf``.

    ``sources`` maps each path of ``upload_paths(wf)`` (op `source:` dirs, local
    workflow artifacts) to its repository key; paths it lacks are archived here
    to compute their content-addressed key (``source_key``).
    """
    return render_workflow_ops(wf, sources)[0]


def render_workflow_ops(
    wf: model.Workflow, sources: Mapping[Path, str] | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """``render_workflow``, and which op each leaf template runs (template name → op name):
    what the local engine needs to apply an op's `local:` to all its templates."""
    keys = dict(sources or {})
    missing = [p for p in upload_paths(wf) if p not in keys]
    if missing:
        _check_exist(wf, missing)
        keys.update({p: source_key(p) for p in missing if p.exists()})
    return render_with_ops(wf, keys)


def _check_exist(wf: model.Workflow, paths: list[Path]) -> None:
    diags = []
    for op in wf.ops.values():
        if op.source is not None and op.source in paths and not op.source.is_dir():
            diags.append(Diagnostic(f"op '{op.name}': source directory {op.source} does not exist", op.loc))
    for art in wf.artifacts:
        if is_local(art.source):
            path = local_artifact_path(wf, art)
            if path in paths and not path.exists() and not art.optional:
                diags.append(Diagnostic(f"workflow artifact '{art.name}': {path} does not exist", art.loc))
    if diags:
        raise SpecError(diags)
