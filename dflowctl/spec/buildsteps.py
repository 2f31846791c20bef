"""Steps and DAG tasks (and the ``retry`` they share with ops) → ``spec.model``
records, with their positions; a ``foreach`` or ``range`` that gives not exactly one
source is reported here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dflowctl.errors import Location
from dflowctl.spec import model as m
from dflowctl.spec.buildbase import Positions, opt_float, opt_str, plain
from dflowctl.spec.locate import PathItem


class StepBuilder(Positions):
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
                max=opt_str(backoff.get("max")),
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
            depends_text = opt_str(depends)
        value_locs = {str(k): self.vloc(arts, k, [*path, "artifacts", k]) for k in arts}
        value_locs.update({str(k): self.vloc(params, k, [*path, "parameters", k]) for k in params})
        return m.Step(
            name=str(node["name"]),
            op=str(node["op"]),
            parameters={str(k): plain(v) for k, v in params.items()},
            artifacts={str(k): str(v) for k, v in arts.items()},
            when=opt_str(node.get("when")),
            foreach=self.foreach(node["foreach"], [*path, "foreach"], locs) if "foreach" in node else None,
            continue_on=m.ContinueOn(
                failed=bool(node["continue_on"].get("failed", False)),
                error=bool(node["continue_on"].get("error", False)),
                success_ratio=opt_float(node["continue_on"].get("success_ratio")),
                success_number=node["continue_on"].get("success_number"),
            )
            if "continue_on" in node
            else None,
            retry=self.retry(node["retry"], [*path, "retry"]) if "retry" in node else None,
            timeout=opt_str(node.get("timeout")),
            depends=depends_text,
            key=opt_str(node.get("key")),
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
            param=opt_str(node.get("param")),
            count=plain(rng.get("count")),
            start=plain(rng.get("start")),
            end=plain(rng.get("end")),
            format=opt_str(rng.get("format")),
            entries=opt_str(node.get("entries")),
            group=node.get("group"),
            pool=node.get("pool"),
            parallelism=node.get("parallelism"),
            loc=loc,
        )
