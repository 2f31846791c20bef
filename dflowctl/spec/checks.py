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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from dflowctl.errors import Diagnostic, Location
from dflowctl.spec import model as m
from dflowctl.spec.locate import Source
from dflowctl.spec.refs import Ref, find_refs, single_ref, unclosed
from dflowctl.spec.values import (
    ARGO_NAME,
    ENTRYPOINT,
    IDENTIFIER,
    MAX_ARGO_NAME,
    MAX_WORKFLOW_NAME,
    TYPE_WORDS,
    WORKFLOW_NAME,
    did_you_mean,
    fits,
    is_duration,
    is_quantity,
    kind_of,
    listing,
)

Kind = Literal["parameter", "artifact"]
Expect = Literal["parameter", "artifact", "any"]

WORKFLOW_BUILTINS = (
    "name",
    "namespace",
    "uid",
    "status",
    "serviceAccountName",
    "creationTimestamp",
    "duration",
    "failures",
    "mainEntrypoint",
    "priority",
    "labels",
    "annotations",
    "scheduledTime",
)
STEP_ATTRS = ("status", "exitCode", "id", "ip", "startedAt", "finishedAt", "hostNodeName")
DEPENDS_PHASES = (
    "Succeeded",
    "Failed",
    "Errored",
    "Skipped",
    "Omitted",
    "Daemoned",
    "AnySucceeded",
    "AllFailed",
)
DEPENDS_TOKEN = re.compile(r"([A-Za-z0-9][-A-Za-z0-9]*)(?:\.([A-Za-z]+))?")
WORKFLOW_ARTIFACT_SCHEMES = ("s3://", "http://", "https://")
DURATION_HINT = "use a number and a unit: 90s, 10m, 2h, 1h30m"


@dataclass
class Body:
    """The steps or tasks of the workflow or of one composite op."""

    kind: Literal["steps", "dag"]
    owner: m.Op | None
    steps: dict[str, m.Step] = field(default_factory=dict)
    group_of: dict[str, int] = field(default_factory=dict)

    @property
    def word(self) -> str:
        return "task" if self.kind == "dag" else "step"


@dataclass
class Use:
    """Where a reference is used: who uses it and what it may see."""

    where: Location | None
    body: Body | None = None
    step: m.Step | None = None
    leaf: m.Op | None = None  # inside a leaf op's own fields (script, args, env)
    foreach: m.Foreach | None = None
    consumer: str = ""  # "parameter `msg`", "`when`", ...


class Checker:
    def __init__(self, wf: m.Workflow, source: Source) -> None:
        self.wf = wf
        self.src = source
        self.diags: list[Diagnostic] = []

    def error(self, message: str, loc: Location | None, hint: str | None = None) -> None:
        self.diags.append(self.src.diagnostic(message, loc, hint))

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
            if "://" in src:
                if not src.startswith(WORKFLOW_ARTIFACT_SCHEMES):
                    self.error(
                        f"workflow artifact `{art.name}` has an unsupported source `{src}`",
                        loc,
                        "use a local path, s3://bucket/key or http(s)://...",
                    )
                elif src.startswith("s3://") and len(src[5:].split("/", 1)) < 2:
                    self.error(
                        f"workflow artifact `{art.name}`: `{src}` has no key", loc, "write s3://bucket/key"
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
        if op.source is not None and not op.source.is_dir():
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
            self.ref(ref, _at(use, self.src.refine(loc, ref.text), f"artifact `{name}`"), "artifact")
        if step.when is not None:
            self.value_refs(step.when, step.locs.get("when"), use, "parameter", "`when`")
        if step.foreach is not None:
            self.foreach(step, use)

    def step_inputs(self, step: m.Step, op: m.Op, body: Body) -> None:
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
                    fe.param, loc, _at(use, loc, "`foreach.param`", foreach=False), "parameter", ""
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
                        value, loc, _at(use, loc, "`foreach.items`", foreach=False), "parameter", ""
                    )
        for key in ("count", "start", "end"):
            value = getattr(fe, key)
            if isinstance(value, str):
                loc = step.locs.get(f"foreach.range.{key}")
                if "{{" in value:
                    self.value_refs(
                        value, loc, _at(use, loc, f"`range.{key}`", foreach=False), "parameter", ""
                    )
                elif not value.strip().lstrip("-").isdigit():
                    self.error(f"`range.{key}` must be an integer or a reference, not `{value}`", loc)

    # references ------------------------------------------------------------------
    def value_refs(
        self, value: object, loc: Location | None, use: Use, expect: Expect, consumer: str
    ) -> None:
        """Check every reference inside a literal value (strings, nested lists and mappings)."""
        if isinstance(value, str):
            if unclosed(value):
                self.error("`{{` is never closed by `}}`", self.src.refine(loc, "{{"))
            for ref in find_refs(value):
                self.ref(ref, _at(use, self.src.refine(loc, ref.text), consumer or use.consumer), expect)
        elif isinstance(value, list):
            for item in value:
                self.value_refs(item, loc, use, expect, consumer)
        elif isinstance(value, dict):
            for item in value.values():
                self.value_refs(item, loc, use, expect, consumer)

    def ref(self, ref: Ref, use: Use, expect: Expect) -> None:
        kind = self.resolve(ref, use)
        if kind is None or expect == "any" or kind == expect:
            return
        if expect == "artifact":
            self.error(
                f"{use.consumer} needs an artifact, but `{ref.text}` is a parameter",
                use.where,
                "pass parameters under `parameters:`",
            )
        else:
            self.error(
                f"`{ref.text}` is an artifact; it cannot be the value of {use.consumer or 'a parameter'}",
                use.where,
                "pass artifacts under `artifacts:`",
            )

    def resolve(self, ref: Ref, use: Use) -> Kind | None:
        """The kind of value a reference gives, or None after reporting why it does not resolve."""
        parts = ref.parts
        head = parts[0]
        if head == "workflow":
            return self.workflow_ref(ref, use)
        if head in ("steps", "tasks"):
            return self.step_ref(ref, use)
        if head == "inputs":
            return self.inputs_ref(ref, use)
        if head == "item":
            return self.item_ref(ref, use)
        if use.leaf is not None and head in ("pod", "retries", "node", "outputs", "lastRetry"):
            return "parameter"
        roots = "workflow., steps., tasks., inputs. or item"
        self.error(f"unknown reference `{ref.text}`", use.where, f"references start with {roots}")
        return None

    def workflow_ref(self, ref: Ref, use: Use) -> Kind | None:
        parts = ref.parts
        what = parts[1] if len(parts) > 1 else ""
        if what in ("parameters", "artifacts") and len(parts) == 3:
            name = parts[2]
            names = (
                [p.name for p in self.wf.parameters]
                if what == "parameters"
                else [a.name for a in self.wf.artifacts]
            )
            if name not in names:
                noun = "parameter" if what == "parameters" else "artifact"
                self.error(
                    f"unknown workflow {noun} `{name}`",
                    use.where,
                    did_you_mean(name, names) or f"workflow {what}: {listing(names)}",
                )
                return None
            return "parameter" if what == "parameters" else "artifact"
        if what in WORKFLOW_BUILTINS or (what == "outputs" and len(parts) > 2):
            return "parameter"
        self.error(
            f"unknown reference `{ref.text}`",
            use.where,
            did_you_mean(what, ["parameters", "artifacts", *WORKFLOW_BUILTINS])
            or "use `workflow.parameters.NAME` or `workflow.artifacts.NAME`",
        )
        return None

    def step_ref(self, ref: Ref, use: Use) -> Kind | None:
        parts = ref.parts
        head = parts[0]
        body = use.body
        if body is None:
            self.error(
                f"`{ref.text}` cannot be used inside an op",
                use.where,
                "an op sees its own inputs only: declare an input and pass the value from the step",
            )
            return None
        if head != body.kind.replace("dag", "tasks"):
            if body.kind == "dag":
                self.error(
                    f"`{ref.text}`: a DAG names its tasks with `tasks.`",
                    use.where,
                    f"use `{{{{tasks.{'.'.join(parts[1:])}}}}}`",
                )
            else:
                self.error(
                    f"`{ref.text}`: `tasks.` references are only valid in a DAG",
                    use.where,
                    f"use `{{{{steps.{'.'.join(parts[1:])}}}}}`",
                )
            return None
        if len(parts) < 2:
            self.error(f"incomplete reference `{ref.text}`", use.where)
            return None
        name = parts[1]
        producer = body.steps.get(name)
        if producer is None:
            names = list(body.steps)
            self.error(
                f"unknown {body.word} `{name}` in `{ref.text}`",
                use.where,
                did_you_mean(name, names) or f"{body.word}s here: {listing(names)}",
            )
            return None
        if use.step is not None and not self.runs_before(producer, use.step, body, ref, use):
            return None
        return self.step_output(ref, producer, use, body)

    def runs_before(self, producer: m.Step, consumer: m.Step, body: Body, ref: Ref, use: Use) -> bool:
        if producer.name == consumer.name:
            self.error(
                f"{body.word} `{consumer.name}` refers to its own outputs in `{ref.text}`",
                use.where,
                "a step can only use outputs of steps that ran before it",
            )
            return False
        if body.kind == "dag":
            return True
        mine, theirs = body.group_of[consumer.name], body.group_of[producer.name]
        if theirs < mine:
            return True
        when = "runs in parallel with it (same group)" if theirs == mine else "runs later"
        self.error(
            f"step `{consumer.name}` uses step `{producer.name}`, which {when}",
            use.where,
            "a step can only use outputs of steps in earlier groups",
        )
        return False

    def step_output(self, ref: Ref, producer: m.Step, use: Use, body: Body) -> Kind | None:
        parts = ref.parts
        rest = parts[2:]
        op = self.wf.ops.get(producer.op)
        short = ".".join(parts[1:])
        who = f"{use.step.name if use.step else use.consumer}"
        user = f"{body.word} `{who}`" if use.step else who
        if len(rest) == 1 and rest[0] in STEP_ATTRS:
            return "parameter"
        if list(rest) == ["outputs", "result"]:
            if op is not None and op.composite:
                self.error(
                    f"{user} uses `{short}`, but op `{op.name}` is composite and has no `result`",
                    use.where,
                    "only python, script and command ops have `result` (their standard output)",
                )
                return None
            return "parameter"
        if len(rest) == 3 and rest[0] == "outputs" and rest[1] in ("parameters", "artifacts"):
            if op is None:
                return None  # the unknown op is reported at the step
            out = rest[2]
            want = rest[1][:-1]
            has_param, has_art = op.output_param(out) is not None, op.output_artifact(out) is not None
            if (want == "parameter" and has_param) or (want == "artifact" and has_art):
                return want  # type: ignore[return-value]
            other = "artifacts" if want == "parameter" else "parameters"
            if has_param or has_art:
                fixed = ".".join([*parts[:3], other, out])
                self.error(
                    f"{user} uses `{short}`, but `{out}` is an output {other[:-1]} of op `{op.name}`",
                    use.where,
                    f"use `{{{{{fixed}}}}}`",
                )
                return None
            names = (
                [p.name for p in op.outputs_parameters]
                if want == "parameter"
                else [a.name for a in op.outputs_artifacts]
            )
            guess = did_you_mean(out, names)
            outs = f"op `{op.name}` has output {rest[1]}: {listing(names)}"
            self.error(
                f"{user} uses `{short}`, but op `{op.name}` has no output {want} `{out}`",
                use.where,
                f"{guess} {outs}" if guess else outs,
            )
            return None
        self.error(
            f"unknown reference `{ref.text}`",
            use.where,
            "a step's outputs are `outputs.parameters.NAME`, `outputs.artifacts.NAME` and `outputs.result`",
        )
        return None

    def inputs_ref(self, ref: Ref, use: Use) -> Kind | None:
        parts = ref.parts
        op = use.leaf or (use.body.owner if use.body is not None else None)
        if op is None:
            self.error(
                f"`{ref.text}` is only valid inside an op",
                use.where,
                "at the top level use `{{workflow.parameters.NAME}}`",
            )
            return None
        what = parts[1] if len(parts) > 1 else ""
        if what == "parameters" and len(parts) == 2 and use.leaf is not None:
            return "parameter"
        leaf_extra = 1 if (use.leaf is not None and what == "artifacts" and parts[-1] == "path") else 0
        if what not in ("parameters", "artifacts") or len(parts) != 3 + leaf_extra:
            self.error(
                f"unknown reference `{ref.text}`",
                use.where,
                "use `inputs.parameters.NAME` or `inputs.artifacts.NAME`",
            )
            return None
        name = parts[2]
        decls = op.inputs_parameters if what == "parameters" else op.inputs_artifacts
        names = [d.name for d in decls]
        if name not in names:
            self.error(
                f"op `{op.name}` has no input {what[:-1]} `{name}`",
                use.where,
                did_you_mean(name, names) or f"op `{op.name}` has input {what}: {listing(names)}",
            )
            return None
        return "parameter" if what == "parameters" or leaf_extra else "artifact"

    def item_ref(self, ref: Ref, use: Use) -> Kind | None:
        fe = use.foreach
        if fe is None:
            self.error(
                f"`{ref.text}` is only defined in a step with `foreach`",
                use.where,
                None if use.step is None else "add `foreach:` to this step, or pass the value as a parameter",
            )
            return None
        if len(ref.parts) > 1 and fe.kind == "items" and fe.items is not None:
            key = ref.parts[1]
            if not all(isinstance(i, dict) for i in fe.items):
                self.error(
                    f"`{ref.text}`: the items of `foreach` are not mappings", use.where, "use `{{item}}`"
                )
                return None
            keys = sorted(set.intersection(*(set(i) for i in fe.items))) if fe.items else []
            if key not in keys:
                self.error(
                    f"`{ref.text}`: not every item of `foreach` has the key `{key}`",
                    use.where,
                    did_you_mean(key, keys) or f"keys of every item: {listing(keys)}",
                )
                return None
        if len(ref.parts) > 1 and fe.kind == "range":
            self.error(f"`{ref.text}`: the items of a `range` are numbers", use.where, "use `{{item}}`")
            return None
        return "parameter"

    # DAG dependencies ------------------------------------------------------------
    def depends(self, task: m.Step, body: Body) -> list[tuple[str, Location | None]]:
        text = task.depends
        if text is None:
            return []
        loc = task.locs.get("depends")
        deps: list[tuple[str, Location | None]] = []
        leftover = DEPENDS_TOKEN.sub(" ", text)
        if leftover.replace("&&", " ").replace("||", " ").strip(" ()!\t") or "&" in leftover.replace(
            "&&", ""
        ):
            self.error(
                f"`depends` of task `{task.name}` is not a valid expression: `{text}`",
                loc,
                "write task names joined with && and ||, e.g. `a && (b.Failed || c)`, or a list of names",
            )
            return []
        for match in DEPENDS_TOKEN.finditer(text):
            name, phase = match.group(1), match.group(2)
            where = self.src.refine(loc, match.group(0))
            if name not in body.steps:
                names = [n for n in body.steps if n != task.name]
                self.error(
                    f"task `{task.name}` depends on unknown task `{name}`",
                    where,
                    did_you_mean(name, names) or f"tasks here: {listing(names)}",
                )
                continue
            if phase is not None and phase not in DEPENDS_PHASES:
                self.error(
                    f"`{match.group(0)}`: unknown task result `{phase}`",
                    where,
                    did_you_mean(phase, DEPENDS_PHASES) or f"one of {', '.join(DEPENDS_PHASES)}",
                )
            deps.append((name, where))
        return deps

    def inferred_deps(self, task: m.Step, body: Body) -> list[tuple[str, Location | None]]:
        found: list[tuple[str, Location | None]] = []
        texts: list[tuple[str, Location | None]] = [
            (v, task.value_locs.get(k)) for k, v in _strings(task.parameters) if isinstance(v, str)
        ]
        texts += [(v, task.value_locs.get(k)) for k, v in task.artifacts.items()]
        if task.when is not None:
            texts.append((task.when, task.locs.get("when")))
        if task.foreach is not None and task.foreach.param is not None:
            texts.append((task.foreach.param, task.locs.get("foreach.param")))
        for text, loc in texts:
            for ref in find_refs(text):
                parts = ref.parts
                if (
                    len(parts) > 1
                    and parts[0] == "tasks"
                    and parts[1] in body.steps
                    and parts[1] != task.name
                ):
                    found.append((ref.parts[1], self.src.refine(loc, ref.text)))
        return found

    def cycles(
        self, tasks: Sequence[m.Step], edges: Mapping[str, list[tuple[str, Location | None]]], body: Body
    ) -> None:
        state: dict[str, int] = {}
        reported: set[frozenset[str]] = set()
        stack: list[str] = []

        def visit(name: str) -> None:
            state[name] = 1
            stack.append(name)
            for dep, loc in edges.get(name, []):
                if dep == name:
                    key = frozenset([name])
                    if key not in reported:
                        reported.add(key)
                        self.error(f"task `{name}` depends on itself", loc)
                elif state.get(dep) == 1:
                    cycle = [*stack[stack.index(dep) :], dep]
                    key = frozenset(cycle)
                    if key not in reported:
                        reported.add(key)
                        self.error(
                            "dependency cycle: " + " -> ".join(reversed(cycle)),
                            loc,
                            "a task waits for what it depends on and for the tasks it references",
                        )
                elif state.get(dep) is None and dep in edges:
                    visit(dep)
            stack.pop()
            state[name] = 2

        for task in tasks:
            if state.get(task.name) is None and body.steps.get(task.name) is task:
                visit(task.name)

    # small grammars ---------------------------------------------------------------
    def duration(self, text: str | None, loc: Location | None, what: str) -> None:
        if text is not None and not is_duration(text.strip()):
            self.error(f"{what} is not a duration: `{text}`", loc, DURATION_HINT)

    def retry(self, retry: m.Retry | None) -> None:
        if retry is None or retry.backoff is None:
            return
        for key, text in (("duration", retry.backoff.duration), ("max", retry.backoff.max)):
            if text is not None and not is_duration(text.strip()):
                loc = self.src.refine(retry.loc, f"{key}:")
                self.error(
                    f"`backoff.{key}` is not a duration: `{text}`", self.src.refine(loc, text), DURATION_HINT
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


def _at(use: Use, where: Location | None, consumer: str, *, foreach: bool = True) -> Use:
    return Use(
        where,
        body=use.body,
        step=use.step,
        leaf=use.leaf,
        foreach=use.foreach if foreach else None,
        consumer=consumer,
    )


def _strings(values: Mapping[str, object]) -> list[tuple[str, object]]:
    return [(k, v) for k, v in values.items() if isinstance(v, str)]


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
    return Checker(wf, source).run()
