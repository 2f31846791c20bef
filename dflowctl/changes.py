"""What changed on disk since a run: its ops, rendered again from the spec it came from.

``retry`` re-runs a run's stored templates (Argo's retry). When the spec or an
op's ``source:`` folder has been edited since, the fixed code is not what
runs; ``changed_ops`` names the ops whose template now renders differently, so
the user can be pointed at ``run SPEC --reuse NAME``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dflowctl.errors import DflowctlError

ORIGIN_FILE = "origin.json"  # in a local run's folder: {"spec": absolute path of the spec file}


def changed_ops(spec: Path, stored: Mapping[str, Any]) -> list[str]:
    """Names of the stored run's templates that the spec renders differently today
    (edited op code, script, image, env, ``source:`` folder), in template order; []
    when the spec can no longer be read or rendered (nothing sure to say)."""
    from dflowctl.actions import prepared_manifest

    args = ((stored.get("spec") or {}).get("arguments") or {}).get("parameters") or []
    overrides = [f"{p['name']}={p['value']}" for p in args if "value" in p]
    try:
        with prepared_manifest(spec, overrides, None, "local") as prepared:
            fresh = {t.get("name"): t for t in prepared.manifest["spec"].get("templates") or []}
    except (DflowctlError, OSError, KeyError, TypeError):
        return []
    out = []
    for tmpl in (stored.get("spec") or {}).get("templates") or []:
        name = tmpl.get("name")
        if "container" not in tmpl and "script" not in tmpl:
            continue
        now = fresh.get(name)
        if now is None or _canon(now) != _canon(tmpl):
            out.append(str(name))
    # variants (`<op>-<step>`, `<op>-fanin`) go with their op
    return [n for n in out if not any(n.startswith(f"{o}-") for o in out if o != n)]


def _canon(tmpl: Mapping[str, Any]) -> str:
    return json.dumps(tmpl, sort_keys=True, default=str)


def read_origin(run_dir: Path) -> Path | None:
    """The spec file a local run was made from, when it was recorded and still exists."""
    try:
        data = json.loads((run_dir / ORIGIN_FILE).read_text(encoding="utf-8"))
        path = Path(str(data["spec"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return path if path.is_file() else None


__all__ = ["ORIGIN_FILE", "changed_ops", "read_origin"]
