"""Small value grammars shared by the checks and ``-p`` parsing: parameter types,
durations, Kubernetes quantities, ``module:callable``, names."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Sequence
from typing import Any

from dflowctl.argo.times import is_go_duration

QUANTITY = re.compile(r"^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
ENTRYPOINT = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$")
ARGO_NAME = re.compile(r"^[a-zA-Z0-9][-a-zA-Z0-9]*$")
WORKFLOW_NAME = re.compile(r"^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_WORKFLOW_NAME = 63
MAX_ARGO_NAME = 128
# workflow artifact sources that are not local paths
REMOTE_SCHEMES = ("s3://", "http://", "https://")

# the kernel's views of this host: never a source of files to ship
HOST_ONLY_ROOTS = ("/proc", "/sys", "/dev")


def artifact_source_problem(src: str) -> tuple[str, str] | None:
    """What is wrong with a workflow artifact's remote source, as (message, hint), the
    message to follow "workflow artifact `NAME`"; ``None`` for a good one or a local
    path (whose existence is checked elsewhere)."""
    if "://" not in src:
        return None
    if not src.startswith(REMOTE_SCHEMES):
        return f" has an unsupported source `{src}`", "use a local path, s3://bucket/key or http(s)://..."
    if src.startswith("s3://") and len(src[5:].split("/", 1)) < 2:
        return f": `{src}` has no key", "write s3://bucket/key"
    return None


TYPE_WORDS = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "list": "a list",
    "dict": "a mapping",
    "any": "any value",
}


def is_list_type(type_: str) -> bool:
    """``list`` or ``list[T]`` (a model's base type is ``list`` for both)."""
    return type_ == "list" or type_.startswith("list[")


def is_duration(text: str) -> bool:
    """Go's ``time.ParseDuration`` syntax without sign: ``90s``, ``10m``, ``1h30m``, ``1.5h``
    (the one grammar: ``argo.times``)."""
    return is_go_duration(text, signed=False)


def is_quantity(text: str) -> bool:
    """A non-negative Kubernetes resource quantity: ``500m``, ``2``, ``0.5``, ``512Mi``, ``1G``, ``1e3``."""
    return bool(QUANTITY.match(text))


_SUFFIX = {
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}


def quantity_value(text: str) -> float | None:
    """A Kubernetes quantity as a number (``500m`` → 0.5, ``1Ki`` → 1024); None if it is not one."""
    text = text.strip()
    if not is_quantity(text):
        return None
    for suffix in sorted(_SUFFIX, key=len, reverse=True):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * _SUFFIX[suffix]
    return float(text)


def host_only_root(path: str) -> str | None:
    """The kernel file system (``/proc``, ``/sys``, ``/dev``) that ``path`` (absolute,
    links resolved) lies in, or None."""
    import os.path

    real = os.path.realpath(path)
    for root in HOST_ONLY_ROOTS:
        if real == root or real.startswith(root + "/"):
            return root
    return None


def finite(value: Any) -> bool:
    """No NaN or infinity anywhere in ``value`` (JSON has neither)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return False
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def fits(value: Any, type_: str) -> bool:
    """Does a literal value fit a parameter type? ``None`` fits nothing but ``any``;
    NaN and infinities (anywhere in the value) fit nothing."""
    if not finite(value):
        return False
    if type_ == "any":
        return True
    if type_ == "str":
        return isinstance(value, str)
    if type_ == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if type_ == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if type_ == "bool":
        return isinstance(value, bool)
    if type_ == "list":
        return isinstance(value, list)
    if type_ == "dict":
        return isinstance(value, dict)
    return False


def kind_of(value: Any) -> str:
    """How a value reads in a message: ``a string ("one")``, ``an integer (3)``."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a number ({value})" if math.isfinite(value) else f"{value}, which JSON cannot carry"
    if isinstance(value, str):
        shown = value if len(value) <= 30 else value[:27] + "..."
        return f'a string ("{shown}")'
    if isinstance(value, (list, dict)):
        kind = "a list" if isinstance(value, list) else "a mapping"
        return kind if finite(value) else f"{kind} holding NaN or an infinity, which JSON cannot carry"
    return f"a {type(value).__name__}"


def did_you_mean(word: str, choices: Sequence[str]) -> str | None:
    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered and lowered[word.lower()] != word:
        return f"did you mean `{lowered[word.lower()]}`?"
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


def listing(names: Sequence[str]) -> str:
    return ", ".join(names) if names else "(none)"


# the schema's paramType pattern (kept in step by a test); the words a message lists
TYPE_PATTERN = r"^(?:(?:str|int|float|bool|list|dict|any)|(?:list|dict)\[.+\])$"
TYPE_CHOICES = ("str", "int", "float", "bool", "list", "dict", "any", "list[T]", "dict[str, T]")

# One type grammar for specs and code: `int`, `list[int]`, `dict[str, float]`, ...
# A parsed type is (base, args): ("list", (("int", ()),)).
TypeExpr = tuple[str, tuple[Any, ...]]
BASE_TYPES = ("str", "int", "float", "bool", "list", "dict", "any")


def parse_type(text: str) -> TypeExpr | None:
    """``list[T]`` / ``dict[str, T]`` / a base word → (base, args); None when it is not one."""
    text = text.replace(" ", "")
    if "[" not in text:
        return (text, ()) if text in BASE_TYPES else None
    base, _, rest = text.partition("[")
    if base not in ("list", "dict") or not rest.endswith("]"):
        return None
    parts: list[str] = []
    depth, start = 0, 0
    inner = rest[:-1]
    for i, ch in enumerate(inner):
        depth += ch == "["
        depth -= ch == "]"
        if ch == "," and depth == 0:
            parts.append(inner[start:i])
            start = i + 1
    parts.append(inner[start:])
    args = [parse_type(p) for p in parts]
    if any(a is None for a in args) or len(args) != (1 if base == "list" else 2):
        return None
    if base == "dict" and args[0] != ("str", ()):
        return None
    return (base, tuple(args))


def type_text(t: TypeExpr) -> str:
    base, args = t
    return f"{base}[{', '.join(type_text(a) for a in args)}]" if args else base


def types_agree(a: TypeExpr, b: TypeExpr) -> bool:
    """Same base (``any`` agrees with everything); arguments compared where both give them."""
    if a[0] == "any" or b[0] == "any":
        return True
    if a[0] != b[0]:
        return False
    return not a[1] or not b[1] or all(types_agree(x, y) for x, y in zip(a[1], b[1], strict=False))


def misfit(value: Any, t: TypeExpr, where: str = "") -> str | None:
    """Why ``value`` (already of ``t``'s base type) does not fit ``t``'s items, e.g.
    ``[1] is a string ("two"), not an integer``; None when it fits."""
    base, args = t
    if not fits(value, base):
        return f"{where or 'it'} is {kind_of(value)}, not {TYPE_WORDS.get(base, base)}"
    if base == "list" and args:
        items: list[tuple[str, Any]] = [(f"{where}[{i}]", v) for i, v in enumerate(value)]
    elif base == "dict" and args:
        items = [(f'{where}["{k}"]', v) for k, v in value.items()]
        args = args[1:]
    else:
        return None
    for at, item in items:
        why = misfit(item, args[0], at)
        if why:
            return why
    return None
