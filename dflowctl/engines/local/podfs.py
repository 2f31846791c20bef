"""The file-system rules of a pod's private view, read from the host after it ran.

A pod sees its paths either through an overlay view (the host's file system
below, the pod's own layer ``<root>`` on top) or remapped into ``<root>``
(``isolation``). ``locate`` follows a container path as the pod saw it
(symlinks resolved inside the view, never out of it; overlay whiteouts and
opaque folders honoured); ``take`` hands out an output the engine may move:
inside the pod's root, or a private copy (a host folder merged with the pod's
changes to it).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from pathlib import Path, PurePosixPath

from dflowctl.engines.local import artifacts, isolation
from dflowctl.engines.local.podplan import PodPlan
from dflowctl.engines.local.volumes import FOLDER as VOLUMES
from dflowctl.engines.local.volumes import volume_path
from dflowctl.names import is_plain_name

_MAX_LINKS = 40


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return path.lstat()
    except OSError:
        return None


def resolve_in_view(plan: PodPlan, container_path: str) -> tuple[PurePosixPath, Path | None] | None:
    """Follow ``container_path`` as the pod sees it (symlinks resolved inside its view).

    Returns the symlink-free container path and where it lives: None for the pod's own
    layer (``<root>/...``); in overlay mode, the root of the lower layer that holds it
    unchanged by the pod: the run's shared layer (``podlayer``) or the host's ``/``
    ("the image"). None when it does not exist. A symlink never leads outside the pod's
    view: an absolute target is a container path again.
    """
    overlay = plan.method == isolation.OVERLAY
    root = str(plan.root)
    pending = norm(container_path).split("/")[1:]
    cur = "/"  # (plain strings: this runs for every output of every pod)
    base: Path | None = None
    links = 0
    while pending:
        name = pending.pop(0)
        if name in ("", "."):
            continue
        if name == "..":
            cur = os.path.dirname(cur)
            continue
        nxt = f"/{name}" if cur == "/" else f"{cur}/{name}"
        if plan.inputs:
            materialize(plan, nxt)
        host = _host(root, nxt)
        st = _lstat_text(host)
        base = None
        if st is None and overlay and _lower_visible(plan, PurePosixPath(nxt)):
            for lower in _lowers(plan, PurePosixPath(nxt)):  # unchanged by the pod: the layer's or the host's
                st = _lstat_text(_host(str(lower), nxt))
                if st is not None:
                    host, base = _host(str(lower), nxt), lower
                    break
        own = base is None
        if st is None or (own and stat.S_ISCHR(st.st_mode) and st.st_rdev == 0):
            return None  # missing, or an overlay whiteout (the pod deleted it)
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > _MAX_LINKS:
                return None
            target = PurePosixPath(os.readlink(host))
            if not overlay and target.is_absolute():
                # A remapped pod's absolute links are host paths: only its own root is followed.
                try:
                    target = PurePosixPath("/") / target.relative_to(plan.root)
                except ValueError:
                    return None
            if target.is_absolute():
                cur = "/"
                pending = list(target.parts[1:]) + pending
            else:
                pending = list(target.parts) + pending
            continue
        cur = nxt
    if plan.inputs:
        materialize(plan, cur, holding=True)
    return PurePosixPath(cur), base


def materialize(plan: PodPlan, path: str, *, holding: bool = False) -> None:
    """Copy into the pod's root, once each, the input folders mounted in its view
    (``podinputs``) that the container path ``path`` lies in (``holding``: or holds), as the
    pod saw them: the stored folder, then the pod's changes to it (its overlay's upper)."""
    for mount in plan.inputs:
        if mount.path in plan.materialized:
            continue
        inside = path == mount.path or path.startswith(mount.path + "/")
        if not (inside or (holding and (path == "/" or mount.path.startswith(path + "/")))):
            continue
        plan.materialized.add(mount.path)
        dest = isolation.host_path(plan.root, mount.path)
        with contextlib.suppress(OSError):
            dest.rmdir()  # its mount point: empty
        _copy_tree(Path(mount.lower), dest)
        _apply_layer(Path(mount.upper), dest)


def _host(root: str, path: str) -> str:
    """``isolation.host_path`` for a normalized absolute container path, as text."""
    return root if path == "/" else root.rstrip("/") + path


def _lstat_text(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


def _lowers(plan: PodPlan, path: PurePosixPath) -> list[Path]:
    """The lower layers under the pod's own that may hold ``path``, top first: the run's
    shared layer, then the host's ``/`` (never for /tmp, nor through a file of the layer)."""
    found = [plan.layer] if plan.layer is not None else []
    if _under_tmp(path):
        return found
    if plan.layer is not None:
        for folder in path.parents:
            st = _lstat(isolation.host_path(plan.layer, str(folder)))
            if st is not None and not stat.S_ISDIR(st.st_mode):
                return found
    return [*found, Path("/")]


def _lower_visible(plan: PodPlan, path: PurePosixPath) -> bool:
    """Whether the host's ``path`` shows through the pod's layer: no folder above it was
    replaced by the pod (by a file, or by a new folder: an opaque one)."""
    for folder in path.parents:
        st = _lstat(isolation.host_path(plan.root, str(folder)))
        if st is None:
            continue
        if not stat.S_ISDIR(st.st_mode):
            return False
        if str(folder) != "/" and _opaque(isolation.host_path(plan.root, str(folder))):
            return False
    return True


def _under_tmp(path: PurePosixPath) -> bool:
    return path == PurePosixPath("/tmp") or PurePosixPath("/tmp") in path.parents


# The kernel's own file systems: what a container would see there is its own, what the
# host has there is the engine's (``/proc/self/environ`` holds dflowctl's environment).
KERNEL_DIRS = ("/proc", "/sys", "/dev")


class RefusedPath(OSError):
    """An output the local engine will not read from the host."""


def locate(plan: PodPlan, container_path: str) -> tuple[Path, str] | None:
    """Where ``container_path`` is after the pod ran, if anywhere, and how it is held:

    ``own``: in the pod's private root; ``host``: the host's own file or folder, which
    the pod saw unchanged (overlay mode; for reading only, see ``_take``);
    ``merged``: a folder the pod changed in part (overlay mode): its own layer holds
    only the changes to the host's folder. ``RefusedPath`` for the host's /proc, /sys, /dev.
    """
    in_volume = volume_path(plan.mounts, container_path)
    if in_volume is not None:  # a volume's file: the volume's folder holds it
        if not (in_volume.exists() or in_volume.is_symlink()):
            return None
        # the pod's emptyDir is its own; a claim of the run stays for the next pods (copied)
        return in_volume, "own" if _in_root(plan, in_volume) else "host"
    found = resolve_in_view(plan, container_path)
    if found is None:
        return None
    path, base = found
    if base is not None:
        top = next(
            (k for k in KERNEL_DIRS if path == PurePosixPath(k) or PurePosixPath(k) in path.parents), None
        )
        if top is not None and base == Path("/"):
            raise RefusedPath(
                f"{container_path} is the host's {top}: the local engine reads no output from "
                "the host's /proc, /sys or /dev"
            )
        return isolation.host_path(base, str(path)), "host"
    mine = isolation.host_path(plan.root, str(path))
    if (
        plan.method == isolation.OVERLAY
        and str(path) != "/"
        and mine.is_dir()
        and not mine.is_symlink()
        and not _opaque(mine)
        and _lower_folders(plan, path)
    ):
        return mine, "merged"
    return mine, "own"


def _lower_folders(plan: PodPlan, path: PurePosixPath) -> list[Path]:
    """The folders of the lower layers at ``path``, bottom first: what the pod's own folder
    there is merged with."""
    folders = [isolation.host_path(lower, str(path)) for lower in _lowers(plan, path)]
    return [f for f in reversed(folders) if f.is_dir() and not f.is_symlink()]


def take(plan: PodPlan, name: str, found: Path, how: str, taken: list[Path]) -> Path:
    """An output artifact the engine may move away: inside this attempt's folder, and
    sharing nothing with the artifacts taken before it (else a private copy)."""
    overlaps = any(found == t or found in t.parents or t in found.parents for t in taken)
    if how == "own" and not overlaps:
        if not _in_root(plan, found):  # never hand out a host path to be moved (it once was /etc)
            raise OSError(f"{found} is not inside the pod's root")
        return found
    if not is_plain_name(name):  # it names a folder of ours
        raise OSError(f"invalid output artifact name {name!r}")
    dest = plan.root.parent / ".outputs" / name / (found.name or "root")
    artifacts.remove(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if how == "merged":  # the host's folder, the shared layer's, then the pod's changes
        lowers = _lower_folders(plan, PurePosixPath("/") / found.relative_to(plan.root))
        _copy_tree(lowers[0], dest)
        for folder in lowers[1:]:
            _apply_layer(folder, dest)
        _apply_layer(found, dest)
    elif found.is_dir() and not found.is_symlink():
        _copy_tree(found, dest)
    else:
        shutil.copy2(found, dest, follow_symlinks=False)
    return dest


def _in_root(plan: PodPlan, path: Path) -> bool:
    """``path`` is the pod's root (or its emptyDir volumes' folder) or lies in it, with no
    link on the way leading out."""
    if path == plan.root:
        return True
    if _plainly_under(plan.root, path.parent):
        return True
    folder = os.path.realpath(path.parent)
    bases = [plan.root] + ([plan.root.parent.parent / VOLUMES] if plan.mounts else [])
    for base in bases:
        real = os.path.realpath(base)
        if folder == real or folder.startswith(real + os.sep):
            return True
    return False


def _plainly_under(root: Path, folder: Path) -> bool:
    """``folder`` is ``root`` or a path inside it with no link (nor ``..``) below ``root``:
    then its real path lies in ``root``'s real path, without resolving either."""
    text, top = str(folder), str(root)
    if text == top:
        return True
    if not text.startswith(top + "/") or os.path.normpath(text) != text:
        return False
    here = top
    for part in text[len(top) + 1 :].split("/"):
        here = f"{here}/{part}"
        try:
            if stat.S_ISLNK(os.lstat(here).st_mode):
                return False
        except FileNotFoundError:
            return True  # nothing below a missing folder: it resolves inside root
        except OSError:
            return False
    return True


def _special(st: os.stat_result) -> bool:
    return not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode))


def _copy_tree(src: Path, dest: Path) -> None:
    """Files, folders and links only (a FIFO or device in a host folder is left out)."""

    def ignore(folder: str, names: list[str]) -> list[str]:
        return [n for n in names if (st := _lstat(Path(folder) / n)) is None or _special(st)]

    shutil.copytree(src, dest, symlinks=True, ignore=ignore)


def _opaque(folder: Path) -> bool:
    try:
        return os.getxattr(folder, "trusted.overlay.opaque", follow_symlinks=False) == b"y"
    except OSError:
        return False


def _apply_layer(layer: Path, dest: Path) -> None:
    """Apply an overlay upper folder's changes (files, whiteouts, opaque folders) onto ``dest``."""
    dest.mkdir(exist_ok=True)
    for entry in os.scandir(layer):
        target = dest / entry.name
        st = entry.stat(follow_symlinks=False)
        is_dir = stat.S_ISDIR(st.st_mode)
        old = _lstat(target)
        if old is not None and (not is_dir or not stat.S_ISDIR(old.st_mode) or _opaque(Path(entry.path))):
            if stat.S_ISDIR(old.st_mode):
                shutil.rmtree(target)
            else:
                target.unlink()
        if is_dir:
            _apply_layer(Path(entry.path), target)
        elif not _special(st):
            shutil.copy2(entry.path, target, follow_symlinks=False)
        # else: a whiteout (the pod deleted it) or another special file: nothing


def norm(path: str) -> str:
    return os.path.normpath("/" + path.lstrip("/"))
