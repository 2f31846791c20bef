"""Engines run a rendered Argo Workflow and answer for its runs.

Both engines record a run as an Argo ``Workflow`` object (``metadata``,
``spec``, ``status`` in Argo's exact shape), so ``status``, ``logs`` and
``download`` are one code path with two back ends. ``get_engine`` is the
registry; heavy modules (kubernetes, minio) are imported only when the
``argo`` engine is asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from dflowctl.errors import UsageError
from dflowctl.settings import Settings

Workflow = dict[str, Any]  # an Argo Workflow object: apiVersion, kind, metadata, spec, status
OnUpdate = Callable[[Workflow], None]

ENGINE_NAMES = ("local", "argo")


@dataclass(frozen=True)
class LogLine:
    node_id: str
    node_name: str  # the node's displayName, e.g. "square(3:3)"
    text: str  # one line, without the newline
    time: str | None = None  # RFC 3339, when asked for (``timestamps``)


@dataclass(frozen=True)
class LogBlock:
    """Whole log lines of one node at a time (``text``: lines joined by ``\\n``, no final
    newline): what ``logs`` prints, so that a large log is not handled line by line."""

    node_id: str
    node_name: str
    text: str
    times: tuple[str, ...] | None = None  # each line's time (RFC 3339), when asked for

    def lines(self) -> list[LogLine]:
        texts = self.text.split("\n")
        times = self.times or ()
        return [
            LogLine(self.node_id, self.node_name, t, times[i] if i < len(times) else None)
            for i, t in enumerate(texts)
        ]


@dataclass(frozen=True)
class RunOptions:
    """How to run: given by flags, shared by both engines."""

    wait: bool = True
    parallelism: int | None = None  # local: processes at once (default: CPU count)
    on_update: OnUpdate | None = None  # called with the whole Workflow object on every change
    base_dir: Path | None = None  # where relative workflow-artifact paths are resolved
    # artifact-repository key -> local archive file to upload before the run (op sources)
    source_archives: Mapping[str, Path] = field(default_factory=dict)
    dry_run: bool = False  # argo: the object that would be submitted, nothing sent
    server_dry_run: bool = False  # argo: the API server checks it (dryRun=All), nothing created
    resubmit: bool = False  # argo retry: a new workflow from the old one's spec
    # local: template name -> the Python chosen for it (``Interpreter.to_json()``; dflowctl.pyenv)
    pythons: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    reuse: bool = False  # take earlier successes of steps with the same key (the step cache)
    reuse_from: str | None = None  # ... only those of this earlier run
    rerun: tuple[str, ...] = ()  # steps (or ops) that run again in any case
    reuse_steps: tuple[str, ...] = ()  # steps taken from ``reuse_from`` even if their key changed
    spec_path: Path | None = None  # the spec file the manifest came from (recorded for `retry`)


class ArtifactStore(Protocol):
    """Fetches the bytes of one output artifact recorded in a node's outputs.

    A store may also offer (``download`` and ``report`` look for them): ``stage`` (the
    content into a new folder), ``stored`` (where it is kept on this machine) and
    ``fetch_workers`` (how many threads ``download`` fetches with; else 8)."""

    def fetch(self, artifact: Mapping[str, Any], dest: Path, *, force: bool = False) -> list[Path]:
        """Write the artifact (unpacked: a file, or a directory's contents) to ``dest``.

        Returns the paths written. Writes to a temporary name and renames, so an
        interrupted fetch leaves no partial file; files already present with
        identical content are skipped; a different existing file is an error
        unless ``force``.
        """
        ...


class Engine(Protocol):
    name: str

    def submit(self, manifest: Workflow, options: RunOptions) -> Workflow:
        """Start a run of ``manifest``; with ``options.wait`` follow it to the end.

        Returns the Workflow object (the final one when waiting). The caller
        decides the exit code from ``status.phase``.
        """
        ...

    def list_runs(self) -> list[Workflow]:
        """Every run, newest first (``runs.newest_first`` keeps this order within a second)."""
        ...

    def get_run(self, name: str) -> Workflow:
        """The whole Workflow object; ``NotFoundError`` for an unknown name."""
        ...

    def watch(self, name: str, on_update: OnUpdate) -> Workflow:
        """Follow a run until it finishes; returns the final object."""
        ...

    def logs(
        self, name: str, node_ids: list[str] | None = None, follow: bool = False, timestamps: bool = False
    ) -> Iterator[LogLine]:
        """A run's log lines; with ``timestamps``, each with its time (``LogLine.time``)."""
        ...

    def log_blocks(
        self, name: str, node_ids: list[str] | None = None, follow: bool = False, timestamps: bool = False
    ) -> Iterator[LogBlock]:
        """The same lines as ``logs``, several at a time."""
        ...

    def artifact_store(self, name: str) -> ArtifactStore: ...

    def stop(self, name: str, *, terminate: bool = False) -> Workflow: ...

    def retry(self, name: str, options: RunOptions) -> Workflow: ...

    def resume(
        self,
        name: str,
        node: str | None = None,
        parameters: Mapping[str, str] | None = None,
        fail: str | None = None,
    ) -> Workflow:
        """``argo resume`` (``node``: only the matching suspended nodes) with ``argo node
        set``'s output ``parameters`` for that node; ``UsageError`` when it cannot apply.
        ``fail``: end the matching suspended nodes Failed with this message instead
        (``argo stop --node-field-selector N --message M``)."""
        ...

    def delete(self, name: str) -> None: ...


def get_engine(name: str, settings: Settings | None = None) -> Engine:
    """The engine called ``name`` ("local" or "argo")."""
    if name == "local":
        from dflowctl.engines.local import LocalEngine

        return LocalEngine(settings)
    if name == "argo":
        from dflowctl.engines.argo import ArgoEngine

        return ArgoEngine(settings)
    raise UsageError(f"unknown engine {name!r}", hint="use one of: " + ", ".join(ENGINE_NAMES))
