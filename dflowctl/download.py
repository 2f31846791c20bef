"""Download a run's output artifacts: one code path for both engines.

Which artifacts is decided from the Workflow object's ``status`` (``--step``,
``--artifact``); where they go from ``-d DIR`` (default ``./<run name>``),
as ``DIR/<step>/<artifact>/`` (always a folder: a file artifact keeps its own
name inside it; the items of a fan-out sit in ``<artifact>/<i>/`` by loop index,
and ``DIR/<step>/items.json`` maps each index to its item); the bytes come from the engine's
``ArtifactStore``. Each artifact is fetched into a staging folder next to its
destination and then moved into place, so that an existing file with other
content is never overwritten without ``--force`` and an interrupted download
leaves no partial file behind.
"""

from __future__ import annotations

import difflib
import filecmp
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from dflowctl.engines import ArtifactStore
from dflowctl.errors import NotFoundError, UsageError
from dflowctl.itemgroups import (
    SLICES_ARTIFACT,
    group_indices,
    holds_item,
    is_group,
    item_artifacts,
    shown_item,
)
from dflowctl.tree import TreeNode, build_tree, child_paths, walk_paths

LOOP_SUFFIX = re.compile(r"^(?P<base>.*?)\((?P<index>\d+)(?::.*)?\)$")
LOOP_ITEM = re.compile(r"^(?P<base>.*?)\((?P<index>\d+):(?P<value>.*)\)$")  # not retry attempts
ITEM_SELECTOR = re.compile(r"^(?P<step>.+)\[(?P<index>\d+)\]$")
ITEMS_FILE = "items.json"
# Argo's archived logs, a slices step's folder laid out by item: only when asked by name
SKIP_BY_DEFAULT = frozenset({"main-logs", SLICES_ARTIFACT})


@dataclass(frozen=True)
class Selected:
    node_id: str
    step: str  # the step's path of display names, e.g. "inner/square(3:3)"
    artifact: Mapping[str, Any]

    @property
    def name(self) -> str:
        return str(self.artifact.get("name"))


@dataclass
class DownloadResult:
    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)


def _artifacts(node: TreeNode) -> list[Mapping[str, Any]]:
    return [
        a for a in (node.outputs or {}).get("artifacts") or [] if isinstance(a, Mapping) and a.get("name")
    ]


def _reused(node: TreeNode) -> bool:
    """A step an Argo run took from an earlier one (rendered without a pod: a Steps node)."""
    from dflowctl.stepkey import REUSED_PARAM

    return any(p.get("name") == REUSED_PARAM for p in (node.outputs or {}).get("parameters") or [])


def _has_location(artifact: Mapping[str, Any]) -> bool:
    return any(isinstance(v, Mapping) for k, v in artifact.items() if k not in ("archive", "artifactGC"))


def with_item(step: str | None, item: int | None) -> str | None:
    """``--step S --item N`` as the one selector ``S[N]``."""
    if item is None:
        return step
    if step is None:
        raise UsageError("--item needs --step", hint="e.g. --step square --item 3, or --step 'square[3]'")
    if item < 0:
        raise UsageError(f"--item must be 0 or more, got {item}")
    return f"{step}[{item}]"


def matches_step(node: TreeNode, step: str) -> bool:
    """``step`` names this node: its display name or name, or the step it is a loop
    item or retry attempt of (``square`` names ``square(3:3)``); ``square[3]`` names
    the item of index 3 only."""
    if step in (node.display_name, node.name):
        return True
    selector = ITEM_SELECTOR.match(step)
    if selector:
        item = LOOP_ITEM.match(node.display_name)
        if not item or item.group("base") != selector.group("step"):
            return False
        index = int(selector.group("index"))
        if is_group(item.group("value")):  # a group pod: item N is one of its items
            return holds_item(item.group("value"), index)
        return int(item.group("index")) == index
    m = LOOP_SUFFIX.match(node.display_name)
    return bool(m and m.group("base") == step)


def _children(node: TreeNode, path: str) -> list[tuple[str, TreeNode]]:
    return child_paths(node, path, lambda n: _safe(n.display_name))


def _paths(root: TreeNode) -> Iterator[tuple[str, TreeNode]]:
    return walk_paths(root, lambda n: _safe(n.display_name))


def _safe(part: str) -> str:
    """A display name as one safe path component."""
    cleaned = re.sub(r"[\x00-\x1f/\\]", "_", part).strip()
    return "_" if cleaned in ("", ".", "..") else cleaned


def _work_artifacts(path: str, node: TreeNode) -> list[Selected]:
    """The artifacts a node produced: its own (a Pod, or a Retry node that carries its
    successful attempt's), else those of the work nodes under it."""
    own = _artifacts(node)
    if own and (node.is_leaf_kind or node.type == "Retry" or _reused(node)):
        indices = group_indices(node.outputs)
        if indices is not None:  # a group pod: one entry per item it ran
            return [
                Selected(node.id, p, art)
                for a in own
                for p, art in (
                    item_artifacts(path, a, indices) if a.get("name") != SLICES_ARTIFACT else [(path, a)]
                )
            ]
        return [Selected(node.id, path, a) for a in own]
    found: list[Selected] = []
    for child_path, child in _children(node, path):
        found.extend(_work_artifacts(child_path, child))
    return found


def step_names(root: TreeNode) -> list[str]:
    names: set[str] = set()
    for _, node in root.walk():
        if node is root:
            continue
        names.add(node.display_name)
        m = LOOP_SUFFIX.match(node.display_name)
        if m:
            names.add(m.group("base"))
    return sorted(names)


def did_you_mean(word: str, choices: list[str]) -> str | None:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    return f"did you mean {close[0]!r}?" if close else None


def find_steps(workflow: Mapping[str, Any], step: str) -> list[tuple[str, TreeNode]]:
    """The nodes ``step`` names (outermost matches only), with their paths.

    ``NotFoundError`` (with a did-you-mean hint) when none does.
    """
    root = build_tree(workflow)
    run = str((workflow.get("metadata") or {}).get("name") or "")
    if root is None:
        raise NotFoundError(f"run {run!r} has no steps yet")
    found: list[tuple[str, TreeNode]] = []
    inside: list[str] = []
    for path, node in _paths(root):
        if any(path.startswith(p + "/") or path.startswith(p + "(") for p in inside):
            continue
        if matches_step(node, step) or path == step:
            found.append((path, node))
            inside.append(path)
    if not found:
        names = step_names(root)
        hint = did_you_mean(step, names) or ("steps: " + ", ".join(names[:15]) if names else None)
        raise NotFoundError(f"run {run!r} has no step {step!r}", hint=hint)
    return found


def _grouped_item(workflow: Mapping[str, Any], step: str) -> list[Selected] | None:
    """``STEP[N]`` of a grouped step: item N among its group pods' items (None: not grouped)."""
    selector = ITEM_SELECTOR.match(step)
    if selector is None:
        return None
    try:
        found = find_steps(workflow, selector.group("step"))
    except NotFoundError:
        return None
    nodes = [n for _, node in found for _, n in node.walk()]
    if not any(n.is_leaf_kind and group_indices(n.outputs) is not None for n in nodes):
        return None
    index = int(selector.group("index"))
    items = [s for path, node in found for s in _work_artifacts(path, node)]
    chosen = [
        s for s in items if (m := LOOP_ITEM.match(s.step.rpartition("/")[2])) and int(m["index"]) == index
    ]
    if not chosen:
        raise NotFoundError(
            f"run {str((workflow.get('metadata') or {}).get('name') or '')!r} has no step {step!r}"
        )
    return chosen


def select(
    workflow: Mapping[str, Any], step: str | None = None, artifact: str | None = None
) -> list[Selected]:
    """The output artifacts to download: all work nodes' (``main-logs`` only when named),
    or those of ``step``, narrowed to ``artifact``."""
    run = str((workflow.get("metadata") or {}).get("name") or "")
    root = build_tree(workflow)
    if root is None:
        raise NotFoundError(f"run {run!r} has no steps yet")
    if step is not None:
        candidates = _grouped_item(workflow, step)
        if candidates is None:
            candidates = [s for path, node in find_steps(workflow, step) for s in _work_artifacts(path, node)]
    else:
        candidates = [s for path, node in _children(root, "") for s in _work_artifacts(path, node)]
    candidates = [c for c in candidates if _has_location(c.artifact)]
    where = f"step {step!r} of run {run!r}" if step else f"run {run!r}"
    if artifact is not None:
        chosen = [c for c in candidates if c.name == artifact]
        if not chosen:
            names = sorted({c.name for c in candidates})
            hint = did_you_mean(artifact, names) or ("artifacts: " + ", ".join(names) if names else None)
            raise NotFoundError(f"{where} has no output artifact {artifact!r}", hint=hint)
        return chosen
    chosen = [c for c in candidates if c.name not in SKIP_BY_DEFAULT]
    if not chosen:
        raise NotFoundError(f"{where} has no output artifacts")
    return chosen


def loop_place(step: str) -> tuple[str, list[str]]:
    """A step path with its loop items' suffixes taken off, and their indices:
    ``outer/square(3:9)`` → (``outer/square``, [``3``])."""
    parts: list[str] = []
    indices: list[str] = []
    last_plain = False
    for part in step.split("/"):
        m = LOOP_ITEM.match(part)
        if m:
            if last_plain and parts[-1] == m.group("base"):
                parts.pop()  # the loop inside a wrapper step of its name (parallelism, slices)
            parts.append(m.group("base"))
            indices.append(str(int(m.group("index"))))
        else:
            parts.append(part)
        last_plain = not m
    return "/".join(parts), indices


def destination(base: Path, item: Selected) -> Path:
    """``DIR/<step>/<artifact>``, plus ``<i>/`` for each loop the step is an item of."""
    step, indices = loop_place(item.step)
    return base.joinpath(step, _safe(item.name), *indices)


def file_name(artifact: Mapping[str, Any]) -> str:
    """The name a file artifact keeps: that of the path it was saved from."""
    path = artifact.get("path")
    name = PurePosixPath(str(path)).name if isinstance(path, str) else ""
    return _safe(name or str(artifact.get("name") or "artifact"))


def _as_folder(staged: Path, artifact: Mapping[str, Any]) -> None:
    """A fetched file artifact becomes a folder holding it under its own name."""
    if staged.is_file() or staged.is_symlink():
        moved = staged.with_name(staged.name + ".file")
        os.replace(staged, moved)
        staged.mkdir()
        os.replace(moved, staged / file_name(artifact))


def _staged_folder(content: Path, artifact: Mapping[str, Any]) -> Path:
    """The folder to move into place, from a store's ``stage``: a file (alone in its
    folder) is named as ``_as_folder`` names it, in the folder it is in."""
    if content.is_file() or content.is_symlink():
        name = file_name(artifact)
        if content.name != name:
            os.replace(content, content.with_name(name))
        return content.parent
    return content


def _item_value(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return text


def items_files(items: list[Selected]) -> dict[str, dict[str, object]]:
    """Per fan-out step (its path without loop suffixes), index → item value (as Argo
    shows it in the node's name; JSON when it parses as JSON)."""
    found: dict[str, dict[str, object]] = {}
    for item in items:
        parts = item.step.split("/")
        for depth, part in enumerate(parts):
            m = LOOP_ITEM.match(part)
            if m:
                step, _ = loop_place("/".join(parts[: depth + 1]))
                found.setdefault(step, {})[str(int(m.group("index")))] = _item_value(
                    shown_item(m.group("value"))
                )
    return {step: dict(sorted(values.items(), key=lambda kv: int(kv[0]))) for step, values in found.items()}


def _files(root: Path) -> Iterator[Path]:
    if root.is_file() or root.is_symlink():
        yield root
        return
    for dirpath, _dirs, files in os.walk(root):
        for name in sorted(files):
            yield Path(dirpath) / name


def link_in_the_way(base: Path, target: Path) -> Path | None:
    """The first symbolic link already on the way from ``base`` (itself not counted:
    the user named it) to ``target``, which a write would go through."""
    path = base
    for part in target.relative_to(base).parts:
        path = path / part
        if path.is_symlink():
            return path
        if not path.exists():
            return None
    return None


def _links(base: Path, staged: Path, dest: Path) -> list[Path]:
    """The links in ``base`` that writing the staged copy to ``dest`` would go through."""
    found: set[Path] = set()
    for src in _files(staged):
        link = link_in_the_way(base, dest / src.relative_to(staged) if src != staged else dest)
        if link is not None:
            found.add(link)
    return sorted(found)


def _conflicts(staged: Path, dest: Path) -> list[Path]:
    """Existing paths under ``dest`` that the staged copy would overwrite with other content."""
    clashes: list[Path] = []
    for src in _files(staged):
        target = dest / src.relative_to(staged) if src != staged else dest
        is_dir = target.is_dir() and not target.is_symlink()
        if is_dir or (target.exists() and not filecmp.cmp(src, target, shallow=False)):
            clashes.append(target)
    # a file where the artifact needs a directory (or a parent of one)
    for parent in [dest, *dest.parents]:
        if parent.exists():
            if parent.is_file() and (staged.is_dir() or parent != dest):
                clashes.append(parent)
            break
    return clashes


def _move_into_place(
    base: Path, staged: Path, dest: Path, result: DownloadResult, made: set[Path] | None = None
) -> None:
    """Move what ``staged`` holds to ``dest``; ``made``: folders this download made."""
    if staged.is_dir() and not os.path.lexists(dest) and link_in_the_way(base, dest) is None:
        # nothing there yet: the staged folder itself goes into place (no folder made per item)
        moved = list(_files(staged))
        try:
            if made is None or dest.parent not in made:
                dest.parent.mkdir(parents=True, exist_ok=True)
                if made is not None:
                    made.add(dest.parent)
            os.replace(staged, dest)
        except OSError:
            pass  # file by file below, which says which folder could not be made
        else:
            result.written.extend(dest / src.relative_to(staged) for src in moved)
            return
    for src in list(_files(staged)):
        target = dest / src.relative_to(staged) if src != staged else dest
        link = link_in_the_way(base, target)
        while link is not None:  # only reached with --force: the link goes, never what it points to
            link.unlink()
            link = link_in_the_way(base, target)
        if target.exists() and target.is_file() and filecmp.cmp(src, target, shallow=False):
            result.unchanged.append(target)
            continue
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        for parent in reversed(target.parents):
            if parent.is_file():
                parent.unlink()  # only reached with --force
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, target)
        result.written.append(target)


def _staging_root(dest: Path) -> Path:
    """An existing folder on the destination's file system, for the staging copy."""
    for parent in dest.parents:
        if parent.is_dir():
            return parent
    return Path.cwd()


def fetch_all(
    store: ArtifactStore,
    items: list[Selected],
    base: Path,
    *,
    force: bool = False,
    workers: int = 8,
    on_fetched: Callable[[Selected], None] | None = None,
) -> DownloadResult:
    """Fetch ``items`` under ``base``, several at once.

    Everything is fetched into a staging folder first; if any file would replace
    an existing one with other content, nothing is written (unless ``force``).
    ``on_fetched`` is called (from a worker thread) as each artifact arrives.
    """
    result = DownloadResult()
    if not items:
        return result
    try:
        return _fetch_all(store, items, base, result, force, workers, on_fetched)
    except OSError as err:
        reason = (err.strerror or str(err)).lower()
        where = f" ({err.filename})" if err.filename else ""
        raise UsageError(
            f"cannot download to {base}: {reason}{where}", hint="give a folder you can write to with -d DIR"
        ) from None


def _fetch_all(
    store: ArtifactStore,
    items: list[Selected],
    base: Path,
    result: DownloadResult,
    force: bool,
    workers: int,
    on_fetched: Callable[[Selected], None] | None,
) -> DownloadResult:
    if base.exists() and not base.is_dir():
        raise UsageError(f"cannot download to {base}: it is not a folder", hint="give a folder with -d DIR")
    staging = Path(tempfile.mkdtemp(prefix=".dflowctl-download-", dir=_staging_root(base / "_")))
    try:
        staged = [staging / str(i) / _safe(item.name) for i, item in enumerate(items)]
        stage = getattr(store, "stage", None)  # a store that unpacks straight into a folder

        def fetch(i: int) -> None:
            if stage is not None:
                staged[i] = _staged_folder(stage(items[i].artifact, staging / str(i)), items[i].artifact)
            else:
                staged[i].parent.mkdir()
                store.fetch(items[i].artifact, staged[i], force=True)
                if not staged[i].exists():
                    staged[i].mkdir()  # an empty directory artifact
                _as_folder(staged[i], items[i].artifact)
            if on_fetched is not None:
                on_fetched(items[i])

        _run_all(fetch, len(items), workers)
        pairs = [(staged[i], destination(base, item)) for i, item in enumerate(items)]
        for n, (step, values) in enumerate(sorted(items_files(items).items())):
            listing = staging / f"items-{n}" / ITEMS_FILE
            listing.parent.mkdir()
            listing.write_text(json.dumps(values, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            pairs.append((listing, base / step / ITEMS_FILE))
        links = [link for src, dest in pairs for link in _links(base, src, dest)]
        if links and not force:
            more = f" (and {len(links) - 1} more)" if len(links) > 1 else ""
            raise UsageError(
                f"{links[0]} is a symbolic link; download never writes through one{more}",
                hint="remove it, use --force to replace the link (not what it points to), "
                "or -d DIR elsewhere",
            )
        clashes = [c for src, dest in pairs for c in _conflicts(src, dest)]
        if clashes and not force:
            more = f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else ""
            raise UsageError(
                f"{clashes[0]} already exists with different content{more}",
                hint="use --force to overwrite, or -d DIR to download elsewhere",
            )
        made: set[Path] = set()
        for src, dest in pairs:
            _move_into_place(base, src, dest, result, made)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result


def _run_all(task: Callable[[int], None], count: int, workers: int) -> None:
    """``task(0) … task(count - 1)`` on a thread pool; the first error (or Ctrl-C)
    cancels what has not started and is raised."""
    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, count)), thread_name_prefix="dflowctl-download")
    try:
        futures = [pool.submit(task, i) for i in range(count)]
        wait(futures, return_when=FIRST_EXCEPTION)
        for future in futures:
            error = future.exception() if future.done() else None
            if error is not None:
                raise error
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
