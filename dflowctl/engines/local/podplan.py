"""Pod planning: what a leaf template runs as on this host, before anything runs.

``plan_pod`` lays out the pod's private root (its ``/tmp``, the script, the input
artifacts copied to their container paths), builds its environment and argv
(image programs by their host stand-ins, ``$(VAR)`` expanded), and picks how the
pod sees its paths (``isolation``: an overlay view, or paths remapped into its
root) and whether its Python can run in a warm interpreter (``forkserver``).

Environment of a pod: a small base taken from the host (PATH, HOME, LANG, LC_*,
TZ, USER, LOGNAME, proxies; ``HOSTNAME`` = the pod name), then the template's
``env`` (with ``$(VAR)`` expansion as Kubernetes does), then ``PodRequest.env``
(the engine's own, e.g. PYTHONPATH), later ones winning. The rest of the host's
environment is not passed, as a container would not see it.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dflowctl.engines.local import images, isolation, podinputs, termination, volumes
from dflowctl.engines.local import preload as preload_
from dflowctl.engines.local._podserver import DEFAULT_PRELOAD
from dflowctl.engines.local.hostenv import EnvPolicy
from dflowctl.engines.local.podapi import PodRequest

SCRIPT_PATH = "/argo/staging/script"
ENV_PRELOAD = "DFLOWCTL_PRELOAD"  # extra modules for the warm interpreter to import once
# PYTHON* variables a warm interpreter can honour per pod; any other one forces a fresh python3.
_PY_ENV_OK = {"PYTHONPATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PYTHONIOENCODING"}


class PodSetupError(Exception):
    """The pod cannot be started; the text is the node's message (phase Error)."""


@dataclass
class PodPlan:
    argv: list[str]
    env: dict[str, str]
    cwd: str  # as the pod process sees it (after entering its view)
    cwd_shown: str  # as the template gave it
    view: dict[str, Any] | None
    method: str
    root: Path
    py: dict[str, Any] | None  # set when the warm Python path applies
    python: str | None  # the resolved interpreter for ``py``
    preload: tuple[str, ...] | None
    header: str | None = None  # the log's first line (the chosen Python of a spec's op)
    mounts: tuple[tuple[str, str, bool], ...] = ()  # emptyDir volumes bound in the view
    layer: Path | None = None  # the run's shared layer under the pod's own (podlayer), if any
    inputs: tuple[podinputs.InputMount, ...] = ()  # input folders mounted, not copied (podinputs)
    materialized: set[str] = field(default_factory=set)  # of those, copied after all (podfs)


def _place_programs(folder: Path, programs: Mapping[str, str]) -> Path:
    """Executable wrappers named after the programs, in ``folder`` (outside the pod's root)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in programs.items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        path.chmod(0o755)
    return folder


def plan_pod(
    req: PodRequest, *, use_fork_server: bool = True, env_policy: EnvPolicy | None = None
) -> PodPlan:
    """How to run ``req``: the pod's private root laid out, its argv, env and view."""
    tmpl = req.template
    kind = "script" if "script" in tmpl else "container" if "container" in tmpl else None
    if kind is None:
        raise PodSetupError(f"template {tmpl.get('name')!r} is neither a container nor a script template")
    body: Mapping[str, Any] = tmpl[kind]
    work = real_path(Path(req.work_dir))
    try:
        work.mkdir(parents=True)
    except FileExistsError:  # a folder used before (a kept root, a retried attempt's)
        if not work.is_dir():
            raise
        root = work / "root"
        for old in [*([] if req.keep_root else [root]), *work.glob(".overlay-work*")]:
            if old.exists():
                shutil.rmtree(old)
    root = work / "root"
    (root / "tmp").mkdir(parents=True, exist_ok=req.keep_root)
    os.chmod(root / "tmp", 0o1777)
    method = isolation.method_for(work, real=True)

    host_env = (env_policy or EnvPolicy()).host_env()
    env = _build_env(req, body, host_env)
    env.setdefault(termination.ENV, termination.TERMINATION_LOG)  # where the bootstrap says why it failed
    on_path = images.path_programs(body.get("image"))
    if on_path:  # the image's own programs (cowsay): stand-ins first on its PATH
        env["PATH"] = f"{_place_programs(work / 'bin', on_path)}:{env.get('PATH', os.defpath)}"
    binds = isolation.host_binds(path_env=env.get("PATH", ""))
    outputs = tmpl.get("outputs") or {}
    produced = [a["path"] for a in outputs.get("artifacts") or [] if a.get("path")]  # the output paths
    produced += [
        p["valueFrom"]["path"]
        for p in outputs.get("parameters") or []
        if (p.get("valueFrom") or {}).get("path")
    ]
    programs = images.image_programs(body.get("image"))
    working_dir = str(body.get("workingDir") or "/")
    in_dir = [working_dir] if working_dir != "/" else []
    known = [*(p for p, _ in req.input_artifacts), *produced, *programs, *in_dir]
    try:
        mounts = volumes.plan_mounts(tmpl, body, work)
    except volumes.VolumeError as exc:
        raise PodSetupError(str(exc)) from None
    if method == isolation.REMAP:  # a mount path is one more path of the pod's root: a link to the volume
        for host, target, _ro in mounts:
            known.append(target)
            link = isolation.host_path(root, target)
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.is_symlink():  # (a kept root has it)
                link.symlink_to(host, target_is_directory=True)
    remap = isolation.Remapper(root, known, keep=binds) if method == isolation.REMAP else None

    script_path = None
    source = None
    if kind == "script":
        host_script = isolation.host_path(root, SCRIPT_PATH)
        source = str(body.get("source") or "")
        if remap:
            source = remap(source)
        script_path = str(host_script) if remap else SCRIPT_PATH
    try:
        argv = images.argv_for(kind, body, script_path)
    except images.CommandError as exc:
        raise PodSetupError(str(exc)) from None
    if remap:
        argv = [remap(a) for a in argv]
        for k in list(env):
            if env[k] != host_env.get(k):  # the host's own values are host paths already
                env[k] = remap(env[k])
        env[isolation.ENV_ROOT] = str(isolation.host_path(root, isolation.BOOTSTRAP_ROOT))
    argv = [images.expand_vars(a, env) for a in argv]
    argv = images.host_program(argv, env.get("PATH", os.defpath))
    header = None
    python_folders: list[str] = []
    if req.python is not None and req.python.applies(argv):
        argv = req.python.apply(argv, env)  # after remapping: its path is the host's
        header = req.python.log_header()
        python_folders = req.python.binds()
    stand_in = bool(programs) or bool(on_path) or images.uses_stand_in(argv)
    if python_folders or stand_in:
        binds = isolation.host_binds(python_folders, env.get("PATH", ""), stand_in=stand_in)

    shared = _shared_paths(req, mounts)
    layer, nested = _lay_out(
        req,
        root,
        method,
        SCRIPT_PATH if source is not None else None,
        source,
        binds,
        mounts,
        shared,
        [*produced, *in_dir],
    )
    for container_path, wrapper in programs.items():  # after the inputs, as in the image
        host_file = isolation.host_path(root, container_path)
        host_file.parent.mkdir(parents=True, exist_ok=True)
        host_file.write_text(wrapper, encoding="utf-8")
        host_file.chmod(0o755)
    view: dict[str, Any] | None = None
    if method == isolation.OVERLAY:
        view = {
            "upper": str(root),
            "work": str(work / ".overlay-work"),
            # the view is mounted over the root overlay's own work folder, in the pod's
            # namespace only (the kernel holds that folder already): no folder of its own
            # to make and remove per pod, and nothing the view's binds come from is covered
            "merged": str(work / ".overlay-work"),
            "tmp": str(root / "tmp"),
            "hostname": req.pod_name,
            "binds": binds,
            "volumes": [list(m) for m in mounts],  # bound in the view
        }
        if layer is not None and req.layers is not None:  # stacked between the pod's layer and /
            view["layer"], view["empty"] = str(layer), str(req.layers.empty())
        if nested:  # mounted at their paths (podinputs)
            view["inputs"] = [m.view() for m in nested]
        Path(str(view["work"])).mkdir(parents=True, exist_ok=True)
        cwd = os.path.normpath(working_dir)
    else:
        cwd = str(isolation.host_path(root, working_dir))

    py, python, preload = _python_plan(argv, env, use_fork_server)
    dflow = py is not None and preload_.carries_dflow(source)
    if dflow:
        preload = preload_.with_dflow(preload, DEFAULT_PRELOAD)
    if py is not None and py["kind"] == "file" and py["target"] == script_path:
        py["source"] = source  # compiled once by the warm interpreter, for every item,
        py["precompile"] = preload_.precompiled(source) if dflow and source else []  # with its dflow.python
        warm_main = preload_.main_guard_at(source)
        if warm_main is not None:  # a dflowctl bootstrap: its definitions run once, by the server
            py["warm_main"] = warm_main
    if py is not None and method == isolation.OVERLAY:
        # the run's shared folders (a ``source:`` folder): no ``__pycache__`` written there
        py["no_bytecode"] = sorted(shared)
        if py["kind"] == "file" and py["target"] == script_path:  # where the bootstrap imports the op from
            py["imports_from"] = preload_.bootstrap_imports_from(source, env)
    return PodPlan(
        argv,
        env,
        cwd,
        working_dir,
        view,
        method,
        root,
        py,
        python,
        preload,
        header,
        tuple(mounts),
        layer,
        tuple(nested),
    )


def _shared_paths(req: PodRequest, mounts: Sequence[tuple[str, str, bool]]) -> set[str]:
    """The container paths of the inputs every pod of the run reads alike (not in a volume)."""
    return {
        p
        for p, _h in req.input_artifacts
        if p in req.shared_inputs and volumes.volume_path(mounts, p) is None
    }


_REAL: dict[str, str] = {}  # a folder -> its real path (the run's work folder, asked by every pod)


def real_path(path: Path) -> Path:
    """``path.resolve()``, with the real path of its grandparent remembered: a pod's work
    folder is ``RUN/work/<scratch>/pod``, and resolving the whole path again for every pod
    costs a ``lstat`` per component. The two last components are looked at each time."""
    text = str(path)
    if not path.is_absolute() or os.path.normpath(text) != text:
        return path.resolve()
    folder, last = os.path.split(text)
    grand, middle = os.path.split(folder)
    if not last or not middle or grand == folder:
        return path.resolve()
    real = _REAL.get(grand)
    if real is None:
        real = os.path.realpath(grand)
        if len(_REAL) > 64:
            _REAL.clear()
        _REAL[grand] = real
    for part in (folder, text):
        try:
            if stat.S_ISLNK(os.lstat(part).st_mode):
                return path.resolve()
        except FileNotFoundError:
            break  # what does not exist yet is a plain name under its real parent
        except OSError:
            return path.resolve()
    return Path(real, middle, last)


def _lay_out(
    req: PodRequest,
    root: Path,
    method: str,
    script: str | None,
    source: str | None,
    binds: list[str],
    mounts: Sequence[tuple[str, str, bool]],
    shared_paths: set[str],
    others: Sequence[str] = (),
) -> tuple[Path | None, list[podinputs.InputMount]]:
    """Put the input artifacts and the script in the pod's root, or (overlay mode) what the
    run's pods share in the run's shared layer (``podlayer``); returns that layer, if used.
    An input under a volume's mount path goes into the volume (as Argo's init container
    loads it there), never into the shared layer the volume would hide (``shared_paths``:
    ``_shared_paths``). A large input folder is mounted instead of copied (``podinputs``;
    ``others``: the pod's output paths and working directory)."""
    layer = None
    shared = [(p, Path(h)) for p, h in req.input_artifacts if p in shared_paths]
    if method == isolation.OVERLAY and req.layers is not None:
        points = [b for b in binds if b.startswith("/tmp/")]
        layer = req.layers.get(shared, (script, source) if script and source is not None else None, points)
    own = [(p, Path(h)) for p, h in req.input_artifacts if layer is None or p not in shared_paths]
    nested: list[podinputs.InputMount] = []
    if method == isolation.OVERLAY and not req.keep_root:
        nested, own = podinputs.split(root, own, mounts, [*others, *(p for p, _ in shared)])
    _place_inputs(root, own, mounts)
    if script is not None and source is not None and layer is None:
        host_script = isolation.host_path(root, script)
        host_script.parent.mkdir(parents=True, exist_ok=True)
        host_script.write_text(source, encoding="utf-8")
        host_script.chmod(0o755)
    return layer, nested


def _python_plan(
    argv: list[str], env: Mapping[str, str], use_fork_server: bool
) -> tuple[dict[str, Any] | None, str | None, tuple[str, ...] | None]:
    """Whether the pod can run in a warm interpreter, and how."""
    if not use_fork_server or not argv or not images.is_python(argv[0]):
        return None, None, None
    if any(k.startswith("PYTHON") and k not in _PY_ENV_OK for k in env):
        return None, None, None
    python = shutil.which(argv[0], path=env.get("PATH", os.defpath))
    if python is None:
        return None, None, None
    rest = argv[1:]
    unbuffered = False
    while rest and rest[0] == "-u":
        unbuffered, rest = True, rest[1:]
    py: dict[str, Any]
    if len(rest) >= 2 and rest[0] == "-c":
        py = {"kind": "code", "target": rest[1], "args": rest[2:]}
    elif rest and not rest[0].startswith("-"):
        py = {"kind": "file", "target": rest[0], "args": rest[1:]}
    else:
        return None, None, None
    py["unbuffered"] = unbuffered
    py["path"] = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    extra = tuple(m.strip() for m in env.get(ENV_PRELOAD, "").split(",") if m.strip())
    preload = None if not extra else (*DEFAULT_PRELOAD, *extra)
    return py, python, preload


# ------------------------------------------------------------------ processes


def _build_env(req: PodRequest, body: Mapping[str, Any], host_env: Mapping[str, str]) -> dict[str, str]:
    env = dict(host_env)
    env.setdefault("PATH", os.defpath)
    env.setdefault("LANG", "C.UTF-8")
    env["HOSTNAME"] = req.pod_name
    if body.get("envFrom"):
        raise PodSetupError("envFrom (ConfigMaps/Secrets) cannot be read on the host; use `-e argo`")
    for item in body.get("env") or []:
        name = str(item.get("name"))
        if "value" in item and item["value"] is not None:
            env[name] = images.expand_vars(str(item["value"]), env)
        elif item.get("valueFrom"):
            env[name] = _env_value_from(name, item["valueFrom"], req.pod_name)
        else:
            env[name] = ""
    env.update({str(k): str(v) for k, v in req.env.items()})
    return env


def _env_value_from(name: str, source: Mapping[str, Any], pod_name: str) -> str:
    field_ref = source.get("fieldRef")
    if field_ref:
        path = field_ref.get("fieldPath")
        values = {
            "metadata.name": pod_name,
            "metadata.namespace": "default",
            "spec.nodeName": socket.gethostname(),
            "status.podIP": "127.0.0.1",
            "status.hostIP": "127.0.0.1",
            "spec.serviceAccountName": "default",
        }
        if path in values:
            return values[path]
        raise PodSetupError(f"env {name}: fieldRef {path} has no value on the host; use `-e argo`")
    kind = next(iter(source), "valueFrom")
    raise PodSetupError(
        f"env {name}: valueFrom.{kind} cannot be read on the host (no cluster); use `-e argo`"
    )


def _place_inputs(
    root: Path, inputs: Sequence[tuple[str, Path]], mounts: Sequence[tuple[str, str, bool]] = ()
) -> None:
    """Copy input artifacts to their container paths (copies: a pod may change its inputs);
    one under a volume's mount path goes into the volume, as Argo's init container loads it there."""
    for container_path, src in inputs:
        dst = volumes.volume_path(mounts, container_path) or isolation.host_path(root, container_path)
        src = Path(src)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, symlinks=True, dirs_exist_ok=True)
        elif src.exists():
            shutil.copy2(src, dst)
        else:
            raise PodSetupError(f"input artifact for {container_path}: {src} does not exist")
