"""Wrapper steps templates around a loop step: ``parallelism`` (Argo caps a loop only
through the template holding it) and slices (``render.slices``: the entries pod, a
``param`` list's enumerate pod, the check pod). Every outside reference the loop
makes becomes an input of the wrapper (``dflowctl-lift-<i>``); the wrapper exposes
the loop's aggregated outputs."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from dflowctl.render import slices
from dflowctl.render.leaf import FANIN_INDEX_PARAM
from dflowctl.render.values import TAG, fail, single_tag
from dflowctl.spec import model

if TYPE_CHECKING:
    from dflowctl.render.scope import Namer, Scope

LIFT_PREFIX = "dflowctl-lift-"
_ARTIFACT_TAG = re.compile(
    r"^(?:(?:steps|tasks)\.[^.]+\.outputs\.artifacts\.[^.]+|inputs\.artifacts\.[^.]+)$"
)
_KEEP_TAG = re.compile(r"^(?:item(?:\..*)?|workflow\..*|=.*|retries|pod\.name|node\.name|lastRetry\..*)$")


def emits_index(op: model.Op) -> bool:
    """A Python op with output parameters, fanned out, also outputs its item's index."""
    return op.kind == "python" and bool(op.outputs_parameters)


class Wrapping:
    """The wrapper part of ``render.body.Renderer`` (which provides these attributes)."""

    names: Namer
    extra: list[dict[str, Any]]
    shared: dict[str, str]

    def shared_template(self, kind: str) -> str:
        """``dflowctl-entries`` / ``dflowctl-check-items``: made once per workflow."""
        if kind not in self.shared:
            name = self.names.fresh(kind)
            self.shared[kind] = name
            make = {
                "dflowctl-entries": slices.entries_template,
                "dflowctl-enumerate": slices.enumerate_template,
            }.get(kind, slices.check_template)
            self.extra.append(make(name))
        return self.shared[kind]

    def wrap_slices(
        self, rendered: dict[str, Any], op: model.Op, step: model.Step, scope: Scope
    ) -> dict[str, Any]:
        """A foreach over `entries`, or whose phase its items decide: the wrapper of
        ``render.slices`` (entries pod, loop, check pod)."""
        fe = step.foreach
        assert fe is not None
        loop = dict(rendered)
        before: list[dict[str, Any]] = []
        after: list[dict[str, Any]] = []
        inside_args: list[dict[str, Any]] = []
        extra_outputs: list[tuple[str, str]] = []
        if fe.kind == "entries":
            args = dict(loop.get("arguments") or {})
            arts = list(args.get("artifacts") or [])
            data = next(a for a in arts if a["name"] == fe.entries)
            args["artifacts"] = [a for a in arts if a["name"] != fe.entries]
            loop["arguments"] = {k: v for k, v in args.items() if v}
            group = [{"name": "group", "value": str(fe.group or 0)}]
            before.append(
                {
                    "name": slices.ENTRIES_STEP,
                    "template": self.shared_template("dflowctl-entries"),
                    "arguments": {"parameters": group, "artifacts": [{**data, "name": "data"}]},
                }
            )
            slices_ref = f"{{{{steps.{slices.ENTRIES_STEP}.outputs.artifacts.{slices.SLICES_ARTIFACT}}}}}"
            inside_args.append({"name": fe.entries, "from": slices_ref, "subPath": "{{item.path}}"})
            extra_outputs.append(
                (slices.COUNT_OUTPUT, f"{{{{steps.{slices.ENTRIES_STEP}.outputs.parameters.count}}}}")
            )
        if fe.kind == "param" and slices.paired(step, op) and fe.param is not None:
            before.append(
                {
                    "name": slices.ENUMERATE_STEP,
                    "template": self.shared_template("dflowctl-enumerate"),
                    "arguments": {"parameters": [{"name": "list", "value": fe.param}]},
                }
            )
            extra_outputs.append(
                (slices.COUNT_OUTPUT, f"{{{{steps.{slices.ENUMERATE_STEP}.outputs.parameters.count}}}}")
            )
        if slices.by_items(step):
            total = slices.item_total(step)
            if total is None:
                raise fail(
                    f"step '{step.name}': `continue_on.success_ratio`/`success_number` needs a loop "
                    "whose item count is known (`items`, `param`, `entries`, a `range` with `count` "
                    "or literal bounds)",
                    step.loc,
                )
            after.append(
                {
                    "name": slices.CHECK_STEP,
                    "template": self.shared_template("dflowctl-check-items"),
                    "arguments": {"parameters": slices.check_arguments(step, rendered["name"], total)},
                }
            )
            loop["continueOn"] = {"failed": True, "error": True}
        outer = self.wrap(
            loop,
            op,
            fe.parallelism,
            scope,
            before=before,
            after=after,
            inside_args=inside_args,
            extra_outputs=extra_outputs,
            index_output=slices.grouped(step),
        )
        cont = step.continue_on
        if slices.by_items(step) and cont is not None and (cont.failed or cont.error):
            outer["continueOn"] = {k: True for k in ("failed", "error") if getattr(cont, k)}
        return outer

    # ------------------------------------------------------------------ parallelism

    def wrap(
        self,
        rendered: dict[str, Any],
        op: model.Op,
        parallelism: int | None,
        scope: Scope,
        *,
        before: list[dict[str, Any]] | None = None,
        after: list[dict[str, Any]] | None = None,
        inside_args: list[dict[str, Any]] | None = None,
        extra_outputs: list[tuple[str, str]] | None = None,
        index_output: bool = False,
    ) -> dict[str, Any]:
        """Argo caps a loop through the ``parallelism`` of the template holding it:
        the loop moves into a steps template, every outside reference becomes an
        input of that template. ``before``/``after``: steps around the loop (slices);
        ``inside_args``: loop artifacts from those steps (not lifted)."""
        inner = {k: v for k, v in rendered.items() if k not in ("depends", "when")}
        lifter = _Lifter({rendered["name"], *(s["name"] for s in (*(before or ()), *(after or ())))})
        args = dict(inner.get("arguments", {}))
        inner["arguments"] = args
        if "parameters" in args:
            args["parameters"] = [{**p, "value": lifter.text(p["value"])} for p in args["parameters"]]
        if "artifacts" in args:
            args["artifacts"] = [lifter.artifact(a) for a in args["artifacts"]]
        if inside_args:
            args["artifacts"] = [*args.get("artifacts", []), *inside_args]
        if not args:
            del inner["arguments"]
        if "withParam" in inner:
            inner["withParam"] = lifter.text(inner["withParam"])
        if "withSequence" in inner:
            inner["withSequence"] = {k: lifter.text(v) for k, v in inner["withSequence"].items()}
        around = [self._lifted(s, lifter) for s in (*(before or ()), *(after or ()))]
        before_steps, after_steps = around[: len(before or ())], around[len(before or ()) :]
        name = self.names.fresh(f"{scope.template}-{rendered['name']}")
        wrapper: dict[str, Any] = {"name": name}
        w_inputs = {
            k: v
            for k, v in (
                ("parameters", [{"name": n} for n in lifter.params.values()]),
                ("artifacts", [lifter.optional_tag({"name": n}, t) for t, n in lifter.artifacts.items()]),
            )
            if v
        }
        if w_inputs:
            wrapper["inputs"] = w_inputs
        # a loop without items (or whose items all failed) has no aggregated outputs: []
        out_params = [
            {
                "name": p.name,
                "valueFrom": {
                    "parameter": f"{{{{steps.{rendered['name']}.outputs.parameters.{p.name}}}}}",
                    "default": "[]",
                },
            }
            for p in op.outputs_parameters
        ]
        takes_index = any(p["name"] == FANIN_INDEX_PARAM for p in args.get("parameters", []))
        if emits_index(op) and (takes_index or index_output):
            step_ref = f"{{{{steps.{rendered['name']}.outputs.parameters.{FANIN_INDEX_PARAM}}}}}"
            out_params.append(
                {"name": FANIN_INDEX_PARAM, "valueFrom": {"parameter": step_ref, "default": "[]"}}
            )
        out_params.extend({"name": n, "valueFrom": {"parameter": ref}} for n, ref in extra_outputs or ())
        if out_params:
            wrapper["outputs"] = {"parameters": out_params}
        if parallelism:
            wrapper["parallelism"] = parallelism
        wrapper["steps"] = [[s] for s in (*before_steps, inner, *after_steps)]
        self.extra.append(wrapper)

        outer: dict[str, Any] = {"name": rendered["name"], "template": name}
        if "depends" in rendered:
            outer["depends"] = rendered["depends"]
        lifted_arts = lifter.artifacts.items()
        outer_args = {
            k: v
            for k, v in (
                ("parameters", [{"name": n, "value": t} for t, n in lifter.params.items()]),
                ("artifacts", [lifter.optional_tag({"name": n, "from": t}, t) for t, n in lifted_arts]),
            )
            if v
        }
        if outer_args:
            outer["arguments"] = outer_args
        if "when" in rendered:
            outer["when"] = rendered["when"]
        return outer

    @staticmethod
    def _lifted(step: dict[str, Any], lifter: _Lifter) -> dict[str, Any]:
        """A step beside the loop in a wrapper, its outside references lifted."""
        args = step.get("arguments") or {}
        params = [{**p, "value": lifter.text(p["value"])} for p in args.get("parameters") or []]
        arts = [lifter.artifact(a) for a in args.get("artifacts") or []]
        lifted = {k: v for k, v in (("parameters", params), ("artifacts", arts)) if v}
        return {**step, "arguments": lifted} if lifted else dict(step)


class _Lifter:
    """Replaces outside references in a wrapped loop step by inputs of the wrapper."""

    def __init__(self, inside: set[str] | None = None) -> None:
        self.inside = inside or set()  # steps in the wrapper: references to them stay
        self.params: dict[str, str] = {}  # "{{tag}}" -> input name
        self.artifacts: dict[str, str] = {}
        self.required: set[str] = set()  # lifted artifacts some use of which is not optional
        self.count = 0

    def _name(self) -> str:
        name = f"{LIFT_PREFIX}{self.count}"
        self.count += 1
        return name

    def text(self, text: Any) -> Any:
        if not isinstance(text, str):
            return text

        def repl(match: re.Match[str]) -> str:
            tag = match.group(1)
            if _KEEP_TAG.match(tag) or self._inside(tag):
                return match.group(0)
            key = f"{{{{{tag}}}}}"
            if key not in self.params:
                self.params[key] = self._name()
            return f"{{{{inputs.parameters.{self.params[key]}}}}}"

        return TAG.sub(repl, text)

    def _inside(self, tag: str) -> bool:
        parts = tag.split(".")
        return len(parts) > 1 and parts[0] == "steps" and parts[1] in self.inside

    def optional_tag(self, art: dict[str, Any], key: str) -> dict[str, Any]:
        """A lifted artifact is optional on the wrapper when every use inside is."""
        return art if key in self.required else {**art, "optional": True}

    def artifact(self, art: dict[str, Any]) -> dict[str, Any]:
        if "from" in art:
            tag = single_tag(art["from"])
            if tag is not None and _ARTIFACT_TAG.match(tag) and not self._inside(tag):
                key = f"{{{{{tag}}}}}"
                if key not in self.artifacts:
                    self.artifacts[key] = self._name()
                if not art.get("optional"):
                    self.required.add(key)
                return {**art, "from": f"{{{{inputs.artifacts.{self.artifacts[key]}}}}}"}
            return art
        if "s3" in art:
            return {**art, "s3": {**art["s3"], "key": self.text(art["s3"]["key"])}}
        return art
