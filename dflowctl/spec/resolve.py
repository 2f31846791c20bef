"""Checks of ``{{...}}`` references: each resolves, to the right kind of value,
from a place where it is visible (earlier steps, declared inputs, ``foreach``)."""

from __future__ import annotations

from dflowctl.errors import Location
from dflowctl.spec import model as m
from dflowctl.spec.checkbase import Body, CheckBase, Expect, Kind, Use, at_use
from dflowctl.spec.refs import Ref, find_refs, unclosed
from dflowctl.spec.values import (
    did_you_mean,
    listing,
)

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


class RefChecks(CheckBase):
    def value_refs(
        self, value: object, loc: Location | None, use: Use, expect: Expect, consumer: str
    ) -> None:
        """Check every reference inside a literal value (strings, nested lists and mappings)."""
        if isinstance(value, str):
            if unclosed(value):
                self.error("`{{` is never closed by `}}`", self.src.refine(loc, "{{"))
            for ref in find_refs(value):
                self.ref(ref, at_use(use, self.src.refine(loc, ref.text), consumer or use.consumer), expect)
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
