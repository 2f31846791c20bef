"""JSONPath filters (``[?(…)]``) as Argo's jsonpath library runs them: ``@``- and
``$``-relative paths, ``== != < <= > >= =~ && || !``, literals and parentheses; a
path that finds nothing compares unequal to everything. Also what the path side
(``expr.jsonpath``) shares with it: ``Selector`` and ``Missing``."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from dflowctl.expr.values import ExprError, is_number

Selector = Callable[[list[Any]], list[Any]]
PathCompiler = Callable[[str], tuple[list[Selector], bool]]  # a path → (selectors, definite)


class Missing(Exception):
    """A definite path (plain keys and indexes) found nothing."""


_FTOKEN = re.compile(
    r"\s*(?:(?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|(?P<str>'(?:\\.|[^'])*'|\"(?:\\.|[^\"])*\")"
    r"|(?P<path>[@$](?:\.\.?[A-Za-z0-9_*$-]+|\[[^\]]*\])*)|(?P<re>/(?:\\.|[^/])*/[a-z]*)"
    r"|(?P<op>==|!=|<=|>=|=~|&&|\|\||<|>|!|\(|\))|(?P<word>true|false|null))"
)


def compile_filter(text: str, compile_path: PathCompiler) -> Callable[[Any], bool]:
    """A filter's text (inside ``[?(…)]``) as a predicate; its paths by ``compile_path``."""
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
    p = _FilterParser(tokens, text, compile_path)
    fn = p.parse_or()
    if p.i != len(tokens):
        raise ExprError(f"invalid JSONPath filter {text!r}")

    def pred(v: Any) -> bool:
        try:
            return _truthy(fn(v))
        except Missing:
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
    def __init__(self, tokens: list[tuple[str, str]], text: str, compile_path: PathCompiler) -> None:
        self.t = tokens
        self.i = 0
        self.text = text
        self.compile_path = compile_path

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
            sels, definite = self.compile_path(val)

            def get(v: Any, root: Any = None) -> Any:
                vs = [v if rel else root]
                try:
                    for sel in sels:
                        vs = sel(vs)
                except Missing:
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
