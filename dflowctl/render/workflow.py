"""The whole Workflow: metadata, spec fields, arguments and the template list."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dflowctl.errors import UsageError
from dflowctl.render.body import Renderer
from dflowctl.render.fanin import literal_artifact
from dflowctl.render.scope import Scope
from dflowctl.render.values import duration_seconds, encode, fail
from dflowctl.spec import model
from dflowctl.spec.values import REMOTE_SCHEMES

API_VERSION = "argoproj.io/v1alpha1"
MANAGED_BY = {"app.kubernetes.io/managed-by": "dflowctl"}
SPEC_LABEL = "dflowctl.io/spec"
ARTIFACT_REPOSITORIES = "artifact-repositories"


def upload_paths(wf: model.Workflow) -> list[Path]:
    """Local paths the run must upload: op `source:` dirs and local workflow artifacts."""
    paths = {op.source for op in wf.ops.values() if op.source is not None}
    paths.update(local_artifact_path(wf, a) for a in wf.artifacts if is_local(a.source))
    return sorted(paths)


def is_local(source: str) -> bool:
    return not source.startswith(REMOTE_SCHEMES)


def local_artifact_path(wf: model.Workflow, art: model.WorkflowArtifact) -> Path:
    path = Path(art.source).expanduser()
    return path if path.is_absolute() else (wf.base_dir / path)


def render_with_ops(wf: model.Workflow, keys: Mapping[Path, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The Workflow dict, and the op each leaf template was rendered from (template name → op name)."""
    r = Renderer(wf, keys)
    has_body = wf.steps is not None or wf.dag is not None
    main = r.names.fresh("main") if has_body else ""
    op_templates = [r.op_template(op) for op in wf.ops.values()]

    spec: dict[str, Any] = {}
    templates: list[dict[str, Any]] = []
    if has_body:
        scope = Scope(
            "steps" if wf.steps is not None else "dag", r._body_steps(wf.steps, wf.dag), False, True, main
        )
        tmpl: dict[str, Any] = {"name": main}
        if wf.artifacts:
            tmpl["inputs"] = {
                "artifacts": [
                    {"name": a.name, **({"optional": True} if a.optional else {})} for a in wf.artifacts
                ]
            }
        tmpl.update(r.body(wf.steps, wf.dag, scope))
        templates.append(tmpl)
        spec["entrypoint"] = main
    elif wf.entrypoint is not None:
        if wf.entrypoint not in wf.ops:
            raise fail(f"entrypoint '{wf.entrypoint}' is not an op", wf.loc)
        spec["entrypoint"] = wf.entrypoint
    else:
        raise fail("the spec has neither `steps`, `dag` nor `entrypoint`", wf.loc)

    arguments = workflow_arguments(wf, keys)
    if arguments:
        spec["arguments"] = arguments
    if wf.on_exit is not None:
        if wf.on_exit not in wf.ops:
            raise fail(f"on_exit '{wf.on_exit}' is not an op", wf.loc)
        spec["onExit"] = wf.on_exit
    spec.update(workflow_fields(wf))
    spec["templates"] = [*templates, *op_templates, *r.extra]

    manifest = {
        "apiVersion": API_VERSION,
        "kind": "Workflow",
        "metadata": metadata(wf),
        "spec": spec,
    }
    return manifest, {name: op for (op, _variant), name in r.leaf_names.items()}


def metadata(wf: model.Workflow) -> dict[str, Any]:
    meta: dict[str, Any] = {"generateName": f"{wf.name}-"}
    if wf.namespace:
        meta["namespace"] = wf.namespace
    meta["labels"] = {**dict(wf.labels), **MANAGED_BY, SPEC_LABEL: wf.name}
    if wf.annotations:
        meta["annotations"] = dict(wf.annotations)
    return meta


def workflow_arguments(wf: model.Workflow, keys: Mapping[Path, str]) -> dict[str, Any]:
    params = []
    for p in wf.parameters:
        if p.required:
            raise UsageError(
                f"workflow parameter '{p.name}' has no value",
                hint=f"give it with -p {p.name}=VALUE or --parameter-file",
            )
        entry: dict[str, Any] = {"name": p.name, "value": encode(p.default)}
        if p.enum:
            entry["enum"] = [encode(v) for v in p.enum]
        if p.description:
            entry["description"] = p.description
        params.append(entry)
    arts = []
    for a in wf.artifacts:
        entry = {"name": a.name}
        if is_local(a.source):
            key = keys.get(local_artifact_path(wf, a))
            if key is None:  # an optional local file that is absent
                continue
            entry["s3"] = {"key": key}
        else:
            entry.update(literal_artifact(a.source, a.loc))
        if a.optional:
            entry["optional"] = True
        arts.append(entry)
    return {k: v for k, v in (("parameters", params), ("artifacts", arts)) if v}


def workflow_fields(wf: model.Workflow) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if wf.parallelism is not None:
        out["parallelism"] = wf.parallelism
    if wf.timeout is not None:
        out["activeDeadlineSeconds"] = duration_seconds(wf.timeout)
    if wf.service_account:
        out["serviceAccountName"] = wf.service_account
    if wf.ttl is not None:
        out["ttlStrategy"] = {"secondsAfterCompletion": wf.ttl}
    if wf.pod_gc:
        out["podGC"] = {"strategy": wf.pod_gc}
    if wf.artifact_repository:
        out["artifactRepositoryRef"] = {"configMap": ARTIFACT_REPOSITORIES, "key": wf.artifact_repository}
    if wf.node_selector:
        out["nodeSelector"] = dict(wf.node_selector)
    if wf.tolerations:
        out["tolerations"] = [dict(t) for t in wf.tolerations]
    if wf.priority is not None:
        out["priority"] = wf.priority
    return out
