"""Semantic rules the schema cannot express, all reported in one pass.

Names (unique, accepted by Argo), ops exist, steps give every required input
and no unknown one, literal values fit their types, every ``{{...}}``
reference resolves (the step exists and runs earlier, the output exists and is
of the right kind), no DAG cycle, and the small grammars (``module:callable``,
durations, resource quantities) parse.

``Checker`` adds the ops' own rules to the groups it inherits: ``stepchecks``
(bodies and steps) over ``valuechecks`` (names, parameters, small grammars),
``resolve`` (references) and ``dagchecks``.
"""

from __future__ import annotations

from collections.abc import Sequence

from dflowctl.errors import Diagnostic, Location
from dflowctl.spec import model as m
from dflowctl.spec.checkbase import Use
from dflowctl.spec.locate import Source
from dflowctl.spec.refs import find_refs
from dflowctl.spec.stepchecks import StepChecks
from dflowctl.spec.valuechecks import entrypoint_hint
from dflowctl.spec.values import ENTRYPOINT, IDENTIFIER, host_only_root, is_quantity


class Checker(StepChecks):
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
                entrypoint_hint(op.python),
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


def check_workflow(wf: m.Workflow, source: Source) -> list[Diagnostic]:
    """Every semantic problem of a built workflow."""
    from dflowctl.spec.recursion import recursion_diagnostics

    return Checker(wf, source).run() + recursion_diagnostics(wf, source)
