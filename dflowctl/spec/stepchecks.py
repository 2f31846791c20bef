"""Checks of steps and DAG bodies: names, the op each step uses and the inputs it gives,
``foreach``, ``when``, and a composite op's outputs taken from its body."""

from __future__ import annotations

from collections.abc import Sequence

from dflowctl.errors import Location
from dflowctl.spec import model as m
from dflowctl.spec.checkbase import Body, Expect, Kind, Use, at_use
from dflowctl.spec.dagchecks import DagChecks
from dflowctl.spec.refs import single_ref
from dflowctl.spec.resolve import RefChecks
from dflowctl.spec.slicechecks import slice_problems
from dflowctl.spec.typechecks import expression_problem, wired_shape_problem
from dflowctl.spec.valuechecks import ValueChecks, json_list, quote_hint, show
from dflowctl.spec.values import did_you_mean, fits, kind_of, listing, misfit, parse_type
from dflowctl.spec.whenchecks import when_problems


class StepChecks(ValueChecks, RefChecks, DagChecks):
    # bodies ----------------------------------------------------------------------
    def steps_body(self, groups: Sequence[m.StepGroup], owner: m.Op | None) -> Body:
        body = Body("steps", owner)
        for i, group in enumerate(groups):
            for step in group:
                self.add_step(body, step)
                body.group_of.setdefault(step.name, i)
        for group in groups:
            for step in group:
                self.step(step, body)
        return body

    def dag_body(self, tasks: Sequence[m.Step], owner: m.Op | None) -> Body:
        body = Body("dag", owner)
        for task in tasks:
            self.add_step(body, task)
        edges: dict[str, list[tuple[str, Location | None]]] = {t.name: [] for t in tasks}
        for task in tasks:
            self.step(task, body)
            edges[task.name] += self.depends(task, body)
            edges[task.name] += self.inferred_deps(task, body)
        self.cycles(tasks, edges, body)
        return body

    def add_step(self, body: Body, step: m.Step) -> None:
        loc = step.locs.get("name", step.loc)
        self.argo_name(step.name, body.word, loc)
        first = body.steps.get(step.name)
        if first is not None:
            line = first.locs.get("name", first.loc)
            self.error(
                f"duplicate {body.word} name `{step.name}`"
                + (f" (first used on line {line.line})" if line else ""),
                loc,
                f"{body.word} names must be unique in their list",
            )
        else:
            body.steps[step.name] = step

    def step(self, step: m.Step, body: Body) -> None:
        if body.kind == "steps" and step.depends is not None:
            self.error(
                f"`depends` is only for tasks in a `dag`; step `{step.name}` runs in order",
                step.locs.get("depends"),
            )
        self.duration(step.timeout, step.locs.get("timeout"), f"`timeout` of {body.word} `{step.name}`")
        self.retry(step.retry)
        op = self.wf.ops.get(step.op)
        if op is None:
            names = sorted(self.wf.ops)
            self.error(
                f"{body.word} `{step.name}` uses unknown op `{step.op}`",
                step.locs.get("op", step.loc),
                did_you_mean(step.op, names)
                or (f"ops in this spec: {listing(names)}" if names else "the spec has no ops"),
            )
        use = Use(None, body=body, step=step, foreach=step.foreach)
        if op is not None:
            self.step_inputs(step, op, body)
        for name, value in step.parameters.items():
            # an input the op does not have is reported once, not also for the kind of its value
            expect: Expect = "parameter" if op is None or op.input_param(name) is not None else "any"
            self.value_refs(value, step.value_locs.get(name), use, expect, f"parameter `{name}`")
            shape = wired_shape_problem(self.wf, body, step, op, name, value) if op is not None else None
            if shape is not None:
                self.error(shape[0], step.value_locs.get(name, step.loc), shape[1])
        for name, value in step.artifacts.items():
            loc = step.value_locs.get(name)
            ref = single_ref(value)
            if ref is None:
                self.error(
                    f"artifact `{name}` of {body.word} `{step.name}` must be one reference",
                    loc,
                    f"e.g. `{{{{{body.kind}.NAME.outputs.artifacts.A}}}}` or `{{{{workflow.artifacts.A}}}}`",
                )
                continue
            self.ref(ref, at_use(use, self.src.refine(loc, ref.text), f"artifact `{name}`"), "artifact")
        if step.when is not None:
            self.value_refs(step.when, step.locs.get("when"), use, "parameter", "`when`")
            for needle, message, hint in when_problems(step.when, self.wf, body):
                self.error(message, self.src.refine(step.locs.get("when"), needle), hint)
        if step.key is not None:
            self.value_refs(step.key, step.locs.get("key"), use, "parameter", "`key`")
        if step.foreach is not None:
            self.foreach(step, use)
        for message, loc, hint in slice_problems(step, op, body):
            self.error(message, loc, hint)

    def step_inputs(self, step: m.Step, op: m.Op, body: Body) -> None:
        if "unknown-interface" in op.locs:
            return  # its code could not be found: that error says enough
        who = f"{body.word} `{step.name}`"
        for name, value in step.parameters.items():
            decl = op.input_param(name)
            loc = step.locs.get(f"parameters.{name}")
            if decl is None:
                if op.input_artifact(name) is not None:
                    hint = f"`{name}` is an input artifact of op `{op.name}`; put it under `artifacts`"
                else:
                    names = [p.name for p in op.inputs_parameters]
                    hint = (
                        did_you_mean(name, names) or f"op `{op.name}` has input parameters: {listing(names)}"
                    )
                self.error(f"op `{op.name}` has no input parameter `{name}`", loc, hint)
                continue
            if isinstance(value, str) and "{{" in value:
                continue
            if not fits(value, decl.type):
                self.error(
                    f"{who} gives {kind_of(value)} for `{name}`, "
                    f"which op `{op.name}` declares as {decl.type}",
                    step.value_locs.get(name),
                    quote_hint(value, decl.type),
                )
            elif decl.shape and (why := misfit(value, parse_type(decl.shape) or (decl.type, ()), name)):
                self.error(
                    f"{who} gives `{name}` a value op `{op.name}` declares as {decl.shape}, but {why}",
                    step.value_locs.get(name),
                )
            elif decl.enum and value not in decl.enum:
                choices = [show(v) for v in decl.enum]
                self.error(
                    f"{who} gives {show(value)} for `{name}`, which must be one of {', '.join(choices)}",
                    step.value_locs.get(name),
                    did_you_mean(str(value), [str(v) for v in decl.enum]),
                )
        for name in step.artifacts:
            if op.input_artifact(name) is None:
                loc = step.locs.get(f"artifacts.{name}")
                if op.input_param(name) is not None:
                    hint = f"`{name}` is an input parameter of op `{op.name}`; put it under `parameters`"
                else:
                    names = [a.name for a in op.inputs_artifacts]
                    hint = (
                        did_you_mean(name, names) or f"op `{op.name}` has input artifacts: {listing(names)}"
                    )
                self.error(f"op `{op.name}` has no input artifact `{name}`", loc, hint)
        where = step.locs.get("op", step.loc)
        for p in op.inputs_parameters:
            if p.required and p.name not in step.parameters and p.name not in step.artifacts:
                self.error(
                    f"{who} does not give input parameter `{p.name}` ({p.type}) that op `{op.name}` requires",
                    where,
                    f"add `{p.name}: ...` under `parameters`",
                )
        for a in op.inputs_artifacts:
            if not a.optional and a.name not in step.artifacts and a.name not in step.parameters:
                self.error(
                    f"{who} does not give input artifact `{a.name}` that op `{op.name}` requires",
                    where,
                    f'add `{a.name}: "{{{{...}}}}"` under `artifacts`',
                )

    def foreach(self, step: m.Step, use: Use) -> None:
        fe = step.foreach
        assert fe is not None
        if fe.kind == "param" and fe.param is not None:
            loc = step.locs.get("foreach.param")
            if "{{" in fe.param:
                self.value_refs(
                    fe.param, loc, at_use(use, loc, "`foreach.param`", foreach=False), "parameter", ""
                )
            elif not json_list(fe.param):
                self.error(
                    "`foreach.param` must be a reference to a JSON list, or a JSON list",
                    loc,
                    'e.g. `param: "{{steps.list.outputs.result}}"`',
                )
        if fe.kind == "items" and fe.items is not None:
            for value in fe.items:
                if isinstance(value, str):
                    loc = step.locs.get("foreach.items")
                    self.value_refs(
                        value, loc, at_use(use, loc, "`foreach.items`", foreach=False), "parameter", ""
                    )
        for key in ("count", "start", "end"):
            value = getattr(fe, key)
            if isinstance(value, str):
                loc = step.locs.get(f"foreach.range.{key}")
                if "{{" in value:
                    self.value_refs(
                        value, loc, at_use(use, loc, f"`range.{key}`", foreach=False), "parameter", ""
                    )
                elif not value.strip().lstrip("-").isdigit():
                    self.error(f"`range.{key}` must be an integer or a reference, not `{value}`", loc)

    # a composite op's outputs ----------------------------------------------------
    def composite_op(self, op: m.Op) -> None:
        body = self.steps_body(op.steps, op) if op.steps is not None else self.dag_body(op.dag or (), op)
        for a in op.inputs_artifacts:
            if a.path is not None:
                self.error(
                    f"`path` of input artifact `{a.name}` has no effect on composite op `{op.name}`",
                    a.locs.get("path", a.loc),
                )
        for p in op.outputs_parameters:
            ref_text = p.from_ref or p.from_path
            if ref_text is None:
                self.error(
                    f"output parameter `{p.name}` of composite op `{op.name}` needs `from`",
                    p.loc,
                    f'e.g. `from: "{{{{{body.kind}.STEP.outputs.parameters.NAME}}}}"`',
                )
                continue
            self.from_ref(
                ref_text, p.locs.get("from", p.loc), body, "parameter", f"output parameter `{p.name}`"
            )
            self.conditional(p, body, "parameter", f"output parameter `{p.name}`")
        for a in op.outputs_artifacts:
            if a.path is not None:
                self.error(
                    f"output artifact `{a.name}` of composite op `{op.name}` takes `from`, not `path`",
                    a.locs.get("path", a.loc),
                    f'e.g. `from: "{{{{{body.kind}.STEP.outputs.artifacts.NAME}}}}"`',
                )
            elif a.from_ref is None:
                self.error(
                    f"output artifact `{a.name}` of composite op `{op.name}` needs `from`",
                    a.loc,
                    f'e.g. `from: "{{{{{body.kind}.STEP.outputs.artifacts.NAME}}}}"`',
                )
            else:
                self.from_ref(
                    a.from_ref, a.locs.get("from", a.loc), body, "artifact", f"output artifact `{a.name}`"
                )
                self.conditional(a, body, "artifact", f"output artifact `{a.name}`")

    def conditional(self, decl: m.Param | m.ArtifactDecl, body: Body, expect: Kind, consumer: str) -> None:
        """``if``/``else`` of a composite op's output: both or neither; ``else`` a reference
        of the right kind; ``if`` an expression Argo's expr-lang parses."""
        if (decl.if_expr is None) != (decl.else_ref is None):
            given, missing = ("if", "else") if decl.if_expr is not None else ("else", "if")
            self.error(
                f"{consumer} has `{given}` without `{missing}`",
                decl.locs.get(given, decl.loc),
                "`from: A`, `if: CONDITION`, `else: B` read as: A if CONDITION else B",
            )
            return
        if decl.if_expr is None or decl.else_ref is None:
            return
        self.from_ref(decl.else_ref, decl.locs.get("else", decl.loc), body, expect, consumer)
        problem = expression_problem(decl.if_expr)
        if problem is not None:
            self.error(
                f"`if` of {consumer} does not parse: {problem}",
                decl.locs.get("if", decl.loc),
                f"an Argo expression over outputs, no {{{{…}}}}: "
                f"`{body.kind.replace('dag', 'tasks')}.check.outputs.result == 'yes'`",
            )

    def from_ref(self, text: str, loc: Location | None, body: Body, expect: Kind, consumer: str) -> None:
        ref = single_ref(text)
        if ref is None:
            self.error(
                f"`from` of {consumer} must be one reference like "
                f"`{{{{{body.kind}.STEP.outputs.{expect}s.NAME}}}}`",
                loc,
            )
            return
        self.ref(ref, Use(loc, body=body, consumer=consumer), expect)
