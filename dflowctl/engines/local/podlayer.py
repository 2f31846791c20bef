"""What every pod of a run reads alike, laid out once per run: the shared layer of a pod's view.

A fan-out's pods all get the same ``source:`` folder (an input artifact the run unpacked
once, ``artifacts.UnpackCache``) and, for a spec's op, the same script. Copied into each
pod's root, that is a dozen files and folders made and removed per item. In overlay
mode (docs/local-engine.md "Private absolute paths") they are instead laid out once in
a layer folder of the run, which the pod's view stacks between its own layer and the
host's ``/``: the pod sees the same files at the same paths and may change them; a change
is copied up into its own layer, so no other pod (and not the layer) sees it.

The layer's ``tmp`` is marked opaque for the pod's overlay (the host's ``/tmp`` stays
hidden, as with the pod's private ``/tmp``): an escaped overlay attribute, read through
the read-only overlay the pod mounts over the layer, which needs Linux 6.7 or later;
older kernels keep the copies. A layer is made the second time the same contents are
asked for (a template whose script differs per item never makes one), at most
``MAX_LAYERS`` per run; the run's pod nodes remove the folder when the run ends.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from dflowctl.engines.local import isolation

MAX_LAYERS = 64
EMPTY = ".empty"  # the second (empty) lower folder the read-only overlay over a layer needs
# "trusted.overlay.opaque" escaped once: meant for the pod's overlay, not for the
# read-only one the layer is seen through (Linux >= 6.7)
OPAQUE_XATTR = "trusted.overlay.overlay.opaque"


def kernel_supports() -> bool:
    """Escaped overlay attributes (the layer's opaque ``tmp``): Linux 6.7 or later."""
    try:
        major, minor = (int(p) for p in platform.release().split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (6, 7)


class SharedLayers:
    """The shared layers of one run's pods, under ``folder``."""

    def __init__(self, folder: Path, enabled: bool | None = None) -> None:
        self.folder = folder
        self.enabled = kernel_supports() if enabled is None else enabled
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        self._made: dict[str, Path | None] = {}
        self._building: dict[str, threading.Lock] = {}

    def get(
        self, inputs: Sequence[tuple[str, Path]], script: tuple[str, str] | None, points: Sequence[str]
    ) -> Path | None:
        """The layer holding ``inputs`` (container path, host file or folder), ``script``
        (container path, text) and the mount points ``points`` (host paths under /tmp bound
        into the view), if one is (or is now) made; None: lay them out in the pod's root."""
        if not self.enabled or not (inputs or script):
            return None
        digest = hashlib.sha256()
        for part in [*(f"{p}\0{h}" for p, h in inputs), *(script or ()), "\0", *points]:
            digest.update(part.encode("utf-8", "surrogateescape") + b"\0\1")
        key = digest.hexdigest()[:32]
        with self._lock:
            if key in self._made:
                return self._made[key]
            if key not in self._seen:
                self._seen.add(key)
                return None
            if len(self._made) >= MAX_LAYERS:
                return None
            lock = self._building.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                if key in self._made:
                    return self._made[key]
            try:
                layer: Path | None = self._make(key, inputs, script, points)
            except OSError:
                layer = None  # e.g. no trusted attributes here: copies, as before
            with self._lock:
                self._made[key] = layer
            return layer

    def _make(
        self,
        key: str,
        inputs: Sequence[tuple[str, Path]],
        script: tuple[str, str] | None,
        points: Sequence[str],
    ) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / EMPTY).mkdir(exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=self.folder))
        try:
            tmp = staging / "tmp"
            tmp.mkdir()
            os.chmod(tmp, 0o1777)
            os.setxattr(tmp, OPAQUE_XATTR, b"y", follow_symlinks=False)
            for container_path, host in inputs:
                dst = isolation.host_path(staging, container_path)
                dst.parent.mkdir(parents=True, exist_ok=True)
                if host.is_dir():
                    shutil.copytree(host, dst, symlinks=True, dirs_exist_ok=True)
                else:
                    shutil.copy2(host, dst)
            if script is not None:
                path = isolation.host_path(staging, script[0])
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(script[1], encoding="utf-8")
                path.chmod(0o755)
            for point in points:  # where the host's folders under /tmp are bound in the view
                target = isolation.host_path(staging, point)
                if os.path.isdir(point):
                    target.mkdir(parents=True, exist_ok=True)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.touch()
            os.chmod(staging, 0o755)
            layer = self.folder / key
            staging.rename(layer)
            return layer
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def empty(self) -> Path:
        return self.folder / EMPTY

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


__all__ = ["SharedLayers", "kernel_supports"]
