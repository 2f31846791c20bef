"""Sprig's string, encoding and regular-expression functions (``sprig.trimPrefix``,
``sprig.b64enc``, ``sprig.regexFind`` …), with Sprig's argument order."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import zlib
from collections.abc import Callable
from typing import Any

from dflowctl.expr.operators import compile_regex
from dflowctl.expr.sprigcast import as_list, strval, to_int64
from dflowctl.expr.values import ExprError, go_json


def _b64dec(s: Any) -> str:
    try:
        return base64.b64decode(strval(s), validate=True).decode("utf-8", "replace")
    except (ValueError, binascii.Error) as exc:
        return f"illegal base64 data: {exc}"


def _b32dec(s: Any) -> str:
    try:
        return base64.b32decode(strval(s)).decode("utf-8", "replace")
    except (ValueError, binascii.Error) as exc:
        return f"illegal base32 data: {exc}"


def _substr(start: Any, end: Any, s: Any) -> str:
    text = strval(s)
    a, b = to_int64(start), to_int64(end)
    if a < 0:
        return text[:b]
    if b < 0 or b > len(text):
        return text[a:]
    return text[a:b]


def _trunc(n: Any, s: Any) -> str:
    text = strval(s)
    c = to_int64(n)
    if c < 0 and len(text) + c > 0:
        return text[len(text) + c :]
    if c >= 0 and len(text) > c:
        return text[:c]
    return text


def _indent(n: Any, s: Any) -> str:
    pad = " " * to_int64(n)
    return pad + strval(s).replace("\n", "\n" + pad)


def _split(sep: Any, s: Any) -> dict[str, str]:
    return {f"_{i}": part for i, part in enumerate(strval(s).split(strval(sep)))}


def _splitn(sep: Any, n: Any, s: Any) -> dict[str, str]:
    parts = strval(s).split(strval(sep), max(to_int64(n) - 1, 0)) if to_int64(n) > 0 else []
    return {f"_{i}": part for i, part in enumerate(parts)}


def _join(sep: Any, v: Any) -> str:
    if isinstance(v, str):
        return v
    return strval(sep).join(strval(x) for x in as_list(v) if x is not None)


def _go_repl(repl: str) -> str:
    """Go's ``$1`` / ``${name}`` replacement syntax → Python's."""
    out = re.sub(r"\$\{(\w+)\}", r"\\g<\1>", repl.replace("\\", "\\\\"))
    return re.sub(r"\$(\d+|[A-Za-z_]\w*)", r"\\g<\1>", out).replace("$$", "$")


def _regex_find_all(rx: Any, s: Any, n: Any) -> list[str]:
    found = [m.group(0) for m in compile_regex(strval(rx)).finditer(strval(s))]
    k = to_int64(n)
    return found if k < 0 else found[:k]


def _regex_split(rx: Any, s: Any, n: Any) -> list[str]:
    k = to_int64(n)
    if k == 0:
        return []
    return compile_regex(strval(rx)).split(strval(s), maxsplit=0 if k < 0 else k - 1)


def _camel(s: Any) -> str:
    parts = re.split(r"[_\-\s]+", strval(s))
    return "".join(p[:1].upper() + p[1:] for p in parts if p)


def _snake(s: Any) -> str:
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", strval(s))
    return re.sub(r"[\-\s]+", "_", text).lower()


def _kebab(s: Any) -> str:
    return _snake(s).replace("_", "-")


def _pretty(v: Any) -> str:
    from dflowctl.expr.builtins import _indent_json

    return _indent_json(v)


def _from_json_lenient(s: Any) -> Any:
    from dflowctl.expr.builtins import from_json

    try:
        return from_json(strval(s))
    except ExprError:
        return {}


SPRIG_TEXT: dict[str, Callable[..., Any]] = {
    # strings
    "upper": lambda s: strval(s).upper(),
    "lower": lambda s: strval(s).lower(),
    "title": lambda s: re.sub(r"\b([a-z])", lambda m: m.group(1).upper(), strval(s)),
    "untitle": lambda s: re.sub(r"\b([A-Z])", lambda m: m.group(1).lower(), strval(s)),
    "trim": lambda s: strval(s).strip(),
    "trimAll": lambda cut, s: strval(s).strip(strval(cut)),
    "trimPrefix": lambda p, s: strval(s)[len(strval(p)) :] if strval(s).startswith(strval(p)) else strval(s),
    "trimSuffix": lambda p, s: (
        strval(s)[: -len(strval(p))] if strval(p) and strval(s).endswith(strval(p)) else strval(s)
    ),
    "contains": lambda sub, s: strval(sub) in strval(s),
    "hasPrefix": lambda p, s: strval(s).startswith(strval(p)),
    "hasSuffix": lambda p, s: strval(s).endswith(strval(p)),
    "replace": lambda old, new, s: strval(s).replace(strval(old), strval(new)),
    "repeat": lambda n, s: strval(s) * max(0, to_int64(n)),
    "substr": _substr,
    "trunc": _trunc,
    "nospace": lambda s: re.sub(r"\s+", "", strval(s)),
    "quote": lambda *a: " ".join(go_json(strval(x)) for x in a if x is not None),
    "squote": lambda *a: " ".join(f"'{strval(x)}'" for x in a if x is not None),
    "cat": lambda *a: " ".join(strval(x) for x in a if x is not None),
    "indent": _indent,
    "nindent": lambda n, s: "\n" + _indent(n, s),
    "initials": lambda s: "".join(w[0] for w in strval(s).split() if w),
    "abbrev": lambda n, s: (
        strval(s) if len(strval(s)) <= to_int64(n) else strval(s)[: to_int64(n) - 3] + "..."
    ),
    "camelcase": _camel,
    "snakecase": _snake,
    "kebabcase": _kebab,
    "split": _split,
    "splitList": lambda sep, s: strval(s).split(strval(sep)),
    "splitn": _splitn,
    "join": _join,
    "sortAlpha": lambda v: sorted(strval(x) for x in as_list(v)),
    "plural": lambda one, many, n: strval(one) if to_int64(n) == 1 else strval(many),
    # encodings and hashes
    "b64enc": lambda s: base64.b64encode(strval(s).encode()).decode(),
    "b64dec": _b64dec,
    "b32enc": lambda s: base64.b32encode(strval(s).encode()).decode(),
    "b32dec": _b32dec,
    "sha1sum": lambda s: hashlib.sha1(strval(s).encode()).hexdigest(),
    "sha256sum": lambda s: hashlib.sha256(strval(s).encode()).hexdigest(),
    "sha512sum": lambda s: hashlib.sha512(strval(s).encode()).hexdigest(),
    "adler32sum": lambda s: str(zlib.adler32(strval(s).encode())),
    "toJson": lambda v: go_json(v),
    "toRawJson": lambda v: go_json(v).replace("\\u003c", "<").replace("\\u003e", ">").replace("\\u0026", "&"),
    "toPrettyJson": lambda v: _pretty(v),
    "fromJson": lambda s: _from_json_lenient(s),
    # regular expressions
    "regexMatch": lambda rx, s: compile_regex(strval(rx)).search(strval(s)) is not None,
    "regexFind": lambda rx, s: m.group(0) if (m := compile_regex(strval(rx)).search(strval(s))) else "",
    "regexFindAll": _regex_find_all,
    "regexReplaceAll": lambda rx, s, repl: compile_regex(strval(rx)).sub(_go_repl(strval(repl)), strval(s)),
    "regexReplaceAllLiteral": lambda rx, s, repl: compile_regex(strval(rx)).sub(
        lambda m: strval(repl), strval(s)
    ),
    "regexSplit": _regex_split,
    "regexQuoteMeta": lambda s: re.escape(strval(s)),
}
