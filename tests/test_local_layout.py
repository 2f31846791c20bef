"""The local engine's layout: no import cycle between its modules, no module over ~400 lines.

Imports are read with ``ast`` (top-level and function-level alike, ``TYPE_CHECKING``
blocks included), so a cycle hidden in a lazy import is found too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import dflowctl

PACKAGE = Path(dflowctl.__file__).parent
ENGINE = PACKAGE / "engines" / "local"
PREFIX = "dflowctl.engines.local"
MAX_LINES = 420  # "no module over ~400 lines"


def _module(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """The engine modules ``path`` imports (``from dflowctl.engines.local import x`` counts as x)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith(PREFIX + "."))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == PREFIX:
                found.update(f"{PREFIX}.{a.name}" for a in node.names)
            elif node.module.startswith(PREFIX + "."):
                found.add(node.module)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module(p): p for p in ENGINE.glob("*.py")}
    graph = {}
    for name, path in modules.items():
        if name == PREFIX:
            continue  # the package itself only re-exports LocalEngine
        graph[name] = {m for m in _imports(path) if m in modules and m != PREFIX and m != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_between_engine_modules() -> None:
    graph = _graph()
    assert graph.get(f"{PREFIX}.controller")  # the walk sees imports at all
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_semantics_see_the_runtime_protocol_not_the_controller() -> None:
    graph = _graph()
    for name in ("flow", "steps", "dag", "retry", "runtime", "templates", "podnode"):
        assert f"{PREFIX}.controller" not in graph[f"{PREFIX}.{name}"], name
    for name in ("flow", "steps", "dag", "retry"):
        assert f"{PREFIX}.runtime" in graph[f"{PREFIX}.{name}"], name


def test_no_engine_module_is_too_long() -> None:
    long = {
        p.name: n
        for p in sorted(ENGINE.glob("*.py"))
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}
