"""The ``{{...}}`` references a spec may make, parsed (not resolved).

``{{=expr}}`` (Argo's expr-lang) is left alone: it is evaluated by Argo.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

TAG = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)


@dataclass(frozen=True)
class Ref:
    """One ``{{...}}`` tag: ``text`` is the whole tag, ``parts`` its dotted body."""

    text: str
    parts: tuple[str, ...]

    @property
    def body(self) -> str:
        return ".".join(self.parts)


def find_refs(text: str) -> Iterator[Ref]:
    for match in TAG.finditer(text):
        body = match.group(1).strip()
        if body.startswith("="):
            continue
        yield Ref(match.group(0), tuple(body.split(".")))


def unclosed(text: str) -> bool:
    """True when a ``{{`` is never closed by ``}}``."""
    return "{{" in TAG.sub("", text)


def single_ref(text: str) -> Ref | None:
    """The reference when ``text`` is exactly one tag and nothing else."""
    stripped = text.strip()
    match = TAG.fullmatch(stripped)
    if match is None or match.group(1).strip().startswith("="):
        return None
    return Ref(match.group(0), tuple(match.group(1).strip().split(".")))
