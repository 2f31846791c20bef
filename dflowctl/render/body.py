"""Steps and DAG bodies: step uses → Argo steps/tasks, and the templates they call
(leaf variants, composite ops). Loops are ``render.loops``, fan-in arguments
``render.fanin``, a task's ``depends`` ``render.depends``, wrappers ``render.wrappers``.

A ``Renderer`` holds what one render needs (the workflow, template names already
taken, leaf variants already made) and appends the templates it creates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dflowctl.render import slices
from dflowctl.render.depends import dag_depends
from dflowctl.render.fanin import aligned_inputs, artifact_arg, fanin_source, flat_inputs
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
from dflowctl.render.loops import foreach, item_index
from dflowctl.render.scope import SCOPE_PARAM, SCOPE_TAG, Namer, Scope, keyed_ops, needs_scope, plain
from dflowctl.render.values import encode, fail, single_tag
from dflowctl.render.wrappers import Wrapping, emits_index
from dflowctl.spec import model
from dflowctl.stepkey import STEP_KEY_PARAM


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
            if fanin_source(a.from_ref, scope) is not None:
                raise fail(
                    f"output artifact '{a.name}' of composite op '{op.name}' comes from a foreach step; "
                    "fan-in directories cannot leave a composite op (consume them inside it)",
                    a.loc or op.loc,
                )
            if a.if_expr is not None and a.else_ref is not None:
                if fanin_source(a.else_ref, scope) is not None:
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
            aligned = aligned_inputs(step, op, scope, self.wf.ops)
            slicing: dict[str, Any] = {"ok": slices.by_items(step)}
            flat = flat_inputs(step, op, scope, self.wf.ops)
            if flat:
                slicing["flat"] = flat
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
        arts = [artifact_arg(name, ref, scope, step, self.wf.ops) for name, ref in step.artifacts.items()]

        out: dict[str, Any] = {"name": step.name, "template": template}
        if scope.kind == "dag":
            depends = dag_depends(step, scope)
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


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def expr_path(ref: str) -> str:
    """A ``{{steps.a-b.outputs.parameters.x}}`` reference as an expr-lang path:
    ``steps['a-b'].outputs.parameters.x``."""
    parts = (single_tag(ref) or ref).strip().split(".")
    return parts[0] + "".join(f".{p}" if _IDENT.match(p) else f"[{p!r}]" for p in parts[1:])


def choice(condition: str, then_ref: str, else_ref: str) -> str:
    """``from`` if ``condition`` else ``else``, as Argo's output expression."""
    return f"({condition.strip()}) ? {expr_path(then_ref)} : {expr_path(else_ref)}"
