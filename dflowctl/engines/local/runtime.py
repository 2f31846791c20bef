"""What the step/DAG/retry semantics need from the run that executes them: ``Runtime``.

``flow``, ``steps``, ``dag`` and ``retry`` implement Argo's semantics against this
small protocol, never against the concrete ``Controller``: the controller
implements it with pods and threads, and the unit tests with a fake that runs
no process (tests/test_local_semantics.py).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from dflowctl.engines.local.scope import ArtifactScope, Scope
from dflowctl.engines.local.slots import Slots
from dflowctl.engines.local.status import NodeBook

Node = dict[str, Any]


def stop_message(strategy: str) -> str:
    return f"Stopped with strategy '{strategy}'"


@dataclass(frozen=True)
class Call:
    """A template resolved for node ``name`` (by ``Runtime.execute``): what one attempt,
    the retries and a steps/DAG body run with."""

    name: str
    display: str
    tmpl_name: str
    tmpl: dict[str, Any]
    scope: Scope
    in_arts: ArtifactScope
    boundary: str | None

    def create(self, book: NodeBook, ntype: str) -> Node:
        """This call's own node (a Steps, DAG or Retry node), with the template's inputs."""
        inputs = self.tmpl.get("inputs")
        return book.create(
            self.name, self.display, ntype, self.tmpl_name or None, self.boundary, inputs=inputs
        )

    def attempt(self, n: int) -> Call:
        """The call of the Retry node's attempt ``n`` (its child ``name(n)``)."""
        return replace(self, name=f"{self.name}({n})", display=f"{self.display}({n})")


class Runtime(Protocol):
    """One run as the semantics see it."""

    @property
    def name(self) -> str:
        """The workflow's name (node ids are derived from it)."""
        ...

    @property
    def book(self) -> NodeBook:
        """Every node of the run, created and changed through it."""
        ...

    @property
    def cancel(self) -> threading.Event:
        """Set when the run is stopping (or its deadline passed): start nothing new."""
        ...

    def interrupted_message(self) -> str:
        """The message of a node that ended because the run is stopping."""
        ...

    def template(self, name: str) -> Mapping[str, Any] | None:
        """A template of the workflow by name (``templateDefaults`` applied)."""
        ...

    def width(self, sem: Slots | None) -> int:
        """How many children of one group may be under way at once."""
        ...

    def execute(
        self,
        name: str,
        display: str,
        holder: Mapping[str, Any],
        args: Mapping[str, Any],
        boundary: str | None,
        *,
        arts_scope: ArtifactScope | None = None,
    ) -> Node | None:
        """Run the template ``holder`` names (a step, task, hook) as node ``name``;
        None when the run stopped before it started."""
        ...

    def execute_once(self, call: Call, retries: int | None) -> Node | None:
        """One attempt of a template whose inputs are already resolved."""
        ...

    def locate_artifact(self, art: Mapping[str, Any], arts_scope: ArtifactScope) -> dict[str, Any] | None:
        """An artifact reference (``from``) resolved to its location, or None if optional and absent."""
        ...

    def end_scope(self, scope_id: str) -> None:
        """The steps/DAG node ``scope_id`` is ending: kill the daemons it started (their nodes end)."""
        ...

    def scope_open(self, scope_id: str) -> bool:
        """Has ``end_scope(scope_id)`` not been called (a daemon may still start in it)?"""
        ...

    def keep_daemoned(self, scope_id: str | None, node: Node) -> None:
        """Keep a daemon's Retry node daemoned until ``scope_id`` ends, then ``Succeeded``."""
        ...
