"""Leaf ops (python / script / command) as Argo script and container templates."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from dflowctl.render.values import encode, fail
from dflowctl.spec import model
from dflowctl.stepkey import NO_CACHE_ANNOTATION, STEP_KEY_PARAM

ROOT = "/tmp/dflowctl"
SOURCE_ARTIFACT = "dflowctl-source"
SOURCE_PATH = f"{ROOT}/source"
FANIN_PARAM = "dflowctl-fanin"
FANIN_INDEX_PARAM = "dflowctl-index"
OK_OUTPUT = "dflowctl-ok"  # an item that succeeded says so (1; a group pod: how many of its items)
ALIGN_PREFIX = "dflowctl-align-"  # + input name: the producer's aggregated item indices
COUNT_PREFIX = "dflowctl-count-"  # + input name: how many items the producer had
INDEX_ENV = "DFLOWCTL_INDEX"
ALIGN_ENV = "DFLOWCTL_ALIGN_"
COUNT_ENV = "DFLOWCTL_COUNT_"
FLAT_ENV = "DFLOWCTL_FLAT_"  # + input name: a fan-in of list outputs, listed as every item's files
PARAM_ENV_PREFIX = "DFLOWCTL_PARAM_"
DEFAULT_IMAGE = "python:3.12-slim"
CONFIG_LINE = "CONFIG: dict[str, Any] = {}  # dflowctl:config"
CONFIG_CALL = "CONFIG: dict[str, Any] = json.loads("  # + the op's interface as a JSON string literal + ")"
DFLOW_LINE = 'DFLOW_PYTHON = ""  # dflowctl:dflow-python'
# dflow's way: a FatalError exits 2 and is not retried; anything else follows the policy
FATAL_EXPRESSION = "asInt(lastRetry.exitCode) != 2"


@dataclass(frozen=True)
class LeafVariant:
    """What may differ between two templates rendered from the same leaf op."""

    retry: model.Retry | None
    timeout: str | None
    fanin: str = ""  # "": no fan-in; "index": keyed by the item's index; "pod": by its pod's name;
    # "group": one pod writes <i>/ folders for its items
    index: bool = False  # takes the item's index (dflowctl-index); a Python op also outputs it
    align: tuple[str, ...] = ()  # list inputs that get a fan-in realigned by item index
    group: str = ""  # foreach.group: the sliced input artifact; the pod runs its items (render/bootgroup.py)
    pool: int = 0  # foreach.pool: items at once inside a group pod
    tolerate: bool = False  # a group pod succeeds while one item did (the check step decides)
    ok: bool = False  # outputs dflowctl-ok (the step's phase is decided by its items)
    flat: tuple[str, ...] = ()  # input artifacts given a fan-in of list outputs (fanin.flat_inputs)


@cache
def bootstrap_text() -> str:
    text = resources.files("dflowctl.render").joinpath("bootstrap.py").read_text(encoding="utf-8")
    if CONFIG_LINE not in text or DFLOW_LINE not in text:
        raise RuntimeError("render/bootstrap.py lost its CONFIG or DFLOW_PYTHON line")
    return text


@cache
def dflow_python_line() -> str:
    """The bootstrap line carrying dflow.python (render/dflow_python.py) as a string literal."""
    text = resources.files("dflowctl.render").joinpath("dflow_python.py").read_text(encoding="utf-8")
    if "{{" in text or "}}" in text:  # Argo would substitute it
        raise RuntimeError("render/dflow_python.py must not contain double braces")
    return f"DFLOW_PYTHON = {json.dumps(text)}"


def _unbraced(text: str) -> str:
    while "{{" in text or "}}" in text:  # Argo substitutes {{...}} in script sources
        text = text.replace("{{", "{ {").replace("}}", "} }")
    return text


GROUP_MARKER = "# dflowctl:group-runner\n"
MAIN_GUARD = 'if __name__ == "__main__":\n    sys.exit(main())\n'


@cache
def group_runner_text() -> str:
    """The part of render/bootgroup.py shipped after the bootstrap for a group pod."""
    text = resources.files("dflowctl.render").joinpath("bootgroup.py").read_text(encoding="utf-8")
    if GROUP_MARKER not in text or "{{" in text or "}}" in text:
        raise RuntimeError("render/bootgroup.py lost its marker line (or holds double braces)")
    return text.split(GROUP_MARKER, 1)[1]


def bootstrap_source(op: model.Op, variant: LeafVariant | None = None) -> str:
    """The bootstrap with the op's interface embedded as a JSON literal (and, for a
    group pod, the group runner after it)."""
    config: dict[str, Any] = {
        "op": op.name,
        "entrypoint": op.python,
        "chdir": op.workdir is None,
        "source_label": op.source_label,
        "inputs": {
            "parameters": {p.name: _typed(p) for p in op.inputs_parameters},
            "artifacts": {a.name: {"optional": a.optional} for a in op.inputs_artifacts},
        },
        "outputs": {
            "parameters": {p.name: _typed(p) for p in op.outputs_parameters},
            "artifacts": {a.name: {"optional": a.optional} for a in op.outputs_artifacts},
        },
    }
    group = variant is not None and bool(variant.group)
    if variant is not None and variant.group:
        config["group"] = {"slice": variant.group, "pool": variant.pool or 1, "tolerate": variant.tolerate}
    literal = json.dumps(_unbraced(json.dumps(config)))
    return assemble_bootstrap(f"{CONFIG_CALL}{literal})", dflow=op.uses_dflow, group=group)


def assemble_bootstrap(config_line: str, *, dflow: bool, group: bool) -> str:
    """render/bootstrap.py with ``config_line`` for its CONFIG line, the bundled dflow.python
    (``dflow``) and the group runner in place of its main guard (``group``): the one rule for
    a bootstrap's text, inline (``bootstrap_source``) or shipped once (``render/bootship.py``)."""
    text = bootstrap_text().replace(CONFIG_LINE, config_line, 1)
    if dflow:
        text = text.replace(DFLOW_LINE, dflow_python_line(), 1)
    if group:
        if not text.endswith(MAIN_GUARD):
            raise RuntimeError("render/bootstrap.py must end with its main guard")
        text = text[: -len(MAIN_GUARD)] + group_runner_text()
    return text


def _typed(p: model.Param) -> str:
    """What the bootstrap decodes a parameter as: ``list[int]`` decodes its items too; a
    trailing ``?`` (``Param.nullable``): the text ``null`` is None."""
    typed = p.shape if p.shape and p.shape.startswith("list[") else p.type
    return typed + "?" if p.nullable else typed


def param_decl(p: model.Param) -> dict[str, Any]:
    out: dict[str, Any] = {"name": p.name}
    if not p.required:
        out["default"] = encode(p.default)
    if p.enum:
        out["enum"] = [encode(v) for v in p.enum]
    if p.description:
        out["description"] = p.description
    return out


def retry_strategy(retry: model.Retry, fatal_exit: bool = False) -> dict[str, Any]:
    """Argo's retryStrategy; ``fatal_exit``: exit code 2 (dflow's FatalError) is never retried."""
    out: dict[str, Any] = {"limit": retry.limit, "retryPolicy": retry.policy}
    if fatal_exit:
        out["expression"] = FATAL_EXPRESSION
    if retry.backoff is not None:
        b: dict[str, Any] = {"duration": retry.backoff.duration}
        if retry.backoff.factor is not None:
            b["factor"] = retry.backoff.factor
        if retry.backoff.max is not None:
            b["maxDuration"] = retry.backoff.max
        out["backoff"] = b
    return out


def resources_of(res: model.Resources | None) -> dict[str, Any] | None:
    """cpu → requests; memory → requests and limits; gpu → limits (nvidia.com/gpu)."""
    if res is None:
        return None
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if res.cpu is not None:
        requests["cpu"] = str(res.cpu)
    if res.memory is not None:
        requests["memory"] = limits["memory"] = str(res.memory)
    if res.gpu:
        limits["nvidia.com/gpu"] = str(res.gpu)
    out: dict[str, Any] = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out or None


def _env(op: model.Op, param_prefix: str, pythonpath: bool) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": param_prefix + p.name, "value": f"{{{{inputs.parameters.{p.name}}}}}"}
        for p in op.inputs_parameters
    ]
    if pythonpath:
        env.append({"name": "PYTHONPATH", "value": SOURCE_PATH})
    env.extend({"name": k, "value": v} for k, v in op.env.items())
    env.extend(
        {"name": k, "valueFrom": {"secretKeyRef": {"name": ref.secret, "key": ref.key}}}
        for k, ref in op.secret_env.items()
    )
    return env


def _artifact(name: str, path: str, optional: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "path": path}
    if optional:
        out["optional"] = True
    return out


def _require_path(op: model.Op, art: model.ArtifactDecl, kind: str) -> str:
    if art.path:
        return art.path
    raise fail(f"{kind} artifact '{art.name}' of op '{op.name}' needs a `path`", art.loc or op.loc)


def with_default(value_from: dict[str, Any], param: model.Param) -> dict[str, Any]:
    """An output parameter's ``valueFrom`` with its ``default`` (Argo uses it when the
    file is missing or the producing step was skipped), encoded as parameters are."""
    if param.default is not model.MISSING:
        value_from["default"] = encode(param.default)
    return value_from


def leaf_template(
    op: model.Op, name: str, variant: LeafVariant, source_key: str | None, *, keyed: bool = False
) -> dict[str, Any]:
    """The Argo template for one leaf op (``variant`` says retry, timeout, fan-in;
    ``keyed``: a step using the op has a `key:`, passed as ``dflowctl-step-key``)."""
    python = op.kind == "python"
    in_params = [param_decl(p) for p in op.inputs_parameters]
    if variant.fanin:
        in_params.append({"name": FANIN_PARAM})
    if keyed:
        in_params.append({"name": STEP_KEY_PARAM, "default": ""})
    if variant.index:
        in_params.append({"name": FANIN_INDEX_PARAM})
    for aligned in variant.align:
        in_params.extend([{"name": ALIGN_PREFIX + aligned}, {"name": COUNT_PREFIX + aligned}])
    in_arts = [
        _artifact(
            a.name,
            f"{ROOT}/inputs/artifacts/{a.name}" if python else _require_path(op, a, "input"),
            a.optional,
        )
        for a in op.inputs_artifacts
    ]
    if source_key is not None:
        in_arts.append({"name": SOURCE_ARTIFACT, "path": SOURCE_PATH, "s3": {"key": source_key}})
    out_params = [
        {
            "name": p.name,
            "valueFrom": with_default(
                {"path": f"{ROOT}/outputs/parameters/{p.name}" if python else _param_path(op, p)}, p
            ),
        }
        for p in op.outputs_parameters
    ]
    if python and (variant.index or variant.group):
        out_params.append(
            {
                "name": FANIN_INDEX_PARAM,
                "valueFrom": {"path": f"{ROOT}/outputs/parameters/{FANIN_INDEX_PARAM}"},
            }
        )
    if variant.ok or variant.group:
        path = f"{ROOT}/outputs/parameters/{OK_OUTPUT}"
        out_params.append({"name": OK_OUTPUT, "valueFrom": {"path": path, "default": "1"}})
    out_arts = []
    for a in op.outputs_artifacts:
        art = _artifact(
            a.name,
            f"{ROOT}/outputs/artifacts/{a.name}" if python else _require_path(op, a, "output"),
            a.optional,
        )
        if variant.fanin:
            key = f"{{{{inputs.parameters.{FANIN_PARAM}}}}}/{a.name}"
            if variant.fanin != "group":  # a group pod's folder holds <i>/ per item already
                item = f"inputs.parameters.{FANIN_INDEX_PARAM}" if variant.fanin == "index" else "pod.name"
                key += f"/{{{{{item}}}}}"
            art["archive"] = {"none": {}}
            art["s3"] = {"key": key}
        out_arts.append(art)

    tmpl: dict[str, Any] = {"name": name}
    if not op.cache:
        tmpl["metadata"] = {"annotations": {NO_CACHE_ANNOTATION: "false"}}
    inputs = _non_empty(parameters=in_params, artifacts=in_arts)
    if inputs:
        tmpl["inputs"] = inputs
    outputs = _non_empty(parameters=out_params, artifacts=out_arts)
    if outputs:
        tmpl["outputs"] = outputs
    tmpl.update(_body(op, variant, source_key is not None, _index_env(variant) if python else []))
    if variant.retry is not None:
        tmpl["retryStrategy"] = retry_strategy(variant.retry, fatal_exit=python and op.uses_dflow)
    if variant.timeout is not None:
        tmpl["timeout"] = variant.timeout
    return tmpl


def _index_env(variant: LeafVariant) -> list[dict[str, Any]]:
    """The bootstrap learns its item's index, and which list inputs to realign, from env."""
    env = []
    if variant.index:
        env.append({"name": INDEX_ENV, "value": f"{{{{inputs.parameters.{FANIN_INDEX_PARAM}}}}}"})
    for name in variant.align:
        env.append({"name": ALIGN_ENV + name, "value": f"{{{{inputs.parameters.{ALIGN_PREFIX}{name}}}}}"})
        env.append({"name": COUNT_ENV + name, "value": f"{{{{inputs.parameters.{COUNT_PREFIX}{name}}}}}"})
    env.extend({"name": FLAT_ENV + name, "value": "1"} for name in variant.flat)
    return env


def _param_path(op: model.Op, p: model.Param) -> str:
    if p.from_path:
        return p.from_path
    raise fail(f"output parameter '{p.name}' of op '{op.name}' needs `from: /path`", p.loc or op.loc)


def _non_empty(**lists: list[Any]) -> dict[str, Any]:
    return {k: v for k, v in lists.items() if v}


def _body(
    op: model.Op, variant: LeafVariant, has_source: bool, extra_env: list[dict[str, Any]]
) -> dict[str, Any]:
    python = op.kind == "python"
    container: dict[str, Any] = {"image": op.image or DEFAULT_IMAGE}
    if op.kind == "command":
        if not op.image:
            raise fail(f"op '{op.name}' runs a command and needs an `image`", op.loc)
        if op.command:
            container["command"] = list(op.command)
        if op.args:
            container["args"] = list(op.args)
    elif python:
        container["command"] = [model.PYTHON_PROGRAM]
    else:
        container["command"] = [op.shell or "sh"]
    env = _env(op, PARAM_ENV_PREFIX if python else "", pythonpath=has_source and not python) + extra_env
    if env:
        container["env"] = env
    res = resources_of(op.resources)
    if res:
        container["resources"] = res
    if op.workdir:
        container["workingDir"] = op.workdir
    if op.kind == "command":
        return {"container": container}
    container["source"] = bootstrap_source(op, variant) if python else (op.script or "")
    return {"script": container}
