"""``json.dumps(obj, indent=N, default=str)``, the same text, several times faster.

With ``indent`` set, the standard library encodes in pure Python, one generator step
per value: seconds for the record of a 10,000-item run (``status NAME -o json``).
Here only containers that hold other non-empty containers are walked in Python; a
container of plain values is encoded by the C encoder in one call, its item separator
carrying the newline and indent (JSON strings never hold a raw newline, so the text is
the same as the standard library's).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]

_encoders: dict[tuple[int, int], Callable[[object], str]] = {}


def dumps(obj: object, indent: int = 2) -> str:
    """``json.dumps(obj, indent=indent, default=str)``."""
    parts: list[str] = []
    _write(obj, 0, indent, parts)
    return "".join(parts)


def _flat(depth: int, indent: int) -> Callable[[object], str]:
    """The C encoder whose item separator starts a new line indented for ``depth + 1``."""
    key = (depth, indent)
    enc = _encoders.get(key)
    if enc is None:
        sep = ",\n" + " " * (indent * (depth + 1))
        if c_make_encoder is None:  # an interpreter without the C accelerator
            enc = json.JSONEncoder(separators=(sep, ": "), default=str).encode
        else:
            encode = c_make_encoder(None, str, encode_basestring_ascii, None, ": ", sep, False, False, True)

            def enc(obj: object) -> str:
                return "".join(encode(obj, 0))

        _encoders[key] = enc
    return enc


def _write(obj: object, depth: int, indent: int, parts: list[str]) -> None:
    if isinstance(obj, dict):
        if not obj:
            parts.append("{}")
            return
        values: Collection[object] = obj.values()
    elif isinstance(obj, (list, tuple)):
        if not obj:
            parts.append("[]")
            return
        values = obj
    else:
        parts.append(_flat(depth, indent)(obj))
        return
    pad = "\n" + " " * (indent * depth)
    inner = pad + " " * indent
    for v in values:
        if isinstance(v, (dict, list, tuple)) and v:
            break
    else:
        text = _flat(depth, indent)(obj)
        parts.append(text[0] + inner + text[1:-1] + pad + text[-1])
        return
    if isinstance(obj, dict):
        parts.append("{")
        sep = inner
        for key, value in obj.items():
            parts.append(sep + (encode_basestring_ascii(key) if type(key) is str else _key(key)) + ": ")
            _write(value, depth + 1, indent, parts)
            sep = "," + inner
        parts.append(pad + "}")
        return
    parts.append("[")
    sep = inner
    for value in values:
        parts.append(sep)
        _write(value, depth + 1, indent, parts)
        sep = "," + inner
    parts.append(pad + "]")


def _key(key: object) -> str:
    """A key that is not a ``str``, as ``json`` makes it one (or refuses it)."""
    if isinstance(key, str):
        return encode_basestring_ascii(key)
    if key is True or key is False or key is None or isinstance(key, (int, float)):
        return '"' + json.dumps(key) + '"'
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")
