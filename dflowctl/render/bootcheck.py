"""Whether a script is, to the byte, a bootstrap this package renders: where its main guard starts.

The local engine's warm fork server runs a bootstrap's definitions (its imports, constants,
functions and classes, which read nothing of the pod's world: ``tests/test_local_warm_main.py``
holds render/bootstrap.py and render/bootgroup.py to that) once for all the pods of a script,
and each pod then runs only the main guard (engines/local/_podcode.py, ``warm_main``). The
server may do so only for a text that is ours, whatever op it carries: render/bootstrap.py
with any op's interface on its CONFIG line (a JSON string literal), with the bundled
``dflow.python`` or without, ending in its main guard or in the group runner
(``leaf.bootstrap_source``). Any other text, a user's script starting with the same comment
included, gets ``None`` and runs whole in its pod, as before.
"""

from __future__ import annotations

import json
from functools import lru_cache

from dflowctl.render.leaf import (
    CONFIG_CALL,
    CONFIG_LINE,
    DFLOW_LINE,
    MAIN_GUARD,
    bootstrap_text,
    dflow_python_line,
    group_runner_text,
)

_GUARD_START = MAIN_GUARD.split("\n", 1)[0] + "\n"  # its first line: `if __name__ == "__main__":`


@lru_cache(maxsize=16)
def main_guard_at(source: str) -> int | None:
    """The offset of the main guard in ``source`` when it is a bootstrap ``leaf.bootstrap_source``
    makes (only definitions before it), else None."""
    head, rest = bootstrap_text().split(CONFIG_LINE, 1)
    middle, tail = rest.split(DFLOW_LINE, 1)
    body = tail[: -len(MAIN_GUARD)]
    start = len(head) + len(CONFIG_CALL)
    if not source.startswith(head + CONFIG_CALL):
        return None
    line_end = source.find("\n", start)
    if line_end < 0 or source[line_end - 1] != ")" or not _json_string_literal(source[start : line_end - 1]):
        return None
    at = line_end + len(middle)  # the middle part starts with the CONFIG line's newline
    if source[line_end:at] != middle:
        return None
    for dflow in (DFLOW_LINE, dflow_python_line()):
        if source.startswith(dflow, at):
            at += len(dflow)
            break
    else:
        return None
    if not source.startswith(body, at):
        return None
    at += len(body)
    rest = source[at:]
    if rest == MAIN_GUARD:
        return at
    group = group_runner_text()
    if rest == group and group.count(_GUARD_START) == 1:
        return at + group.index(_GUARD_START)
    return None


def _json_string_literal(text: str) -> bool:
    """``text`` is a string literal as ``json.dumps`` writes one (and so a Python one too)."""
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return isinstance(value, str) and json.dumps(value) == text
