"""What every group of semantic checks shares: where a reference is used, the
steps of one body, and the diagnostics collected so far."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from dflowctl.errors import Diagnostic, Location
from dflowctl.spec import model as m
from dflowctl.spec.locate import Source

Kind = Literal["parameter", "artifact"]
Expect = Literal["parameter", "artifact", "any"]


@dataclass
class Body:
    """The steps or tasks of the workflow or of one composite op."""

    kind: Literal["steps", "dag"]
    owner: m.Op | None
    steps: dict[str, m.Step] = field(default_factory=dict)
    group_of: dict[str, int] = field(default_factory=dict)

    @property
    def word(self) -> str:
        return "task" if self.kind == "dag" else "step"


@dataclass
class Use:
    """Where a reference is used: who uses it and what it may see."""

    where: Location | None
    body: Body | None = None
    step: m.Step | None = None
    leaf: m.Op | None = None  # inside a leaf op's own fields (script, args, env)
    foreach: m.Foreach | None = None
    consumer: str = ""  # "parameter `msg`", "`when`", ...


class CheckBase:
    def __init__(self, wf: m.Workflow, source: Source) -> None:
        self.wf = wf
        self.src = source
        self.diags: list[Diagnostic] = []

    def error(self, message: str, loc: Location | None, hint: str | None = None) -> None:
        self.diags.append(self.src.diagnostic(message, loc, hint))


def at_use(use: Use, where: Location | None, consumer: str, *, foreach: bool = True) -> Use:
    return Use(
        where,
        body=use.body,
        step=use.step,
        leaf=use.leaf,
        foreach=use.foreach if foreach else None,
        consumer=consumer,
    )
