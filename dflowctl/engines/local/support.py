"""What the local engine cannot do on this host, found before anything runs.

``unsupported(workflow, at)`` walks a Workflow object and returns one diagnostic
per feature that needs a cluster (Kubernetes resources, volumes, sidecars,
ConfigMaps and Secrets, templates stored in the cluster, artifact
stores other than the run's own repository, synchronization) or a program this
host lacks (an image's command that is not on ``PATH``, Windows images).
``at(path)`` gives the position of a JSON path in the file (location and source
line). What only the cluster decides is refused too: a service account other than
`default` for Argo's executor (its RBAC), a pod deadline its start-up would eat,
a script that installs packages (it would change the host). Fields that only
matter to Kubernetes' scheduling or bookkeeping (labels, podGC, nodeSelector,
resources, metrics, ttl, pod metadata, dnsConfig, imagePullSecrets,
securityContext, the main containers' serviceAccountName when the executor's is
`default`, tolerations, affinity, priority, podSpecPatch, memoize,
archiveLocation, artifactRepositoryRef, ...) are accepted and ignored.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from dflowctl.configmaps import ref_name, workflow_parameters
from dflowctl.engines.local import images, shellscan
from dflowctl.engines.local.volumes import claim_names, emptydir_names
from dflowctl.errors import Diagnostic, Location

PathItem = str | int
Locate = Callable[[Sequence[PathItem]], tuple[Location | None, str | None]]
HINT = "run it on a cluster with `-e argo`"
PREFIX = "not supported by the local engine: "
# a pod's deadline shorter than this is spent, on a cluster, mostly starting the pod (Argo's
# tests see 2-5 s for a trivial step; an image pull adds more): only the cluster can tell
POD_STARTUP_SECONDS = 10

# template kinds a host process cannot stand in for
_KIND_REASONS = {
    "resource": "`resource` templates (they create Kubernetes objects)",
    "plugin": "executor `plugin` templates (they need the plugin's sidecar)",
    "http": "`http` templates (the Argo agent makes the request in the cluster)",
    "data": "`data` templates (they read artifact storage through the Argo agent)",
}
_ARTIFACT_STORES = ("git", "gcs", "azure", "oss", "hdfs", "artifactory", "plugin", "http")


class _Walker:
    def __init__(
        self, at: Locate, path_env: str, configmaps: Collection[str], held: Callable[[Any], bool]
    ) -> None:
        self.at = at
        self.path_env = path_env
        self.configmaps = configmaps  # names of the ConfigMaps the file holds
        self.held = held  # does the file hold the WorkflowTemplate this ref names?
        self.items: list[Diagnostic] = []
        self.emptydirs: set[str] = set()  # the workflow's emptyDir volumes
        self.volumes: set[str] = set()  # every volume the workflow names (any kind)
        self.params: dict[str, str] = {}  # the workflow's parameters (names of ConfigMaps)
        self.spec: Mapping[str, Any] = {}  # the workflow's spec
        self._seen: set[tuple[PathItem, ...]] = set()

    def add(self, feature: str, path: Sequence[PathItem], hint: str = HINT) -> None:
        key = tuple(path)
        if key in self._seen:
            return
        self._seen.add(key)
        loc, line = self.at(path)
        self.items.append(Diagnostic(PREFIX + feature, loc, hint, line))


def unsupported(
    workflow: Mapping[str, Any],
    at: Locate,
    path_env: str | None = None,
    configmaps: Collection[str] = (),
    held: Callable[[Any], bool] = lambda ref: False,
) -> list[Diagnostic]:
    """Every reason the local engine cannot run ``workflow`` here (empty: it can).
    ``configmaps``: the ConfigMaps the file holds (``dflowctl.configmaps``); ``held``:
    whether a ``templateRef``/``workflowTemplateRef`` names a template the file holds
    (``dflowctl.wftemplates``)."""
    path_env = os.environ.get("PATH", os.defpath) if path_env is None else path_env
    w = _Walker(at, path_env, configmaps, held)
    w.params = workflow_parameters(workflow)
    spec = workflow.get("spec")
    if not isinstance(spec, Mapping):
        return []
    w.spec = spec
    base: list[PathItem] = ["spec"]
    if spec.get("workflowTemplateRef") is not None and not w.held(spec["workflowTemplateRef"]):
        w.add("workflowTemplateRef (the template is stored in the cluster)", [*base, "workflowTemplateRef"])
    _volumes(w, spec.get("volumes"), [*base, "volumes"])
    # what a pod may mount: the workflow's emptyDir volumes and its volumeClaimTemplates (a
    # folder of the run, shared by its pods)
    w.emptydirs = emptydir_names(spec.get("volumes")) | set(claim_names(spec))
    w.volumes = w.emptydirs | _volume_names(spec.get("volumes"))
    for tmpl in spec.get("templates") or []:
        w.volumes |= _volume_names(tmpl.get("volumes") if isinstance(tmpl, Mapping) else None)
    _sync(w, spec.get("synchronization"), [*base, "synchronization"])
    _params(w, (spec.get("arguments") or {}).get("parameters"), [*base, "arguments", "parameters"])
    _artifacts(w, (spec.get("arguments") or {}).get("artifacts"), [*base, "arguments", "artifacts"])
    if _is_windows_selector(spec.get("nodeSelector")):
        w.add("Windows nodes (nodeSelector kubernetes.io/os: windows)", [*base, "nodeSelector"])
    defaults = _mapping(spec.get("templateDefaults"))
    for i, tmpl in enumerate(spec.get("templates") or []):
        if isinstance(tmpl, Mapping):
            _template(w, tmpl, [*base, "templates", i], defaults)
    return w.items


def _held(w: _Walker, ref: Any) -> bool:
    """A ``configMapKeyRef`` to a ConfigMap of the same file (resolved before the run)."""
    return isinstance(ref, Mapping) and ref_name(ref, w.params) in w.configmaps


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _is_windows_selector(sel: Any) -> bool:
    return isinstance(sel, Mapping) and str(sel.get("kubernetes.io/os", "")).lower() == "windows"


def _sync(w: _Walker, sync: Any, path: list[PathItem]) -> None:
    """Locks are held here (``engines.local.sync``); a semaphore's limit is in a held ConfigMap."""
    if not isinstance(sync, Mapping):
        return
    listed: list[tuple[str, int | None, Any]] = [
        ("semaphores", i, s) for i, s in enumerate(sync.get("semaphores") or [])
    ]
    if sync.get("semaphore") is not None:
        listed.append(("semaphore", None, sync["semaphore"]))
    for key, i, sem in listed:
        where = [*path, key] if i is None else [*path, key, i]
        if not isinstance(sem, Mapping):
            continue
        if sem.get("database") is not None:
            w.add(
                "semaphores whose limit is in Argo's database (synchronization database)",
                [*where, "database"],
            )
        ref = sem.get("configMapKeyRef")
        if isinstance(ref, Mapping) and not _held(w, ref):
            w.add(
                f"a semaphore whose limit is in ConfigMap {ref.get('name')!r}, which the file does not hold",
                [*where, "configMapKeyRef"],
                hint="add the ConfigMap as a document of the file or give it with --templates, "
                "or run it on a cluster with `-e argo`",
            )


def _params(w: _Walker, items: Any, path: list[PathItem]) -> None:
    for i, p in enumerate(items or []):
        if not isinstance(p, Mapping):
            continue
        vf = p.get("valueFrom")
        if isinstance(vf, Mapping):
            ref = vf.get("configMapKeyRef")
            # with a default, a ConfigMap missing here is one missing in the cluster: the default applies
            if ref is not None and not _held(w, ref) and vf.get("default") is None:
                w.add(
                    "parameter values from a ConfigMap (configMapKeyRef)",
                    [*path, i, "valueFrom", "configMapKeyRef"],
                )
            if vf.get("event") is not None:
                w.add("parameters from events", [*path, i, "valueFrom", "event"])
            for key in ("jsonPath", "jqFilter"):
                if vf.get(key) is not None:
                    w.add(f"valueFrom.{key} (it reads a Kubernetes resource)", [*path, i, "valueFrom", key])


def _artifacts(w: _Walker, items: Any, path: list[PathItem]) -> None:
    for i, a in enumerate(items or []):
        if not isinstance(a, Mapping):
            continue
        for store in _ARTIFACT_STORES:
            if a.get(store) is not None:
                why = "the host has no access to it" if store != "http" else "the engine does not fetch URLs"
                w.add(f"{store} artifacts ({why})", [*path, i, store])
        s3 = a.get("s3")
        if isinstance(s3, Mapping) and any(
            s3.get(k) for k in ("bucket", "endpoint", "accessKeySecret", "secretKeySecret")
        ):
            w.add(
                "s3 artifacts with their own bucket/endpoint (only key-only keys in the run's repository)",
                [*path, i, "s3"],
            )
        if a.get("artifactGC") is not None:
            pass  # garbage collection of a store the host does not use: ignored


def _template(w: _Walker, tmpl: Mapping[str, Any], path: list[PathItem], defaults: Mapping[str, Any]) -> None:
    for kind, why in _KIND_REASONS.items():
        if tmpl.get(kind) is not None:
            w.add(why, [*path, kind])
    _volumes(w, tmpl.get("volumes"), [*path, "volumes"])
    own_dirs = {*w.emptydirs, *emptydir_names(tmpl.get("volumes"))}
    for key in ("initContainers", "sidecars"):
        for i, other in enumerate(tmpl.get(key) or []):
            if isinstance(other, Mapping):
                _container(w, "container", other, [*path, key, i], own_dirs)
    cset = _mapping(tmpl.get("containerSet"))
    for i, ctr in enumerate(cset.get("containers") or []):
        if isinstance(ctr, Mapping):  # (the set's volumeMounts are every container's)
            mounts = [*(ctr.get("volumeMounts") or []), *(cset.get("volumeMounts") or [])]
            own = {**ctr, "volumeMounts": mounts}
            _container(w, "container", own, [*path, "containerSet", "containers", i], own_dirs)
    _sync(w, tmpl.get("synchronization"), [*path, "synchronization"])
    if any(tmpl.get(k) is not None for k in ("container", "script", "containerSet")):
        _pod(w, tmpl, path, defaults)
    if _is_windows_selector(tmpl.get("nodeSelector")):
        w.add("Windows nodes (nodeSelector kubernetes.io/os: windows)", [*path, "nodeSelector"])
    inputs, outputs = _mapping(tmpl.get("inputs")), _mapping(tmpl.get("outputs"))
    _params(w, inputs.get("parameters"), [*path, "inputs", "parameters"])
    _params(w, outputs.get("parameters"), [*path, "outputs", "parameters"])
    _artifacts(w, inputs.get("artifacts"), [*path, "inputs", "artifacts"])
    _artifacts(w, outputs.get("artifacts"), [*path, "outputs", "artifacts"])
    for kind in ("container", "script"):
        body = tmpl.get(kind)
        if isinstance(body, Mapping):
            merged = (
                {**(defaults.get(kind) or {}), **body} if isinstance(defaults.get(kind), Mapping) else body
            )
            _container(w, kind, merged, [*path, kind], {*w.emptydirs, *emptydir_names(tmpl.get("volumes"))})
    for key in ("steps",):
        for g, group in enumerate(tmpl.get(key) or []):
            for s, step in enumerate(group or []):
                if isinstance(step, Mapping):
                    _call(w, step, [*path, key, g, s], defaults)
    dag = tmpl.get("dag")
    if isinstance(dag, Mapping):
        for t, task in enumerate(dag.get("tasks") or []):
            if isinstance(task, Mapping):
                _call(w, task, [*path, "dag", "tasks", t], defaults)


def _pod(w: _Walker, tmpl: Mapping[str, Any], path: list[PathItem], defaults: Mapping[str, Any]) -> None:
    """What only the cluster decides for a pod: its executor's service account (Argo's
    ``executor.serviceAccountName``, else the pod's ``serviceAccountName``; template, then
    ``templateDefaults``, then the workflow) and a deadline its start-up would eat."""
    candidates: list[tuple[Any, list[PathItem]]] = [
        (_mapping(tmpl.get("executor")).get("serviceAccountName"), [*path, "executor", "serviceAccountName"]),
        (
            _mapping(defaults.get("executor")).get("serviceAccountName"),
            ["spec", "templateDefaults", "executor", "serviceAccountName"],
        ),
        (
            _mapping(w.spec.get("executor")).get("serviceAccountName"),
            ["spec", "executor", "serviceAccountName"],
        ),
        (tmpl.get("serviceAccountName"), [*path, "serviceAccountName"]),
        (defaults.get("serviceAccountName"), ["spec", "templateDefaults", "serviceAccountName"]),
        (w.spec.get("serviceAccountName"), ["spec", "serviceAccountName"]),
    ]
    account, where = next(((str(a), p) for a, p in candidates if a), ("default", []))
    if account != "default" and "{{" not in account:
        w.add(
            f"service account `{account}` for Argo's executor (whether it exists and may record "
            "the pod's results is the cluster's RBAC)",
            where,
            hint="run it on a cluster with `-e argo`, or give the executor the `default` account "
            "(executor.serviceAccountName: default)",
        )
    deadline = tmpl.get("activeDeadlineSeconds")
    seconds = int(deadline) if isinstance(deadline, int | str) and str(deadline).isdigit() else None
    if seconds is not None and 0 < seconds < POD_STARTUP_SECONDS:
        w.add(
            f"a pod deadline of {seconds}s (activeDeadlineSeconds: on a cluster it counts the pod's "
            "start-up, its image pull and Argo's init container, so whether the step ends in time "
            "is the cluster's)",
            [*path, "activeDeadlineSeconds"],
        )


def _call(w: _Walker, holder: Mapping[str, Any], path: list[PathItem], defaults: Mapping[str, Any]) -> None:
    if holder.get("templateRef") is not None and not w.held(holder["templateRef"]):
        w.add("templateRef (WorkflowTemplates are stored in the cluster)", [*path, "templateRef"])
    if isinstance(holder.get("inline"), Mapping):
        _template(w, holder["inline"], [*path, "inline"], defaults)
    args = _mapping(holder.get("arguments"))
    _params(w, args.get("parameters"), [*path, "arguments", "parameters"])
    _artifacts(w, args.get("artifacts"), [*path, "arguments", "artifacts"])


def _volumes(w: _Walker, volumes: Any, path: list[PathItem]) -> None:
    """``emptyDir`` volumes are a host's to give (``engines.local.volumes``); no other kind."""
    for i, vol in enumerate(volumes or []):
        if isinstance(vol, Mapping) and not emptydir_names([vol]):
            kind = next((k for k in vol if k != "name"), "?")
            w.add(f"{kind} volumes (Kubernetes volumes are not mounted on the host; emptyDir is)", [*path, i])


def _volume_names(volumes: Any) -> set[str]:
    return {str(v.get("name")) for v in volumes or [] if isinstance(v, Mapping)}


def _container(
    w: _Walker, kind: str, body: Mapping[str, Any], path: list[PathItem], emptydirs: Collection[str] = ()
) -> None:
    for i, mount in enumerate(body.get("volumeMounts") or []):
        # (a volume no part of the workflow defines: an invalid pod, which fails as on Kubernetes)
        name = mount.get("name") if isinstance(mount, Mapping) else None
        if name is not None and name not in emptydirs and name in w.volumes:
            w.add(
                f"volumeMounts of volume {name!r} "
                "(only emptyDir volumes and volumeClaimTemplates are mounted on the host)",
                [*path, "volumeMounts", i],
            )
    if body.get("envFrom"):
        w.add("envFrom (ConfigMaps and Secrets are read in the cluster)", [*path, "envFrom"])
    for i, env in enumerate(body.get("env") or []):
        vf = env.get("valueFrom") if isinstance(env, Mapping) else None
        if isinstance(vf, Mapping):
            for ref in ("configMapKeyRef", "secretKeyRef", "resourceFieldRef"):
                if vf.get(ref) is not None and not (ref == "configMapKeyRef" and _held(w, vf[ref])):
                    w.add(f"env from {ref} (no cluster to read it from)", [*path, "env", i, "valueFrom", ref])
    image = str(body.get("image") or "")
    if "{{" in image:
        return
    name = images.image_name(image)
    if "windows" in name or "nanoserver" in name or "servercore" in name:
        w.add(f"Windows image `{image}`", [*path, "image"])
        return
    try:
        argv = images.argv_for(kind, body, "/argo/staging/script")
    except images.CommandError:
        w.add(
            f"image `{image}` without a command (its entrypoint is not known on the host)", [*path, "image"]
        )
        return
    if not argv or "{{" in argv[0] or "$(" in argv[0]:
        return
    where: list[PathItem] = (
        [*path, "command"]
        if body.get("command")
        else [*path, "args"]
        if body.get("args")
        else [*path, "image"]
    )
    program = images.host_program(argv, w.path_env)[0]
    stand_ins = images.path_programs(image)
    if program not in stand_ins and not _on_host(program, w.path_env):
        if name in images.KNOWN_CONTENTS:
            return  # not in the image either: the pod fails to start, as on Kubernetes
        w.add(f"image `{image}`: its program `{program}` is not on this host", where)
        return
    # the commands `sh -c SCRIPT` calls: an image's own tools, or (the host standing in
    # for busybox/alpine/…) ones this host may lack (`nc`): looked up, not left to fail
    if program.rsplit("/", 1)[-1] not in shellscan.SHELLS:
        return
    script = shellscan.shell_c_script(argv) if kind == "container" else str(body.get("source") or "")
    programs = shellscan.script_programs(script or "")
    installer = shellscan.package_manager(programs)
    if installer is not None:
        w.add(
            f"image `{image}`: its script installs packages with `{installer}` "
            "(on the host it would change this machine, not an image)",
            where if kind == "container" else [*path, "source"],
        )
        return
    own = {**images.image_programs(image), **stand_ins}
    for program in programs if kind == "container" else ():
        if program not in own and not _on_host(program, w.path_env):
            w.add(f"image `{image}`: its program `{program}` is not on this host", where)
            break


def _on_host(program: str, path_env: str) -> bool:
    if program.startswith("/"):
        return (
            os.access(program, os.X_OK) or shutil.which(program.rsplit("/", 1)[-1], path=path_env) is not None
        )
    if images.is_python(program):
        return (
            shutil.which(program, path=path_env) is not None
            or shutil.which("python3", path=path_env) is not None
        )
    return shutil.which(program, path=path_env) is not None
