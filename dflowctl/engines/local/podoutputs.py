"""Output collection: a pod's declared output parameters and artifacts, read after it ran.

Parameters are read from their ``valueFrom.path`` (``valueFrom.default`` when the
file is missing); artifacts are handed out by ``podfs.take``. Problems are
reported with the messages of Argo's executor (``/var/run/argo/outputs/...``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dflowctl.engines.local.podfs import locate, norm, take
from dflowctl.engines.local.podplan import PodPlan
from dflowctl.engines.local.scope import param_string

ARGO_OUT = "/var/run/argo/outputs"  # where Argo's executor looks for outputs (shown in its messages)


def collect_outputs(
    template: Mapping[str, Any], plan: PodPlan, *, strict: bool
) -> tuple[dict[str, str], dict[str, Path], str | None]:
    outputs = template.get("outputs") or {}
    params: dict[str, str] = {}
    arts: dict[str, Path] = {}
    problem: str | None = None
    for p in outputs.get("parameters") or []:
        vf = p.get("valueFrom") or {}
        path = vf.get("path")
        if not path:
            continue
        try:
            located = locate(plan, path)
        except OSError as exc:  # RefusedPath, or a mounted input it could not copy (podfs)
            problem = problem or f"output parameter {p['name']!r}: {exc}"
            continue
        found = located[0] if located is not None else None
        value: str | None = None
        default = vf.get("default")
        if found is not None and found.is_file():
            value = found.read_bytes().decode("utf-8", "replace")
        elif found is not None and found.is_dir() and default is None:
            problem = problem or f"read {ARGO_OUT}/parameters{norm(path)}: is a directory"
        if value is None and default is not None:  # as Argo's executor: any failed read
            value = param_string(default)
        if value is None:
            if found is None:
                problem = (
                    problem or f"open /var/run/argo/outputs/parameters{norm(path)}: no such file or directory"
                )
            continue
        params[p["name"]] = value[:-1] if value.endswith("\n") else value
    taken: list[Path] = []
    for a in outputs.get("artifacts") or []:
        path = a.get("path")
        if not path:
            continue
        try:
            located = locate(plan, path)
        except OSError as exc:  # RefusedPath, or a mounted input it could not copy (podfs)
            problem = problem or f"output artifact {a['name']!r}: {exc}"
            continue
        if located is not None:
            try:
                found = take(plan, a["name"], *located, taken)
            except OSError as exc:
                problem = problem or f"failed to save outputs: {path}: {exc.strerror or exc}"
                continue
            taken.append(found)
            arts[a["name"]] = found
        elif not a.get("optional"):
            problem = (
                problem or f"open /var/run/argo/outputs/artifacts{norm(path)}.tgz: no such file or directory"
            )
    return params, arts, problem if strict else None
