"""Evaluation of the expr-lang AST (see parser.py), compiled to Python closures.

Semantics follow expr-lang's runtime: ``/`` always gives a float, ``%`` needs
integers, ``==`` compares numbers by value and anything else by deep equality
(never an error), ``< > <= >=`` work on numbers, strings, times and durations,
``and or not`` need booleans and short-circuit, a missing map key reads as nil,
and reading a member of nil is an error unless written ``?.`` or on the left
of ``??``.
"""

from __future__ import annotations

import datetime as _dt
import functools
from collections.abc import Callable, Mapping
from typing import Any

from dflowctl.expr import builtins as _b
from dflowctl.expr.operators import (
    NilAccess,
    arith,
    compare,
    equal,
    fetch,
    member_of,
    mismatch,
    slice_of,
    string_op,
    truth,
)
from dflowctl.expr.parser import Node, parse
from dflowctl.expr.predicates import PREDICATE_BUILTINS
from dflowctl.expr.values import ExprError, is_number, type_name

Compiled = Callable[["Frame"], Any]


class Frame:
    """The evaluation context: environment, `#` pointers and `let` variables."""

    __slots__ = ("env", "ptrs", "vars")

    def __init__(self, env: Mapping[str, Any]) -> None:
        self.env = env
        self.ptrs: list[dict[str, Any]] = []
        self.vars: dict[str, Any] = {}


# -- compiler ---------------------------------------------------------------------------


def _compile(node: Node) -> Compiled:
    kind = node[0]
    if kind == "lit":
        value = node[1]
        return lambda f: value
    if kind == "ident":
        return _compile_ident(node[1])
    if kind == "ptr":
        name = node[1] or "value"
        key = {"value": "value", "index": "index", "acc": "acc"}.get(name, name)

        def ptr(f: Frame) -> Any:
            if not f.ptrs:
                raise ExprError(f"#{node[1]} is only available inside a predicate")
            top = f.ptrs[-1]
            if key not in top:
                raise ExprError(f"unknown pointer #{node[1]}")
            return top[key]

        return ptr
    if kind == "member":
        return _compile_member(node)
    if kind == "slice":
        obj_c = _compile(node[1])
        lo_c = _compile(node[2]) if node[2] is not None else None
        hi_c = _compile(node[3]) if node[3] is not None else None
        return lambda f: slice_of(obj_c(f), lo_c(f) if lo_c else None, hi_c(f) if hi_c else None)
    if kind == "call":
        return _compile_call(node[1], node[2])
    if kind == "mcall":
        return _compile_method(node)
    if kind == "unary":
        return _compile_unary(node[1], _compile(node[2]))
    if kind == "binary":
        return _compile_binary(node[1], node[2], node[3])
    if kind == "cond":
        c, a, b = _compile(node[1]), _compile(node[2]), _compile(node[3])
        return lambda f: a(f) if truth("?:", c(f)) else b(f)
    if kind == "array":
        items = [_compile(x) for x in node[1]]
        return lambda f: [c(f) for c in items]
    if kind == "map":
        pairs = [(_compile(k), _compile(v)) for k, v in node[1]]
        return lambda f: {k(f): v(f) for k, v in pairs}
    if kind == "closure":
        return _compile(node[1])
    if kind == "let":
        name, value_c, body_c = node[1], _compile(node[2]), _compile(node[3])

        def let(f: Frame) -> Any:
            old = f.vars.get(name, _MISSING)
            f.vars[name] = value_c(f)
            try:
                return body_c(f)
            finally:
                if old is _MISSING:
                    del f.vars[name]
                else:
                    f.vars[name] = old

        return let
    if kind == "seq":
        items = [_compile(x) for x in node[1]]

        def seq(f: Frame) -> Any:
            out = None
            for c in items:
                out = c(f)
            return out

        return seq
    raise ExprError(f"unknown node {kind}")


_MISSING = object()


def _compile_ident(name: str) -> Compiled:
    def ident(f: Frame) -> Any:
        if name in f.vars:
            return f.vars[name]
        env = f.env
        if name in env:
            return env[name]
        if name == "$env":
            return env
        raise ExprError(f"unknown name {name}")

    return ident


def _compile_member(node: Node) -> Compiled:
    obj_c = _compile(node[1])
    key_node = node[2]
    optional = bool(node[3])
    if key_node[0] == "lit":
        key = key_node[1]
        return lambda f: fetch(obj_c(f), key, optional)
    key_c = _compile(key_node)
    return lambda f: fetch(obj_c(f), key_c(f), optional)


def _compile_unary(op: str, x: Compiled) -> Compiled:
    if op in ("not", "!"):
        return lambda f: not truth(op, x(f))

    def neg(f: Frame) -> Any:
        v = x(f)
        if isinstance(v, _dt.timedelta):
            return -v if op == "-" else v
        if not is_number(v):
            raise ExprError(f"invalid operation: {op} on {type_name(v)}")
        return -v if op == "-" else v

    return neg


def _compile_binary(op: str, ln: Node, rn: Node) -> Compiled:
    r = _compile(rn)
    if op == "??":
        l_safe = _compile(ln)

        def coalesce(f: Frame) -> Any:
            try:
                v = l_safe(f)
            except NilAccess:
                v = None
            except ExprError as exc:
                if not str(exc).startswith("unknown name"):
                    raise
                v = None
            return r(f) if v is None else v

        return coalesce
    lc = _compile(ln)
    if op in ("and", "&&"):
        return lambda f: truth(op, lc(f)) and truth(op, r(f))
    if op in ("or", "||"):
        return lambda f: truth(op, lc(f)) or truth(op, r(f))
    if op == "==":
        return lambda f: equal(lc(f), r(f))
    if op == "!=":
        return lambda f: not equal(lc(f), r(f))
    if op in ("<", ">", "<=", ">="):
        return lambda f: compare(op, lc(f), r(f))
    if op == "in":
        return lambda f: member_of(lc(f), r(f))
    if op in ("matches", "contains", "startsWith", "endsWith"):
        return lambda f: string_op(op, lc(f), r(f))
    if op == "..":

        def rng(f: Frame) -> list[int]:
            a, b = lc(f), r(f)
            if not (isinstance(a, int) and isinstance(b, int)) or isinstance(a, bool) or isinstance(b, bool):
                raise mismatch("..", a, b)
            return list(range(a, b + 1))

        return rng
    return lambda f: arith(op, lc(f), r(f))


def _compile_call(name: str, args: list[Node]) -> Compiled:
    if name in PREDICATE_BUILTINS:
        impl = PREDICATE_BUILTINS[name]
        compiled = [_compile(a) for a in args]

        def pred_call(f: Frame) -> Any:
            if name in f.env and callable(f.env[name]):
                return f.env[name](*[c(f) for c in compiled])
            return impl(f, compiled)

        return pred_call
    compiled = [_compile(a) for a in args]
    builtin = _b.BUILTINS.get(name)

    def call(f: Frame) -> Any:
        fn = f.vars.get(name)
        if fn is None:
            fn = f.env.get(name)
        if not callable(fn):
            fn = builtin
        if fn is None:
            raise ExprError(f"unknown func {name}")
        return _b.invoke(name, fn, [c(f) for c in compiled])

    return call


def _compile_method(node: Node) -> Compiled:
    obj_c = _compile(node[1])
    name: str = node[2]
    arg_cs = [_compile(a) for a in node[3]]
    optional = bool(node[4])

    def mcall(f: Frame) -> Any:
        obj = obj_c(f)
        if obj is None and optional:
            return None
        args = [c(f) for c in arg_cs]
        if isinstance(obj, Mapping):
            fn = obj.get(name)
            if not callable(fn):
                raise ExprError(f"{name} is not a function")
            return _b.invoke(name, fn, args)
        return _b.call_method(obj, name, args)

    return mcall


# -- public ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def compile_expr(source: str) -> Compiled:
    """Parse and compile once; the result is cached by source text."""
    return _compile(parse(source))


def _roots(node: Any, out: set[str]) -> None:
    if isinstance(node, tuple) and node:
        if node[0] in ("ident", "call"):
            out.add(node[1])
        for child in node[1:]:
            _roots(child, out)
    elif isinstance(node, list):
        for child in node:
            _roots(child, out)


@functools.lru_cache(maxsize=4096)
def root_names(source: str) -> frozenset[str] | None:
    """The top-level names an expression reads (None: it reads ``$env``, so all)."""
    names: set[str] = set()
    _roots(parse(source), names)
    return None if "$env" in names else frozenset(names)


def run_raw(source: str, env: Mapping[str, Any]) -> Any:
    """Evaluate; errors are ExprError with the bare reason (no expression text)."""
    try:
        program = compile_expr(source)
        return program(Frame(env))
    except ExprError:
        raise
    except (TypeError, ValueError, OverflowError, ZeroDivisionError, RecursionError) as exc:
        raise ExprError(str(exc)) from None


def run(source: str, env: Mapping[str, Any]) -> Any:
    """Evaluate; an error names the expression."""
    try:
        return run_raw(source, env)
    except ExprError as exc:
        raise ExprError(f"cannot evaluate expression {source.strip()!r}: {exc.message}") from None


__all__ = [
    "Compiled",
    "Frame",
    "NilAccess",
    "compile_expr",
    "equal",
    "fetch",
    "root_names",
    "run",
    "run_raw",
]
