"""Argo's structural rules (validate.go's essentials) for one ``Workflow`` document, each
problem a diagnostic with FILE:LINE:COL: names, ``metadata``, ``spec``, templates,
parameters, references between templates, steps, DAG tasks and their ``depends``."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from dflowctl.argo import TEMPLATE_KINDS
from dflowctl.errors import Diagnostic, Location
from dflowctl.spec.load import YamlDocument
from dflowctl.spec.locate import PathItem
from dflowctl.spec.values import ARGO_NAME as NAME_RE
from dflowctl.spec.values import MAX_ARGO_NAME as MAX_NAME

API_VERSION = "argoproj.io/v1alpha1"
KIND = "Workflow"
# workflow/validate/validate.go: parameter and artifact names (template/step/task names: spec.values)
PARAM_RE = re.compile(r"^[-a-zA-Z0-9_]+$")
_SUBSTITUTED = re.compile(r"\{\{\s*(?:inputs\.parameters|workflow\.parameters)\.[-a-zA-Z0-9_.]+\s*\}\}")
OBJECT_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
MAX_OBJECT_NAME = 63
# top-level keys of a dflowctl spec's `spec` that an Argo Workflow never has
DFLOWCTL_KEYS = ("ops", "steps", "dag", "on_exit", "retry")


def diag_at(doc: YamlDocument, path: Sequence[PathItem]) -> tuple[Location, str | None]:
    loc = doc.loc(path, key=bool(path) and isinstance(path[-1], str))
    return loc, doc.source.line_text(loc.line)


# ---------------------------------------------------------------- structural checks


class _Checker:
    def __init__(self, doc: YamlDocument) -> None:
        self.doc = doc
        self.items: list[Diagnostic] = []

    def add(
        self, message: str, path: Sequence[PathItem], hint: str | None = None, *, key: bool = True
    ) -> None:
        loc = self.doc.loc(path, key=key and bool(path) and isinstance(path[-1], str))
        self.items.append(self.doc.diagnostic(message, loc, hint))

    def name(
        self, value: Any, path: Sequence[PathItem], what: str, pattern: re.Pattern[str] = NAME_RE
    ) -> None:
        if not isinstance(value, str) or not value:
            self.add(f"{what} needs a name", path[:-1] if path else path)
            return
        if pattern is NAME_RE and len(value) > MAX_NAME:
            self.add(f"{what} name `{value}` is longer than {MAX_NAME} characters", path, key=False)
        if not pattern.match(value):
            allowed = (
                "letters, digits and `-`, starting with a letter or digit"
                if pattern is NAME_RE
                else "letters, digits, `-` and `_`"
            )
            self.add(f"invalid {what} name `{value}`", path, f"use {allowed}", key=False)


def check(doc: YamlDocument) -> list[Diagnostic]:
    """Argo's structural rules (validate.go's essentials) for one Workflow document."""
    c = _Checker(doc)
    data = doc.data
    spec = data.get("spec")
    theirs = [k for k in DFLOWCTL_KEYS if isinstance(spec, Mapping) and k in spec]
    if theirs and "templates" not in spec:
        c.add(
            f"`apiVersion: {data.get('apiVersion')}` makes this an Argo Workflow, "
            f"but `spec.{theirs[0]}` is a dflowctl spec's",
            ["apiVersion"] if "apiVersion" in data else [],
            "a dflowctl spec starts with `apiVersion: dflowctl/v1alpha1`",
            key=False,
        )
        return c.items
    if data.get("apiVersion") != API_VERSION:
        c.add(
            f"apiVersion must be `{API_VERSION}`, not `{data.get('apiVersion')}`",
            ["apiVersion"] if "apiVersion" in data else [],
            key=False,
        )
    if data.get("kind") != KIND:
        what = f"`{data.get('kind')}`" if "kind" in data else "missing"
        c.add(
            f"kind must be `Workflow` (is {what})",
            ["kind"] if "kind" in data else [],
            "dflowctl runs Workflow objects; a WorkflowTemplate or CronWorkflow needs a cluster (-e argo)",
            key=False,
        )
        return c.items
    _check_metadata(c, data.get("metadata"))
    spec = data.get("spec")
    if not isinstance(spec, Mapping):
        c.add(
            "spec must be a mapping" if "spec" in data else "the Workflow has no spec",
            ["spec"] if "spec" in data else [],
        )
        return c.items
    _check_spec(c, spec)
    return c.items


def _check_metadata(c: _Checker, meta: Any) -> None:
    if not isinstance(meta, Mapping):
        c.add(
            "metadata must be a mapping with name or generateName", ["metadata"] if meta is not None else []
        )
        return
    name, gen = meta.get("name"), meta.get("generateName")
    if not name and not gen:
        c.add("metadata needs name or generateName", ["metadata"])
        return
    for key in ("name", "generateName"):
        value = meta.get(key)
        if value is None:
            continue
        text = str(value)
        stem = text.rstrip("-") if key == "generateName" else text
        if len(text) > MAX_OBJECT_NAME or not OBJECT_NAME_RE.match(stem or "-"):
            c.add(
                f"invalid metadata.{key} `{text}`",
                ["metadata", key],
                f"lower-case letters, digits, `-` and `.`, at most {MAX_OBJECT_NAME} characters",
                key=False,
            )


def _check_spec(c: _Checker, spec: Mapping[str, Any]) -> None:
    templates = spec.get("templates")
    has_ref = spec.get("workflowTemplateRef") is not None
    if templates is None:
        if not has_ref:
            c.add("spec.templates is required", ["spec"])
        templates = []
    if not isinstance(templates, list):
        c.add("spec.templates must be a list", ["spec", "templates"])
        return
    names: dict[str, int] = {}
    for i, tmpl in enumerate(templates):
        path: list[PathItem] = ["spec", "templates", i]
        if not isinstance(tmpl, Mapping):
            c.add("a template must be a mapping", path, key=False)
            continue
        name = tmpl.get("name")
        c.name(name, [*path, "name"], "template")
        if isinstance(name, str):
            if name in names:
                c.add(f"duplicate template name `{name}`", [*path, "name"], key=False)
            names.setdefault(name, i)
    entry = spec.get("entrypoint")
    if entry is None:
        if not has_ref:
            c.add("spec.entrypoint is required", ["spec"], "name the template to start with")
    elif not isinstance(entry, str) or (entry not in names and not has_ref and "{{" not in entry):
        c.add(
            f"entrypoint template `{entry}` is not defined", ["spec", "entrypoint"], _known(names), key=False
        )
    on_exit = spec.get("onExit")
    if isinstance(on_exit, str) and on_exit not in names and "{{" not in on_exit:
        c.add(f"onExit template `{on_exit}` is not defined", ["spec", "onExit"], _known(names), key=False)
    _check_hooks(c, spec.get("hooks"), ["spec", "hooks"], names)
    arguments = spec.get("arguments")
    if arguments is not None and not isinstance(arguments, Mapping):
        c.add(
            "spec.arguments must be a mapping (of `parameters` and `artifacts`)",
            ["spec", "arguments"],
            key=False,
        )
        arguments = None
    _check_params(c, (arguments or {}).get("parameters"), ["spec", "arguments", "parameters"], "argument")
    for i, tmpl in enumerate(templates):
        if isinstance(tmpl, Mapping):
            _check_template(c, tmpl, ["spec", "templates", i], names)


def _known(names: Mapping[str, int]) -> str | None:
    return "templates: " + ", ".join(sorted(names)) if names else None


def _check_template(
    c: _Checker, tmpl: Mapping[str, Any], path: list[PathItem], names: Mapping[str, int]
) -> None:
    kinds = [k for k in TEMPLATE_KINDS if tmpl.get(k) is not None]
    label = f"template `{tmpl.get('name')}`"
    if len(kinds) > 1:
        c.add(
            f"{label} has {len(kinds)} template types ({', '.join(kinds)}); it may have one",
            [*path, kinds[1]],
        )
    elif not kinds and tmpl.get("templateRef") is None:
        c.add(f"{label} has no template type", path, "give it one of: " + ", ".join(TEMPLATE_KINDS))
    inputs = tmpl.get("inputs") or {}
    outputs = tmpl.get("outputs") or {}
    if isinstance(inputs, Mapping):
        _check_params(c, inputs.get("parameters"), [*path, "inputs", "parameters"], "input parameter")
        _check_params(c, inputs.get("artifacts"), [*path, "inputs", "artifacts"], "input artifact")
    if isinstance(outputs, Mapping):
        _check_params(c, outputs.get("parameters"), [*path, "outputs", "parameters"], "output parameter")
        _check_params(c, outputs.get("artifacts"), [*path, "outputs", "artifacts"], "output artifact")
    defaults = (c.doc.data.get("spec") or {}).get("templateDefaults")
    defaults = defaults if isinstance(defaults, Mapping) else {}

    def given(kind: str, key: str) -> bool:  # in the template, or in spec.templateDefaults
        return any(isinstance(b, Mapping) and bool(b.get(key)) for b in (tmpl.get(kind), defaults.get(kind)))

    for kind in ("container", "script"):
        if isinstance(tmpl.get(kind), Mapping) and not given(kind, "image"):
            c.add(f"{label}: {kind} needs an image", [*path, kind])
    problem = container_set_problem(tmpl)
    if problem is not None:
        c.add(f"{label}: {problem[0]}", [*path, "containerSet", *problem[1]], key=False)
    steps = tmpl.get("steps")
    if steps is not None:
        _check_steps(c, steps, [*path, "steps"], names)
    dag = tmpl.get("dag")
    if dag is not None:
        _check_dag(c, dag, [*path, "dag"], names)
    _check_hooks(c, tmpl.get("hooks"), [*path, "hooks"], names)


def container_set_problem(tmpl: Mapping[str, Any]) -> tuple[str, list[PathItem]] | None:
    """Argo's ``ContainerSetTemplate.Validate`` and validator rules for a ``containerSet``
    (the first problem and where, under ``containerSet``), or None."""
    cset = tmpl.get("containerSet")
    if not isinstance(cset, Mapping):
        return None
    ctrs = cset.get("containers")
    if not isinstance(ctrs, list) or not ctrs or not all(isinstance(x, Mapping) for x in ctrs):
        return "containerSet needs a list of at least one container", ["containers"]
    seen: dict[str, list[str]] = {}
    for i, ctr in enumerate(ctrs):
        name = ctr.get("name")
        if not isinstance(name, str) or not name:
            return "every container of a containerSet needs a name", ["containers", i]
        if name in seen:
            return f"duplicate container name `{name}`", ["containers", i, "name"]
        seen[name] = [str(d) for d in ctr.get("dependencies") or []]
    for i, ctr in enumerate(ctrs):
        for j, dep in enumerate(seen[ctr["name"]]):
            if dep not in seen:
                return (
                    f"container `{ctr['name']}` depends on `{dep}`, which is not a container of the set",
                    ["containers", i, "dependencies", j],
                )
    done: set[str] = set()
    for name in seen:  # a cycle: a container that waits for itself, the pod never ends
        path, todo = [name], list(seen[name])
        while todo:
            dep = todo.pop()
            if dep == name:
                return f"containers depend on each other in a cycle (through `{name}`)", ["containers"]
            if dep not in done and dep not in path:
                path.append(dep)
                todo.extend(seen[dep])
        done.add(name)
    inputs, outputs = tmpl.get("inputs") or {}, tmpl.get("outputs") or {}
    io = [
        isinstance(inputs, Mapping) and inputs.get("artifacts"),
        isinstance(outputs, Mapping) and (outputs.get("parameters") or outputs.get("artifacts")),
    ]
    if any(io) and "main" not in seen:
        return 'containerSet.containers must have a container named "main" for input or output', [
            "containers"
        ]
    return None


def _check_params(c: _Checker, items: Any, path: list[PathItem], what: str) -> None:
    if items is None:
        return
    if not isinstance(items, list):
        c.add(f"{what}s must be a list", path)
        return
    seen: set[str] = set()
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            c.add(f"an {what} must be a mapping with a name", [*path, i], key=False)
            continue
        name = item.get("name")
        # validate.go checks a template's outputs after its inputs (and the workflow's
        # parameters) are substituted: `result-{{inputs.parameters.v}}` is a valid name
        templated = what.startswith("output") and isinstance(name, str) and _SUBSTITUTED.search(name)
        if not (templated and PARAM_RE.match(_SUBSTITUTED.sub("x", str(name)))):
            c.name(name, [*path, i, "name"], what, PARAM_RE)
        if isinstance(name, str):
            if name in seen:
                c.add(f"duplicate {what} `{name}`", [*path, i, "name"], key=False)
            seen.add(name)


def _check_ref(
    c: _Checker, holder: Mapping[str, Any], path: list[PathItem], names: Mapping[str, int]
) -> None:
    """A step or task calls exactly one of: template, templateRef, inline."""
    given = [k for k in ("template", "templateRef", "inline") if holder.get(k) is not None]
    what = f"`{holder.get('name')}`"
    if not given:
        c.add(f"{what} names no template", path, "give template: NAME")
    elif len(given) > 1:
        c.add(f"{what} gives both {given[0]} and {given[1]}", [*path, given[1]])
    ref = holder.get("template")
    if isinstance(ref, str) and ref not in names and "{{" not in ref:
        c.add(f"template `{ref}` is not defined", [*path, "template"], _known(names), key=False)
    inline = holder.get("inline")
    if isinstance(inline, Mapping):
        _check_template(c, {"name": holder.get("name"), **inline}, [*path, "inline"], names)
    _check_hooks(c, holder.get("hooks"), [*path, "hooks"], names)
    on_exit = holder.get("onExit")
    if isinstance(on_exit, str) and on_exit not in names:
        c.add(f"onExit template `{on_exit}` is not defined", [*path, "onExit"], _known(names), key=False)


def _check_hooks(c: _Checker, hooks: Any, path: list[PathItem], names: Mapping[str, int]) -> None:
    if not isinstance(hooks, Mapping):
        return
    for key, hook in hooks.items():
        if isinstance(hook, Mapping):
            ref = hook.get("template")
            if isinstance(ref, str) and ref not in names:
                c.add(
                    f"hook `{key}`: template `{ref}` is not defined",
                    [*path, key, "template"],
                    _known(names),
                    key=False,
                )


def _check_uses(
    c: _Checker, uses: list[Any], path: list[PathItem], what: str, duplicate: str, names: Mapping[str, int]
) -> list[tuple[list[PathItem], Mapping[str, Any]]]:
    """The steps of one group or the tasks of one dag: each a mapping with a valid name,
    unique among them (``duplicate``: the message, ``{}`` the name), that calls exactly one
    template (``_check_ref``). The mappings with their paths, for the checks of one kind."""
    seen: set[str] = set()
    found: list[tuple[list[PathItem], Mapping[str, Any]]] = []
    for i, use in enumerate(uses):
        upath: list[PathItem] = [*path, i]
        if not isinstance(use, Mapping):
            c.add(f"a {what} must be a mapping", upath, key=False)
            continue
        name = use.get("name")
        c.name(name, [*upath, "name"], what)
        if isinstance(name, str):
            if name in seen:
                c.add(duplicate.format(name), [*upath, "name"], key=False)
            seen.add(name)
        _check_ref(c, use, upath, names)
        found.append((upath, use))
    return found


def _check_steps(c: _Checker, steps: Any, path: list[PathItem], names: Mapping[str, int]) -> None:
    if not isinstance(steps, list):
        c.add("steps must be a list of step groups", path)
        return
    for g, group in enumerate(steps):
        if group is None:
            continue
        if not isinstance(group, list):
            c.add("a step group must be a list of steps", [*path, g], key=False)
            continue
        _check_uses(c, group, [*path, g], "step", "duplicate step name `{}` in one group", names)


def _check_dag(c: _Checker, dag: Any, path: list[PathItem], names: Mapping[str, int]) -> None:
    if not isinstance(dag, Mapping) or not isinstance(dag.get("tasks"), list):
        c.add("dag needs a list of tasks", path)
        return
    tasks = dag["tasks"]
    task_names = {t.get("name") for t in tasks if isinstance(t, Mapping)}
    for tpath, task in _check_uses(c, tasks, [*path, "tasks"], "task", "duplicate task name `{}`", names):
        name = task.get("name")
        if task.get("dependencies") is not None and task.get("depends") is not None:
            c.add(f"task `{name}` gives both dependencies and depends", [*tpath, "depends"])
        deps = task.get("dependencies")
        if isinstance(deps, list):
            for j, dep in enumerate(deps):
                if dep not in task_names:
                    c.add(
                        f"task `{name}` depends on `{dep}`, which is not a task of this dag",
                        [*tpath, "dependencies", j],
                        key=False,
                    )
        depends = task.get("depends")
        if isinstance(depends, str):
            for dep in _depends_names(depends):
                if dep not in task_names:
                    c.add(
                        f"task `{name}` depends on `{dep}`, which is not a task of this dag",
                        [*tpath, "depends"],
                        key=False,
                    )
    for key in ("target",):
        target = dag.get(key)
        if isinstance(target, str) and "{{" not in target:
            for t in target.split():
                if t not in task_names:
                    c.add(f"dag target `{t}` is not a task of this dag", [*path, key], key=False)


_DEP_WORD = re.compile(r"[A-Za-z0-9][-A-Za-z0-9]*(?:\.[A-Za-z]+)?")


def _depends_names(text: str) -> list[str]:
    out = []
    for m in _DEP_WORD.finditer(text):
        word = m.group(0)
        out.append(word.split(".", 1)[0])
    return out
