"""Semantic rules the schema cannot express, all reported in one pass.

Names (unique, accepted by Argo), ops exist, steps give every required input
and no unknown one, literal values fit their types, every ``{{...}}``
reference resolves (the step exists and runs earlier, the output exists and is
of the right kind), no DAG cycle, and the small grammars (``module:callable``,
durations, resource quantities) parse.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence

from dflowctl.errors import Diagnostic, Location
from dflowctl.spec import model as m
from dflowctl.spec.checkbase import Body, Expect, Kind, Use, at_use
from dflowctl.spec.dagchecks import DagChecks
from dflowctl.spec.locate import Source
from dflowctl.spec.refs import find_refs, single_ref
from dflowctl.spec.resolve import RefChecks
from dflowctl.spec.slicechecks import slice_problems
from dflowctl.spec.typechecks import expression_problem, wired_shape_problem
from dflowctl.spec.values import (
    ARGO_NAME,
    ENTRYPOINT,
    IDENTIFIER,
    MAX_ARGO_NAME,
    MAX_WORKFLOW_NAME,
    TYPE_WORDS,
    WORKFLOW_NAME,
    artifact_source_problem,
    did_you_mean,
    fits,
    host_only_root,
    is_duration,
    is_quantity,
    kind_of,
    listing,
    misfit,
    parse_type,
)
from dflowctl.spec.whenchecks import when_problems

DURATION_HINT = "use a number and a unit: 90s, 10m, 2h, 1h30m"
# Go's time.Duration (what Argo parses these with) is int64 nanoseconds: about 292 years
MAX_DURATION_SECONDS = (2**63 - 1) / 1e9
TOO_LONG_HINT = "Argo's durations are at most 2562047h (about 292 years)"


def too_long(text: str) -> bool:
    from dflowctl.argo import parse_duration

    return parse_duration(text) > MAX_DURATION_SECONDS


class Checker(RefChecks, DagChecks):
    def run(self) -> list[Diagnostic]:
        wf = self.wf
        self.workflow_name()
        self.params(wf.parameters, "workflow parameter")
        self.workflow_artifacts()
        for op in wf.ops.values():
            self.op(op)
        if wf.steps is not None:
            self.steps_body(wf.steps, None)
        if wf.dag is not None:
            self.dag_body(wf.dag, None)
        self.named_op(wf.entrypoint, "entrypoint", wf.locs.get("entrypoint"))
        self.named_op(wf.on_exit, "on_exit", wf.locs.get("on_exit"))
        self.duration(wf.timeout, wf.locs.get("timeout"), "`timeout`")
        self.retry(wf.retry)
        return self.diags

    # names -----------------------------------------------------------------
    def workflow_name(self) -> None:
        name, loc = self.wf.name, self.wf.locs.get("name")
        if len(name) > MAX_WORKFLOW_NAME:
            self.error(
                f"workflow name is {len(name)} characters long; Argo allows at most {MAX_WORKFLOW_NAME}", loc
            )
        elif not WORKFLOW_NAME.match(name):
            fixed = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
            self.error(
                f"workflow name `{name}` is not a valid Kubernetes name",
                loc,
                "use lowercase letters, digits and `-`, starting and ending with a letter or digit"
                + (f", e.g. `{fixed}`" if fixed and WORKFLOW_NAME.match(fixed) else ""),
            )

    def argo_name(self, name: str, what: str, loc: Location | None) -> None:
        if not ARGO_NAME.match(name):
            fixed = re.sub(r"[^a-zA-Z0-9-]+", "-", name).strip("-")
            self.error(
                f"{what} name `{name}` is not valid for Argo",
                loc,
                "use letters, digits and `-`, starting with a letter or digit"
                + (f", e.g. `{fixed}`" if fixed and ARGO_NAME.match(fixed) else ""),
            )
        elif len(name) > MAX_ARGO_NAME:
            self.error(
                f"{what} name is {len(name)} characters long; Argo allows at most {MAX_ARGO_NAME}", loc
            )

    def identifier(self, name: str, what: str, loc: Location | None) -> None:
        if not IDENTIFIER.match(name):
            fixed = re.sub(r"\W+", "_", name).strip("_")
            self.error(
                f"{what} name `{name}` is not an identifier",
                loc,
                "use letters, digits and `_`, not starting with a digit"
                + (f", e.g. `{fixed}`" if fixed and IDENTIFIER.match(fixed) else ""),
            )

    # parameters ----------------------------------------------------------------
    def params(self, params: Iterable[m.Param], what: str, *, output: bool = False) -> None:
        for p in params:
            self.identifier(p.name, what, p.loc)
            if p.default is not m.MISSING and not fits(p.default, p.type):
                self.error(
                    f"default of {what} `{p.name}` must be {TYPE_WORDS[p.type]} ({p.type}), "
                    f"not {kind_of(p.default)}",
                    p.locs.get("default", p.loc),
                    _quote_hint(p.default, p.type),
                )
            elif p.default is not m.MISSING and p.shape:
                why = misfit(p.default, parse_type(p.shape) or (p.type, ()), p.name)
                if why:
                    self.error(
                        f"default of {what} `{p.name}` must be {p.shape}: {why}",
                        p.locs.get("default", p.loc),
                    )
            for value in p.enum or ():
                if not fits(value, p.type):
                    self.error(
                        f"`enum` of {what} `{p.name}` holds {kind_of(value)}, "
                        f"which is not {TYPE_WORDS[p.type]}",
                        self.src.refine(p.locs.get("enum", p.loc), _needle(value)),
                    )
            if p.enum and p.default is not m.MISSING and fits(p.default, p.type) and p.default not in p.enum:
                self.error(
                    f"default of {what} `{p.name}` is not one of its `enum` values",
                    p.locs.get("default", p.loc),
                    f"allowed: {', '.join(_show(v) for v in p.enum)}",
                )

    def workflow_artifacts(self) -> None:
        for art in self.wf.artifacts:
            self.identifier(art.name, "workflow artifact", art.loc)
            src = art.source
            loc = art.locs.get("source", art.loc)
            problem = artifact_source_problem(src)
            if problem is not None:
                message, hint = problem
                self.error(f"workflow artifact `{art.name}`{message}", loc, hint)
            elif "://" in src:
                pass
            elif host_only_root(str(self.wf.base_dir / src)):
                root = host_only_root(str(self.wf.base_dir / src))
                self.error(
                    f"workflow artifact `{art.name}`: `{src}` is in {root}, the kernel's view of this host",
                    loc,
                    "dflowctl does not ship files from /proc, /sys or /dev; copy what you need to a folder",
                )
            elif not art.optional and not (self.wf.base_dir / src).exists():
                self.error(
                    f"workflow artifact `{art.name}`: `{src}` does not exist",
                    loc,
                    "local paths are relative to the spec file's folder",
                )
        clash = {p.name for p in self.wf.parameters} & {a.name for a in self.wf.artifacts}
        for art in self.wf.artifacts:
            if art.name in clash:
                self.error(f"`{art.name}` is both a workflow parameter and a workflow artifact", art.loc)

    # ops -------------------------------------------------------------------------
    def op(self, op: m.Op) -> None:
        self.argo_name(op.name, "op", op.loc)
        self.params(op.inputs_parameters, "input parameter")
        self.params(op.outputs_parameters, "output parameter", output=True)
        for decls, what in (
            (op.inputs_artifacts, "input artifact"),
            (op.outputs_artifacts, "output artifact"),
        ):
            for a in decls:
                self.identifier(a.name, what, a.loc)
        self.io_clash(op, "input", op.inputs_parameters, op.inputs_artifacts)
        self.io_clash(op, "output", op.outputs_parameters, op.outputs_artifacts)
        self.duration(op.timeout, op.locs.get("timeout"), f"`timeout` of op `{op.name}`")
        self.retry(op.retry)
        if "unclear-kind" in op.locs:
            pass  # what the op runs is already reported as unclear
        elif op.kind == "python":
            self.python_op(op)
        elif op.composite:
            self.composite_op(op)
        else:
            self.shell_op(op)
        if not op.composite and "unclear-kind" not in op.locs:
            outputs: list[m.Param | m.ArtifactDecl] = [*op.outputs_parameters, *op.outputs_artifacts]
            for decl in outputs:
                for key in ("if", "else"):
                    if key in decl.locs:
                        self.error(
                            f"`{key}` of output `{decl.name}` chooses between outputs of inner steps: "
                            f"composite ops only, and `{op.name}` is a {op.kind} op",
                            decl.locs[key],
                        )
        root = host_only_root(str(op.source)) if op.source is not None else None
        if root is not None:
            self.error(
                f"`source` of op `{op.name}` is in {root}, the kernel's view of this host",
                op.locs.get("source"),
                "dflowctl does not ship files from /proc, /sys or /dev; copy what you need to a folder",
            )
        elif op.source is not None and not op.source.is_dir():
            what = "is not a directory" if op.source.exists() else "does not exist"
            self.error(
                f"`source` of op `{op.name}` {what}",
                op.locs.get("source"),
                "`source` is a local folder, relative to the spec file's folder",
            )
        if op.resources is not None:
            for key in ("cpu", "memory"):
                value = getattr(op.resources, key)
                if value is not None and not is_quantity(value):
                    self.error(
                        f"`{key}` of op `{op.name}` is not a Kubernetes quantity: `{value}`",
                        op.locs.get(f"resources.{key}"),
                        "write e.g. `500m` or `2` for cpu, `512Mi` or `1Gi` for memory",
                    )
        for var in (*op.env, *op.secret_env):
            if not IDENTIFIER.match(var):
                self.error(
                    f"environment variable name `{var}` of op `{op.name}` is not valid",
                    op.locs.get(f"env.{var}") or op.locs.get(f"secret_env.{var}"),
                    "use letters, digits and `_`, not starting with a digit",
                )
        for var in set(op.env) & set(op.secret_env):
            self.error(
                f"op `{op.name}` sets `{var}` in both `env` and `secret_env`",
                op.locs.get(f"secret_env.{var}"),
            )
        if not op.composite:
            self.leaf_refs(op)

    def io_clash(
        self, op: m.Op, side: str, params: Sequence[m.Param], arts: Sequence[m.ArtifactDecl]
    ) -> None:
        names = {p.name for p in params}
        for a in arts:
            if a.name in names:
                self.error(
                    f"op `{op.name}` has an {side} parameter and an {side} artifact both named `{a.name}`",
                    a.loc,
                )

    def python_op(self, op: m.Op) -> None:
        if op.python is not None and not ENTRYPOINT.match(op.python.strip()):
            self.error(
                f"`python` of op `{op.name}` must be `module:callable`, not `{op.python}`",
                op.locs.get("python"),
                _entrypoint_hint(op.python),
            )
        for a in op.inputs_artifacts:
            if a.path is not None:
                self.error(
                    f"input artifact `{a.name}` of Python op `{op.name}` cannot set `path`",
                    a.locs.get("path", a.loc),
                    "Python ops get artifacts as pathlib.Path arguments at paths dflowctl chooses",
                )
        for p in op.outputs_parameters:
            if p.from_path is not None or p.from_ref is not None:
                self.error(
                    f"output parameter `{p.name}` of Python op `{op.name}` cannot set `from`",
                    p.locs.get("from", p.loc),
                    "a Python op returns its outputs",
                )
        for a in op.outputs_artifacts:
            if a.path is not None or a.from_ref is not None:
                key = "path" if a.path is not None else "from"
                self.error(
                    f"output artifact `{a.name}` of Python op `{op.name}` cannot set `{key}`",
                    a.locs.get(key, a.loc),
                    "a Python op returns a Path (or a list of Paths) for each output artifact",
                )

    def shell_op(self, op: m.Op) -> None:
        kind = "shell" if op.kind == "script" else "container"
        for a in op.inputs_artifacts:
            if a.path is None:
                self.error(
                    f"input artifact `{a.name}` of {kind} op `{op.name}` needs a `path`",
                    a.loc,
                    "say where the op reads it, e.g. `{path: /tmp/in}`",
                )
        for p in op.outputs_parameters:
            if p.from_ref is not None:
                self.error(
                    f"`from` of output parameter `{p.name}` must be a file path in a {kind} op",
                    p.locs.get("from", p.loc),
                    "references are for composite ops; a shell op writes the value to a file",
                )
            elif p.from_path is None:
                self.error(
                    f"output parameter `{p.name}` of {kind} op `{op.name}` needs `from: /path/of/file`",
                    p.loc,
                    "the op writes the value to that file; its stdout is `{{steps.NAME.outputs.result}}`",
                )
        for a in op.outputs_artifacts:
            if a.from_ref is not None:
                self.error(
                    f"`from` of output artifact `{a.name}` is only for composite ops",
                    a.locs.get("from", a.loc),
                    "a shell or container op gives `path`",
                )
            elif a.path is None:
                self.error(
                    f"output artifact `{a.name}` of {kind} op `{op.name}` needs a `path`",
                    a.loc,
                    "say where the op writes it, e.g. `{path: /tmp/out.txt}`",
                )

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

    def leaf_refs(self, op: m.Op) -> None:
        texts: list[tuple[str, Location | None]] = []
        if op.script is not None:
            texts.append((op.script, op.locs.get("script")))
        texts += [(c, op.locs.get("command")) for c in op.command]
        texts += [(a, op.locs.get("args")) for a in op.args]
        texts += [(v, op.locs.get(f"env.{k}")) for k, v in op.env.items()]
        for text, loc in texts:
            for ref in find_refs(text):
                self.ref(ref, Use(self.src.refine(loc, ref.text), leaf=op, consumer=f"op `{op.name}`"), "any")

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
                    _quote_hint(value, decl.type),
                )
            elif decl.shape and (why := misfit(value, parse_type(decl.shape) or (decl.type, ()), name)):
                self.error(
                    f"{who} gives `{name}` a value op `{op.name}` declares as {decl.shape}, but {why}",
                    step.value_locs.get(name),
                )
            elif decl.enum and value not in decl.enum:
                choices = [_show(v) for v in decl.enum]
                self.error(
                    f"{who} gives {_show(value)} for `{name}`, which must be one of {', '.join(choices)}",
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
            elif not _json_list(fe.param):
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

    # small grammars ---------------------------------------------------------------
    def duration(self, text: str | None, loc: Location | None, what: str) -> None:
        if text is not None and not is_duration(text.strip()):
            self.error(f"{what} is not a duration: `{text}`", loc, DURATION_HINT)
        elif text is not None and too_long(text.strip()):
            self.error(f"{what} is longer than a duration can be: `{text}`", loc, TOO_LONG_HINT)

    def retry(self, retry: m.Retry | None) -> None:
        if retry is None or retry.backoff is None:
            return
        for key, text in (("duration", retry.backoff.duration), ("max", retry.backoff.max)):
            if text is not None and not is_duration(text.strip()):
                loc = self.src.refine(retry.loc, f"{key}:")
                self.error(
                    f"`backoff.{key}` is not a duration: `{text}`", self.src.refine(loc, text), DURATION_HINT
                )
            elif text is not None and too_long(text.strip()):
                loc = self.src.refine(retry.loc, f"{key}:")
                self.error(
                    f"`backoff.{key}` is longer than a duration can be: `{text}`",
                    self.src.refine(loc, text),
                    TOO_LONG_HINT,
                )

    def named_op(self, name: str | None, field_name: str, loc: Location | None) -> None:
        if name is None:
            return
        op = self.wf.ops.get(name)
        if op is None:
            names = sorted(self.wf.ops)
            self.error(
                f"`{field_name}` names unknown op `{name}`",
                loc,
                did_you_mean(name, names) or f"ops in this spec: {listing(names)}",
            )
            return
        for p in op.inputs_parameters:
            if p.required and self.wf.param(p.name) is None:
                self.error(
                    f"op `{name}` (the `{field_name}`) requires input parameter `{p.name}`, "
                    "which is not a workflow parameter",
                    loc,
                    f"the `{field_name}` op gets its inputs from the workflow parameters of the same names",
                )
        for a in op.inputs_artifacts:
            if not a.optional and a.name not in {w.name for w in self.wf.artifacts}:
                self.error(
                    f"op `{name}` (the `{field_name}`) requires input artifact `{a.name}`, "
                    "which is not a workflow artifact",
                    loc,
                    f"the `{field_name}` op gets its inputs from the workflow artifacts of the same names",
                )


def _json_list(text: str) -> bool:
    try:
        return isinstance(json.loads(text), list)
    except ValueError:
        return False


def _needle(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _show(value: object) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, (int, float, list, dict)) else str(value)


def _quote_hint(value: object, type_: str) -> str | None:
    if type_ == "str" and isinstance(value, (int, float, bool)) and value is not None:
        return f'quote it: "{_show(value)}"'
    if isinstance(value, str) and type_ in ("int", "float", "bool", "list", "dict"):
        try:
            parsed = json.loads(value)
        except ValueError:
            return None
        if fits(parsed, type_):
            return "remove the quotes"
    return None


def _entrypoint_hint(text: str) -> str:
    if ":" not in text and "." in text:
        module, _, name = text.rpartition(".")
        return f"separate the module and the callable with `:`, e.g. `{module}:{name}`"
    return "e.g. `hello_ops:WriteFile` (module `hello_ops`, class or function `WriteFile`)"


def check_workflow(wf: m.Workflow, source: Source) -> list[Diagnostic]:
    """Every semantic problem of a built workflow."""
    from dflowctl.spec.recursion import recursion_diagnostics

    return Checker(wf, source).run() + recursion_diagnostics(wf, source)
