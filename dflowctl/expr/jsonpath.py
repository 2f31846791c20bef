"""JSONPath queries as Argo's ``jsonpath(json, path)`` runs them.

Argo uses github.com/evilmonkeyinc/jsonpath: a path made only of plain keys and
indexes (``$.a.b``, ``$[0].value``) gives the single value (an error if it is
missing); wildcards, slices, unions, filters and recursive descent give a list.
Supported: ``$``, ``.key``, ``['key']``, ``[n]`` (negative too), ``[a:b:c]``,
``[*]``/``.*``, ``..key``, unions ``[0,2]``/``['a','b']``, filters ``[?(…)]`` with
``@``-relative paths, ``== != < <= > >= =~ && || !``, literals and parentheses.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

from dflowctl.expr.values import ExprError, is_number, is_sequence

Selector = Callable[[list[Any]], list[Any]]


class _Missing(Exception):
    pass


def _children(v: Any) -> list[Any]:
    if isinstance(v, Mapping):
        return [v[k] for k in sorted(v)]
    if is_sequence(v):
        return list(v)
    return []


def _descendants(v: Any) -> list[Any]:
    out = [v]
    for c in _children(v):
        out.extend(_descendants(c))
    return out


class _PathParser:
    """Parses a path into selectors; remembers whether it is definite (single value)."""

    def __init__(self, path: str) -> None:
        self.s = path.strip()
        self.i = 0
        self.definite = True

    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.s[j] if j < len(self.s) else ""

    def error(self, what: str) -> ExprError:
        return ExprError(f"invalid JSONPath {self.s!r}: {what} at {self.i}")

    def parse_root(self) -> list[Selector]:
        if self.peek() not in ("$", "@"):
            raise self.error("must start with $")
        self.i += 1
        return self.parse_segments(stop="")

    def parse_segments(self, stop: str) -> list[Selector]:
        sels: list[Selector] = []
        while self.i < len(self.s):
            ch = self.peek()
            if stop and (ch in stop or ch.isspace()):
                break
            if ch == ".":
                if self.peek(1) == ".":
                    self.i += 2
                    self.definite = False
                    sels.append(lambda vs: [d for v in vs for d in _descendants(v)])
                    if self.peek() == "[":
                        continue
                    if self.peek() == "*":
                        self.i += 1
                        sels.append(lambda vs: [c for v in vs for c in _children(v)])
                        continue
                    sels.append(self.key_selector(self.read_name(), strict=False))
                    continue
                self.i += 1
                if self.peek() == "*":
                    self.i += 1
                    self.definite = False
                    sels.append(lambda vs: [c for v in vs for c in _children(v)])
                    continue
                sels.append(self.key_selector(self.read_name(), strict=True))
            elif ch == "[":
                sels.append(self.parse_bracket())
            else:
                raise self.error(f"unexpected {ch!r}")
        return sels

    def read_name(self) -> str:
        j = self.i
        while j < len(self.s) and (self.s[j].isalnum() or self.s[j] in "_-$"):
            j += 1
        if j == self.i:
            raise self.error("expected a key")
        name = self.s[self.i : j]
        self.i = j
        return name

    def key_selector(self, key: str, strict: bool) -> Selector:
        definite_now = self.definite

        def sel(vs: list[Any]) -> list[Any]:
            out = []
            for v in vs:
                if isinstance(v, Mapping) and key in v:
                    out.append(v[key])
                elif key == "length" and (is_sequence(v) or isinstance(v, (str, Mapping))):
                    out.append(len(v))
                elif strict and definite_now:
                    raise _Missing(f"key {key!r} not found")
            return out

        return sel

    def read_quoted(self) -> str:
        q = self.peek()
        self.i += 1
        out = []
        while self.i < len(self.s) and self.peek() != q:
            if self.peek() == "\\":
                self.i += 1
            out.append(self.peek())
            self.i += 1
        if self.peek() != q:
            raise self.error("unterminated string")
        self.i += 1
        return "".join(out)

    def skip_ws(self) -> None:
        while self.peek().isspace():
            self.i += 1

    def parse_bracket(self) -> Selector:
        self.i += 1
        self.skip_ws()
        if self.peek() == "*":
            self.i += 1
            self.skip_ws()
            self.expect("]")
            self.definite = False
            return lambda vs: [c for v in vs for c in _children(v)]
        if self.peek() == "?":
            self.i += 1
            self.skip_ws()
            self.expect("(")
            start = self.i
            depth = 1
            quote = ""
            while self.i < len(self.s) and depth:
                ch = self.peek()
                if quote:
                    if ch == "\\":
                        self.i += 1
                    elif ch == quote:
                        quote = ""
                elif ch in "'\"":
                    quote = ch
                elif ch == "(":
                    depth += 1
                elif ch == ")":
                    depth -= 1
                self.i += 1
            text = self.s[start : self.i - 1]
            self.skip_ws()
            self.expect("]")
            self.definite = False
            pred = _compile_filter(text)
            return lambda vs: [c for v in vs for c in _children(v) if pred(c)]
        if self.peek() in "'\"":
            keys = [self.read_quoted()]
            self.skip_ws()
            while self.peek() == ",":
                self.i += 1
                self.skip_ws()
                keys.append(self.read_quoted())
                self.skip_ws()
            self.expect("]")
            if len(keys) == 1:
                return self.key_selector(keys[0], strict=True)
            self.definite = False
            return lambda vs: [v[k] for v in vs for k in keys if isinstance(v, Mapping) and k in v]
        # numbers: index, union or slice
        j = self.s.find("]", self.i)
        if j < 0:
            raise self.error("missing ]")
        body = self.s[self.i : j].replace(" ", "")
        self.i = j + 1
        if ":" in body:
            self.definite = False
            parts = body.split(":")
            if len(parts) > 3:
                raise self.error("bad slice")
            nums = [int(p) if p else None for p in parts] + [None] * (3 - len(parts))
            sl = slice(nums[0], nums[1], nums[2])
            return lambda vs: [c for v in vs if is_sequence(v) for c in list(v)[sl]]
        try:
            idxs = [int(p) for p in body.split(",")]
        except ValueError as exc:
            raise self.error(f"bad index {body!r}") from exc
        if len(idxs) > 1:
            self.definite = False
        definite_now = self.definite

        def index(vs: list[Any]) -> list[Any]:
            out = []
            for v in vs:
                if not is_sequence(v):
                    if definite_now:
                        raise _Missing("not an array")
                    continue
                for k in idxs:
                    if -len(v) <= k < len(v):
                        out.append(v[k])
                    elif definite_now:
                        raise _Missing(f"index {k} out of range")
            return out

        return index

    def expect(self, ch: str) -> None:
        if self.peek() != ch:
            raise self.error(f"expected {ch!r}")
        self.i += 1


# -- filter expressions -------------------------------------------------------------------

_FTOKEN = re.compile(
    r"\s*(?:(?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|(?P<str>'(?:\\.|[^'])*'|\"(?:\\.|[^\"])*\")"
    r"|(?P<path>[@$](?:\.\.?[A-Za-z0-9_*$-]+|\[[^\]]*\])*)|(?P<re>/(?:\\.|[^/])*/[a-z]*)"
    r"|(?P<op>==|!=|<=|>=|=~|&&|\|\||<|>|!|\(|\))|(?P<word>true|false|null))"
)


def _compile_filter(text: str) -> Callable[[Any], bool]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _FTOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ExprError(f"invalid JSONPath filter {text!r} at {pos}")
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    p = _FilterParser(tokens, text)
    fn = p.parse_or()
    if p.i != len(tokens):
        raise ExprError(f"invalid JSONPath filter {text!r}")

    def pred(v: Any) -> bool:
        try:
            return _truthy(fn(v))
        except _Missing:
            return False

    return pred


def _truthy(v: Any) -> bool:
    if v is _NOTHING:
        return False
    if isinstance(v, bool):
        return v
    return v is not None


_NOTHING = object()


class _FilterParser:
    def __init__(self, tokens: list[tuple[str, str]], text: str) -> None:
        self.t = tokens
        self.i = 0
        self.text = text

    def peek(self) -> tuple[str, str]:
        return self.t[self.i] if self.i < len(self.t) else ("", "")

    def parse_or(self) -> Callable[[Any], Any]:
        left = self.parse_and()
        while self.peek() == ("op", "||"):
            self.i += 1
            right = self.parse_and()
            left = (lambda a, b: lambda v: _truthy(a(v)) or _truthy(b(v)))(left, right)
        return left

    def parse_and(self) -> Callable[[Any], Any]:
        left = self.parse_cmp()
        while self.peek() == ("op", "&&"):
            self.i += 1
            right = self.parse_cmp()
            left = (lambda a, b: lambda v: _truthy(a(v)) and _truthy(b(v)))(left, right)
        return left

    def parse_cmp(self) -> Callable[[Any], Any]:
        left = self.parse_unary()
        kind, val = self.peek()
        if kind == "op" and val in ("==", "!=", "<", "<=", ">", ">=", "=~"):
            self.i += 1
            right = self.parse_unary()
            return (lambda a, b, op: lambda v: _fcompare(op, a(v), b(v)))(left, right, val)
        return left

    def parse_unary(self) -> Callable[[Any], Any]:
        kind, val = self.peek()
        if (kind, val) == ("op", "!"):
            self.i += 1
            inner = self.parse_unary()
            return lambda v: not _truthy(inner(v))
        if (kind, val) == ("op", "("):
            self.i += 1
            inner = self.parse_or()
            if self.peek() != ("op", ")"):
                raise ExprError(f"invalid JSONPath filter {self.text!r}: missing )")
            self.i += 1
            return inner
        self.i += 1
        if kind == "num":
            num = float(val)
            return lambda v: num
        if kind == "str":
            s = re.sub(r"\\(.)", r"\1", val[1:-1])
            return lambda v: s
        if kind == "re":
            body, _, flags = val[1:].rpartition("/")
            rx = re.compile(body, re.IGNORECASE if "i" in flags else 0)
            return lambda v: rx
        if kind == "word":
            const = {"true": True, "false": False, "null": None}[val]
            return lambda v: const
        if kind == "path":
            rel = val[0] == "@"
            pp = _PathParser(val)
            sels = pp.parse_root()
            definite = pp.definite

            def get(v: Any, root: Any = None) -> Any:
                vs = [v if rel else root]
                try:
                    for sel in sels:
                        vs = sel(vs)
                except _Missing:
                    return _NOTHING
                if definite:
                    return vs[0] if vs else _NOTHING
                return vs

            return get
        raise ExprError(f"invalid JSONPath filter {self.text!r}")


def _fcompare(op: str, a: Any, b: Any) -> bool:
    if a is _NOTHING or b is _NOTHING:
        return op == "!=" and not (a is _NOTHING and b is _NOTHING)
    if op == "=~":
        if isinstance(b, re.Pattern) and isinstance(a, str):
            return b.search(a) is not None
        if isinstance(b, str) and isinstance(a, str):
            return re.search(b, a) is not None
        return False
    if is_number(a) and is_number(b):
        x, y = float(a), float(b)
    elif isinstance(a, str) and isinstance(b, str):
        x, y = a, b  # type: ignore[assignment]
    else:
        if op == "==":
            return bool(a == b) and type(a) is type(b)
        if op == "!=":
            return not (bool(a == b) and type(a) is type(b))
        return False
    if op == "==":
        return x == y
    if op == "!=":
        return x != y
    if op == "<":
        return x < y
    if op == "<=":
        return x <= y
    if op == ">":
        return x > y
    return x >= y


@functools.lru_cache(maxsize=256)
def _compile_path(path: str) -> tuple[list[Selector], bool]:
    p = _PathParser(path)
    sels = p.parse_root()
    return sels, p.definite


def query(path: str, data: Any) -> Any:
    """Run ``path`` on ``data`` (already decoded JSON)."""
    sels, definite = _compile_path(path)
    vs = [data]
    try:
        for sel in sels:
            vs = sel(vs)
    except _Missing as exc:
        raise ExprError(f"jsonpath {path!r}: {exc}") from None
    if definite:
        if not vs:
            raise ExprError(f"jsonpath {path!r}: not found")
        return vs[0]
    return vs
