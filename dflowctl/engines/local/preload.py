"""What a warm Python worker imports or compiles beforehand for a pod, beyond its defaults.

A pod whose bootstrap carries ``dflow.python`` (its op's code uses dflow) may run
where pydflow is installed; importing the real one costs about a second per cold
interpreter, so the warm worker for such pods imports it once (a failed import,
pydflow absent, costs nothing). Where it is absent the bootstrap serves the bundled one,
whose text the warm worker compiles once for all its pods (``precompiled``; compiling it
in each pod cost ~2 ms of CPU and the memory it takes), as the bootstrap looks it up.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache

from dflowctl.engines.local.isolation import BOOTSTRAP_ROOT, ENV_ROOT

DFLOW_MODULE = "dflow.python"
_EMPTY = 'DFLOW_PYTHON = ""'  # the bootstrap's line when the op does not use dflow
_CARRIED = "\nDFLOW_PYTHON = "
_FILE = "\nDFLOW_FILE = "  # render/bootstrap.py: the bundled module's file name
_BOOTSTRAP = "# dflowctl bootstrap:"  # render/bootstrap.py's first line


def carries_dflow(source: str | None) -> bool:
    """Whether a script is the bootstrap of an op that uses dflow."""
    return source is not None and _CARRIED in source and _EMPTY not in source


def bootstrap_imports_from(source: str | None, env: Mapping[str, str]) -> list[str]:
    """The folder a dflowctl bootstrap puts on ``sys.path`` itself to import the op from
    (``ROOT/source``; render/bootstrap.py), as the pod sees it; none for other scripts."""
    if source is None or not source.startswith(_BOOTSTRAP):
        return []
    return [env.get(ENV_ROOT, BOOTSTRAP_ROOT).rstrip("/") + "/source"]


def main_guard_at(source: str | None) -> int | None:
    """Where the main guard of a dflowctl bootstrap starts (render/bootcheck.py): the warm
    worker runs what is before it once for all its pods; None for any other script."""
    if source is None or not source.startswith(_BOOTSTRAP):
        return None
    from dflowctl.render.bootcheck import main_guard_at as at

    return at(source)


def with_dflow(preload: tuple[str, ...] | None, defaults: list[str]) -> tuple[str, ...]:
    return (*(preload or defaults), DFLOW_MODULE)


@lru_cache(maxsize=16)
def precompiled(source: str) -> list[list[object]]:
    """Where a bootstrap carries the bundled ``dflow.python``: [[its file name, start, end]],
    the slice of ``source`` holding its text as a JSON string, for the warm worker to
    compile once (``_podcode._warm_texts``); [] for any other script."""
    if not carries_dflow(source):
        return []
    try:
        start, end = _value(source, _CARRIED)
        name_start, name_end = _value(source, _FILE)
        filename = json.loads(source[name_start:name_end].split("  #")[0])
    except ValueError:
        return []
    return [[filename, start, end]] if isinstance(filename, str) else []


def _value(source: str, marker: str) -> tuple[int, int]:
    """Where what follows ``NAME = `` on the line ``marker`` starts and ends (ValueError when absent)."""
    start = source.index(marker) + len(marker)
    end = source.find("\n", start)
    return start, end if end >= 0 else len(source)
