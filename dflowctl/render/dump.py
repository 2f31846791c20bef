"""Manifests as text: block YAML (Argo's own layout, multi-line strings as ``|``
blocks) or JSON.

A small emitter for JSON-shaped data (dict, list, str, int, float, bool, None):
a general YAML library takes ~30 s for a 10,000-step manifest, this ~0.1 s.
Strings are written plain only when no YAML reader could take them for anything
else; otherwise double-quoted with JSON escapes (valid YAML).
"""

from __future__ import annotations

import json
import re
from typing import Any

_PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9_./@+=-]*")
# YAML 1.1 and 1.2 booleans and null
_SPECIAL = frozenset(("y", "yes", "n", "no", "true", "false", "on", "off", "null", "~"))
_NOT_PRINTABLE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")
_LITERAL_OK = re.compile(r"[^\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff\r]*")


def _string(s: str) -> str:
    if _PLAIN.fullmatch(s) and s.lower() not in _SPECIAL:
        return s
    quoted = json.dumps(s, ensure_ascii=False)
    return _NOT_PRINTABLE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", quoted)


def _scalar(v: Any) -> str:
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return json.dumps(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, dict) and not v:
        return "{}"
    if isinstance(v, list) and not v:
        return "[]"
    raise TypeError(f"cannot write {type(v).__name__} as YAML")


def _literal_header(s: str) -> str | None:
    """``|``, ``|-`` or ``|+`` when ``s`` reads back exactly as a literal block, else None."""
    if "\n" not in s or not _LITERAL_OK.fullmatch(s) or s[:1] in (" ", "\n"):
        return None
    body = s.rstrip("\n")
    if any(line and not line.strip() for line in body.split("\n")):
        return None  # whitespace-only lines are ambiguous under indentation
    trailing = len(s) - len(body)
    return "|-" if trailing == 0 else "|" if trailing == 1 else "|+"


def _emit(v: Any, indent: int, out: list[str]) -> None:
    pad = " " * indent
    if isinstance(v, dict):
        for k, item in v.items():
            _field(f"{pad}{_string(str(k))}:", item, indent, out, nested_indent=indent + 2)
    else:
        for item in v:
            if isinstance(item, (dict, list)) and item:
                start = len(out)
                _emit(item, indent + 2, out)
                out[start] = f"{pad}- {out[start][indent + 2 :]}"
            else:
                _field(f"{pad}-", item, indent, out, nested_indent=indent + 2)


def _field(head: str, v: Any, indent: int, out: list[str], nested_indent: int) -> None:
    if isinstance(v, dict) and v:
        out.append(head)
        _emit(v, nested_indent, out)
    elif isinstance(v, list) and v:
        out.append(head)
        _emit(v, indent, out)  # Argo's style: a list's dashes under its key
    elif isinstance(v, str) and (header := _literal_header(v)) is not None:
        out.append(f"{head} {header}")
        pad = " " * nested_indent
        body = v[:-1] if header == "|" else v.rstrip("\n") if header == "|-" else v
        lines = body.split("\n") if header != "|+" else v[: len(v) - 1].split("\n")
        out.extend(f"{pad}{line}" if line else "" for line in lines)
    else:
        out.append(f"{head} {_scalar(v)}")


def dump_yaml(obj: Any) -> str:
    """``obj`` (JSON-shaped) as block YAML."""
    if not isinstance(obj, (dict, list)) or not obj:
        return _scalar(obj) + "\n"
    out: list[str] = []
    _emit(obj, 0, out)
    return "\n".join(out) + "\n"


def dump_json(obj: Any) -> str:
    return json.dumps(obj, indent=2) + "\n"
