"""JSONPath queries as Argo's ``jsonpath(json, path)`` runs them.

Argo uses github.com/evilmonkeyinc/jsonpath: a path made only of plain keys and
indexes (``$.a.b``, ``$[0].value``) gives the single value (an error if it is
missing); wildcards, slices, unions, filters and recursive descent give a list.
Supported: ``$``, ``.key``, ``['key']``, ``[n]`` (negative too), ``[a:b:c]``,
``[*]``/``.*``, ``..key``, unions ``[0,2]``/``['a','b']``, filters ``[?(…)]`` with
``@``-relative paths, ``== != < <= > >= =~ && || !``, literals and parentheses
(``expr.jsonfilter``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from dflowctl.expr.jsonfilter import Missing, Selector, compile_filter
from dflowctl.expr.values import ExprError, is_sequence


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
                    raise Missing(f"key {key!r} not found")
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
            pred = compile_filter(text, _compile_path)
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
                        raise Missing("not an array")
                    continue
                for k in idxs:
                    if -len(v) <= k < len(v):
                        out.append(v[k])
                    elif definite_now:
                        raise Missing(f"index {k} out of range")
            return out

        return index

    def expect(self, ch: str) -> None:
        if self.peek() != ch:
            raise self.error(f"expected {ch!r}")
        self.i += 1


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
    except Missing as exc:
        raise ExprError(f"jsonpath {path!r}: {exc}") from None
    if definite:
        if not vs:
            raise ExprError(f"jsonpath {path!r}: not found")
        return vs[0]
    return vs
