"""A schema-valid document → the typed, immutable model (``spec.model``).

The schema already fixed every type; what it cannot say about the shape of a
single node (an op runs exactly one thing, a ``foreach`` has exactly one
source, ``steps`` xor ``dag``) is reported here, as diagnostics, while the
best-guess model is still built so that the semantic checks can run too.
Here: the workflow, its parameters, artifacts and ops; steps and tasks are
``spec.buildsteps``, positions ``spec.buildbase``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dflowctl.errors import Diagnostic, Location
from dflowctl.spec import model as m
from dflowctl.spec.buildbase import opt_str, plain, scalar_text
from dflowctl.spec.buildsteps import StepBuilder
from dflowctl.spec.load import YamlDocument
from dflowctl.spec.locate import PathItem
from dflowctl.spec.values import parse_type, type_text

OP_KINDS = ("python", "script", "command", "steps", "dag")
LEAF_ONLY = ("image", "source", "env", "secret_env", "resources", "local", "workdir", "timeout", "cache")


class _Builder(StepBuilder):
    # workflow ----------------------------------------------------------------
    def workflow(self) -> m.Workflow:
        data = self.doc.data
        meta = data.get("metadata") or {}
        spec = data.get("spec") or {}
        sp: list[PathItem] = ["spec"]
        ops = {
            str(name): self.op(str(name), node or {}, ["spec", "ops", name])
            for name, node in (spec.get("ops") or {}).items()
        }
        body = [k for k in ("steps", "dag", "entrypoint") if k in spec]
        if len(body) > 1:
            second = body[1]
            self.error(
                f"spec has both `{body[0]}` and `{second}`; give exactly one",
                self.key_at([*sp, second]),
                "`entrypoint` names an op to run instead of `steps` or `dag`"
                if "entrypoint" in body
                else "a spec is either a list of steps or a DAG",
            )
        elif not body:
            self.error(
                "spec has no `steps`, `dag` or `entrypoint`: nothing to run",
                self.doc.container_loc(sp),
            )
        locs = self.locs(spec, sp, ("entrypoint", "on_exit", "timeout", "steps", "dag"))
        locs["name"] = self.at(["metadata", "name"])
        locs.update({f"spec.{k}": self.key_at([*sp, k]) for k in spec})
        return m.Workflow(
            name=str(meta.get("name", "")),
            spec_path=self.spec_path,
            namespace=opt_str(meta.get("namespace")),
            labels={str(k): str(v) for k, v in (meta.get("labels") or {}).items()},
            annotations={str(k): str(v) for k, v in (meta.get("annotations") or {}).items()},
            parameters=tuple(
                self.param(str(n), v, [*sp, "parameters", n])
                for n, v in (spec.get("parameters") or {}).items()
            ),
            artifacts=tuple(
                self.workflow_artifact(str(n), v, [*sp, "artifacts", n])
                for n, v in (spec.get("artifacts") or {}).items()
            ),
            ops=ops,
            steps=self.steps(spec["steps"], [*sp, "steps"]) if "steps" in spec else None,
            dag=self.dag(spec["dag"], [*sp, "dag"]) if "dag" in spec else None,
            entrypoint=opt_str(spec.get("entrypoint")),
            on_exit=opt_str(spec.get("on_exit")),
            parallelism=spec.get("parallelism"),
            timeout=opt_str(spec.get("timeout")),
            retry=self.retry(spec["retry"], [*sp, "retry"]) if "retry" in spec else None,
            service_account=opt_str(spec.get("service_account")),
            ttl=spec.get("ttl"),
            pod_gc=opt_str(spec.get("pod_gc")),
            artifact_repository=opt_str(spec.get("artifact_repository")),
            node_selector={str(k): str(v) for k, v in (spec.get("node_selector") or {}).items()},
            tolerations=tuple(plain(t) for t in (spec.get("tolerations") or [])),
            priority=spec.get("priority"),
            loc=self.doc.container_loc([]),
            locs=locs,
        )

    def workflow_artifact(self, name: str, node: Any, path: list[PathItem]) -> m.WorkflowArtifact:
        if isinstance(node, str):
            return m.WorkflowArtifact(name, str(node), loc=self.key_at(path), locs={"source": self.at(path)})
        return m.WorkflowArtifact(
            name,
            str(node["source"]),
            optional=bool(node.get("optional", False)),
            description=opt_str(node.get("description")),
            loc=self.key_at(path),
            locs={"source": self.at([*path, "source"])},
        )

    # parameters and artifacts -------------------------------------------------
    def param_type(self, text: str, loc: Location) -> tuple[str, str | None]:
        """A type's base word and, for ``list[T]`` / ``dict[str, T]``, its whole text."""
        parsed = parse_type(text)
        if parsed is None:
            self.error(
                f"`{text}` is not a type",
                loc,
                "write str, int, float, bool, list, dict, any, list[T] or dict[str, T] (T: any of these)",
            )
            return text.split("[")[0], None
        return parsed[0], (type_text(parsed) if parsed[1] else None)

    def param(self, name: str, node: Any, path: list[PathItem], *, output: bool = False) -> m.Param:
        loc = self.key_at(path)
        if isinstance(node, str):
            base, shape = self.param_type(str(node), self.at(path))
            return m.Param(name, type=base, shape=shape, loc=loc, locs={"type": self.at(path)})  # type: ignore[arg-type]
        enum = node.get("enum")
        src = node.get("from")
        base, shape = self.param_type(str(node.get("type", "str")), self.at([*path, "type"]))
        return m.Param(
            name,
            type=base,  # type: ignore[arg-type]
            shape=shape,
            default=plain(node["default"]) if "default" in node else m.MISSING,
            description=opt_str(node.get("description")),
            enum=tuple(plain(enum)) if enum is not None else None,
            from_path=str(src) if src is not None and "{{" not in str(src) else None,
            from_ref=str(src) if src is not None and "{{" in str(src) else None,
            if_expr=opt_str(node.get("if")),
            else_ref=opt_str(node.get("else")),
            loc=loc,
            locs=self.locs(node, path, ("type", "default", "enum", "from", "description", "if", "else")),
        )

    def artifact(self, name: str, node: Any, path: list[PathItem]) -> m.ArtifactDecl:
        node = node or {}
        return m.ArtifactDecl(
            name,
            path=opt_str(node.get("path")),
            optional=bool(node.get("optional", False)),
            description=opt_str(node.get("description")),
            from_ref=opt_str(node.get("from")),
            if_expr=opt_str(node.get("if")),
            else_ref=opt_str(node.get("else")),
            loc=self.key_at(path),
            locs=self.locs(node, path, ("path", "from", "if", "else")),
        )

    # ops ------------------------------------------------------------------------
    def op(self, name: str, node: Mapping[str, Any], path: list[PathItem]) -> m.Op:
        kinds = [k for k in OP_KINDS if k in node]
        if not kinds and "args" in node:
            kinds = ["command"]
        if not kinds:
            self.error(
                f"op `{name}` does not say what it runs",
                self.key_at(path),
                "give one of `python: module:callable`, `script:`, `command:`/`args:`, `steps:` or `dag:`",
            )
        elif len(kinds) > 1:
            self.error(
                f"op `{name}` has both `{kinds[0]}` and `{kinds[1]}`; give exactly one",
                self.key_at([*path, kinds[1]]),
            )
        kind = kinds[0] if kinds else "script"
        composite = kind in ("steps", "dag")
        if "shell" in node and kind != "script":
            self.error(
                f"`shell` only applies to `script` ops, and op `{name}` is a {kind} op",
                self.key_at([*path, "shell"]),
            )
        if "local" in node and kind == "script":
            self.error(
                f"`local` chooses the Python of Python and command ops, and op `{name}` runs a shell script",
                self.key_at([*path, "local"]),
            )
        if composite:
            for key in (*LEAF_ONLY, "args"):
                if key in node:
                    self.error(
                        f"`{key}` has no effect on composite op `{name}`",
                        self.key_at([*path, key]),
                        "set it on the ops its steps run",
                    )
        inputs = node.get("inputs") or {}
        outputs = node.get("outputs") or {}
        ip, ia = [*path, "inputs", "parameters"], [*path, "inputs", "artifacts"]
        op_, oa = [*path, "outputs", "parameters"], [*path, "outputs", "artifacts"]
        locs = self.locs(
            node, path, ("python", "script", "source", "timeout", "workdir", "image", "command", "args")
        )
        locs.update({f"key.{k}": self.key_at([*path, k]) for k in node})
        if len(kinds) != 1:
            locs["unclear-kind"] = self.key_at(path)  # reported here; the checks skip kind-specific rules
        resources = node.get("resources")
        if resources is not None:
            locs.update({f"resources.{k}": self.at([*path, "resources", k]) for k in resources})
        for var in node.get("env") or {}:
            locs[f"env.{var}"] = self.key_at([*path, "env", var])
        for var in node.get("secret_env") or {}:
            locs[f"secret_env.{var}"] = self.key_at([*path, "secret_env", var])
        return m.Op(
            name=name,
            kind=kind,  # type: ignore[arg-type]
            image=opt_str(node.get("image")),
            python=opt_str(node.get("python")),
            script=opt_str(node.get("script")),
            shell=str(node.get("shell", "sh")),
            command=tuple(scalar_text(c) for c in node.get("command") or ()),
            args=tuple(scalar_text(a) for a in node.get("args") or ()),
            source=(self.spec_path.parent / str(node["source"])).resolve() if "source" in node else None,
            env={str(k): scalar_text(v) for k, v in (node.get("env") or {}).items()},
            secret_env={
                str(k): m.SecretRef(secret=str(v["secret"]), key=str(v["key"]))
                for k, v in (node.get("secret_env") or {}).items()
            },
            resources=m.Resources(
                cpu=scalar_text(resources["cpu"]) if "cpu" in resources else None,
                memory=scalar_text(resources["memory"]) if "memory" in resources else None,
                gpu=resources.get("gpu"),
            )
            if resources is not None
            else None,
            local=self.local(node["local"], [*path, "local"]) if "local" in node else None,
            retry=self.retry(node["retry"], [*path, "retry"]) if "retry" in node else None,
            timeout=opt_str(node.get("timeout")),
            workdir=opt_str(node.get("workdir")),
            cache=bool(node.get("cache", True)),
            inputs_parameters=tuple(
                self.param(str(n), v, [*ip, n]) for n, v in (inputs.get("parameters") or {}).items()
            ),
            inputs_artifacts=tuple(
                self.artifact(str(n), v, [*ia, n]) for n, v in (inputs.get("artifacts") or {}).items()
            ),
            outputs_parameters=tuple(
                self.param(str(n), v, [*op_, n], output=True)
                for n, v in (outputs.get("parameters") or {}).items()
            ),
            outputs_artifacts=tuple(
                self.artifact(str(n), v, [*oa, n]) for n, v in (outputs.get("artifacts") or {}).items()
            ),
            steps=self.steps(node["steps"], [*path, "steps"]) if kind == "steps" else None,
            dag=self.dag(node["dag"], [*path, "dag"]) if kind == "dag" else None,
            source_label=posixpath.normpath(str(node["source"])) if "source" in node else None,
            loc=self.key_at(path),
            locs=locs,
        )

    def local(self, node: Mapping[str, Any], path: list[PathItem]) -> m.LocalPython:
        kind, value = next(iter(node.items()))
        return m.LocalPython.make(str(kind), str(value), self.spec_path.parent, self.at([*path, kind]))


def build_workflow(doc: YamlDocument, spec_path: Path) -> tuple[m.Workflow, list[Diagnostic]]:
    """The model of a schema-valid document, and the shape problems found on the way."""
    builder = _Builder(doc, spec_path)
    return builder.workflow(), builder.diags
