"""``json.dumps(obj, indent=N, default=str)``, the same text, several times faster.

With ``indent`` set, the standard library encodes in pure Python, one generator step
per value: seconds for the record of a 10,000-item run (``status NAME -o json``).
Here only containers that hold other non-empty containers are walked in Python, one
line appended per item (a string or an ``int`` encoded in place, without a call into
the encoder); a container of plain values is encoded by the C encoder in one call, its
item separator carrying the newline and indent (JSON strings never hold a raw newline,
so the text is the same as the standard library's).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]

# types the C encoder writes as one value (with their subclasses, which go to ``isinstance``)
_PLAIN = frozenset({str, int, float, bool, type(None)})
CHUNK = 20_000  # lines written at once (``dump``): about 1 MB
SHALLOW = 4  # containers this deep or less may end a chunk (a run's nodes are at depth 3)


class _Level:
    """What writing a container at one depth needs: its C encoder (items separated by
    a newline and the indent of ``depth + 1``), its closing line's start, its items'."""

    __slots__ = ("encode", "inner", "pad", "sep")

    def __init__(self, depth: int, indent: int) -> None:
        sep = ",\n" + " " * (indent * (depth + 1))
        if c_make_encoder is None:  # an interpreter without the C accelerator
            self.encode: Callable[[object], str] = json.JSONEncoder(
                separators=(sep, ": "), default=str
            ).encode
        else:
            chunks = c_make_encoder(None, str, encode_basestring_ascii, None, ": ", sep, False, False, True)

            def encode(obj: object) -> str:
                return "".join(chunks(obj, 0))

            self.encode = encode
        self.pad = "\n" + " " * (indent * depth)
        self.inner = self.pad + " " * indent
        self.sep = "," + self.inner

    def flat(self, obj: object) -> str:
        """A non-empty container of plain values, as ``json.dumps`` indents it here."""
        text = self.encode(obj)
        return text[0] + self.inner + text[1:-1] + self.pad + text[-1]


_levels: dict[tuple[int, int], _Level] = {}


def _level(depth: int, indent: int) -> _Level:
    level = _levels.get((depth, indent))
    if level is None:
        level = _levels[(depth, indent)] = _Level(depth, indent)
    return level


def dumps(obj: object, indent: int = 2) -> str:
    """``json.dumps(obj, indent=indent, default=str)``."""
    parts: list[str] = []
    dump(obj, parts.append, indent)
    return "".join(parts)


def dump(obj: object, write: Callable[[str], object], indent: int = 2) -> None:
    """``dumps(obj, indent)`` given to ``write`` in pieces of about ``CHUNK`` lines: the
    whole text (30 MB for a 10,000-item run) is never held at once."""
    if not _nested(obj):
        level = _level(0, indent)
        flat = type(obj) in _PLAIN or not isinstance(obj, (dict, list, tuple)) or not obj
        write(level.encode(obj) if flat else level.flat(obj))
        return
    parts: list[str] = []
    _write(obj, 0, indent, parts, write)
    write("".join(parts))


def _nested(obj: object) -> bool:
    """Whether ``obj`` is a container holding a non-empty container."""
    if isinstance(obj, dict):
        values: object = obj.values()
    elif isinstance(obj, (list, tuple)):
        values = obj
    else:
        return False
    for v in values:  # type: ignore[attr-defined]  # noqa: SIM110 (a loop: twice as fast as any())
        if type(v) not in _PLAIN and isinstance(v, (dict, list, tuple)) and v:
            return True
    return False


def _write(obj: object, depth: int, indent: int, parts: list[str], write: Callable[[str], object]) -> None:
    """``obj`` (a container holding a non-empty container) at ``depth``; ``parts``
    given to ``write`` (and emptied) after an item of a shallow container once they
    are ``CHUNK`` or more."""
    level = _level(depth, indent)
    shallow = depth < SHALLOW
    below = depth + 1
    inside = _level(below, indent)
    sep = level.sep
    if isinstance(obj, dict):
        head = "{" + level.inner
        for key, v in obj.items():
            k = (encode_basestring_ascii(key) if type(key) is str else _key(key)) + ": "
            t = type(v)
            if t is str:
                parts.append(head + k + encode_basestring_ascii(v))
            elif t is int:
                parts.append(head + k + int.__repr__(v))
            elif t in _PLAIN or not isinstance(v, (dict, list, tuple)) or not v:
                parts.append(head + k + inside.encode(v))
            elif _nested(v):
                parts.append(head + k)
                _write(v, below, indent, parts, write)
            else:
                parts.append(head + k + inside.flat(v))
            head = sep
            if shallow and len(parts) >= CHUNK:
                write("".join(parts))
                parts.clear()
        parts.append(level.pad + "}")
        return
    head = "[" + level.inner
    for v in obj:  # type: ignore[attr-defined]
        t = type(v)
        if t is str:
            parts.append(head + encode_basestring_ascii(v))
        elif t is int:
            parts.append(head + int.__repr__(v))
        elif t in _PLAIN or not isinstance(v, (dict, list, tuple)) or not v:
            parts.append(head + inside.encode(v))
        elif _nested(v):
            parts.append(head)
            _write(v, below, indent, parts, write)
        else:
            parts.append(head + inside.flat(v))
        head = sep
        if shallow and len(parts) >= CHUNK:
            write("".join(parts))
            parts.clear()
    parts.append(level.pad + "]")


def _key(key: object) -> str:
    """A key that is not a ``str``, as ``json`` makes it one (or refuses it)."""
    if isinstance(key, str):
        return encode_basestring_ascii(key)
    if key is True or key is False or key is None or isinstance(key, (int, float)):
        return '"' + json.dumps(key) + '"'
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")
