"""DAG checks: ``depends`` expressions name known tasks and results, and no task
waits for itself through ``depends`` or ``{{tasks...}}`` references."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from dflowctl.errors import Location
from dflowctl.spec import model as m
from dflowctl.spec.checkbase import Body, CheckBase
from dflowctl.spec.refs import find_refs
from dflowctl.spec.values import (
    did_you_mean,
    listing,
)

DEPENDS_PHASES = (
    "Succeeded",
    "Failed",
    "Errored",
    "Skipped",
    "Omitted",
    "Daemoned",
    "AnySucceeded",
    "AllFailed",
)
DEPENDS_TOKEN = re.compile(r"([A-Za-z0-9][-A-Za-z0-9]*)(?:\.([A-Za-z]+))?")


class DagChecks(CheckBase):
    def depends(self, task: m.Step, body: Body) -> list[tuple[str, Location | None]]:
        text = task.depends
        if text is None:
            return []
        loc = task.locs.get("depends")
        deps: list[tuple[str, Location | None]] = []
        leftover = DEPENDS_TOKEN.sub(" ", text)
        if leftover.replace("&&", " ").replace("||", " ").strip(" ()!\t") or "&" in leftover.replace(
            "&&", ""
        ):
            self.error(
                f"`depends` of task `{task.name}` is not a valid expression: `{text}`",
                loc,
                "write task names joined with && and ||, e.g. `a && (b.Failed || c)`, or a list of names",
            )
            return []
        for match in DEPENDS_TOKEN.finditer(text):
            name, phase = match.group(1), match.group(2)
            where = self.src.refine(loc, match.group(0))
            if name not in body.steps:
                names = [n for n in body.steps if n != task.name]
                self.error(
                    f"task `{task.name}` depends on unknown task `{name}`",
                    where,
                    did_you_mean(name, names) or f"tasks here: {listing(names)}",
                )
                continue
            if phase is not None and phase not in DEPENDS_PHASES:
                self.error(
                    f"`{match.group(0)}`: unknown task result `{phase}`",
                    where,
                    did_you_mean(phase, DEPENDS_PHASES) or f"one of {', '.join(DEPENDS_PHASES)}",
                )
            deps.append((name, where))
        return deps

    def inferred_deps(self, task: m.Step, body: Body) -> list[tuple[str, Location | None]]:
        found: list[tuple[str, Location | None]] = []
        texts: list[tuple[str, Location | None]] = [
            (v, task.value_locs.get(k)) for k, v in _strings(task.parameters) if isinstance(v, str)
        ]
        texts += [(v, task.value_locs.get(k)) for k, v in task.artifacts.items()]
        if task.when is not None:
            texts.append((task.when, task.locs.get("when")))
        if task.key is not None:
            texts.append((task.key, task.locs.get("key")))
        if task.foreach is not None and task.foreach.param is not None:
            texts.append((task.foreach.param, task.locs.get("foreach.param")))
        for text, loc in texts:
            for ref in find_refs(text):
                parts = ref.parts
                if (
                    len(parts) > 1
                    and parts[0] == "tasks"
                    and parts[1] in body.steps
                    and parts[1] != task.name
                ):
                    found.append((ref.parts[1], self.src.refine(loc, ref.text)))
        return found

    def cycles(
        self, tasks: Sequence[m.Step], edges: Mapping[str, list[tuple[str, Location | None]]], body: Body
    ) -> None:
        state: dict[str, int] = {}
        reported: set[frozenset[str]] = set()
        stack: list[str] = []

        def visit(name: str) -> None:
            state[name] = 1
            stack.append(name)
            for dep, loc in edges.get(name, []):
                if dep == name:
                    key = frozenset([name])
                    if key not in reported:
                        reported.add(key)
                        self.error(f"task `{name}` depends on itself", loc)
                elif state.get(dep) == 1:
                    cycle = [*stack[stack.index(dep) :], dep]
                    key = frozenset(cycle)
                    if key not in reported:
                        reported.add(key)
                        self.error(
                            "dependency cycle: " + " -> ".join(reversed(cycle)),
                            loc,
                            "a task waits for what it depends on and for the tasks it references",
                        )
                elif state.get(dep) is None and dep in edges:
                    visit(dep)
            stack.pop()
            state[name] = 2

        for task in tasks:
            if state.get(task.name) is None and body.steps.get(task.name) is task:
                visit(task.name)


def _strings(values: Mapping[str, object]) -> list[tuple[str, object]]:
    return [(k, v) for k, v in values.items() if isinstance(v, str)]
