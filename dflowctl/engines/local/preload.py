"""What a warm Python worker imports beforehand for a pod, beyond its defaults.

A pod whose bootstrap carries ``dflow.python`` (its op's code uses dflow) may run
where pydflow is installed; importing the real one costs about a second per cold
interpreter, so the warm worker for such pods imports it once (a failed import,
pydflow absent, costs nothing: the bundled one is served per pod).
"""

from __future__ import annotations

DFLOW_MODULE = "dflow.python"
_EMPTY = 'DFLOW_PYTHON = ""'  # the bootstrap's line when the op does not use dflow
_CARRIED = "\nDFLOW_PYTHON = "


def carries_dflow(source: str | None) -> bool:
    """Whether a script is the bootstrap of an op that uses dflow."""
    return source is not None and _CARRIED in source and _EMPTY not in source


def with_dflow(preload: tuple[str, ...] | None, defaults: list[str]) -> tuple[str, ...]:
    return (*(preload or defaults), DFLOW_MODULE)
