"""The modules an op needs at import time, read statically (``ast``; nothing is run).

Only statements at a module's top level count (``import x``, ``from x import
y``); imports inside functions, ``if`` or ``try`` blocks may be optional and
are left alone. Modules of the op's own ``source`` tree are followed (their
package ``__init__`` files too); what they import from outside is what the
interpreter must provide, named by its top-level package.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

MAX_FILES = 2000  # a source tree larger than this is read only this far
MAX_BYTES = 4 * 1024 * 1024  # a larger file is not parsed

ALWAYS_PRESENT = frozenset({"__future__", "__main__", "dflow"})  # dflow: the bundled dflow.python


def top_level(names: Iterable[str]) -> set[str]:
    return {n.split(".", 1)[0] for n in names if n} - ALWAYS_PRESENT


def script_imports(source: str) -> set[str]:
    """Top-level modules a Python script imports at its top level (a syntax error: none)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return set()
    return top_level(name for name, _level, _names in _statements(tree))


def op_imports(entry_module: str, source: Path | None) -> set[str]:
    """Top-level modules an op's module needs from its interpreter.

    ``entry_module`` is the module of ``module:callable``; ``source`` the op's
    source folder (on ``PYTHONPATH`` in the pod), or None when the module comes
    from the environment itself (then that module's package is what is needed).
    """
    tree = _Tree(source)
    if not tree.is_local(entry_module):
        return top_level([entry_module])
    tree.follow(entry_module)
    return top_level(tree.needed)


def _statements(tree: ast.Module) -> list[tuple[str, int, list[str]]]:
    """(module, level, imported names) of each top-level import statement."""
    out: list[tuple[str, int, list[str]]] = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            out.extend((alias.name, 0, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            out.append((node.module or "", node.level, [a.name for a in node.names]))
    return out


class _Tree:
    def __init__(self, root: Path | None) -> None:
        self.root = root
        self.needed: set[str] = set()
        self.seen: set[Path] = set()

    def is_local(self, module: str) -> bool:
        if self.root is None or not module:
            return False
        top = module.split(".", 1)[0]
        return (self.root / f"{top}.py").is_file() or (self.root / top).is_dir()

    def files(self, module: str) -> list[tuple[Path, str, bool]]:
        """What importing ``module`` runs: (file, its module name, whether a package) for each
        package ``__init__`` on the way, then the module itself."""
        assert self.root is not None
        parts = module.split(".")
        out: list[tuple[Path, str, bool]] = []
        folder = self.root
        for i, part in enumerate(parts):
            name = ".".join(parts[: i + 1])
            if (folder / part).is_dir():
                folder = folder / part
                if (folder / "__init__.py").is_file():
                    out.append((folder / "__init__.py", name, True))
            elif i == len(parts) - 1 and (folder / f"{part}.py").is_file():
                out.append((folder / f"{part}.py", name, False))
            else:
                break
        return out

    def follow(self, module: str) -> None:
        for path, name, package in self.files(module):
            self._read(path, name, package)

    def _read(self, path: Path, module: str, package: bool) -> None:
        if path in self.seen or len(self.seen) >= MAX_FILES:
            return
        self.seen.add(path)
        try:
            if path.stat().st_size > MAX_BYTES:
                return
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (OSError, SyntaxError, ValueError):
            return  # the op reports it when it runs
        here = module.split(".") if package else module.split(".")[:-1]
        for name, level, names in _statements(tree):
            if level:
                base = here[: len(here) - (level - 1)] if level > 1 else here
                target = ".".join([*base, name] if name else base)
            else:
                target = name
            if not self.is_local(target):
                if not level:
                    self.needed.add(target)
                continue
            self.follow(target)
            for sub in names:
                if sub != "*" and self.files(f"{target}.{sub}"):
                    self.follow(f"{target}.{sub}")
