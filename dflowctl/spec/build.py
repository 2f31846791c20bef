"""A schema-valid document → the typed, immutable model (``spec.model``).

The schema already fixed every type; what it cannot say about the shape of a
single node (an op runs exactly one thing, a ``foreach`` has exactly one
source, ``steps`` xor ``dag``) is reported here, as diagnostics, while the
best-guess model is still built so that the semantic checks can run too.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dflowctl.errors import Diagnostic, Location
from dflowctl.spec import model as m
from dflowctl.spec.load import YamlDocument
from dflowctl.spec.locate import PathItem, lc_pair
from dflowctl.spec.values import parse_type, type_text

OP_KINDS = ("python", "script", "command", "steps", "dag")
LEAF_ONLY = ("image", "source", "env", "secret_env", "resources", "local", "workdir", "timeout", "cache")


def plain(value: Any) -> Any:
    """ruamel's round-trip types → plain Python values (dict, list, str, int, ...)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(plain(value))


class _Builder:
    def __init__(self, doc: YamlDocument, spec_path: Path) -> None:
        self.doc = doc
        self.spec_path = spec_path
        self.diags: list[Diagnostic] = []
        self.nodes: dict[tuple[PathItem, ...], Any] = {(): doc.data}

    # positions -----------------------------------------------------------
    def _node(self, path: tuple[PathItem, ...]) -> Any:
        """The node at ``path``, walking from the nearest node already seen."""
        node = self.nodes.get(path)
        if node is None and path:
            parent = self._node(path[:-1])
            try:
                node = parent[path[-1]]
            except (KeyError, IndexError, TypeError):
                return None
            self.nodes[path] = node
        return node

    def _pos(self, path: Sequence[PathItem], *, key: bool) -> Location:
        parent = self._node(tuple(path[:-1])) if path else None
        pair = lc_pair(parent, path[-1], key=key) if parent is not None else None
        if pair is None:
            return self.doc.loc(path, key=key)
        return self.doc.source.location(pair[0] + 1, pair[1] + 1)

    def vloc(self, node: Any, key: PathItem, path: Sequence[PathItem]) -> Location:
        """Where ``node[key]`` is (its key when the value is empty); ``path`` is the fallback."""
        pair = lc_pair(node, key, key=False)
        return self.doc.source.location(pair[0] + 1, pair[1] + 1) if pair else self.at(path)

    def kloc(self, node: Any, key: PathItem, path: Sequence[PathItem]) -> Location:
        pair = lc_pair(node, key, key=True)
        return self.doc.source.location(pair[0] + 1, pair[1] + 1) if pair else self.key_at(path)

    def at(self, path: Sequence[PathItem]) -> Location:
        return self._pos(path, key=False)

    def key_at(self, path: Sequence[PathItem]) -> Location:
        return self._pos(path, key=True)

    def container_at(self, path: Sequence[PathItem]) -> Location:
        if path and isinstance(path[-1], int):
            return self._pos(path, key=False)
        return self.doc.container_loc(path)

    def error(self, message: str, loc: Location, hint: str | None = None) -> None:
        self.diags.append(self.doc.diagnostic(message, loc, hint))

    def locs(
        self, node: Mapping[str, Any], path: Sequence[PathItem], keys: Sequence[str]
    ) -> dict[str, Location]:
        return {k: self.vloc(node, k, [*path, k]) for k in keys if k in node}

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
            namespace=_opt_str(meta.get("namespace")),
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
            entrypoint=_opt_str(spec.get("entrypoint")),
            on_exit=_opt_str(spec.get("on_exit")),
            parallelism=spec.get("parallelism"),
            timeout=_opt_str(spec.get("timeout")),
            retry=self.retry(spec["retry"], [*sp, "retry"]) if "retry" in spec else None,
            service_account=_opt_str(spec.get("service_account")),
            ttl=spec.get("ttl"),
            pod_gc=_opt_str(spec.get("pod_gc")),
            artifact_repository=_opt_str(spec.get("artifact_repository")),
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
            description=_opt_str(node.get("description")),
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
            description=_opt_str(node.get("description")),
            enum=tuple(plain(enum)) if enum is not None else None,
            from_path=str(src) if src is not None and "{{" not in str(src) else None,
            from_ref=str(src) if src is not None and "{{" in str(src) else None,
            if_expr=_opt_str(node.get("if")),
            else_ref=_opt_str(node.get("else")),
            loc=loc,
            locs=self.locs(node, path, ("type", "default", "enum", "from", "description", "if", "else")),
        )

    def artifact(self, name: str, node: Any, path: list[PathItem]) -> m.ArtifactDecl:
        node = node or {}
        return m.ArtifactDecl(
            name,
            path=_opt_str(node.get("path")),
            optional=bool(node.get("optional", False)),
            description=_opt_str(node.get("description")),
            from_ref=_opt_str(node.get("from")),
            if_expr=_opt_str(node.get("if")),
            else_ref=_opt_str(node.get("else")),
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
            image=_opt_str(node.get("image")),
            python=_opt_str(node.get("python")),
            script=_opt_str(node.get("script")),
            shell=str(node.get("shell", "sh")),
            command=tuple(_scalar_text(c) for c in node.get("command") or ()),
            args=tuple(_scalar_text(a) for a in node.get("args") or ()),
            source=(self.spec_path.parent / str(node["source"])).resolve() if "source" in node else None,
            env={str(k): _scalar_text(v) for k, v in (node.get("env") or {}).items()},
            secret_env={
                str(k): m.SecretRef(secret=str(v["secret"]), key=str(v["key"]))
                for k, v in (node.get("secret_env") or {}).items()
            },
            resources=m.Resources(
                cpu=_scalar_text(resources["cpu"]) if "cpu" in resources else None,
                memory=_scalar_text(resources["memory"]) if "memory" in resources else None,
                gpu=resources.get("gpu"),
            )
            if resources is not None
            else None,
            local=self.local(node["local"], [*path, "local"]) if "local" in node else None,
            retry=self.retry(node["retry"], [*path, "retry"]) if "retry" in node else None,
            timeout=_opt_str(node.get("timeout")),
            workdir=_opt_str(node.get("workdir")),
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

    def retry(self, node: Any, path: list[PathItem]) -> m.Retry:
        loc = self.at(path)
        if isinstance(node, int):
            return m.Retry(limit=int(node), loc=loc)
        backoff = node.get("backoff")
        return m.Retry(
            limit=int(node["limit"]),
            policy=str(node.get("policy", "OnFailure")),  # type: ignore[arg-type]
            backoff=m.Backoff(
                duration=str(backoff["duration"]),
                factor=backoff.get("factor"),
                max=_opt_str(backoff.get("max")),
            )
            if backoff is not None
            else None,
            loc=loc,
        )

    # steps and tasks --------------------------------------------------------------
    def steps(self, node: Sequence[Any], path: list[PathItem]) -> tuple[m.StepGroup, ...]:
        groups: list[m.StepGroup] = []
        for i, item in enumerate(node):
            if isinstance(item, list):
                groups.append(tuple(self.step(s, [*path, i, j], dag=False) for j, s in enumerate(item)))
            else:
                groups.append((self.step(item, [*path, i], dag=False),))
        return tuple(groups)

    def dag(self, node: Sequence[Any], path: list[PathItem]) -> tuple[m.Step, ...]:
        return tuple(self.step(s, [*path, i], dag=True) for i, s in enumerate(node))

    def step(self, node: Mapping[str, Any], path: list[PathItem], *, dag: bool) -> m.Step:
        params = node.get("parameters") or {}
        arts = node.get("artifacts") or {}
        locs = self.locs(
            node,
            path,
            ("name", "op", "when", "key", "timeout", "depends", "parameters", "artifacts", "continue_on"),
        )
        for k in params:
            locs[f"parameters.{k}"] = self.kloc(params, k, [*path, "parameters", k])
        for k in arts:
            locs[f"artifacts.{k}"] = self.kloc(arts, k, [*path, "artifacts", k])
        depends = node.get("depends")
        if isinstance(depends, list):
            for i in range(len(depends)):
                locs[f"depends.{i}"] = self.at([*path, "depends", i])
            depends_text: str | None = " && ".join(str(d) for d in depends)
        else:
            depends_text = _opt_str(depends)
        value_locs = {str(k): self.vloc(arts, k, [*path, "artifacts", k]) for k in arts}
        value_locs.update({str(k): self.vloc(params, k, [*path, "parameters", k]) for k in params})
        return m.Step(
            name=str(node["name"]),
            op=str(node["op"]),
            parameters={str(k): plain(v) for k, v in params.items()},
            artifacts={str(k): str(v) for k, v in arts.items()},
            when=_opt_str(node.get("when")),
            foreach=self.foreach(node["foreach"], [*path, "foreach"], locs) if "foreach" in node else None,
            continue_on=m.ContinueOn(
                failed=bool(node["continue_on"].get("failed", False)),
                error=bool(node["continue_on"].get("error", False)),
                success_ratio=_opt_float(node["continue_on"].get("success_ratio")),
                success_number=node["continue_on"].get("success_number"),
            )
            if "continue_on" in node
            else None,
            retry=self.retry(node["retry"], [*path, "retry"]) if "retry" in node else None,
            timeout=_opt_str(node.get("timeout")),
            depends=depends_text,
            key=_opt_str(node.get("key")),
            loc=self.container_at(path),
            value_locs=value_locs,
            locs=locs,
        )

    def foreach(self, node: Mapping[str, Any], path: list[PathItem], locs: dict[str, Location]) -> m.Foreach:
        kinds = [k for k in ("items", "param", "range", "entries") if k in node]
        loc = self.container_at(path)
        if not kinds:
            self.error("`foreach` needs one of `items`, `param`, `range` or `entries`", loc)
        elif len(kinds) > 1:
            self.error(
                f"`foreach` has both `{kinds[0]}` and `{kinds[1]}`; give exactly one",
                self.key_at([*path, kinds[1]]),
            )
        kind = kinds[0] if kinds else "items"
        locs.update({f"foreach.{k}": self.at([*path, k]) for k in node})
        rng = node.get("range") or {}
        if "range" in node:
            locs.update({f"foreach.range.{k}": self.at([*path, "range", k]) for k in rng})
            has = [k for k in ("count", "end") if k in rng]
            if len(has) != 1:
                self.error(
                    "`range` needs `count` or `end`"
                    if not has
                    else "`range` has both `count` and `end`; give one",
                    self.key_at([*path, "range"]) if not has else self.key_at([*path, "range", "end"]),
                    "`{count: N}` gives 0..N-1; `{start: A, end: B}` gives A..B",
                )
        return m.Foreach(
            kind=kind,  # type: ignore[arg-type]
            items=tuple(plain(node["items"])) if "items" in node else None,
            param=_opt_str(node.get("param")),
            count=plain(rng.get("count")),
            start=plain(rng.get("start")),
            end=plain(rng.get("end")),
            format=_opt_str(rng.get("format")),
            entries=_opt_str(node.get("entries")),
            group=node.get("group"),
            pool=node.get("pool"),
            parallelism=node.get("parallelism"),
            loc=loc,
        )


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def build_workflow(doc: YamlDocument, spec_path: Path) -> tuple[m.Workflow, list[Diagnostic]]:
    """The model of a schema-valid document, and the shape problems found on the way."""
    builder = _Builder(doc, spec_path)
    return builder.workflow(), builder.diags
