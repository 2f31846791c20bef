"""What a report shows beyond ``status``, fetched through the engine: the tail of
each pod's log and previews of output files (bounded in number and size).

Artifacts are fetched with the engine's ``ArtifactStore`` (the path ``download``
uses) into a temporary folder that is removed before returning.
"""

from __future__ import annotations

import base64
import csv
import io
import tempfile
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dflowctl.engines import Engine
from dflowctl.errors import DflowctlError

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


def collect(engine: Engine, workflow: Mapping[str, Any], *, previews: bool = True) -> Extras:
    name = str((workflow.get("metadata") or {}).get("name") or "")
    extras = Extras()
    extras.logs, extras.log_error = log_tails(engine, name)
    if previews:
        extras.artifacts = artifact_previews(engine, workflow)
    return extras


def log_tails(engine: Engine, name: str, lines: int = LOG_LINES) -> tuple[dict[str, list[str]], str]:
    tails: dict[str, deque[str]] = {}
    try:
        for line in engine.logs(name, None, False):
            text = line.text if len(line.text) <= LOG_LINE_CHARS else line.text[:LOG_LINE_CHARS] + "…"
            tails.setdefault(line.node_id, deque(maxlen=lines)).append(text)
    except DflowctlError as err:
        return {k: list(v) for k, v in tails.items()}, err.message
    return {k: list(v) for k, v in tails.items()}, ""


def artifact_previews(engine: Engine, workflow: Mapping[str, Any]) -> list[ArtifactPreview]:
    from dflowctl.download import select
    from dflowctl.runoutputs import artifact_location

    try:
        selected = select(workflow)
    except DflowctlError:
        return []
    name = str((workflow.get("metadata") or {}).get("name") or "")
    found: list[ArtifactPreview] = []
    store = None
    with tempfile.TemporaryDirectory(prefix="dflowctl-report-") as tmp:
        for i, item in enumerate(selected):
            preview = ArtifactPreview(item.node_id, item.step, item.name, artifact_location(item.artifact))
            found.append(preview)
            if i >= MAX_PREVIEWS:
                preview.skipped = True
                continue
            try:
                if store is None:
                    store = engine.artifact_store(name)
                dest = Path(tmp) / str(i)
                store.fetch(item.artifact, dest)
            except DflowctlError as err:
                preview.error = err.message
                continue
            except OSError as err:
                preview.error = f"cannot read: {err.strerror or err}"
                continue
            files = [dest] if dest.is_file() else sorted(p for p in dest.rglob("*") if p.is_file())
            preview.more_files = max(len(files) - MAX_FILES, 0)
            for path in files[:MAX_FILES]:
                rel = "" if path == dest else path.relative_to(dest).as_posix()
                preview.files.append(file_preview(path, rel))
    return found


def file_preview(path: Path, name: str) -> FilePreview:
    size = path.stat().st_size
    suffix = (Path(name).suffix if name else path.suffix).lower()
    with open(path, "rb") as fh:
        head = fh.read(max(TEXT_BYTES, IMAGE_BYTES if suffix in IMAGE_TYPES else 0) + 1)
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
