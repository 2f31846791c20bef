"""Artifacts and lists a step takes from a fan-out: a step's artifact argument (a
fan-in key, a workflow artifact, a literal location), and the ``list[T]`` inputs of a
Python op that get a fan-in put back in item order (aligned fan-in)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dflowctl.render import slices
from dflowctl.render.leaf import FANIN_INDEX_PARAM
from dflowctl.render.loops import item_count, item_index
from dflowctl.render.scope import Scope
from dflowctl.render.values import fail, single_tag
from dflowctl.render.wrappers import emits_index
from dflowctl.spec import model
from dflowctl.spec.values import is_list_type


def aligned_inputs(
    step: model.Step, op: model.Op, scope: Scope, ops: Mapping[str, model.Op]
) -> list[tuple[str, tuple[str, str]]]:
    """The ``list[T]`` inputs of a Python op given exactly a fan-in whose items know
    their index: (input, (the producer's aggregated indices, its item count))."""
    if op.kind != "python":
        return []
    found = []
    for name, value in step.parameters.items():
        decl = op.input_param(name)
        tag = single_tag(value) if isinstance(value, str) else None
        if decl is None or not is_list_type(decl.type) or tag is None:
            continue
        parts = tag.split(".")
        if len(parts) != 5 or parts[0] not in ("steps", "tasks") or parts[2:4] != ["outputs", "parameters"]:
            continue
        src = scope.steps.get(parts[1])
        src_op = ops.get(src.op) if src is not None else None
        if src is None or src.foreach is None or src_op is None or not emits_index(src_op):
            continue
        wrapper_count = f"{{{{{parts[0]}.{parts[1]}.outputs.parameters.{slices.COUNT_OUTPUT}}}}}"
        if src.foreach.kind == "entries":  # its wrapper outputs how many entries there were
            count: str | None = wrapper_count
        elif slices.paired(src, src_op):  # its items are pairs: literal, or by the enumerate pod
            count = str(len(src.foreach.items or ())) if src.foreach.kind == "items" else wrapper_count
        else:
            count = item_count(src.foreach)
            if item_index(src.foreach) is None:
                continue
        if count is None:
            continue
        indices = f"{{{{{parts[0]}.{parts[1]}.outputs.parameters.{FANIN_INDEX_PARAM}}}}}"
        found.append((name, (indices, count)))
    return found


def fanin_source(ref: str, scope: Scope) -> model.Step | None:
    tag = single_tag(ref)
    if tag is None:
        return None
    parts = tag.split(".")
    if len(parts) != 5 or parts[0] not in ("steps", "tasks") or parts[2:4] != ["outputs", "artifacts"]:
        return None
    src = scope.steps.get(parts[1])
    return src if src is not None and src.foreach is not None else None


def flat_inputs(step: model.Step, op: model.Op, scope: Scope, ops: Mapping[str, model.Op]) -> tuple[str, ...]:
    """The input artifacts of a Python op given a fan-in of an output its code declares a
    list of paths (``many``): the bootstrap lists every item's files in them (when the op
    wants a list), not one entry per item."""
    if op.kind != "python":
        return ()
    found = []
    for name, ref in step.artifacts.items():
        src = fanin_source(ref, scope)
        tag = single_tag(ref)
        if src is None or tag is None:
            continue
        out = ops[src.op].output_artifact(tag.split(".")[-1])
        if out is not None and out.many:
            found.append(name)
    return tuple(found)


def artifact_arg(
    name: str, ref: str, scope: Scope, step: model.Step, ops: Mapping[str, model.Op]
) -> dict[str, Any]:
    loc = step.value_locs.get(name, step.loc)
    tag = single_tag(ref)
    if tag is None:
        return {"name": name, **literal_artifact(ref, loc)}
    src = fanin_source(ref, scope)
    if src is not None:
        src_op = ops[src.op]
        if src_op.composite:
            raise fail(
                f"step '{step.name}' takes artifact '{tag.split('.')[-1]}' of foreach step '{src.name}', "
                f"which runs composite op '{src_op.name}': fan-in works for leaf ops only",
                loc,
            )
        return {"name": name, "s3": {"key": f"{scope.fanin_root}/{src.name}/{tag.split('.')[-1]}"}}
    parts = tag.split(".")
    if parts[:2] == ["workflow", "artifacts"] and len(parts) == 3:
        if not scope.top:
            raise fail(
                f"step '{step.name}': workflow artifacts reach the top-level steps only; "
                "pass it to the composite op as an input artifact",
                loc,
            )
        return {"name": name, "from": f"{{{{inputs.artifacts.{parts[2]}}}}}"}
    arg: dict[str, Any] = {"name": name, "from": ref.strip()}
    decl = ops[step.op].input_artifact(name)
    if decl is not None and decl.optional:
        # as dflow renders an optional input: Argo leaves out an argument it cannot resolve
        # (an optional output that was not written) instead of failing the step
        arg["optional"] = True
    return arg


def literal_artifact(ref: str, loc: Any) -> dict[str, Any]:
    """An artifact given as a location: ``https://…`` (http) or ``s3://BUCKET/KEY`` (key-only s3)."""
    if ref.startswith(("http://", "https://")):
        return {"http": {"url": ref}}
    if ref.startswith("s3://"):
        bucket, _, key = ref[len("s3://") :].partition("/")
        if not bucket or not key:
            raise fail(f"artifact location {ref!r} needs a bucket and a key (s3://BUCKET/KEY)", loc)
        return {"s3": {"key": key}}
    raise fail(
        f"artifact value {ref!r} is neither a {{{{...}}}} reference nor an s3:// or https:// location", loc
    )
