"""A pod's large input folders laid into its view without copying them (issue 16).

A fan-in's input is one folder with an entry per item of the fan-out. Copying it into the
pod's root made as many files, and removing the pod's folder after it freed them again:
0.2-0.3 s and ~0.17 s of a 1,000-item fan-out's serial end, 3.5 s and 1.3 s at 10,000
(docs/benchmarks.md). In overlay mode such a folder (``NESTED_MIN`` entries or more, on the
file system of the pod's folder) is instead mounted at its path in the pod's view as an
overlay of its own (``_podview.enter_view``, ``view["inputs"]``): the stored folder is its
lower layer, never changed; what the pod changes there goes to an upper folder beside its
root, as it went to its copy before. Its mount point in the pod's root is an empty folder.

An output read there after the pod ended (one inside the input folder, or a link into it:
``podfs.resolve_in_view``) gets the copy after all (``podfs.materialize``): the stored
folder, then the pod's changes, so what outputs see is what the pod saw. An input folder
that an output path or the working directory holds, lies in, or is, is copied as before;
so is every input of a containerSet's retry in place (its root kept as it was left).
"""

from __future__ import annotations

import itertools
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from dflowctl.engines.local import isolation, volumes

NESTED_MIN = 32  # entries of an input folder worth a mount of its own (a smaller one is copied)
FOLDER = ".overlay-work-in"  # + n: beside the pod's root (cleared with its ``.overlay-work``)


@dataclass(frozen=True)
class InputMount:
    """An input folder seen through an overlay at ``path`` (a container path)."""

    path: str
    lower: str  # the stored folder on the host
    upper: str  # the pod's changes to it
    work: str  # the overlay's work folder

    def view(self) -> list[str]:
        return [self.path, self.lower, self.upper, self.work]


def split(
    root: Path,
    inputs: Sequence[tuple[str, Path]],
    mounts: Sequence[tuple[str, str, bool]],
    other_paths: Sequence[str],
) -> tuple[list[InputMount], list[tuple[str, Path]]]:
    """The inputs to mount (their mount points and folders made) and the ones to copy.
    ``other_paths``: the pod's output paths, working directory and inputs laid out elsewhere
    (the run's shared layer), as container paths: an input that overlaps one is copied."""
    nested: list[InputMount] = []
    copied: list[tuple[str, Path]] = []
    paths = [PurePosixPath(os.path.normpath(p)) for p, _ in inputs]
    others = [PurePosixPath(os.path.normpath(p)) for p in other_paths]
    try:
        device = os.stat(root.parent).st_dev  # the file system of the pod's folder (its upper layers)
    except OSError:
        return [], list(inputs)
    for (path, host), here in zip(inputs, paths, strict=True):
        near = [*others, *(p for p in paths if p is not here)]
        upper, lower = root.parent / f"{FOLDER}{len(nested)}", os.path.realpath(host)
        if (
            str(here) == "/"
            or any(here == o or here in o.parents or o in here.parents for o in near)
            or volumes.volume_path(mounts, path) is not None
            or not _large_folder(host, device)
            or isolation._UNSAFE_FOR_OVERLAY.search(f"{lower}{upper}")
        ):
            copied.append((path, host))
            continue
        (upper / "upper").mkdir(parents=True, exist_ok=True)
        (upper / "work").mkdir(exist_ok=True)
        isolation.host_path(root, str(here)).mkdir(parents=True, exist_ok=True)  # its mount point
        nested.append(InputMount(str(here), lower, str(upper / "upper"), str(upper / "work")))
    return nested, copied


def _large_folder(host: Path, device: int) -> bool:
    """A real folder (not a link) of at least NESTED_MIN entries, on the file system ``device``."""
    try:
        st = os.lstat(host)
        if not stat.S_ISDIR(st.st_mode) or st.st_dev != device:
            return False
        with os.scandir(host) as entries:
            return sum(1 for _ in itertools.islice(entries, NESTED_MIN)) >= NESTED_MIN
    except OSError:
        return False


__all__ = ["FOLDER", "NESTED_MIN", "InputMount", "split"]
