"""Objects for machines (``-o json``, ``-o yaml``): a Workflow object, or a list of
them, as text on stdout. Without ``rich``: ``status NAME -o json`` of a big run imports
no more than it needs."""

from __future__ import annotations

import json
import sys
from typing import Any


def print_object(obj: Any, fmt: str) -> None:
    """A Workflow object (or a list of them) as JSON or YAML on stdout (for machines)."""
    if fmt == "json":  # in pieces: a 10,000-item run's 30 MB never held (nor encoded) whole
        from dflowctl.prettyjson import dump

        dump(obj, sys.stdout.write)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(dump_object(obj, fmt))
    sys.stdout.flush()


def dump_object(obj: Any, fmt: str) -> str:
    if fmt == "json":  # json.dumps(obj, indent=2, default=str), faster for a big run's record
        from dflowctl.prettyjson import dumps

        return dumps(obj) + "\n"
    from dflowctl.render.dump import dump_yaml

    return dump_yaml(json.loads(json.dumps(obj, default=str)))
