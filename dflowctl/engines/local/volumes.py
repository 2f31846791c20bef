"""``emptyDir`` volumes of a pod, and its other containers (``initContainers``, ``sidecars``).

Argo passes ``spec.volumes`` and a template's ``volumes`` to the pod; a container's
``volumeMounts`` put them at their ``mountPath`` (``subPath``: a folder of the volume;
``readOnly``). Only ``emptyDir`` volumes are a host's to give: each is an empty folder
``<pod folder>/volumes/<name>`` (beside each container's own work folder) that lives as
long as the pod. In an ``overlay``
view it is bind-mounted at the mount path (so ``/proc/mounts`` lists it, as in a
container); with ``remap`` the mount path is one more container path rewritten into the
pod's root. Outputs under a mount path are read from the volume (``podfs.locate``).
``initContainers`` run one after the other before the main container (the same
volumes); one that fails fails the pod and the main one never runs. ``sidecars`` start
once the main container runs, each a process of its own beside it (its own work folder,
the same volumes, the host's network as a pod's containers share theirs), and are
stopped when it ends, whatever they were doing; they do not change the pod's phase.
Their output goes to ``<log>.init-<name>.log`` / ``<log>.sidecar-<name>.log``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

from dflowctl.engines.local.podapi import PodRequest, PodRunnerLike

FOLDER = "volumes"
CLAIMS = "claims"  # the run's folder of its volumeClaimTemplates' volumes
RUN_FOLDER = "dflowctl.io/folder"  # a volume of the run (a claim's), as the engine passes it


class VolumeError(Exception):
    """A mount the local engine cannot give; the text is the pod's message."""


def emptydir_names(volumes: Any) -> set[str]:
    """The names of the ``emptyDir`` volumes of a ``volumes`` list."""
    return {
        str(v["name"])
        for v in volumes or []
        if isinstance(v, Mapping) and v.get("name") and "emptyDir" in v and _only_emptydir(v)
    }


def _only_emptydir(volume: Mapping[str, Any]) -> bool:
    """An ``emptyDir`` volume and nothing else (``medium``/``sizeLimit`` do not matter here)."""
    return isinstance(volume.get("emptyDir"), Mapping | None) and set(volume) <= {"name", "emptyDir"}


def claim_names(spec: Mapping[str, Any]) -> list[str]:
    """The names of the workflow's ``volumeClaimTemplates``."""
    out = []
    for claim in spec.get("volumeClaimTemplates") or []:
        name = ((claim or {}).get("metadata") or {}).get("name") if isinstance(claim, Mapping) else None
        if isinstance(name, str) and name:
            out.append(name)
    return out


def with_workflow_volumes(tmpl: dict[str, Any], spec: Mapping[str, Any], claims: Path) -> dict[str, Any]:
    """The template with the workflow's ``spec.volumes`` and ``volumeClaimTemplates`` it may
    mount (its own win by name). A claim is a folder of the run (``claims/<name>``), made
    when first mounted and kept for the run's pods to share, as Argo's PVC lives as long
    as the workflow."""
    shared = [v for v in spec.get("volumes") or [] if isinstance(v, Mapping)]
    shared += [{"name": n, RUN_FOLDER: str(claims / n)} for n in claim_names(spec)]
    if not shared:
        return tmpl
    own = {v.get("name") for v in tmpl.get("volumes") or [] if isinstance(v, Mapping)}
    return {
        **tmpl,
        "volumes": [*(tmpl.get("volumes") or []), *(v for v in shared if v.get("name") not in own)],
    }


def plan_mounts(tmpl: Mapping[str, Any], body: Mapping[str, Any], work: Path) -> list[tuple[str, str, bool]]:
    """``(host folder, mount path, read only)`` of the container's mounts, folders made."""
    names = emptydir_names(tmpl.get("volumes"))
    run_folders = {
        str(v["name"]): Path(str(v[RUN_FOLDER]))
        for v in tmpl.get("volumes") or []
        if isinstance(v, Mapping) and v.get(RUN_FOLDER)
    }
    out: list[tuple[str, str, bool]] = []
    for i, m in enumerate(body.get("volumeMounts") or []):
        name, target = str(m.get("name", "")), str(m.get("mountPath", ""))
        if name not in names and name not in run_folders:  # no volume of that name: Kubernetes' word
            raise VolumeError(f'spec.containers[0].volumeMounts[{i}].name: Not found: "{name}"')
        if not target.startswith("/") or ".." in PurePosixPath(target).parts:
            raise VolumeError(f"invalid mountPath {target!r}")
        host = run_folders[name] if name in run_folders else work.parent / FOLDER / name
        sub = str(m.get("subPath") or "")
        if sub:
            if sub.startswith("/") or ".." in PurePosixPath(sub).parts:
                raise VolumeError(f"invalid subPath {sub!r}")
            host = host / sub
        host.mkdir(parents=True, exist_ok=True)
        out.append((str(host), os.path.normpath(target), bool(m.get("readOnly"))))
    return out


def volume_path(mounts: Sequence[tuple[str, str, bool]], container_path: str) -> Path | None:
    """The host path of ``container_path`` when it lies in a mounted volume (the deepest mount)."""
    path = PurePosixPath(os.path.normpath(container_path))
    best: tuple[int, Path] | None = None
    for host, target, _ro in mounts:
        base = PurePosixPath(target)
        if path == base or base in path.parents:
            depth = len(base.parts)
            if best is None or depth > best[0]:
                best = (depth, Path(host) / path.relative_to(base))
    return None if best is None else best[1]


def _container_request(req: PodRequest, spec: Mapping[str, Any], role: str, index: int) -> PodRequest:
    tmpl = req.template
    kind = "script" if "script" in tmpl else "container"
    main = tmpl.get(kind) or {}
    body = {k: v for k, v in spec.items() if k not in ("name", "mirrorVolumeMounts")}
    if spec.get("mirrorVolumeMounts"):
        body["volumeMounts"] = list(main.get("volumeMounts") or [])
    name = str(spec.get("name") or f"{role}-{index}")
    log = req.log_path.with_name(f"{req.log_path.stem}.{role}-{name}.log")
    step = {"name": tmpl.get("name"), "container": body, "volumes": tmpl.get("volumes") or []}
    work = req.work_dir.with_name(f"{req.work_dir.name}-{role}-{index}")
    return replace(req, template=step, work_dir=work, input_artifacts=[], log_path=log, python=None)


def init_requests(req: PodRequest) -> list[PodRequest]:
    """The pod's ``initContainers`` as requests, in order (``mirrorVolumeMounts``: the
    main container's mounts)."""
    inits = req.template.get("initContainers") or []
    return [_container_request(req, c, "init", i) for i, c in enumerate(inits) if isinstance(c, Mapping)]


class Sidecars:
    """The pod's ``sidecars``: started once its main container runs, stopped when it ends."""

    def __init__(self, runner: PodRunnerLike, req: PodRequest) -> None:
        specs = req.template.get("sidecars") or []
        self.requests = [
            _container_request(req, c, "sidecar", i) for i, c in enumerate(specs) if isinstance(c, Mapping)
        ]
        self.runner = runner
        self.cancel = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        for req in self.requests:
            thread = threading.Thread(
                target=self.runner.run, args=(req, self.cancel), name="dflowctl-sidecar", daemon=True
            )
            thread.start()
            self.threads.append(thread)

    def stop(self) -> None:
        self.cancel.set()
        for thread in self.threads:
            thread.join()
