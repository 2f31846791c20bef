"""Private absolute paths for pods: which method this machine allows, and what it means for paths.

Two methods, detected once per file system and cached:

``overlay``
    The pod runs in its own mount namespace with a copy-on-write overlay of the
    host's ``/`` (upper layer: ``<work_dir>/root``) and of every other mounted
    file system ``M`` (upper: ``<work_dir>/root/M``; the kernel's /proc, /sys,
    /dev, /run are shared), and an empty private ``/tmp``
    (``<work_dir>/root/tmp``). Everything it writes anywhere lands in
    ``<work_dir>/root/<path>``; the host's files are untouched. Needs root (or
    CAP_SYS_ADMIN) and overlayfs.

``remap``
    No namespaces: absolute container paths the template names (artifact and
    parameter paths, ``workingDir``, and anything under ``/tmp``) are rewritten
    in command, args, script source and env values to ``<work_dir>/root/<path>``,
    and ``DFLOWCTL_ROOT=<work_dir>/root/tmp/dflowctl`` tells dflowctl's Python
    bootstrap where its ``/tmp/dflowctl`` is.

In both, the host file for container path ``P`` is ``<work_dir>/root/P``
(``host_path``). ``DFLOWCTL_ISOLATION=overlay|remap`` forces a method.

One rule for what a pod needs from the host (``host_binds``): the dflowctl package
(its stand-ins such as ``argosay``), the interpreter and its environment, and the
pod's ``PATH`` folders are seen as they are on the host, read-only, wherever they
live, ``/tmp`` included: bound into an overlay view, never rewritten by ``remap``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

OVERLAY = "overlay"
REMAP = "remap"
METHODS = (OVERLAY, REMAP)
ENV_FORCE = "DFLOWCTL_ISOLATION"
ENV_ROOT = "DFLOWCTL_ROOT"  # the bootstrap's stand-in for BOOTSTRAP_ROOT (render/bootstrap.py)
BOOTSTRAP_ROOT = "/tmp/dflowctl"

SERVER_FILE = Path(__file__).with_name("_podserver.py")

_cache: dict[int, str] = {}
_lock = threading.Lock()
# overlayfs options are comma separated and lowerdir uses ':'; such paths cannot be given.
_UNSAFE_FOR_OVERLAY = re.compile(r"[,:\\\s]")


def method_for(work_dir: Path, *, real: bool = False) -> str:
    """The isolation method for pods whose private folders live under ``work_dir``
    (``real``: it is a resolved path already, which saves resolving it again)."""
    forced = os.environ.get(ENV_FORCE, "").strip().lower()
    if forced in METHODS:
        return forced
    path = work_dir if real else work_dir.resolve()
    if _UNSAFE_FOR_OVERLAY.search(str(path)):
        return REMAP
    try:
        base, dev = path, os.stat(path).st_dev
    except OSError:
        base = _existing_ancestor(path)
        dev = base.stat().st_dev
    with _lock:
        if dev not in _cache:
            _cache[dev] = OVERLAY if _probe(base) else REMAP
        return _cache[dev]


def probe_early(folder: Path) -> threading.Thread:
    """Find out in a thread which method pods under ``folder`` get (``method_for``: its
    probe starts an interpreter, ~50 ms) while the caller does something else (a run's
    Python check): the run's first pod finds it known, or waits for it under the cache's
    lock, never probing twice. Not a daemon: the process waits for it at its exit, so
    the probe's folder is always removed."""
    thread = threading.Thread(target=_probe_quietly, args=(folder,), name="dflowctl-isolation-probe")
    thread.start()
    return thread


def _probe_quietly(folder: Path) -> None:
    try:
        method_for(folder)
    except OSError:
        pass  # a folder that cannot be read: the first pod finds out and says so


def _existing_ancestor(path: Path) -> Path:
    path = path.resolve()
    while not path.exists():
        path = path.parent
    return path


def _probe(base: Path) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        probe_dir = Path(tempfile.mkdtemp(prefix=".dflowctl-probe-", dir=base))
    except OSError:
        return False
    try:
        proc = subprocess.run(
            [sys.executable, "-S", "-E", "-s", str(SERVER_FILE), "--probe", str(probe_dir)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=20,
        )
        return proc.returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False
    finally:
        shutil.rmtree(probe_dir, ignore_errors=True)


# Host folders a pod's private view replaces (overlay mode: an empty private /tmp).
PRIVATE_IN_VIEW = ("/tmp",)


def host_path(root: Path, container_path: str) -> Path:
    """Where container path ``container_path`` lives on the host for a pod whose root is ``root``."""
    rel = os.path.normpath("/" + container_path.lstrip("/")).lstrip("/")
    return root / rel if rel else root


# Top-level folders of the host whose other contents a remapped pod must still reach.
SYSTEM_DIRS = frozenset(
    {"bin", "boot", "dev", "etc", "home", "lib", "lib32", "lib64", "libx32", "media", "opt", "proc"}
    | {"root", "run", "sbin", "srv", "sys", "usr", "var"}
)

# Characters that may be part of a path: a match must not be preceded or followed by them.
_PATH_CHARS = r"A-Za-z0-9_.\-"


_BINDS_FOR = 2.0  # seconds a computed host_binds answer is reused (every pod of a fan-out asks)
_binds: dict[tuple[tuple[str, ...], str, bool], tuple[float, list[str]]] = {}


def host_binds(folders: Iterable[str] = (), path_env: str = "", *, stand_in: bool = False) -> list[str]:
    """The host paths a pod must see as they are that its private view would hide (under
    ``PRIVATE_IN_VIEW``): the dflowctl package, this interpreter's prefixes, the folders of
    the pod's ``PATH`` (a virtualenv or conda environment whole), and ``folders`` (a chosen
    interpreter's prefix and ``sys.path``); with ``stand_in`` (the pod runs a host stand-in
    such as ``argosay``, which imports the package), the folder the package is imported from.
    Bound into an overlay view read-only at the same path, left as they are by remap;
    existing paths strictly inside a private folder, outermost only."""
    key = (tuple(folders), path_env, stand_in)
    now = time.monotonic()
    with _lock:
        hit = _binds.get(key)
    if hit is not None and now - hit[0] < _BINDS_FOR:
        return list(hit[1])
    found = _host_binds(*key)
    with _lock:
        if len(_binds) > 64:
            _binds.clear()
        _binds[key] = (now, found)
    return list(found)


def _host_binds(folders: tuple[str, ...], path_env: str, stand_in: bool) -> list[str]:
    package = Path(__file__).resolve().parents[2]  # .../dflowctl
    if stand_in:
        package = package.parent
    candidates = [str(package), sys.prefix, sys.base_prefix, sys.exec_prefix, *folders]
    candidates.append(os.path.dirname(os.path.realpath(sys.executable)))
    for entry in path_env.split(os.pathsep):
        if entry and os.path.isabs(entry):
            folder = Path(entry)
            env_root = folder.parent
            if (env_root / "pyvenv.cfg").is_file() or (env_root / "conda-meta").is_dir():
                folder = env_root  # the whole environment: its libraries live beside bin/
            candidates.append(str(folder))
    found = sorted(
        {
            os.path.normpath(c)
            for c in candidates
            if os.path.isabs(c)
            and any(os.path.normpath(c).startswith(p + "/") for p in PRIVATE_IN_VIEW)
            and os.path.exists(c)
        }
    )
    out: list[str] = []
    for f in found:  # sorted: a parent comes before what is inside it
        if not any(f.startswith(o + "/") for o in out):
            out.append(f)
    return out


class Remapper:
    """Rewrites container absolute paths in text to their host places under ``root``;
    ``keep``: host paths left as they are (``host_binds``)."""

    def __init__(self, root: Path, paths: Iterable[str], keep: Iterable[str] = ()) -> None:
        self.root = root
        self.keep = [str(k) for k in keep]
        prefixes = {"/tmp"}
        for p in paths:
            norm = PurePosixPath(os.path.normpath("/" + p.lstrip("/")))
            if str(norm) == "/":
                continue
            prefixes.add(str(norm))
            # Its folders too (a script may `mkdir -p /mnt/out`), unless they are the system's own.
            if norm.parts[1] not in SYSTEM_DIRS:
                prefixes.update(str(a) for a in norm.parents if str(a) != "/")
        ordered = sorted(prefixes, key=len, reverse=True)
        # The root itself and the host's own paths come first and are kept as they are:
        # text is never rewritten twice, and the package stays where it is.
        kept = sorted([str(root), *self.keep], key=len, reverse=True)
        alternatives = "|".join(re.escape(p) for p in [*kept, *ordered])
        self._re = re.compile(rf"(?<![{_PATH_CHARS}/])({alternatives})(?![{_PATH_CHARS}])")

    def __call__(self, text: str) -> str:
        root = str(self.root)

        def repl(m: re.Match[str]) -> str:
            found = m.group(1)
            if found == root or found in self.keep:
                return found
            return str(host_path(self.root, found))

        return self._re.sub(repl, text)
