"""Argo's template tags: ``{{name}}`` from a flat scope and ``{{=expr}}`` (expr-lang).

Tags are found as Argo's fasttemplate finds them: from ``{{`` to the first
``}}`` after it. A simple tag's name is trimmed of whitespace and looked up in
the flat scope (``"inputs.parameters.x"``, ``"steps.a.outputs.result"``,
``"item"``, ...). An expression tag (``{{=...}}``) is evaluated against the
nested environment :func:`build_env` makes from the same scope, plus Argo's
functions (``asInt``, ``asFloat``, ``jsonpath``, ``toJson``, ``sprig``); its
result is written as Go's ``fmt.Sprintf("%v", result)`` writes it.
"""

from __future__ import annotations

import functools
from collections import ChainMap
from collections.abc import Mapping
from typing import Any

from dflowctl.expr.builtins import argo_functions
from dflowctl.expr.evaluator import root_names, run, run_raw
from dflowctl.expr.values import Absent, ExprError, go_sprint, render_value, type_name

_LIT = 0
_TAG = 1
_EXPR = 2

Segment = tuple[int, str, str]  # (kind, payload, raw tag content)

ARGO_FUNCTIONS: Mapping[str, Any] = argo_functions()

_ABSENT_MESSAGE = "the node was skipped or omitted and has no such output"


@functools.lru_cache(maxsize=8192)
def _parse_template(text: str) -> tuple[Segment, ...]:
    segs: list[Segment] = []
    pos = 0
    n = len(text)
    while pos < n:
        start = text.find("{{", pos)
        if start < 0:
            break
        end = text.find("}}", start + 2)
        if end < 0:
            break  # an unterminated `{{` stays literal text
        if start > pos:
            segs.append((_LIT, text[pos:start], ""))
        content = text[start + 2 : end]
        stripped = content.lstrip()
        if stripped.startswith("="):
            segs.append((_EXPR, stripped[1:], content))
        else:
            segs.append((_TAG, content.strip(), content))
        pos = end + 2
    if pos < n:
        segs.append((_LIT, text[pos:], ""))
    return tuple(segs)


@functools.lru_cache(maxsize=8192)
def _template_roots(text: str) -> frozenset[str] | None:
    """The top-level names all expression tags of ``text`` read (None: everything)."""
    roots: set[str] = set()
    for kind, payload, _ in _parse_template(text):
        if kind != _EXPR:
            continue
        try:
            names = root_names(payload)
        except (ExprError, RecursionError):
            return None  # the error is reported when the tag is evaluated
        if names is None:
            return None
        roots |= names
    return frozenset(roots)


def find_tags(text: str) -> list[str]:
    """The simple tag names in ``text`` (trimmed), in order; expressions are left out."""
    if "{{" not in text:
        return []
    return [payload for kind, payload, _ in _parse_template(text) if kind == _TAG]


def build_env(scope: Mapping[str, Any], roots: frozenset[str] | None = None) -> dict[str, Any]:
    """The nested environment for expressions, from a flat dotted scope.

    ``{"inputs.parameters.x": "1", "item": {"a": 1}}`` becomes
    ``{"inputs": {"parameters": {"x": "1"}}, "item": {"a": 1}}``. When a name is both
    a value and a prefix of others (``inputs.parameters`` and
    ``inputs.parameters.x``), the children win, merged into the value if it is a
    mapping. Argo's functions are added at the top level. ``roots``: only the
    names under these top-level names are needed (an expression's free names).
    """
    root: dict[str, Any] = {}
    owned: set[int] = {id(root)}
    if roots is None:
        keys: Any = scope
    else:
        prefixes = _prefixes(roots)
        keys = [k for k in scope if k in roots or k.startswith(prefixes)]
    for key in sorted(keys, key=lambda k: k.count(".")):
        value = scope[key]
        if isinstance(value, Absent):
            value = None
        parts = key.split(".")
        cur = root
        for part in parts[:-1]:
            nxt = cur.get(part)
            if isinstance(nxt, dict) and id(nxt) in owned:
                cur = nxt
                continue
            new: dict[str, Any] = dict(nxt) if isinstance(nxt, Mapping) else {}
            owned.add(id(new))
            cur[part] = new
            cur = new
        last = parts[-1]
        existing = cur.get(last)
        if isinstance(existing, dict) and id(existing) in owned and isinstance(value, Mapping):
            for k, v in value.items():
                existing.setdefault(k, v)
        elif not (isinstance(existing, dict) and id(existing) in owned):
            cur[last] = value
    root.update(ARGO_FUNCTIONS)
    return root


@functools.lru_cache(maxsize=1024)
def _prefixes(roots: frozenset[str]) -> tuple[str, ...]:
    return tuple(r + "." for r in roots)


def evaluate_expr(expr: str, env: Mapping[str, Any]) -> Any:
    """Evaluate an expr-lang expression against a nested environment.

    Argo's functions (``asInt``, ``asFloat``, ``jsonpath``, ``toJson``, ``sprig``) are
    available unless ``env`` defines the same names.
    """
    full: Mapping[str, Any] = env if "sprig" in env else ChainMap(env, ARGO_FUNCTIONS)  # type: ignore[arg-type]
    return run(expr, full)


def substitute(text: str, scope: Mapping[str, Any], *, strict: bool = True) -> str:
    """Replace Argo's ``{{tag}}`` and ``{{=expr}}`` tags in ``text``.

    ``strict``: an unknown simple tag, or an expression that fails or gives nil,
    raises :class:`ExprError`; otherwise such a tag is left as it was. A simple tag
    naming an :class:`Absent` value raises either way: Argo's terminal error for a
    required output a Skipped/Omitted node lacks (Argo v4.0.x gives the empty string;
    docs/argo-examples.md, "Known differences").
    """
    if "{{" not in text:
        return text
    segs = _parse_template(text)
    out: list[str] = []
    env: dict[str, Any] | None = None
    for kind, payload, raw in segs:
        if kind == _LIT:
            out.append(payload)
            continue
        if kind == _TAG:
            if payload in scope:
                value = scope[payload]
                if isinstance(value, Absent):
                    raise ExprError(f"failed to resolve {{{{{raw}}}}}: {_ABSENT_MESSAGE}")
                out.append(render_value(value))
                continue
            nested = _nested_tag(raw, scope)
            if nested is not None:
                out.append(nested)
                continue
            if strict:
                raise ExprError(f"failed to resolve {{{{{raw}}}}}")
            out.append("{{" + raw + "}}")
            continue
        if env is None:
            env = build_env(scope, _template_roots(text))
        try:
            result = run_raw(payload, env)
        except ExprError as exc:
            if strict:
                raise ExprError(f"failed to evaluate {{{{{raw}}}}}: {exc.message}") from None
            out.append("{{" + raw + "}}")
            continue
        if result is None:
            if strict:
                raise ExprError(f"failed to evaluate {{{{{raw}}}}}: the expression gave nil")
            out.append("{{" + raw + "}}")
            continue
        if callable(result):
            raise ExprError(f"failed to evaluate {{{{{raw}}}}}: the expression gave a {type_name(result)}")
        out.append(go_sprint(result))
    return "".join(out)


def substitute_tree(obj: Any, scope: Mapping[str, Any], *, strict: bool = True) -> Any:
    """:func:`substitute` every string (mapping keys too) in a JSON-like tree.

    Argo substitutes over a template's JSON text, so keys are substituted as well;
    numbers, booleans and None are left as they are. Returns a new tree.
    """
    if isinstance(obj, str):
        return substitute(obj, scope, strict=strict)
    if isinstance(obj, Mapping):
        return {
            (substitute(k, scope, strict=strict) if isinstance(k, str) else k): substitute_tree(
                v, scope, strict=strict
            )
            for k, v in obj.items()
        }
    if isinstance(obj, (list, tuple)):
        return [substitute_tree(v, scope, strict=strict) for v in obj]
    return obj


def _nested_tag(raw: str, scope: Mapping[str, Any]) -> str | None:
    """Argo's nested-tag rule: in ``{{ a {{b}}``, resolve ``b`` and keep ``{{ a `` literal."""
    idx = raw.rfind("{{")
    if idx <= 0:
        return None
    inner = raw[idx + 2 :]
    if inner in scope and isinstance(scope[inner], str):
        return "{{" + raw[:idx] + scope[inner]
    return None


def evaluate_retry_expression(
    expr: str, last_retry: Mapping[str, Any], scope: Mapping[str, Any] | None = None
) -> bool:
    """``retryStrategy.expression``: may another attempt run?

    ``last_retry`` holds ``exitCode``, ``status``, ``duration`` and ``message`` of the
    attempt that just ended; Argo passes them as strings (exit code ``"1"``, duration
    in whole seconds ``"12"``, status ``"Failed"``/``"Error"``). ``scope`` (flat) adds
    other variables; simple tags must be substituted before.
    """
    env = build_env(scope or {})
    env["lastRetry"] = dict(last_retry)
    result = run(expr, env)
    if not isinstance(result, bool):
        raise ExprError(f"retry expression {expr.strip()!r} gave {go_sprint(result)!r}, not a boolean")
    return result
