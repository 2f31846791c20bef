"""Steps and DAG bodies: step uses → Argo steps/tasks, fan-out, fan-in, depends.

A ``Renderer`` holds what one render needs (the workflow, template names already
taken, leaf variants already made) and appends the templates it creates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from dflowctl.render import slices
from dflowctl.render.leaf import (
    ALIGN_PREFIX,
    COUNT_PREFIX,
    FANIN_INDEX_PARAM,
    FANIN_PARAM,
    LeafVariant,
    leaf_template,
    param_decl,
    retry_strategy,
    with_default,
)
from dflowctl.render.values import encode, fail, single_tag, tags
from dflowctl.render.wrappers import Wrapping, emits_index
from dflowctl.spec import model
from dflowctl.spec.values import is_list_type
from dflowctl.stepkey import STEP_KEY_PARAM

SCOPE_PARAM = "dflowctl-scope"
FANIN_ROOT = "{{workflow.name}}/dflowctl/fanin"
SCOPE_TAG = f"{{{{inputs.parameters.{SCOPE_PARAM}}}}}"
_TASK_REF = re.compile(r"\btasks\.([a-zA-Z0-9][-a-zA-Z0-9]*)")
_DEPENDS_NAME = re.compile(r"[a-zA-Z0-9][-a-zA-Z0-9]*")


def plain(value: Any) -> Any:
    """Model values (tuples, mappings) as plain JSON-able lists and dicts."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


@dataclass(frozen=True)
class Scope:
    """Where a body is rendered: steps or dag, its steps by name, and whether the
    template carries the ``dflowctl-scope`` parameter (composite ops that fan in)."""

    kind: str  # "steps" | "dag"
    steps: Mapping[str, model.Step]
    scoped: bool
    top: bool
    template: str

    @cached_property
    def order(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.steps)}

    @property
    def fanin_root(self) -> str:
        return f"{FANIN_ROOT}/{SCOPE_TAG}" if self.scoped else FANIN_ROOT


class Namer:
    """Unique template names (Argo: ``^[a-zA-Z0-9][-a-zA-Z0-9]*$``, at most 128)."""

    def __init__(self, taken: set[str]) -> None:
        self.taken = set(taken)

    def fresh(self, base: str) -> str:
        base = base[:120].rstrip("-") or "t"
        name, n = base, 1
        while name in self.taken:
            n += 1
            name = f"{base}-{n}"
        self.taken.add(name)
        return name


def keyed_ops(wf: model.Workflow) -> set[str]:
    """Ops some step runs with a `key:` (their templates take ``dflowctl-step-key``)."""
    bodies = [wf.steps or (), *(op.steps or () for op in wf.ops.values())]
    steps = [s for groups in bodies for group in groups for s in group]
    steps += [s for dag in (wf.dag, *(op.dag for op in wf.ops.values())) for s in dag or ()]
    return {s.op for s in steps if s.key is not None}


def needs_scope(wf: model.Workflow) -> set[str]:
    """Composite ops that (directly or through other composites) fan in artifacts."""

    def uses(op: model.Op) -> list[model.Step]:
        if op.steps is not None:
            return [s for group in op.steps for s in group]
        return list(op.dag or ())

    result: set[str] = set()
    changed = True
    while changed:
        changed = False
        for op in wf.ops.values():
            if not op.composite or op.name in result:
                continue
            for step in uses(op):
                inner = wf.ops.get(step.op)
                if inner is None:
                    continue
                fans_in = step.foreach is not None and not inner.composite and bool(inner.outputs_artifacts)
                if fans_in or inner.name in result:
                    result.add(op.name)
                    changed = True
                    break
    return result


class Renderer(Wrapping):
    def __init__(self, wf: model.Workflow, source_keys: Mapping[Path, str]) -> None:
        self.wf = wf
        self.source_keys = source_keys
        self.names = Namer(set(wf.ops))
        self.extra: list[dict[str, Any]] = []
        self.leaf_names: dict[tuple[str, LeafVariant], str] = {}
        self.composite_names: dict[tuple[str, model.Retry | None], str] = {}
        self.scoped = needs_scope(wf)
        self.keyed = keyed_ops(wf)
        self.shared: dict[str, str] = {}  # the slices' own templates, made once: kind → name

    # ------------------------------------------------------------------ templates

    def base_variant(self, op: model.Op) -> LeafVariant:
        return LeafVariant(op.retry or self.wf.retry, op.timeout)

    def op_template(self, op: model.Op) -> dict[str, Any]:
        """The op's own template, named after it."""
        if op.composite:
            self.composite_names[(op.name, op.retry)] = op.name
            return self.composite_template(op, op.name, op.retry)
        variant = self.base_variant(op)
        self.leaf_names[(op.name, variant)] = op.name
        return leaf_template(op, op.name, variant, self._source_key(op), keyed=op.name in self.keyed)

    def _source_key(self, op: model.Op) -> str | None:
        if op.source is None:
            return None
        key = self.source_keys.get(op.source)
        if key is None:
            raise ValueError(f"op {op.name!r}: no repository key for its source {op.source} (pack it first)")
        return key

    def leaf_for(
        self,
        op: model.Op,
        step: model.Step,
        fanin: str,
        index: bool = False,
        align: tuple[str, ...] = (),
        **slicing: Any,
    ) -> str:
        variant = LeafVariant(
            step.retry or op.retry or self.wf.retry,
            step.timeout or op.timeout,
            fanin,
            index,
            align,
            **slicing,
        )
        key = (op.name, variant)
        if key not in self.leaf_names:
            plain_variant = LeafVariant(variant.retry, variant.timeout) == self.base_variant(op)
            kind = (
                "group"
                if variant.group
                else "fanin"
                if variant.fanin or variant.index
                else "items"
                if variant.ok
                else "aligned"
            )
            name = self.names.fresh(f"{op.name}-{kind}" if plain_variant else f"{op.name}-{step.name}")
            self.leaf_names[key] = name
            keyed = op.name in self.keyed
            self.extra.append(leaf_template(op, name, variant, self._source_key(op), keyed=keyed))
        return self.leaf_names[key]

    def composite_for(self, op: model.Op, step: model.Step) -> str:
        if step.timeout is not None:
            raise fail(
                f"step '{step.name}': a timeout on a composite op is not supported by Argo "
                "(set `timeout` on the ops it runs, or on the workflow)",
                step.loc,
            )
        retry = step.retry or op.retry
        key = (op.name, retry)
        if key not in self.composite_names:
            name = self.names.fresh(f"{op.name}-{step.name}")
            self.composite_names[key] = name
            self.extra.append(self.composite_template(op, name, retry))
        return self.composite_names[key]

    def composite_template(self, op: model.Op, name: str, retry: model.Retry | None) -> dict[str, Any]:
        if op.timeout is not None:
            raise fail(f"op '{op.name}': a timeout on a composite op is not supported by Argo", op.loc)
        scoped = op.name in self.scoped
        in_params = [param_decl(p) for p in op.inputs_parameters]
        if scoped:
            in_params.append({"name": SCOPE_PARAM, "default": op.name})
        if op.name in self.keyed:
            in_params.append({"name": STEP_KEY_PARAM, "default": ""})
        in_arts = [
            {"name": a.name, **({"optional": True} if a.optional else {})} for a in op.inputs_artifacts
        ]
        tmpl: dict[str, Any] = {"name": name}
        inputs = {k: v for k, v in (("parameters", in_params), ("artifacts", in_arts)) if v}
        if inputs:
            tmpl["inputs"] = inputs
        body_steps = self._body_steps(op.steps, op.dag)
        scope = Scope("steps" if op.steps is not None else "dag", body_steps, scoped, False, name)
        outputs = self.composite_outputs(op, scope)
        if outputs:
            tmpl["outputs"] = outputs
        tmpl.update(self.body(op.steps, op.dag, scope))
        if retry is not None:
            tmpl["retryStrategy"] = retry_strategy(retry)
        return tmpl

    def composite_outputs(self, op: model.Op, scope: Scope) -> dict[str, Any]:
        params = []
        for p in op.outputs_parameters:
            if not p.from_ref:
                raise fail(
                    f"output parameter '{p.name}' of composite op '{op.name}' needs `from`", p.loc or op.loc
                )
            if p.if_expr is not None and p.else_ref is not None:
                chosen = choice(p.if_expr, p.from_ref, p.else_ref)
                params.append({"name": p.name, "valueFrom": with_default({"expression": chosen}, p)})
                continue
            params.append({"name": p.name, "valueFrom": with_default({"parameter": p.from_ref}, p)})
        arts = []
        for a in op.outputs_artifacts:
            if not a.from_ref:
                raise fail(
                    f"output artifact '{a.name}' of composite op '{op.name}' needs `from`", a.loc or op.loc
                )
            if self._fanin_source(a.from_ref, scope) is not None:
                raise fail(
                    f"output artifact '{a.name}' of composite op '{op.name}' comes from a foreach step; "
                    "fan-in directories cannot leave a composite op (consume them inside it)",
                    a.loc or op.loc,
                )
            if a.if_expr is not None and a.else_ref is not None:
                if self._fanin_source(a.else_ref, scope) is not None:
                    raise fail(
                        f"output artifact '{a.name}' of composite op '{op.name}': `else` comes from a "
                        "foreach step; fan-in directories cannot leave a composite op",
                        a.loc or op.loc,
                    )
                source = {"fromExpression": choice(a.if_expr, a.from_ref, a.else_ref)}
            else:
                source = {"from": a.from_ref}
            arts.append({"name": a.name, **source, **({"optional": True} if a.optional else {})})
        return {k: v for k, v in (("parameters", params), ("artifacts", arts)) if v}

    # ------------------------------------------------------------------ bodies

    @staticmethod
    def _body_steps(
        steps: tuple[model.StepGroup, ...] | None, dag: tuple[model.Step, ...] | None
    ) -> dict[str, model.Step]:
        flat = [s for g in steps for s in g] if steps is not None else list(dag or ())
        return {s.name: s for s in flat}

    def body(
        self, steps: tuple[model.StepGroup, ...] | None, dag: tuple[model.Step, ...] | None, scope: Scope
    ) -> dict[str, Any]:
        if steps is not None:
            return {"steps": [[self.step(s, scope) for s in group] for group in steps]}
        return {"dag": {"tasks": [self.step(s, scope) for s in dag or ()]}}

    def step(self, step: model.Step, scope: Scope) -> dict[str, Any]:
        op = self.wf.ops.get(step.op)
        if op is None:
            raise fail(f"step '{step.name}' uses unknown op '{step.op}'", step.loc)
        fanout = step.foreach is not None
        params = [{"name": k, "value": encode(plain(v))} for k, v in step.parameters.items()]
        if op.composite:
            template = self.composite_for(op, step)
            if op.name in self.scoped:
                parent = f"{SCOPE_TAG}/" if scope.scoped else ""
                params.append(
                    {"name": SCOPE_PARAM, "value": parent + step.name + ("/{{item}}" if fanout else "")}
                )
        else:
            pairs = slices.paired(step, op)
            if pairs:
                params = [{**p, "value": slices.own_item(p["value"])} for p in params]
            index = slices.INDEX_TAG if pairs else item_index(step.foreach) if step.foreach else None
            group = slices.grouped(step)
            fanin = (
                ""
                if step.foreach is None or not op.outputs_artifacts
                else ("group" if group else "index" if index else "pod")
            )
            takes_index = index is not None and (fanin == "index" or emits_index(op))
            aligned = self.aligned_inputs(step, op, scope)
            slicing: dict[str, Any] = {"ok": slices.by_items(step)}
            if group and step.foreach is not None and step.foreach.entries is not None:
                slicing.update(
                    group=step.foreach.entries, pool=step.foreach.pool or 1, tolerate=slicing["ok"]
                )
            template = self.leaf_for(
                op, step, fanin, takes_index, tuple(name for name, _ in aligned), **slicing
            )
            if fanin:
                params.append({"name": FANIN_PARAM, "value": f"{scope.fanin_root}/{step.name}"})
            if takes_index and index is not None:
                params.append({"name": FANIN_INDEX_PARAM, "value": index})
            for name, (indices, count) in aligned:
                params.append({"name": ALIGN_PREFIX + name, "value": indices})
                params.append({"name": COUNT_PREFIX + name, "value": count})
        paired = not op.composite and slices.paired(step, op)
        if step.key is not None:
            params.append(
                {"name": STEP_KEY_PARAM, "value": slices.own_item(step.key) if paired else step.key}
            )
        arts = [self.artifact_arg(name, ref, scope, step) for name, ref in step.artifacts.items()]

        out: dict[str, Any] = {"name": step.name, "template": template}
        if scope.kind == "dag":
            depends = self.depends(step, scope)
            if depends:
                out["depends"] = depends
        args = {k: v for k, v in (("parameters", params), ("artifacts", arts)) if v}
        if args:
            out["arguments"] = args
        if step.when:
            out["when"] = slices.own_item(step.when) if paired else step.when
        if step.foreach is not None:
            out.update(slices.paired_loop(step.foreach) if paired else foreach(step.foreach))
        if step.continue_on is not None:
            cont = {k: True for k in ("failed", "error") if getattr(step.continue_on, k)}
            if cont:
                out["continueOn"] = cont
        if slices.needs_slices(step, op):
            return self.wrap_slices(out, op, step, scope)
        if step.foreach is not None and step.foreach.parallelism:
            return self.wrap(out, op, step.foreach.parallelism, scope)
        return out

    # ------------------------------------------------------------------ aligned fan-in

    def aligned_inputs(
        self, step: model.Step, op: model.Op, scope: Scope
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
            if (
                len(parts) != 5
                or parts[0] not in ("steps", "tasks")
                or parts[2:4] != ["outputs", "parameters"]
            ):
                continue
            src = scope.steps.get(parts[1])
            src_op = self.wf.ops.get(src.op) if src is not None else None
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

    # ------------------------------------------------------------------ artifacts

    def _fanin_source(self, ref: str, scope: Scope) -> model.Step | None:
        tag = single_tag(ref)
        if tag is None:
            return None
        parts = tag.split(".")
        if len(parts) != 5 or parts[0] not in ("steps", "tasks") or parts[2:4] != ["outputs", "artifacts"]:
            return None
        src = scope.steps.get(parts[1])
        return src if src is not None and src.foreach is not None else None

    def artifact_arg(self, name: str, ref: str, scope: Scope, step: model.Step) -> dict[str, Any]:
        loc = step.value_locs.get(name, step.loc)
        tag = single_tag(ref)
        if tag is None:
            return {"name": name, **literal_artifact(ref, loc)}
        src = self._fanin_source(ref, scope)
        if src is not None:
            src_op = self.wf.ops[src.op]
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
        return {"name": name, "from": ref.strip()}

    # ------------------------------------------------------------------ dag depends

    def depends(self, step: model.Step, scope: Scope) -> str | None:
        texts: list[str] = [encode(plain(v)) for v in step.parameters.values()]
        texts.extend(step.artifacts.values())
        if step.when:
            texts.append(step.when)
        if step.foreach is not None:
            fe = step.foreach
            texts.extend(str(v) for v in (fe.param, fe.count, fe.start, fe.end) if v is not None)
        refs = {m.group(1) for t in texts for tag in tags(t) for m in _TASK_REF.finditer(tag)}
        refs = {r for r in refs if r in scope.steps and r != step.name}
        explicit = step.depends
        mentioned = set(_DEPENDS_NAME.findall(explicit or ""))
        missing = sorted((r for r in refs if r not in mentioned), key=scope.order.__getitem__)
        if not missing:
            return explicit
        if not explicit:
            return " && ".join(missing)
        left = f"({explicit})" if "||" in explicit else explicit
        return " && ".join([left, *missing])


def foreach(fe: model.Foreach) -> dict[str, Any]:
    if fe.kind == "entries":
        return {"withParam": f"{{{{steps.{slices.ENTRIES_STEP}.outputs.parameters.items}}}}"}
    if fe.kind == "items":
        return {"withItems": plain(list(fe.items or ()))}
    if fe.kind == "param":
        return {"withParam": fe.param}
    seq: dict[str, Any] = {}
    if fe.count is not None:
        seq["count"] = str(fe.count)
    if fe.start is not None:
        seq["start"] = str(fe.start)
    if fe.end is not None:
        seq["end"] = str(fe.end)
    if fe.format:
        seq["format"] = fe.format
    return {"withSequence": seq}


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def expr_path(ref: str) -> str:
    """A ``{{steps.a-b.outputs.parameters.x}}`` reference as an expr-lang path:
    ``steps['a-b'].outputs.parameters.x``."""
    parts = (single_tag(ref) or ref).strip().split(".")
    return parts[0] + "".join(f".{p}" if _IDENT.match(p) else f"[{p!r}]" for p in parts[1:])


def choice(condition: str, then_ref: str, else_ref: str) -> str:
    """``from`` if ``condition`` else ``else``, as Argo's output expression."""
    return f"({condition.strip()}) ? {expr_path(then_ref)} : {expr_path(else_ref)}"


_NUMBER_FORMAT = re.compile(r"^%0?\d*d$")


def item_count(fe: model.Foreach) -> str | None:
    """How many items a ``range`` has, as parameter text (a literal or a reference)."""
    if fe.kind != "range":
        return None
    if fe.count is not None:
        return str(fe.count)
    if isinstance(fe.start, int) and isinstance(fe.end, int):
        return str(abs(fe.end - fe.start) + 1)
    return None


def item_index(fe: model.Foreach) -> str | None:
    """The loop index of the current item as an Argo expression of ``item`` alone
    (Argo has no index variable): for a ``range`` with a literal start (and, with
    ``end``, a literal end); ``None`` when it cannot be known from the item.
    An entry of a folder (``entries`` without ``group``) carries its index."""
    if fe.kind == "entries":
        return None if fe.group else "{{item.i}}"
    if fe.kind != "range" or (fe.format and not _NUMBER_FORMAT.match(fe.format)):
        return None
    start = 0 if fe.start is None else fe.start
    if not isinstance(start, int):
        return None
    down = False
    if fe.end is not None:
        if not isinstance(fe.end, int):
            return None
        down = fe.end < start  # Argo counts down from start to end
    if start == 0:
        return "{{=asInt(item)}}"
    if down:
        return f"{{{{={start} - asInt(item)}}}}"
    return f"{{{{=asInt(item) - {start}}}}}" if start > 0 else f"{{{{=asInt(item) + {-start}}}}}"


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
