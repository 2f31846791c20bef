"""The Python chosen for a template's pods (``dflowctl.pyenv`` chooses it before the run):
how it runs a pod, and how the run records it.

The pod's program (``python3`` by name) becomes the interpreter's path, its
``bin`` folder leads the pod's ``PATH`` (the environment's own tools are found),
and the host folders it needs that a private view would hide (a venv under
``/tmp``) are bound into the view (``isolation.host_binds``). The run records
it as the hidden output parameter ``dflowctl-python`` of the Pod node and, for
a spec's ops, in the first line of the pod's log (an Argo Workflow file keeps
Argo's logs as they are); ``python.json`` in the run folder keeps the choices
for ``retry`` and detached runs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dflowctl.engines.local import images, isolation
from dflowctl.tree import PYTHON_OUTPUT as OUTPUT_PARAMETER

RECORD_FILE = "python.json"


@dataclass(frozen=True)
class Interpreter:
    """The Python that runs a template's pods."""

    python: str  # the interpreter's path (links kept: a venv's bin/python is one)
    version: str  # "3.11.7"
    how: str  # why it was chosen ("the active VIRTUAL_ENV", "--python", ...)
    folders: tuple[str, ...] = ()  # host folders it needs (prefixes, sys.path)
    header: bool = True  # the log's first line names it (a spec's ops; Argo files keep Argo's logs)

    def to_json(self) -> dict[str, Any]:
        return {
            "python": self.python,
            "version": self.version,
            "how": self.how,
            "folders": list(self.folders),
            "header": self.header,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Interpreter:
        folders = tuple(str(f) for f in data.get("folders") or ())
        header = bool(data.get("header", True))
        return cls(str(data["python"]), str(data["version"]), str(data["how"]), folders, header)

    def applies(self, argv: list[str]) -> bool:
        """Whether a pod's argv runs a Python by name (what the choice stands for)."""
        return bool(argv) and "/" not in argv[0] and images.is_python(argv[0])

    def apply(self, argv: list[str], env: dict[str, str]) -> list[str]:
        """``argv`` running this interpreter; ``env["PATH"]`` led by its ``bin`` folder."""
        folder = os.path.dirname(self.python)
        rest = [p for p in env.get("PATH", os.defpath).split(os.pathsep) if p and p != folder]
        env["PATH"] = os.pathsep.join([folder, *rest])
        return [self.python, *argv[1:]]

    def binds(self) -> list[str]:
        return isolation.host_binds([os.path.dirname(self.python), *self.folders])

    def log_header(self) -> str | None:
        if not self.header:
            return None
        return f"dflowctl: Python {self.version} at {self.python} (chosen by {self.how})\n"

    def output_parameter(self) -> dict[str, str]:
        return {
            "name": OUTPUT_PARAMETER,
            "value": self.python,
            "description": f"Python {self.version}, chosen by {self.how}",
        }


def save(run_dir: Path, choices: Mapping[str, Mapping[str, Any]]) -> None:
    """Keep a run's choices (template name → ``Interpreter.to_json()``) in its folder."""
    if choices:
        (run_dir / RECORD_FILE).write_text(json.dumps(dict(choices), indent=1), encoding="utf-8")


def load(run_dir: Path) -> dict[str, Interpreter]:
    """A run's choices (none recorded: {}; the template's program on PATH then)."""
    try:
        data = json.loads((run_dir / RECORD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    out = {}
    for name, item in data.items():
        try:
            out[str(name)] = Interpreter.from_json(item)
        except (KeyError, TypeError, AttributeError):
            continue
    return out
