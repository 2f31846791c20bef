"""Finding runs: ``@latest`` for a run's name, and the list filters of ``status``/``list``.

Pure over what the engine lists; the commands call ``resolve`` before anything
else that takes a run's name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from dflowctl.engines import Engine, Workflow
from dflowctl.errors import NotFoundError, UsageError

LATEST = "@latest"
_SINCE = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def started(workflow: Mapping[str, Any]) -> str:
    meta = workflow.get("metadata") or {}
    status = workflow.get("status") or {}
    return str(meta.get("creationTimestamp") or status.get("startedAt") or "")


def newest_first(runs: Sequence[Workflow]) -> list[Workflow]:
    return sorted(runs, key=started, reverse=True)


def resolve(engine: Engine, name: str) -> str:
    """``name`` itself, or for ``@latest`` the name of the run started last."""
    if name != LATEST:
        return name
    runs = newest_first(engine.list_runs())
    if not runs:
        raise NotFoundError("there are no runs yet, so no @latest", hint="start one: dflowctl run SPEC")
    return str((runs[0].get("metadata") or {}).get("name") or "")


def parse_since(text: str) -> timedelta:
    """``30s``, ``10m``, ``2h``, ``1d``, ``1w``."""
    m = _SINCE.match(text.strip())
    if not m:
        raise UsageError(f"invalid duration {text!r}", hint="use a number and a unit: 30s, 10m, 2h, 1d, 1w")
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


def parse_labels(pairs: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for pair in pairs:
        for part in pair.split(","):
            key, sep, value = part.partition("=")
            if not sep or not key.strip():
                raise UsageError(f"invalid label {part!r}", hint="use key=value")
            found[key.strip()] = value.strip()
    return found


def filter_runs(
    runs: Sequence[Workflow],
    *,
    phases: Sequence[str] = (),
    labels: Mapping[str, str] | None = None,
    since: timedelta | None = None,
    now: datetime | None = None,
) -> list[Workflow]:
    """Runs in one of ``phases`` (any case), carrying every label, started within ``since``."""
    from dflowctl.tree import parse_time

    wanted = {p.lower() for p in phases}
    cutoff = (now or datetime.now(timezone.utc)) - since if since is not None else None
    kept: list[Workflow] = []
    for wf in runs:
        phase = str((wf.get("status") or {}).get("phase") or "Pending")
        if wanted and phase.lower() not in wanted:
            continue
        have = (wf.get("metadata") or {}).get("labels") or {}
        if labels and any(str(have.get(k)) != v for k, v in labels.items()):
            continue
        if cutoff is not None:
            when = parse_time(started(wf))
            if when is None or when < cutoff:
                continue
        kept.append(wf)
    return kept


def nodes_within(workflow: Mapping[str, Any], window: timedelta, now: datetime | None = None) -> set[str]:
    """Ids of the nodes that were running at some time within ``window`` before ``now``."""
    from dflowctl.tree import parse_time

    cutoff = (now or datetime.now(timezone.utc)) - window
    found: set[str] = set()
    for nid, raw in ((workflow.get("status") or {}).get("nodes") or {}).items():
        if not raw.get("startedAt"):
            continue
        finished = parse_time(raw.get("finishedAt"))
        if finished is None or finished >= cutoff:
            found.add(str(nid))
    return found
