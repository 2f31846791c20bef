"""A pod's private file-system view: a mount namespace with an overlay over the host.

Part of the pod process starters (``_podserver.py``), which run as scripts under
whichever ``python3`` a pod uses: standard library only, nothing from the
package. ``enter_view`` is called in the pod process before its program starts.
"""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Callable
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
PR_SET_CHILD_SUBREAPER = 36
PR_SET_PDEATHSIG = 1
MS_BIND = 1 << 12
MS_REC = 1 << 14
MS_PRIVATE = 1 << 18
MS_RDONLY = 1
MS_REMOUNT = 32


class SetupError(Exception):
    """The pod could not be started; the text is what the user sees."""


_LIBC: list[ctypes.CDLL] = []


def _libc() -> ctypes.CDLL:
    """The C library with the prototypes used here, made once per process: the fork server
    makes it at its start and its pods inherit it (made in each pod, it was ~0.25 ms of
    the pod's CPU, most of it copy-on-write faults)."""
    if not _LIBC:
        libc = ctypes.CDLL(None, use_errno=True)
        text, ulong = ctypes.c_char_p, ctypes.c_ulong
        libc.mount.argtypes = [text, text, text, ulong, text]
        libc.unshare.argtypes = [ctypes.c_int]
        libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
        _LIBC.append(libc)
    return _LIBC[0]


def _enc(text: str | None) -> bytes | None:
    return None if text is None else os.fsencode(text)


def _mount(
    libc: ctypes.CDLL, src: str | None, target: str, fstype: str | None, flags: int, data: str | None = None
) -> None:
    if libc.mount(_enc(src), _enc(target), _enc(fstype), flags, _enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def _unescape(field: str) -> str:
    """Mount points in mountinfo escape space, tab, newline and backslash as octal."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


# Mounts bound into a pod's view as they are (shared with the host): the kernel's own.
SHARED_MOUNTS = ("/proc", "/sys", "/dev", "/run")


def _mount_points() -> list[str]:
    """Every mount point but /, parents before children. (Read as bytes: a text file
    object in every pod was about half of this.)"""
    fd = os.open("/proc/self/mountinfo", os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
    finally:
        os.close(fd)
    points = set()
    for line in b"".join(chunks).split(b"\n"):
        parts = line.split(b" ", 5)
        if len(parts) > 4:
            points.add(_unescape(os.fsdecode(parts[4])))
    points.discard("/")
    return sorted(points, key=lambda p: (p.count("/"), p))


def _inside(path: str, base: str) -> bool:
    return path == base or path.startswith(base.rstrip("/") + "/")


def enter_view(view: dict[str, Any], before_chroot: Callable[[str], None] | None = None) -> None:
    """Make this process see a private copy-on-write ``/``: new mount namespace, overlays, chroot.

    The root file system and every other mounted one get a copy-on-write overlay
    whose upper layer is ``view["upper"]/<mount point>``, so writes anywhere land
    in ``view["upper"]/<path>`` and the host's files stay as they are; ``/tmp`` is
    the empty private ``view["tmp"]``, with the host paths of ``view["binds"]`` (what the
    pod needs from the host's ``/tmp``: the package, an interpreter, a venv) bound in
    read-only. The kernel's own mounts (/proc, /sys, /dev, /run) and file mounts are
    bound in as they are. ``view["inputs"]`` ([path, lower, upper, work] each: a large input
    folder, ``podinputs``) are overlays of their own at their paths: the stored folder below,
    the pod's changes above. ``before_chroot(merged)``, if given, runs last before the root
    changes (the test cluster's kubelet binds a pod's volumes there).
    """
    libc = _libc()
    if libc.unshare(CLONE_NEWNS) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare(CLONE_NEWNS): {os.strerror(err)}")
    hostname = view.get("hostname")
    if hostname and libc.unshare(CLONE_NEWUTS) == 0:
        # A pod's host name is its name (Kubernetes cuts it to 63 characters).
        name = hostname[:63].encode()
        libc.sethostname(name, len(name))
    _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)
    merged, upper, work = view["merged"], view["upper"], view["work"]
    # Decide every layer and make its folders before the first overlay exists: an
    # overlay's upper folder must not change under it.
    layers: list[tuple[str, str | None]] = [("/", work)]  # (mount point, overlay work dir or None: bind)
    bound: list[str] = []
    points = _mount_points()
    same = _empty_on_both_sides(libc, points, merged)
    for n, point in enumerate(points):
        if _inside(point, "/tmp") or any(_inside(point, b) for b in bound) or point in same:
            continue
        shared = any(_inside(point, m) for m in SHARED_MOUNTS) or not os.path.isdir(point)
        if shared or _unsafe(point, upper + point, f"{work}-{n}"):
            layers.append((point, None))
            bound.append(point)
        else:
            layers.append((point, f"{work}-{n}"))
    for point, layer_work in layers:
        if layer_work is not None:
            os.makedirs(upper + point.rstrip("/"), exist_ok=True)
            os.makedirs(layer_work, exist_ok=True)
    common = view.get("layer")  # the run's shared layer (podlayer), between the pod's and /
    if common:
        # Seen through a read-only overlay of its own: a lower layer may not lie inside
        # another one's file system (``/``); its escaped opaque ``tmp`` becomes opaque here.
        _mount(libc, "overlay", common, "overlay", MS_RDONLY, f"lowerdir={common}:{view['empty']}")
    for point, layer_work in layers:
        target = merged + point.rstrip("/")
        if layer_work is not None:
            lower = f"{common}:/" if common and point == "/" else point
            options = f"lowerdir={lower},upperdir={upper + point.rstrip('/')},workdir={layer_work}"
            try:
                _mount_overlay(libc, target, options)
                continue
            except OSError:
                if point == "/":
                    raise
        try:
            _mount(libc, point, target, None, MS_BIND | MS_REC)
        except OSError:
            if point in SHARED_MOUNTS[:3]:
                raise
    binds = [b for b in view.get("binds") or () if _inside(b, "/tmp") and b != "/tmp"]
    if common:  # /tmp is the layer's (opaque: never the host's) under the pod's own tmp
        _check_private_tmp(merged + "/tmp", common + "/tmp", view["tmp"])
    elif binds:
        _private_tmp_with_binds(libc, view["tmp"], merged + "/tmp", work, binds)
    else:
        _mount(libc, view["tmp"], merged + "/tmp", None, MS_BIND)
    for path in binds:  # what the pod needs from the host's /tmp, read-only
        target = merged + path
        _mount(libc, path, target, None, MS_BIND | MS_REC)
        try:
            _mount(libc, None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY)
        except OSError:
            pass  # still reachable; only not read-only
    for target, lower, upper, layer_work in view.get("inputs") or ():  # large input folders (podinputs)
        _mount_overlay(libc, merged + target, f"lowerdir={lower},upperdir={upper},workdir={layer_work}")
    for host, target, read_only in view.get("volumes") or ():  # the pod's emptyDir volumes
        os.makedirs(merged + target, exist_ok=True)
        _mount(libc, host, merged + target, None, MS_BIND)
        if read_only:
            _mount(libc, None, merged + target, None, MS_BIND | MS_REMOUNT | MS_RDONLY)
    if before_chroot is not None:
        before_chroot(merged)
    os.chroot(merged)
    os.chdir("/")


SYS_OPEN_TREE = 428  # the same number on every architecture (Linux >= 5.2)
OPEN_TREE_CLONE = 1
AT_FDCWD = -100
# The root file system's empty folders under other mounts: (mount points) -> {path: (mode, uid,
# gid)}, looked at once by the fork server (``remember_under``) and inherited by its pods.
_UNDER: dict[tuple[str, ...], dict[str, tuple[int, int, int]]] = {}
_LOOKED = [0.0]  # when the server last read its mount points
LOOK_EVERY = 1.0  # seconds between two reads (not one per pod)


def _empty_folder(path: str) -> bool:
    """A folder (not a link to one) with nothing in it."""
    return os.path.isdir(path) and not os.path.islink(path) and not os.listdir(path)


def _candidates(points: list[str]) -> list[str]:
    """Mount points whose folder of the root file system may be hidden empty under them."""
    out = []
    for point in points:
        if any(_inside(point, m) for m in SHARED_MOUNTS) or _inside(point, "/tmp"):
            continue
        if any(other != point and _inside(point, other) for other in points):
            continue  # on another mount: only the root file system's folders are looked under
        out.append(point)
    return out


def remember_under() -> None:
    """In the fork server: look under this host's mount points once (a detached copy of the
    root mount, ``open_tree``: no mount in any namespace) for what ``_empty_on_both_sides``
    needs, so that each pod does not bind and unmount ``/`` to look. Nothing is remembered
    where the kernel or the user may not (the pods look for themselves, as before)."""
    now = time.monotonic()
    if _UNDER and now - _LOOKED[0] < LOOK_EVERY:
        return  # a pod whose host mounts changed since finds nothing remembered for them
    _LOOKED[0] = now
    points = tuple(_mount_points())
    if points in _UNDER:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    fd = libc.syscall(
        ctypes.c_long(SYS_OPEN_TREE),
        ctypes.c_int(AT_FDCWD),
        ctypes.c_char_p(b"/"),
        ctypes.c_uint(OPEN_TREE_CLONE | os.O_CLOEXEC),
    )
    if fd < 0:
        return
    seen: dict[str, tuple[int, int, int]] = {}
    try:
        for point in _candidates(list(points)):
            under = f"/proc/self/fd/{fd}{point}"
            try:
                st = os.lstat(under)
                if _empty_folder(under):
                    seen[point] = (st.st_mode, st.st_uid, st.st_gid)
            except OSError:
                continue
    finally:
        os.close(fd)
    _UNDER[points] = seen


def _empty_on_both_sides(libc: ctypes.CDLL, points: list[str], spare: str) -> set[str]:
    """Mounted file systems of the root's that need no overlay of their own: an empty folder
    over an empty folder of the root file system with the same mode and owner. The root's
    overlay shows that same empty folder, and what the pod writes there lands in
    ``<upper>/<path>`` as anywhere else; an overlay of its own would cost a mount and a
    dozen folders per pod (a masking mount such as an empty read-only tmpfs).

    The folder under a mount is seen through a non-recursive bind of ``/`` on ``spare``
    (the pod's own mount point, free again afterwards) in this private namespace."""
    candidates = []
    for point in _candidates(points):
        try:
            if _empty_folder(point):
                candidates.append(point)
        except OSError:
            continue
    if not candidates:
        return set()
    known = _UNDER.get(tuple(points))
    if known is not None:  # looked at by the fork server: only the top side may have changed
        same_here: set[str] = set()
        for point in candidates:
            try:
                top = os.lstat(point)
            except OSError:
                continue
            if known.get(point) == (top.st_mode, top.st_uid, top.st_gid):
                same_here.add(point)
        return same_here
    try:
        _mount(libc, "/", spare, None, MS_BIND)
    except OSError:
        return set()
    same: set[str] = set()
    try:
        for point in candidates:
            under = spare + point
            try:
                top, low = os.lstat(point), os.lstat(under)
                if (top.st_mode, top.st_uid, top.st_gid) == (low.st_mode, low.st_uid, low.st_gid) and not (
                    os.listdir(under)
                ):
                    same.add(point)
            except OSError:
                continue
    finally:
        if libc.umount2(_enc(spare), 0) != 0:
            same.clear()  # the spare folder must be free for the pod's own root
            raise OSError(ctypes.get_errno(), f"umount {spare}: {os.strerror(ctypes.get_errno())}")
    return same


def _check_private_tmp(seen: str, layer: str, own: str) -> None:
    """The pod's /tmp shows nothing but the layer's and its own entries (the layer's opaque
    mark held): never the host's /tmp."""
    allowed = set(os.listdir(layer))
    if os.path.isdir(own):
        allowed.update(os.listdir(own))
    if not set(os.listdir(seen)) <= allowed:
        raise OSError(0, "the shared layer's /tmp is not opaque on this kernel")


def _private_tmp_with_binds(libc: ctypes.CDLL, tmp: str, target: str, work: str, binds: list[str]) -> None:
    """The pod's ``/tmp``: its private folder ``tmp`` over a layer that holds only the
    mount points of ``binds``, so that they exist in the view but never in ``tmp``
    (which then holds only what the pod wrote: its outputs)."""
    lower = f"{work}-tmp-points"
    for path in binds:
        point = lower + path[len("/tmp") :]
        if os.path.isdir(path):
            os.makedirs(point, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(point), exist_ok=True)
            open(point, "a").close()
    os.makedirs(f"{work}-tmp", exist_ok=True)
    _mount_overlay(libc, target, f"lowerdir={lower},upperdir={tmp},workdir={work}-tmp")


def _mount_overlay(libc: ctypes.CDLL, target: str, options: str) -> None:
    """An overlay whose upper layer is never synced (``volatile``, Linux >= 5.10): the pod's
    layer is read back on this host and thrown away, and a synced one makes the pod's
    last exit (the namespace's teardown) wait for the whole upper file system to reach
    the disk — seconds under I/O load, which a stop must not wait for."""
    try:
        _mount(libc, "overlay", target, "overlay", 0, options + ",volatile")
    except OSError:  # an older kernel: a plain overlay
        _mount(libc, "overlay", target, "overlay", 0, options)


def _unsafe(*paths: str) -> bool:
    """overlayfs options are comma separated and lowerdir uses ':'."""
    return any(c in p for p in paths for c in ",:\\")
