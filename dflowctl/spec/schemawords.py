"""A JSON Schema error of a spec in words, at the right position: what is wrong
with which op, step or parameter (``describe``), in the spelling users bring along
(Argo's and dflow's names, ``ALIASES``), with a did-you-mean hint."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from dflowctl.errors import Diagnostic
from dflowctl.spec.values import TYPE_CHOICES, TYPE_PATTERN, did_you_mean

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

    from dflowctl.spec.load import YamlDocument

# Argo / dflow spellings users bring with them, and what dflowctl calls them.
ALIASES = {
    "template": "op",
    "templates": "ops",
    "arguments": "parameters",
    "withItems": "foreach",
    "withParam": "foreach",
    "withSequence": "foreach",
    "slices": "foreach",
    "dependencies": "depends",
    "retryStrategy": "retry",
    "retries": "retry",
    "activeDeadlineSeconds": "timeout",
    "serviceAccountName": "service_account",
    "podGC": "pod_gc",
    "ttlStrategy": "ttl",
    "onExit": "on_exit",
    "continueOn": "continue_on",
    "nodeSelector": "node_selector",
    "artifactRepositoryRef": "artifact_repository",
    "generateName": "name",
    "container": "command",
    "envs": "env",
    "valueFrom": "from",
}

TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "empty",
}


def error_diagnostics(
    err: ValidationError, doc: YamlDocument, misspelt: set[tuple[Any, ...]]
) -> Iterator[Diagnostic]:
    """The diagnostics of one error (``misspelt``: missing keys an unknown key beside
    them stands for, reported once as the unknown key)."""
    path = list(err.absolute_path)
    root = doc.data
    kind = err.validator
    if kind == "additionalProperties" and isinstance(err.instance, dict):
        allowed = sorted((err.schema.get("properties") or {}).keys())
        for key in err.instance:
            if key in allowed:
                continue
            where = describe(path, root)
            message = f"unknown key `{key}` in {where}" if path else f"unknown key `{key}` at the top level"
            yield doc.diagnostic(message, doc.loc([*path, key], key=True), _key_hint(str(key), allowed, path))
        return
    if kind == "required" and isinstance(err.instance, dict):
        for name in err.validator_value:
            if name not in err.instance and (*path, name) not in misspelt:
                where = f"in {describe(path, root)}" if path else "at the top level"
                yield doc.diagnostic(f"missing required key `{name}` {where}", doc.container_loc(path))
        return
    what = _what(path, root)
    loc = doc.loc(path)
    value = err.instance
    if kind == "type":
        expected = err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
        yield doc.diagnostic(
            f"{what} must be {_or([TYPE_NAMES.get(str(t), str(t)) for t in expected])}, not {_actual(value)}",
            doc.container_loc(path) if isinstance(value, (dict, list)) else loc,
            _type_hint(value, expected, path),
        )
    elif kind == "const":
        hint = None
        if isinstance(value, str) and value.lower() == str(err.validator_value).lower():
            hint = f"did you mean `{err.validator_value}`?"
        elif path == ["apiVersion"] and str(value).startswith("argoproj.io"):
            hint = (
                "this looks like an Argo Workflow manifest; dflowctl specs use apiVersion dflowctl/v1alpha1"
            )
        yield doc.diagnostic(f"{what} must be `{err.validator_value}`, not {_show(value)}", loc, hint)
    elif kind == "pattern" and err.validator_value == TYPE_PATTERN:
        yield doc.diagnostic(
            f"{what} must be one of {', '.join(TYPE_CHOICES)}; not {_show(value)}",
            loc,
            did_you_mean(str(value), list(TYPE_CHOICES[:7])),
        )
    elif kind == "enum":
        choices = [str(c) for c in err.validator_value]
        yield doc.diagnostic(
            f"{what} must be one of {', '.join(choices)}; not {_show(value)}",
            loc,
            did_you_mean(str(value), choices),
        )
    elif kind in ("minimum", "exclusiveMinimum"):
        yield doc.diagnostic(f"{what} must be at least {err.validator_value}, not {_show(value)}", loc)
    elif kind in ("minItems", "minLength", "minProperties") and err.validator_value == 1:
        yield doc.diagnostic(
            f"{what} must not be empty", loc if kind == "minLength" else doc.container_loc(path)
        )
    elif kind == "minItems":
        yield doc.diagnostic(
            f"{what} must have at least {err.validator_value} items", doc.container_loc(path)
        )
    else:
        yield doc.diagnostic(f"{what}: {err.message}", loc)


def _actual(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return f"a boolean ({_show(value)})"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({_show(value)})"
    return f"a {type(value).__name__}"


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = json.dumps(str(value), ensure_ascii=False)
        return text if len(text) <= 40 else text[:36] + '..."'
    return (
        f"`{value}`"
        if not isinstance(value, (dict, list))
        else ("a mapping" if isinstance(value, dict) else "a list")
    )


def _or(names: Iterator[str] | Sequence[str]) -> str:
    items = list(names)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _type_hint(value: Any, expected: list[str], path: Sequence[Any]) -> str | None:
    if isinstance(value, str) and ("integer" in expected or "number" in expected):
        try:
            float(value)
            return "remove the quotes"
        except ValueError:
            return None
    if isinstance(value, list) and expected == ["object"] and len(path) >= 2 and isinstance(path[-1], int):
        return "a parallel group holds steps; it cannot hold another list"
    if value is None and "object" in expected:
        return "write `{}` for an empty mapping"
    return None


def _key_hint(key: str, allowed: Sequence[str], path: Sequence[Any]) -> str | None:
    if key == "depends" and "when" in allowed:
        return "`depends` is only for tasks in a `dag`; steps run in order"
    guess = suggest(key, allowed)
    if guess is None:
        return f"valid keys here: {', '.join(allowed)}" if allowed else None
    if guess == ALIASES.get(key):
        return f"dflowctl calls it `{guess}`"
    return f"did you mean `{guess}`?"


def suggest(key: str, allowed: Sequence[str]) -> str | None:
    """The allowed key that ``key`` most likely meant, if any."""
    alias = ALIASES.get(key)
    if alias is not None and alias in allowed:
        return alias
    norm = key.lower().replace("_", "").replace("-", "")
    for name in allowed:
        if name.lower().replace("_", "") == norm:
            return name
    close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
    return close[0] if close else None


def _dotted(path: Sequence[Any]) -> str:
    text = ""
    for item in path:
        text += f"[{item}]" if isinstance(item, int) else (f".{item}" if text else str(item))
    return text


def _step_name(node: Any, index: str) -> str:
    name = node.get("name") if isinstance(node, dict) else None
    return f"`{name}`" if isinstance(name, str) and name else f"#{index}"


def _subject(path: Sequence[Any], root: Any) -> tuple[str | None, int]:
    """The innermost named thing on ``path`` ("op `x`", "step `y`", ...) and how
    many path items it covers."""
    subject: str | None = None
    covered = 0
    node = root
    i = 0
    while i < len(path):
        item = path[i]
        parent_key = path[i - 1] if i else None
        grand = path[i - 2] if i >= 2 else None
        try:
            child = node[item]
        except (KeyError, IndexError, TypeError):
            break
        if parent_key == "ops" and (grand == "spec" or i == 2):
            subject, covered = f"op `{item}`", i + 1
        elif parent_key in ("steps", "dag") and isinstance(item, int):
            word = "task" if parent_key == "dag" else "step"
            if isinstance(child, list):
                nxt = path[i + 1] if i + 1 < len(path) else None
                if isinstance(nxt, int):
                    try:
                        inner = child[nxt]
                    except IndexError:
                        inner = None
                    subject, covered = f"{word} {_step_name(inner, f'{item + 1}.{nxt + 1}')}", i + 2
                    node = inner
                    i += 2
                    continue
                subject, covered = f"parallel group #{item + 1}", i + 1
            else:
                subject, covered = f"{word} {_step_name(child, str(item + 1))}", i + 1
        elif parent_key in ("parameters", "artifacts") and grand in ("inputs", "outputs") and subject:
            noun = ("input " if grand == "inputs" else "output ") + parent_key[:-1]
            subject, covered = f"{noun} `{item}` of {subject}", i + 1
        elif parent_key in ("parameters", "artifacts") and grand == "spec":
            subject, covered = f"workflow {parent_key[:-1]} `{item}`", i + 1
        node = child
        i += 1
    return subject, covered


def describe(path: Sequence[Any], root: Any) -> str:
    """A readable name for the mapping or list at ``path``."""
    subject, covered = _subject(path, root)
    rest = _dotted(path[covered:])
    if subject is None:
        return f"`{rest}`"
    return f"`{rest}` of {subject}" if rest else subject


def _what(path: Sequence[Any], root: Any) -> str:
    if not path:
        return "the top level"
    if isinstance(path[-1], int) and len(path) >= 2:
        subject, covered = _subject(path, root)
        if covered == len(path) and subject is not None:
            return subject
        return f"item {path[-1] + 1} of {describe(path[:-1], root)}"
    return describe(path, root)
