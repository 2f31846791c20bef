"""What building the model (``spec.build``) rests on: ruamel's values as plain
Python values, and ``Positions``: where a node of the document is (key or value), and
the diagnostics found on the way."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dflowctl.errors import Diagnostic, Location
from dflowctl.spec.load import YamlDocument
from dflowctl.spec.locate import PathItem, lc_pair


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


def scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(plain(value))


def opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


class Positions:
    """The document being built and where its nodes are."""

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
