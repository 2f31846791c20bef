"""What a report shows beyond ``status``, fetched through the engine: the tail of
each pod's log and previews of output files (bounded in number and size).

Artifacts are chosen as ``download`` chooses them and read through the engine's
``ArtifactStore``: in place when the store keeps them on this machine (``peek``),
else fetched into one temporary folder that is removed before returning.
"""

from __future__ import annotations

import base64
import csv
import io
import tarfile
import tempfile
import zipfile
from collections import deque
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dflowctl.engines import ArtifactStore, Engine
from dflowctl.errors import DflowctlError
from dflowctl.report.peek import peek

if TYPE_CHECKING:
    from dflowctl.tree import TreeNode

LOG_LINES = 40  # lines of each log kept
LOG_LINE_CHARS = 2000
MAX_PREVIEWS = 60  # artifacts previewed per report; the rest are listed
MAX_FILES = 4  # files previewed per artifact (a folder's first ones)
IMAGE_BYTES = 512 * 1024
TEXT_BYTES = 4096
TEXT_LINES = 30
CSV_ROWS = 20
CSV_COLS = 20
CELL_CHARS = 200
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
}


@dataclass
class FilePreview:
    name: str  # path inside the artifact ("" for a file artifact)
    size: int
    kind: str  # "image" | "csv" | "text" | "binary"
    data_uri: str = ""
    text: str = ""
    rows: list[list[str]] = field(default_factory=list)
    truncated: bool = False


@dataclass
class ArtifactPreview:
    node_id: str
    step: str
    name: str
    location: str
    files: list[FilePreview] = field(default_factory=list)
    more_files: int = 0
    error: str = ""
    skipped: bool = False  # over MAX_PREVIEWS: listed, not fetched


@dataclass
class Extras:
    logs: dict[str, list[str]] = field(default_factory=dict)  # node id → last lines
    log_error: str = ""
    artifacts: list[ArtifactPreview] = field(default_factory=list)


def collect(
    engine: Engine,
    workflow: Mapping[str, Any],
    *,
    previews: bool = True,
    root: TreeNode | None = None,
    log_nodes: list[str] | None = None,
) -> Extras:
    """Log tails (``log_nodes``: only these pods') and (``previews``) file previews;
    ``root``: the run's tree when built already."""
    name = str((workflow.get("metadata") or {}).get("name") or "")
    extras = Extras()
    if log_nodes is None or log_nodes:
        extras.logs, extras.log_error = log_tails(engine, name, node_ids=log_nodes)
    if previews:
        extras.artifacts = artifact_previews(engine, workflow, root)
    return extras


def log_tails(
    engine: Engine, name: str, lines: int = LOG_LINES, node_ids: list[str] | None = None
) -> tuple[dict[str, list[str]], str]:
    tails: dict[str, deque[str]] = {}
    try:
        for line in engine.logs(name, node_ids, False):
            text = line.text if len(line.text) <= LOG_LINE_CHARS else line.text[:LOG_LINE_CHARS] + "…"
            tails.setdefault(line.node_id, deque(maxlen=lines)).append(text)
    except DflowctlError as err:
        return {k: list(v) for k, v in tails.items()}, err.message
    return {k: list(v) for k, v in tails.items()}, ""


def head_size(suffix: str) -> int:
    """Bytes of a file a preview reads (one more than it shows, to tell it was cut)."""
    return max(TEXT_BYTES, IMAGE_BYTES if suffix in IMAGE_TYPES else 0) + 1


def artifact_previews(
    engine: Engine, workflow: Mapping[str, Any], root: TreeNode | None = None
) -> list[ArtifactPreview]:
    """The first ``MAX_PREVIEWS`` output artifacts previewed, the others listed. A store
    that keeps artifacts on this machine (``stored``) is read in place; others fetch
    into one temporary folder, removed before returning."""
    from dflowctl.download import select
    from dflowctl.runoutputs import artifact_location

    try:
        selected = select(workflow, root=root)
    except DflowctlError:
        return []
    name = str((workflow.get("metadata") or {}).get("name") or "")
    found: list[ArtifactPreview] = []
    store: ArtifactStore | None = None
    with ExitStack() as cleanup:
        tmp: Path | None = None
        for i, item in enumerate(selected):
            preview = ArtifactPreview(item.node_id, item.step, item.name, artifact_location(item.artifact))
            found.append(preview)
            if i >= MAX_PREVIEWS:
                preview.skipped = True
                continue
            try:
                if store is None:
                    store = engine.artifact_store(name)
                stored = getattr(store, "stored", None)
                if stored is not None:
                    path, is_archive = stored(item.artifact)
                    files, count = peek(path, is_archive, MAX_FILES, head_size)
                else:
                    if tmp is None:
                        tmp = Path(
                            cleanup.enter_context(tempfile.TemporaryDirectory(prefix="dflowctl-report-"))
                        )
                    dest = tmp / str(i)
                    store.fetch(item.artifact, dest)
                    files, count = peek(dest, False, MAX_FILES, head_size)
            except DflowctlError as err:
                preview.error = err.message
                continue
            except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError) as err:
                reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
                preview.error = f"cannot read: {reason}"
                continue
            preview.more_files = max(count - MAX_FILES, 0)
            preview.files = [preview_of(f.head, f.size, f.name, f.suffix) for f in files]
    return found


def preview_of(head: bytes, size: int, name: str, suffix: str) -> FilePreview:
    """A file's preview from its first bytes (``head_size(suffix)`` of them, or all)."""
    if suffix in IMAGE_TYPES and size <= IMAGE_BYTES:
        uri = f"data:{IMAGE_TYPES[suffix]};base64," + base64.b64encode(head).decode("ascii")
        return FilePreview(name, size, "image", data_uri=uri)
    sample = head[:TEXT_BYTES]
    if b"\x00" in sample:
        return FilePreview(name, size, "binary")
    text = sample.decode("utf-8", errors="replace")
    truncated = size > TEXT_BYTES
    if truncated and "\n" in text:
        text = text[: text.rfind("\n") + 1]
    if suffix in (".csv", ".tsv"):
        reader = csv.reader(io.StringIO(text), delimiter="\t" if suffix == ".tsv" else ",")
        rows: list[list[str]] = []
        try:
            for row in reader:
                rows.append([_cell(c) for c in row[:CSV_COLS]])
                if len(rows) > CSV_ROWS:
                    break
        except csv.Error:
            rows = []
        if rows:
            more = truncated or len(rows) > CSV_ROWS
            return FilePreview(name, size, "csv", rows=rows[:CSV_ROWS], truncated=more)
    lines = text.splitlines()
    if len(lines) > TEXT_LINES:
        lines, truncated = lines[:TEXT_LINES], True
    return FilePreview(name, size, "text", text="\n".join(lines), truncated=truncated)


def _cell(text: str) -> str:
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"
