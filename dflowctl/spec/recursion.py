"""A composite op that calls itself — directly or through other ops — with no
``when`` on the way would recurse until Argo's depth limit: refused at ``validate``.

A call guarded by ``when`` (dflow's ``test_recurse``, DP-GEN-style loops) can
end, so it stays valid; the engine keeps Argo's depth limit at run time.
"""

from __future__ import annotations

from collections.abc import Iterator

from dflowctl.errors import Diagnostic
from dflowctl.spec import model as m
from dflowctl.spec.locate import Source


def _calls(op: m.Op) -> Iterator[m.Step]:
    if op.steps is not None:
        for group in op.steps:
            yield from group
    yield from op.dag or ()


def recursion_diagnostics(wf: m.Workflow, source: Source) -> list[Diagnostic]:
    """One diagnostic per unguarded call that closes a cycle of composite ops."""
    # unguarded edges: op -> (callee, the step that calls it)
    edges: dict[str, list[tuple[str, m.Step]]] = {}
    for op in wf.ops.values():
        if op.composite:
            edges[op.name] = [
                (s.op, s) for s in _calls(op) if s.when is None and s.op in wf.ops and wf.ops[s.op].composite
            ]
    diags: list[Diagnostic] = []
    reported: set[tuple[str, str]] = set()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in edges:
        if state.get(start):
            continue
        path: list[str] = [start]
        stack: list[Iterator[tuple[str, m.Step]]] = [iter(edges[start])]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
                continue
            callee, step = nxt
            if state.get(callee) == 1:
                caller = path[-1]
                if (caller, step.name) not in reported:
                    reported.add((caller, step.name))
                    cycle = [*path[path.index(callee) :], callee]
                    how = "itself" if len(cycle) == 2 else "itself through " + " → ".join(cycle[1:-1])
                    diags.append(
                        source.diagnostic(
                            f"op `{callee}` calls {how} with no `when`: it would never stop",
                            step.locs.get("op", step.loc),
                            'guard the recursive call with `when`, e.g. when: "{{inputs.parameters.i}} < 10"',
                        )
                    )
            elif not state.get(callee):
                state[callee] = 1
                path.append(callee)
                stack.append(iter(edges.get(callee, ())))
    return diags
