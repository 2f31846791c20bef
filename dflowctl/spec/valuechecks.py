"""Checks of names, parameters, workflow artifacts and the small grammars (durations,
``retry``, an op named by ``entrypoint``/``on_exit``): the base of ``spec.checks``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from dflowctl.errors import Location
from dflowctl.spec import model as m
from dflowctl.spec.checkbase import CheckBase
from dflowctl.spec.values import (
    ARGO_NAME,
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
    kind_of,
    listing,
    misfit,
    parse_type,
)

DURATION_HINT = "use a number and a unit: 90s, 10m, 2h, 1h30m"
# Go's time.Duration (what Argo parses these with) is int64 nanoseconds: about 292 years
MAX_DURATION_SECONDS = (2**63 - 1) / 1e9
TOO_LONG_HINT = "Argo's durations are at most 2562047h (about 292 years)"


def too_long(text: str) -> bool:
    from dflowctl.argo import parse_duration

    return parse_duration(text) > MAX_DURATION_SECONDS


class ValueChecks(CheckBase):
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
            if p.default is None and p.nullable:
                pass  # the code's own `= None`: the op gets None
            elif p.default is not m.MISSING and not fits(p.default, p.type):
                self.error(
                    f"default of {what} `{p.name}` must be {TYPE_WORDS[p.type]} ({p.type}), "
                    f"not {kind_of(p.default)}",
                    p.locs.get("default", p.loc),
                    quote_hint(p.default, p.type),
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
                        self.src.refine(p.locs.get("enum", p.loc), needle(value)),
                    )
            if p.enum and p.default is not m.MISSING and fits(p.default, p.type) and p.default not in p.enum:
                self.error(
                    f"default of {what} `{p.name}` is not one of its `enum` values",
                    p.locs.get("default", p.loc),
                    f"allowed: {', '.join(show(v) for v in p.enum)}",
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


def json_list(text: str) -> bool:
    try:
        return isinstance(json.loads(text), list)
    except ValueError:
        return False


def needle(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def show(value: object) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, (int, float, list, dict)) else str(value)


def quote_hint(value: object, type_: str) -> str | None:
    if type_ == "str" and isinstance(value, (int, float, bool)) and value is not None:
        return f'quote it: "{show(value)}"'
    if isinstance(value, str) and type_ in ("int", "float", "bool", "list", "dict"):
        try:
            parsed = json.loads(value)
        except ValueError:
            return None
        if fits(parsed, type_):
            return "remove the quotes"
    return None


def entrypoint_hint(text: str) -> str:
    if ":" not in text and "." in text:
        module, _, name = text.rpartition(".")
        return f"separate the module and the callable with `:`, e.g. `{module}:{name}`"
    return "e.g. `hello_ops:WriteFile` (module `hello_ops`, class or function `WriteFile`)"
