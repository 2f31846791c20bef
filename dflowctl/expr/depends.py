"""Argo's enhanced ``depends`` logic for DAG tasks (docs/enhanced-depends-logic.md).

``depends`` is a boolean expression over ``TASK`` and ``TASK.Result`` terms with
``&& || !`` and parentheses. Results: ``Succeeded Failed Errored Skipped Omitted
Daemoned`` (the task's node phase) and, for a fanned-out task, ``AnySucceeded``
(some child succeeded) and ``AllFailed`` (it has children and all failed). A bare
``TASK`` means ``(TASK.Succeeded || TASK.Skipped || TASK.Daemoned)``, plus
``TASK.Errored`` / ``TASK.Failed`` when that task has ``continueOn.error`` /
``continueOn.failed`` (workflow/common/ancestry.go expandDependency).

As in Argo's controller, nothing is decided until every referenced task is
fulfilled (finished, or running as a daemon): until then the answer is ``None``.
The old ``dependencies: [A, B]`` field is ``depends: "A && B"``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from dflowctl.argo.phases import FULFILLED, Phase
from dflowctl.expr.values import ExprError

PHASES = frozenset(p.value for p in Phase)
RESULTS = frozenset(
    {"Succeeded", "Failed", "Errored", "Skipped", "Omitted", "Daemoned", "AnySucceeded", "AllFailed"}
)


@dataclass(frozen=True)
class TaskResult:
    """What a depending task needs to know about one task it depends on.

    ``phase``: the task node's phase (Succeeded/Failed/Error/Skipped/Omitted/Running/
    Pending). ``daemoned``: the task is a daemon that is up. ``children_phases``: the
    phases of a fanned-out task's children (for AnySucceeded/AllFailed).
    ``continue_on_failed`` / ``continue_on_error``: that task's ``continueOn`` — a
    bare reference then also accepts Failed / Errored.
    """

    phase: str
    daemoned: bool = False
    children_phases: tuple[str, ...] = ()
    continue_on_failed: bool = False
    continue_on_error: bool = False

    def __post_init__(self) -> None:
        if self.phase not in PHASES:
            raise ExprError(f"unknown task phase {self.phase!r} (one of {', '.join(sorted(PHASES))})")

    @property
    def fulfilled(self) -> bool:
        return self.phase in FULFILLED or (self.daemoned and self.phase != "Pending")

    def result(self, name: str) -> bool:
        phase = self.phase
        if name == "Succeeded":
            return phase == "Succeeded"
        if name == "Failed":
            return phase == "Failed"
        if name == "Errored":
            return phase == "Error"
        if name == "Skipped":
            return phase == "Skipped"
        if name == "Omitted":
            return phase == "Omitted"
        if name == "Daemoned":
            return self.daemoned and phase != "Pending"
        if name == "AnySucceeded":
            return any(p == "Succeeded" for p in self.children_phases)
        if name == "AllFailed":
            return bool(self.children_phases) and all(p == "Failed" for p in self.children_phases)
        raise ExprError(f"unknown task result {name!r}")

    def bare(self) -> bool:
        ok = self.result("Succeeded") or self.result("Skipped") or self.result("Daemoned")
        if self.continue_on_error and self.phase == "Error":
            ok = True
        if self.continue_on_failed and self.phase == "Failed":
            ok = True
        return ok


# Argo's taskNameRegex: `name.Result` or a bare name.
_TOKEN = re.compile(
    r"\s*(?:(?P<ref>[a-zA-Z0-9][-a-zA-Z0-9]*?\.[A-Z][a-zA-Z]+)|(?P<name>[a-zA-Z0-9][-a-zA-Z0-9]*)"
    r"|(?P<op>&&|\|\||!|\(|\)))"
)

Pred = Callable[[Mapping[str, TaskResult]], bool]


@dataclass(frozen=True)
class _Compiled:
    pred: Pred
    tasks: frozenset[str]


def _tokenize(expr: str) -> list[tuple[str, str]]:
    toks: list[tuple[str, str]] = []
    pos = 0
    n = len(expr)
    while pos < n:
        if expr[pos:].strip() == "":
            break
        m = _TOKEN.match(expr, pos)
        if not m:
            bad = expr[pos:].strip()[:1]
            raise ExprError(f"invalid depends {expr!r}: unexpected {bad!r}")
        kind = m.lastgroup or ""
        toks.append((kind, m.group(kind)))
        pos = m.end()
    return toks


class _Parser:
    def __init__(self, expr: str) -> None:
        self.expr = expr
        self.toks = _tokenize(expr)
        self.i = 0
        self.tasks: set[str] = set()

    def error(self, what: str) -> ExprError:
        return ExprError(f"invalid depends {self.expr!r}: {what}")

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def parse(self) -> Pred:
        if not self.toks:
            raise self.error("empty")
        pred = self.parse_or()
        if self.peek() is not None:
            raise self.error(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return pred

    def parse_or(self) -> Pred:
        left = self.parse_and()
        while self.peek() == ("op", "||"):
            self.i += 1
            right = self.parse_and()
            left = (lambda a, b: lambda r: a(r) or b(r))(left, right)
        return left

    def parse_and(self) -> Pred:
        left = self.parse_not()
        while self.peek() == ("op", "&&"):
            self.i += 1
            right = self.parse_not()
            left = (lambda a, b: lambda r: a(r) and b(r))(left, right)
        return left

    def parse_not(self) -> Pred:
        if self.peek() == ("op", "!"):
            self.i += 1
            inner = self.parse_not()
            return lambda r: not inner(r)
        return self.parse_atom()

    def parse_atom(self) -> Pred:
        tok = self.peek()
        if tok is None:
            raise self.error("unexpected end")
        self.i += 1
        kind, text = tok
        if kind == "op" and text == "(":
            inner = self.parse_or()
            if self.peek() != ("op", ")"):
                raise self.error("missing )")
            self.i += 1
            return inner
        if kind == "ref":
            task, _, result = text.partition(".")
            if result not in RESULTS:
                raise self.error(f"task result '{result}' for task '{task}' is invalid")
            self.tasks.add(task)
            return lambda r: r[task].result(result)
        if kind == "name":
            self.tasks.add(text)
            return lambda r: r[text].bare()
        raise self.error(f"unexpected {text!r}")


@functools.lru_cache(maxsize=2048)
def _compile(expr: str) -> _Compiled:
    p = _Parser(expr)
    try:
        pred = p.parse()
    except RecursionError:
        raise ExprError(f"invalid depends {expr!r}: nested too deeply") from None
    return _Compiled(pred, frozenset(p.tasks))


def depends_tasks(expr: str) -> set[str]:
    """The task names a ``depends`` expression refers to."""
    return set(_compile(expr).tasks)


def evaluate_depends(expr: str, results: Mapping[str, TaskResult]) -> bool | None:
    """``True``/``False`` once every referenced task is fulfilled, else ``None``.

    A task missing from ``results`` has not run yet. ``""`` (no dependencies) is true.
    """
    if not expr.strip():
        return True
    compiled = _compile(expr)
    for task in compiled.tasks:
        res = results.get(task)
        if res is None or not res.fulfilled:
            return None
    try:
        return bool(compiled.pred(results))
    except RecursionError:
        raise ExprError(f"invalid depends {expr!r}: nested too deeply") from None


def dependencies_to_depends(dependencies: Iterable[str]) -> str:
    """The old ``dependencies: [A, B]`` as a ``depends`` expression: ``"A && B"``."""
    names = [str(d) for d in dependencies]
    for name in names:
        if not re.fullmatch(r"[a-zA-Z0-9][-a-zA-Z0-9]*", name):
            raise ExprError(f"invalid task name {name!r} in dependencies")
    return " && ".join(names)
