"""Slices at validate: a ``foreach`` over the entries of an artifact folder, ``group`` and
``pool``, and ``continue_on`` by items (``success_ratio``, ``success_number``).

Each problem is (message, position, hint); ``spec.checks`` reports them.
"""

from __future__ import annotations

from collections.abc import Iterator

from dflowctl.errors import Location
from dflowctl.spec import model as m
from dflowctl.spec.checkbase import Body

Problem = tuple[str, Location | None, str | None]


def slice_problems(step: m.Step, op: m.Op | None, body: Body) -> Iterator[Problem]:
    who = f"{body.word} `{step.name}`"
    fe = step.foreach
    cont = step.continue_on
    if cont is not None and cont.by_items:
        where = step.locs.get("continue_on", step.loc)
        if fe is None:
            yield (
                f"`continue_on.success_ratio`/`success_number` of {who} count its items, "
                "but it has no `foreach`",
                where,
                "fan the step out, or use `continue_on: {failed: true}`",
            )
        elif (
            fe.kind == "range"
            and fe.count is None
            and not (isinstance(fe.start, int) and isinstance(fe.end, int))
        ):
            yield (
                f"`continue_on.success_ratio`/`success_number` of {who} need its item count, "
                "but its `range` has referenced bounds",
                where,
                "give `range: {count: ...}`, or literal `start` and `end`",
            )
        if cont.success_ratio is not None and cont.success_number is not None:
            yield (
                f"`continue_on` of {who} has both `success_ratio` and `success_number`; give one",
                where,
                None,
            )
    if fe is None:
        return
    if fe.kind != "entries":
        for key in ("group", "pool"):
            if getattr(fe, key) is not None:
                yield (
                    f"`foreach.{key}` of {who} works with `foreach.entries` only",
                    step.locs.get(f"foreach.{key}", fe.loc),
                    "slice a folder: `foreach: {entries: INPUT, group: 10}`",
                )
        return
    if fe.pool is not None and fe.group is None:
        yield (
            f"`foreach.pool` of {who} runs the items of one pod at once, and needs `group`",
            step.locs.get("foreach.pool", fe.loc),
            "e.g. `group: 10, pool: 2`",
        )
    yield from _entries_problems(step, op, fe, who)


def _entries_problems(step: m.Step, op: m.Op | None, fe: m.Foreach, who: str) -> Iterator[Problem]:
    loc = step.locs.get("foreach.entries", fe.loc)
    if op is None:
        return
    if op.composite:
        yield (
            f"`foreach.entries` of {who} slices artifacts for leaf ops; `{op.name}` is a composite op",
            loc,
            None,
        )
        return
    names = [a.name for a in op.inputs_artifacts]
    if fe.entries not in names:
        hint = (
            f"op `{op.name}` has input artifacts: {', '.join(names)}" if names else f"op `{op.name}` has none"
        )
        yield (
            f"`foreach.entries` of {who} names `{fe.entries}`, not an input artifact of op `{op.name}`",
            loc,
            hint,
        )
    elif fe.entries not in step.artifacts:
        yield (
            f"`foreach.entries` of {who} slices input artifact `{fe.entries}`, which the step does not give",
            loc,
            f'add `{fe.entries}: "{{{{...}}}}"` under `artifacts` (a folder: one item per entry)',
        )
    if fe.group is not None and op.kind != "python":
        yield (
            f"`foreach.group` of {who} needs a Python op (its items run inside one pod, one call each); "
            f"`{op.name}` is a {op.kind} op",
            step.locs.get("foreach.group", fe.loc),
            "leave `group` out: each entry then gets its own pod",
        )
    for name, value in step.parameters.items():
        if isinstance(value, str) and "{{item" in value.replace(" ", ""):
            yield (
                f"parameter `{name}` of {who} uses `{{{{item}}}}`, but a foreach over `entries` hands "
                f"each item its entry as the artifact `{fe.entries}`",
                step.value_locs.get(name, step.loc),
                f"read the entry from input artifact `{fe.entries}`",
            )
