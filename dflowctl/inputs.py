"""What ``validate``, ``render`` and ``run`` are given: a dflowctl spec or a plain
Argo Workflow file. Decided once, here, from the parsed document; the file is
read and parsed once (through ``spec.load``, with every bound of ``spec.limits``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dflowctl.errors import SpecError
from dflowctl.spec.load import YamlDocument, load_yaml


@dataclass(frozen=True)
class Input:
    """A loaded input file: ``argo`` when it is an Argo object (``apiVersion: argoproj.io/...``)."""

    doc: YamlDocument
    argo: bool


def load_input(path: Path) -> Input:
    """Load ``path`` once and say what it is. A file of several YAML documents is an
    Argo file when one of them is an Argo object (its ``kind: Workflow`` document is
    taken); otherwise the loader's error stands."""
    from dflowctl.argofile import looks_like_argo_workflow

    try:
        doc = load_yaml(path)
    except SpecError as err:
        if not err.diagnostics or "YAML documents" not in err.diagnostics[0].message:
            raise
        from dflowctl.argofile import workflow_of_many

        return Input(workflow_of_many(Path(path), err), argo=True)
    return Input(doc, argo=looks_like_argo_workflow(doc.data))
