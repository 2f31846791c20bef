"""Fetch selected artifacts into ``DIR`` through the engine's ``ArtifactStore`` (one path
for both engines), several at once.

Each artifact is fetched into a staging folder next to its destination; then what is
at the destinations is checked (``checks.Destination``: links, other content), and
only then is anything moved into place: an existing file with other content is never
overwritten and a link never written through without ``--force``, and an interrupted
download leaves no partial file behind. An artifact whose destination does not exist
yet is moved there in one rename (its parent folder made once for all its siblings).
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import stat
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dflowctl.download.checks import Destination, Kind, Plan, State
from dflowctl.download.places import ITEMS_FILE, destination, file_name, items_files, safe_part
from dflowctl.download.selection import Selected
from dflowctl.engines import ArtifactStore
from dflowctl.errors import DflowctlError, UsageError

STAGING_PREFIX = ".dflowctl-download-"
WORKERS = 8  # threads fetching at once from a store that does not say (S3: network waits)


@dataclass
class DownloadResult:
    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)


def _as_folder(staged: Path, artifact: Mapping[str, Any]) -> None:
    """A fetched file artifact becomes a folder holding it under its own name."""
    if staged.is_file() or staged.is_symlink():
        moved = staged.with_name(staged.name + ".file")
        os.replace(staged, moved)
        staged.mkdir()
        os.replace(moved, staged / file_name(artifact))


def _staged_folder(content: Path, folder: Path, artifact: Mapping[str, Any]) -> Path:
    """The folder to move into place, from a store's ``stage`` into ``folder``: ``folder``
    itself (made by ``stage``), a folder in it, or a file (alone in it), named as
    ``_as_folder`` names it."""
    if content == folder:
        return content
    if not stat.S_ISDIR(os.lstat(content).st_mode):
        name = file_name(artifact)
        if content.name != name:
            os.replace(content, content.with_name(name))
        return content.parent
    return content


def _lift(content: Path, place: Path, scratch: Path) -> None:
    """``content`` (what ``_staged_folder`` gave: ``place`` itself, or an archive's one
    top-level folder inside it) made the folder ``place``; ``scratch``: a free name."""
    if content == place:
        return
    os.replace(place, scratch)
    os.replace(scratch / content.relative_to(place), place)
    shutil.rmtree(scratch)


def link_in_the_way(base: Path, target: Path) -> Path | None:
    """The first symbolic link on the way from ``base`` (itself not counted) to
    ``target``, looked at now (``Destination`` remembers what it saw before writing)."""
    path = base
    for part in target.relative_to(base).parts:
        path = path / part
        if path.is_symlink():
            return path
        if not path.exists():
            return None
    return None


def _make_folder(folder: Path, made: set[Path]) -> None:
    if folder not in made:
        folder.mkdir(parents=True, exist_ok=True)
        made.add(folder)


def _write(base: Path, plan: Plan, result: DownloadResult, made: set[Path]) -> None:
    """Move what ``plan.src`` holds to ``plan.dest`` as checked (``made``: folders made)."""
    if plan.links or plan.clashes:  # only reached with --force
        _write_carefully(base, plan, result)
        return
    if plan.whole:
        try:
            _make_folder(plan.dest.parent, made)
            os.replace(plan.src, plan.dest)
        except OSError:
            _write_carefully(base, plan, result)  # file by file: says which folder could not be made
        else:
            result.written.extend(target for _src, target, _state in plan.files)
        return
    for src, target, state in plan.files:
        if state is State.SAME:
            result.unchanged.append(target)
            continue
        _make_folder(target.parent, made)
        os.replace(src, target)
        result.written.append(target)


def _write_carefully(base: Path, plan: Plan, result: DownloadResult) -> None:
    """File by file, each path looked at again: links in the way go (the link, never
    what it points to), folders and files in the way are replaced (``--force``)."""
    for src, target, _state in plan.files:
        link = link_in_the_way(base, target)
        while link is not None:
            link.unlink()
            link = link_in_the_way(base, target)
        if target.is_file() and filecmp.cmp(src, target, shallow=False):
            result.unchanged.append(target)
            continue
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        for parent in reversed(target.parents):
            if parent.is_file():
                parent.unlink()
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
    workers: int | None = None,
    on_fetched: Callable[[Selected], None] | None = None,
) -> DownloadResult:
    """Fetch ``items`` under ``base``, several at once (``workers`` threads; by default
    the store's ``fetch_workers``, else ``WORKERS``).

    Everything is fetched into a staging folder first; if any file would replace
    an existing one with other content, nothing is written (unless ``force``).
    ``on_fetched`` is called (from a worker thread) as each artifact arrives.
    """
    result = DownloadResult()
    if not items:
        return result
    if workers is None:
        workers = int(getattr(store, "fetch_workers", WORKERS))
    try:
        return _fetch_all(store, items, base, result, force, workers, on_fetched)
    except OSError as err:
        reason = (err.strerror or str(err)).lower()
        where = f" ({err.filename})" if err.filename else ""
        raise UsageError(
            f"cannot download to {base}: {reason}{where}", hint="give a folder you can write to with -d DIR"
        ) from None


def _stage_all(
    store: ArtifactStore,
    items: list[Selected],
    places: dict[int, Path],
    workers: int,
    on_fetched: Callable[[Selected], None] | None,
) -> dict[int, Path]:
    """The content of each item of ``places`` as a folder: ``places[i]`` (new, in an
    existing folder under the staging folder)."""
    staged = dict(places)
    stage = getattr(store, "stage", None)  # a store that unpacks straight into a folder
    todo = list(places)

    def fetch(n: int) -> None:
        i = todo[n]
        if stage is not None:
            staged[i] = _staged_folder(stage(items[i].artifact, places[i]), places[i], items[i].artifact)
        else:
            store.fetch(items[i].artifact, places[i], force=True)
            if not places[i].exists():
                places[i].mkdir()  # an empty directory artifact
            _as_folder(places[i], items[i].artifact)
        if on_fetched is not None:
            on_fetched(items[i])

    run_all(fetch, len(todo), workers)
    return staged


def _sibling_groups(dests: dict[int, Path], others: list[Path], there: Destination) -> dict[Path, list[int]]:
    """Items whose destinations share a folder that does not exist yet (a fan-out's
    ``DIR/square/result/<i>``): staged side by side and moved there in one rename. Only
    when nothing else (``others``: the ``items.json`` files) goes in or under that folder
    and their names differ. (Paths as text: 10,000 items.)"""
    texts = {i: str(dest) for i, dest in dests.items()}
    by_parent: dict[str, list[int]] = {}
    for i, text in texts.items():
        by_parent.setdefault(os.path.dirname(text), []).append(i)
    taken = {*texts.values(), *(str(path) for path in others)}
    groups: dict[str, list[int]] = {}
    for parent, members in by_parent.items():
        if (
            len(members) < 2
            or parent in taken
            or len({os.path.basename(texts[i]) for i in members}) != len(members)
        ):
            continue
        folder = Path(parent)
        if there.link_on_the_way(folder) is not None or there.kind(folder) is not Kind.MISSING:
            continue
        groups[parent] = members
    for path in others:
        groups.pop(os.path.dirname(str(path)), None)
    if groups:  # a destination deeper under a group's folder than its members: no group
        seen: set[str] = set()  # folders whose own and whose parents' groups are gone already
        for text in taken:
            text = os.path.dirname(os.path.dirname(text))  # above its own folder
            while text not in seen:
                seen.add(text)
                groups.pop(text, None)
                up = os.path.dirname(text)
                if up == text:
                    break
                text = up
    return {Path(parent): members for parent, members in groups.items()}


def _up_to_date(store: ArtifactStore, item: Selected, dest: Path, there: Destination) -> list[Path] | None:
    """The files of an item already at ``dest`` with the same content, compared with
    the folder a store keeps on this machine (``stored``) without fetching it; None when
    it is not so (or cannot be told without fetching)."""
    stored = getattr(store, "stored", None)
    if stored is None or there.kind(dest) is not Kind.FOLDER:
        return None
    try:
        path, is_archive = stored(item.artifact)
        if is_archive or not path.is_dir() or path.is_symlink():
            return None
    except (DflowctlError, OSError):
        return None
    plan = there.plan(path, dest, True)
    if plan.links or plan.clashes or any(state is not State.SAME for _f, _t, state in plan.files):
        return None
    return [target for _f, target, _state in plan.files]


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
    there = Destination(base)
    dests = [destination(base, item) for item in items]
    todo: list[int] = []
    fresh = there.kind(base) is Kind.MISSING  # a new folder holds nothing: not looked into
    for i, item in enumerate(items):  # a download again: what is there already is not fetched again
        same = None if fresh else _up_to_date(store, item, dests[i], there)
        if same is None:
            todo.append(i)
            continue
        result.unchanged.extend(same)
        if on_fetched is not None:
            on_fetched(item)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=_staging_root(base / "_")))
    try:
        listings = [(base / step / ITEMS_FILE, values) for step, values in sorted(items_files(items).items())]
        groups = _sibling_groups({i: dests[i] for i in todo}, [path for path, _ in listings], there)
        places: dict[int, Path] = {}
        pairs: list[tuple[Path, Path, bool]] = []
        for n, (parent, members) in enumerate(groups.items()):
            folder = staging / f"group-{n}"
            folder.mkdir()
            places.update((i, folder / dests[i].name) for i in members)
            pairs.append((folder, parent, True))
        for i in todo:
            if i not in places:
                (staging / str(i)).mkdir()
                places[i] = staging / str(i) / safe_part(items[i].name)
        staged = _stage_all(store, items, places, workers, on_fetched)
        grouped = {i for members in groups.values() for i in members}
        for i in grouped:  # a group moves its folder whole: each item's content at its place
            _lift(staged[i], places[i], staging / f"lift-{i}")
        pairs.extend((staged[i], dests[i], True) for i in todo if i not in grouped)
        for n, (path, values) in enumerate(listings):
            listing = staging / f"items-{n}" / ITEMS_FILE
            listing.parent.mkdir()
            listing.write_text(json.dumps(values, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            pairs.append((listing, path, False))
        plans = [there.plan(src, dest, is_dir) for src, dest, is_dir in pairs]
        links = [link for plan in plans for link in plan.links]
        if links and not force:
            more = f" (and {len(links) - 1} more)" if len(links) > 1 else ""
            raise UsageError(
                f"{links[0]} is a symbolic link; download never writes through one{more}",
                hint="remove it, use --force to replace the link (not what it points to), "
                "or -d DIR elsewhere",
            )
        clashes = [c for plan in plans for c in plan.clashes]
        if clashes and not force:
            more = f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else ""
            raise UsageError(
                f"{clashes[0]} already exists with different content{more}",
                hint="use --force to overwrite, or -d DIR to download elsewhere",
            )
        made: set[Path] = set()
        for plan in plans:
            _write(base, plan, result, made)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result


def run_all(task: Callable[[int], None], count: int, workers: int) -> None:
    """``task(0) … task(count - 1)`` on ``workers`` threads, each taking the next index
    (no future per task: a fan-out has 10,000); the first error (or Ctrl-C) stops what
    has not started and is raised."""
    if count == 0:
        return
    indices = iter(range(count))
    taking = threading.Lock()
    stop = threading.Event()
    errors: list[BaseException] = []

    def worker() -> None:
        while not stop.is_set():
            with taking:
                i = next(indices, None)
            if i is None:
                return
            try:
                task(i)
            except BaseException as err:  # handed to the caller's thread
                errors.append(err)
                stop.set()
                return

    threads = [
        threading.Thread(target=worker, name=f"dflowctl-download-{n}", daemon=True)
        for n in range(max(1, min(workers, count)))
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)  # the main thread stays free to take a Ctrl-C
    except BaseException:
        stop.set()
        for thread in threads:
            thread.join()
        raise
    if errors:
        raise errors[0]
