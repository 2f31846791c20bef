"""Every property of the JSON Schema is documented in docs/spec.md."""

from __future__ import annotations

from typing import Any

from dflowctl.spec.schema import schema
from tests.conftest import REPO


def _property_names(node: Any) -> set[str]:
    names: set[str] = set()
    if isinstance(node, dict):
        for key, sub in node.items():
            if key == "properties" and isinstance(sub, dict):
                names |= set(sub)
                for inner in sub.values():
                    names |= _property_names(inner)
            else:
                names |= _property_names(sub)
    elif isinstance(node, list):
        for item in node:
            names |= _property_names(item)
    return names


def test_every_schema_property_is_in_docs() -> None:
    docs = (REPO / "docs" / "spec.md").read_text(encoding="utf-8")
    names = _property_names(schema())
    assert len(names) > 50
    missing = sorted(n for n in names if f"`{n}`" not in docs)
    assert missing == []
