"""Argo's variable scopes and loop expansion for the local controller.

A scope is flat, as Argo's: ``{"inputs.parameters.x": "1", "steps.a.outputs.result": "..."}``;
values are strings. Artifacts are kept apart (``ArtifactScope``) since they are
objects, referenced only by ``from: "{{steps.a.outputs.artifacts.x}}"``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dflowctl.errors import DflowctlError
from dflowctl.stepkey import is_provenance

Scope = dict[str, str]
ArtifactScope = dict[str, dict[str, Any]]

_LOOP_INDEX = re.compile(r"\((\d+)(?::.*)?\)$")
# The most items one loop may expand to here: every item is a node (and a pod) of the run.
MAX_LOOP_ITEMS = 100_000


class TemplateError(DflowctlError):
    """A problem in the workflow found while running it (Argo marks the node Error)."""


def go_json(value: Any) -> str:
    """JSON as Go's ``json.Marshal`` writes it: compact, map keys sorted."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def param_string(value: Any) -> str:
    """A parameter value as Argo keeps it (``AnyString``)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return go_json(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return repr(value)
    return str(value)


def item_string(item: Any) -> str:
    """``{{item}}`` and ``%v`` of an Argo ``Item``: strings as is, anything else as JSON."""
    if isinstance(item, str):
        return item
    return param_string(item)


def item_vars(item: Any) -> Scope:
    """The scope an item adds: ``item``, and ``item.<key>`` for a map."""
    out = {"item": item_string(item)}
    if isinstance(item, Mapping):
        for key, val in item.items():
            out[f"item.{key}"] = item_string(val)
    return out


def item_label(item: Any) -> str:
    """The ``desc`` Argo puts in an expanded node name ``<name>(<i>:<desc>)``."""
    if isinstance(item, Mapping):
        return ",".join(sorted(f"{k}:{item_string(v)}" for k, v in item.items()))
    return item_string(item)


def loop_name(name: str, index: int, item: Any) -> str:
    return f"{name}({index}:{item_label(item)})"


def loop_index(node_name: str) -> int:
    match = _LOOP_INDEX.search(node_name)
    return int(match.group(1)) if match else 0


def _sequence_range(seq: Mapping[str, Any]) -> tuple[int, int, int]:
    """``withSequence`` as (start, stop, step) of a ``range``; its size is checked first."""

    def as_int(key: str, default: int | None) -> int | None:
        raw = seq.get(key)
        if raw is None or raw == "":
            return default
        try:
            return int(str(raw).strip())
        except ValueError:
            raise TemplateError(f"withSequence.{key} {str(raw)[:80]!r} is not an integer") from None

    count = as_int("count", None)
    start = as_int("start", 0) or 0
    end = as_int("end", None)
    if count is not None and end is not None:
        raise TemplateError("only one of count or end can be defined in withSequence")
    if count is not None:
        check_loop_size(max(count, 0), "withSequence")  # before making anything of that size
        return start, start + count, 1
    if end is not None:
        check_loop_size(abs(end - start) + 1, "withSequence")
        return (start, end + 1, 1) if end >= start else (start, end - 1, -1)
    raise TemplateError("either count or end must be defined in withSequence")


def oversized_loop(workflow: Mapping[str, Any]) -> str | None:
    """A ``withSequence`` whose size the workflow's parameters decide already and that is
    over ``MAX_LOOP_ITEMS``: said before the run starts (the rest is checked as it runs)."""
    from dflowctl import expr

    spec = workflow.get("spec") or {}
    scope: Scope = {}
    for p in (spec.get("arguments") or {}).get("parameters") or []:
        value = p.get("value", p.get("default"))
        if value is not None:
            scope[f"workflow.parameters.{p['name']}"] = param_string(value)
    for tmpl in spec.get("templates") or []:
        dag = tmpl.get("dag") or {}
        uses = [("task", t) for t in dag.get("tasks") or []]
        uses += [("step", st) for group in tmpl.get("steps") or [] for st in group or []]
        for kind, use in uses:
            seq = use.get("withSequence")
            if not isinstance(seq, Mapping):
                continue
            try:
                resolved = {k: expr.substitute(str(v), scope, strict=False) for k, v in seq.items()}
                _sequence_range(resolved)
            except TemplateError as err:
                if "local engine's limit" in str(err):
                    return f"{kind} {use.get('name')!r} of template {tmpl.get('name')!r}: {err}"
            except expr.ExprError:
                continue  # decided as it runs
    return None


def expand_sequence(seq: Mapping[str, Any]) -> list[str]:
    """``withSequence``: ``count``/``start``/``end`` (inclusive, counting down too) and ``format``."""
    numbers = range(*_sequence_range(seq))
    fmt = seq.get("format")
    if not fmt:
        return [str(n) for n in numbers]
    out = []
    for n in numbers:
        try:
            out.append(str(fmt) % n)
        except (TypeError, ValueError):
            raise TemplateError(f"withSequence.format {fmt!r} cannot format {n}") from None
    return out


def check_loop_size(size: int, what: str) -> None:
    if size > MAX_LOOP_ITEMS:
        raise TemplateError(f"{what} makes {size} items, over the local engine's limit of {MAX_LOOP_ITEMS}")


def loop_items(step: Mapping[str, Any]) -> list[Any] | None:
    """The items a step or task fans out over, or None when it does not loop."""
    if step.get("withItems") is not None:
        items = step["withItems"]
        if not isinstance(items, list):
            raise TemplateError("withItems must be a list")
        check_loop_size(len(items), "withItems")
        return items
    if step.get("withParam") is not None:
        raw = step["withParam"]
        if isinstance(raw, list):
            check_loop_size(len(raw), "withParam")
            return raw
        try:
            items = json.loads(str(raw))
        except ValueError as err:
            raise TemplateError(
                f"withParam value could not be parsed as a JSON list: {str(raw).strip()}: {err}"
            ) from None
        if not isinstance(items, list):
            raise TemplateError(f"withParam value could not be parsed as a JSON list: {str(raw).strip()}")
        check_loop_size(len(items), "withParam")
        return items
    if step.get("withSequence") is not None:
        return expand_sequence(step["withSequence"])
    return None


def walk_strings(obj: Any, fn: Callable[[str], str]) -> Any:
    """A copy of ``obj`` with ``fn`` applied to every string (keys untouched)."""
    kind = type(obj)  # the plain JSON types first: every pod's template is walked
    if kind is str:
        return fn(obj) if "{{" in obj else obj
    if kind is dict:
        return {k: walk_strings(v, fn) for k, v in obj.items()}
    if kind is list:
        return [walk_strings(v, fn) for v in obj]
    if isinstance(obj, str):
        return fn(obj) if "{{" in obj else obj
    if isinstance(obj, Mapping):
        return {k: walk_strings(v, fn) for k, v in obj.items()}
    if isinstance(obj, list):
        return [walk_strings(v, fn) for v in obj]
    return obj


def node_scope(prefix: str, node: Mapping[str, Any], scope: Scope, arts: ArtifactScope) -> None:
    """Argo's ``buildLocalScope``: what ``steps.X.*`` / ``tasks.X.*`` resolve to."""
    scope[f"{prefix}.id"] = str(node.get("id", ""))
    scope[f"{prefix}.status"] = str(node.get("phase", ""))
    if node.get("podIP"):
        scope[f"{prefix}.ip"] = str(node["podIP"])
    if node.get("startedAt"):
        scope[f"{prefix}.startedAt"] = str(node["startedAt"])
    if node.get("finishedAt"):
        scope[f"{prefix}.finishedAt"] = str(node["finishedAt"])
    outputs = node.get("outputs") or {}
    if outputs.get("exitCode") is not None:
        scope[f"{prefix}.exitCode"] = str(outputs["exitCode"])
    if outputs.get("result") is not None:
        scope[f"{prefix}.outputs.result"] = str(outputs["result"])
    for param in outputs.get("parameters") or []:
        if "value" in param and not is_provenance(param["name"]):
            scope[f"{prefix}.outputs.parameters.{param['name']}"] = str(param["value"])
    for art in outputs.get("artifacts") or []:
        arts[f"{prefix}.outputs.artifacts.{art['name']}"] = dict(art)


def aggregate_scope(prefix: str, children: Sequence[Mapping[str, Any]], scope: Scope) -> None:
    """Argo's ``processAggregateNodeOutputs``: a loop's outputs as JSON lists, in item order."""
    ordered = sorted(
        (c for c in children if c.get("type") != "Retry"), key=lambda c: loop_index(str(c.get("name", "")))
    )
    params: list[dict[str, str]] = []
    values: dict[str, list[str]] = {}
    results: list[Any] = []
    for child in ordered:
        outputs = child.get("outputs")
        if not outputs or child.get("phase") != "Succeeded":
            continue
        visible = [p for p in outputs.get("parameters") or [] if not is_provenance(p["name"])]
        if visible:
            one = {}
            for p in visible:
                one[p["name"]] = str(p.get("value", ""))
                values.setdefault(p["name"], []).append(str(p.get("value", "")))
            params.append(one)
        if outputs.get("result") is not None:
            text = str(outputs["result"])
            try:
                results.append(json.loads(text))
            except ValueError:
                results.append(text)
    scope[f"{prefix}.outputs.result"] = go_json(results)
    scope[f"{prefix}.outputs.parameters"] = go_json(params)
    for name, vals in values.items():
        scope[f"{prefix}.outputs.parameters.{name}"] = aggregated_values(vals)


def aggregated_values(values: Sequence[str]) -> str:
    """Argo's ``aggregatedJSONValueList``: when every value is a JSON list or map (a group
    pod's outputs), the list of them as Go re-marshals them (numbers as float64, so ``100.0``
    is ``100``); else the list of the texts."""
    from dflowctl.expr.values import go_json as go_marshal

    parsed: list[Any] = []
    for text in values:
        try:
            value = json.loads(text, parse_int=float, parse_constant=_not_json)
        except ValueError:
            return go_json(list(values))
        if not isinstance(value, (list, dict)):
            return go_json(list(values))
        parsed.append(value)
    return go_marshal(parsed)


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # Python reads NaN and Infinity; Go does not
