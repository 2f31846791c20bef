"""The one safe-name rule: a name that becomes one component of a path we join it to.

Run names (``runs/<name>``), artifact names (``in/<name>``, ``.outputs/<name>``) and
the like are joined to a folder of ours; a name that is empty, ``.``, ``..``, or holds
``/`` or NUL would lead elsewhere, so it is refused wherever such a join happens.
"""

from __future__ import annotations


def is_plain_name(name: object) -> bool:
    """One path component: never a way out of the folder it is joined to."""
    text = str(name)
    return text not in ("", ".", "..") and "/" not in text and "\0" not in text
