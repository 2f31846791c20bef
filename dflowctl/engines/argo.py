"""The Argo engine: runs through Argo Workflows via the Kubernetes API.

``submit`` creates the Workflow custom object; following a run is a *watch*
(resourceVersion kept, reconnect on a dropped stream, re-list on 410 Gone,
bookmarks), never a polling loop. ``status`` reads ``status.nodes`` (decoding
``compressedNodes``), logs come from each Pod node's ``pods/log``, stop and
terminate set ``spec.shutdown``, retry resets what failed as ``argo retry``
does. All cluster I/O goes through ``dflowctl.kube.KubeClient``.
"""

from __future__ import annotations

import copy
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from dflowctl.argo import (
    FAILED_OR_ERROR,
    is_finished,
    rfc3339,
)
from dflowctl.engines import ArtifactStore, LogBlock, LogLine, OnUpdate, RunOptions, Workflow
from dflowctl.engines.argologs import ArgoLogs
from dflowctl.engines.argoobjects import (
    SUBMISSION_LABEL,
    check_size,
    decode_nodes,
    encode_nodes,
    node_pod_name,
    resubmit_manifest,
    retried_pod_nodes,
    retry_patch,
    ship_bootstrap,
)
from dflowctl.errors import ClusterError, NotFoundError, StorageError, UsageError
from dflowctl.kube import KubeClient, WatchExpired
from dflowctl.settings import Settings

MANAGED_BY = "app.kubernetes.io/managed-by"
RETRY_NUDGE = "dflowctl.io/retry-nudge"  # touched while the controller has not taken a retry up
NUDGE_AFTER = 3.0  # seconds without a write by the controller before the next touch
NUDGES = 20


class WorkflowRejectedError(ClusterError):
    """The Argo controller refused the workflow (``status.message: invalid spec: …``)."""


class ArgoEngine:
    """The ``argo`` engine (see the module doc)."""

    name = "argo"

    def __init__(self, settings: Settings | None = None, *, kube: KubeClient | None = None) -> None:
        self.settings = settings
        self.kube = kube or KubeClient(settings)

    # -- submit ------------------------------------------------------------------------------

    def submit(self, manifest: Workflow, options: RunOptions) -> Workflow:
        body = copy.deepcopy(dict(manifest))
        meta = body.setdefault("metadata", {})
        labels = meta.setdefault("labels", {})
        labels.setdefault(MANAGED_BY, "dflowctl")
        wanted = meta.pop("namespace", None)
        if isinstance(wanted, str) and wanted:
            self.kube.use_namespace(wanted)  # -n / DFLOWCTL_NAMESPACE still win
        meta["namespace"] = self.kube.namespace
        shipped_body, shipped = ship_bootstrap(body)
        if options.dry_run:
            return shipped_body
        store = None
        if shipped:
            try:
                store = self._store_for(shipped_body)
                body = shipped_body
            except StorageError:  # no artifact repository: the bootstrap stays in each template
                shipped = {}
        check_size(body)
        if options.server_dry_run:
            return self.kube.create_workflow(body, dry_run=True)
        if shipped or options.source_archives:
            self._upload_sources(store or self._store_for(body), options.source_archives, shipped)
        created = self._create(body)
        if not options.wait:
            return created
        name = created["metadata"]["name"]
        final = self.watch(name, options.on_update or (lambda _wf: None))
        self._raise_if_rejected(final)
        return final

    def _store_for(self, body: Workflow) -> Any:
        """The artifact repository a Workflow about to be submitted will use."""
        from dflowctl.storage import store_for_run

        meta = body.get("metadata") or {}
        probe = {
            "metadata": {
                "namespace": self.kube.namespace,
                "name": meta.get("name") or meta.get("generateName"),
            }
        }
        probe["spec"] = body.get("spec") or {}
        return store_for_run(probe, self.settings, self.kube)

    def stored_keys(self, body: Workflow) -> Callable[[str], bool]:
        """Whether an S3 key is in the repository ``body`` will read (``run --reuse``)."""
        from dflowctl.engines.argoreuse import StoredKeys

        store = self._store_for(body)
        return StoredKeys(lambda prefix: [o.key for o in store.list_prefix(prefix)])

    @staticmethod
    def _upload_sources(store: Any, archives: Mapping[str, Any], texts: Mapping[str, str]) -> None:
        """Put each ``source:`` archive and shipped bootstrap (``texts``) in the artifact
        repository (content-addressed: once)."""
        for key, path in sorted(archives.items()):
            if not store.exists(key):
                store.put_file(Path(path), key)
        if not texts:
            return
        with tempfile.TemporaryDirectory(prefix="dflowctl-boot-") as tmp:
            for key, text in sorted(texts.items()):
                if not store.exists(key):
                    path = Path(tmp, key.rsplit("/", 1)[-1])
                    path.write_text(text, encoding="utf-8")
                    store.put_file(path, key)

    def _create(self, body: Workflow) -> Workflow:
        """Create once, even across 5xx answers (found again by a unique label)."""
        token = uuid.uuid4().hex[:16]
        body["metadata"]["labels"][SUBMISSION_LABEL] = token
        deadline = time.monotonic() + 60
        delay = 0.5
        while True:
            try:
                return self.kube.create_workflow(body)
            except ClusterError as err:
                if getattr(err, "status", 0) not in (500, 502, 503, 504) or time.monotonic() > deadline:
                    raise
            found = self.kube.list_workflows(label_selector=f"{SUBMISSION_LABEL}={token}").get("items") or []
            if found:
                return dict(found[0])
            time.sleep(delay)
            delay = min(delay * 2, 5)

    @staticmethod
    def _raise_if_rejected(wf: Workflow) -> None:
        status = wf.get("status") or {}
        message = str(status.get("message") or "")
        if status.get("phase") in FAILED_OR_ERROR and message.startswith("invalid spec"):
            name = wf["metadata"]["name"]
            raise WorkflowRejectedError(
                f"the Argo controller rejected workflow {name}: {message}",
                hint="check the spec with `dflowctl validate`; the message above is Argo's",
            )

    # -- reading -------------------------------------------------------------------------

    def list_runs(self) -> list[Workflow]:
        data = self.kube.list_workflows(label_selector=f"{MANAGED_BY}=dflowctl")
        items = [decode_nodes(o) for o in data.get("items") or []]
        if not items:
            ns = self.kube.namespace
            if self.kube.namespace_exists(ns) is False:
                raise ClusterError(
                    f'namespace "{ns}" does not exist',
                    hint=f"create it (kubectl create namespace {ns}) or choose another with -n/--namespace",
                )
        items.sort(key=lambda o: str((o.get("metadata") or {}).get("creationTimestamp") or ""), reverse=True)
        return items

    def get_run(self, name: str) -> Workflow:
        try:
            return decode_nodes(self.kube.get_workflow(name))
        except NotFoundError as err:
            raise NotFoundError(err.message, hint=self._name_hint(name)) from None

    def _name_hint(self, name: str) -> str:
        import difflib

        try:
            known = [str(w["metadata"]["name"]) for w in self.list_runs()]
        except (ClusterError, NotFoundError):
            return "list runs with: dflowctl status -e argo"
        close = difflib.get_close_matches(name, known, n=1)
        if close:
            return f"did you mean {close[0]!r}?"
        if known:
            return "list runs with: dflowctl status -e argo"
        return f'there are no dflowctl runs in namespace "{self.kube.namespace}"'

    # -- following -----------------------------------------------------------------------

    def watch(self, name: str, on_update: OnUpdate) -> Workflow:
        """Follow ``name`` to its end through a watch; calls ``on_update`` on every change."""
        wf = self.get_run(name)
        on_update(wf)
        if is_finished(wf):
            return wf
        rv = str(wf["metadata"].get("resourceVersion") or "")
        seen = rv
        selector = f"metadata.name={name}"
        quick_ends = 0
        while True:
            started = time.monotonic()
            got_event = False
            try:
                for event in self.kube.watch_workflows(rv, field_selector=selector):
                    obj = event.get("object") or {}
                    rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
                    got_event = True
                    kind = event.get("type")
                    if kind == "BOOKMARK":
                        continue
                    if kind == "DELETED":
                        raise NotFoundError(f"workflow {name} was deleted while it was being followed")
                    if kind not in ("ADDED", "MODIFIED"):
                        continue
                    if rv == seen:
                        continue
                    seen = rv
                    wf = decode_nodes(obj)
                    on_update(wf)
                    if is_finished(wf):
                        return wf
            except WatchExpired:
                wf = self.get_run(name)  # re-list: our resourceVersion is gone
                rv = str(wf["metadata"].get("resourceVersion") or "")
                if rv != seen:
                    seen = rv
                    on_update(wf)
                if is_finished(wf):
                    return wf
                continue
            # the stream ended (server timeout or a dropped connection): resume from rv
            if got_event or time.monotonic() - started > 5:
                quick_ends = 0
            else:
                quick_ends += 1
                time.sleep(min(0.1 * 2**quick_ends, 5.0))

    # -- logs ------------------------------------------------------------------------------

    def logs(
        self, name: str, node_ids: list[str] | None = None, follow: bool = False, timestamps: bool = False
    ) -> Iterator[LogLine]:
        return ArgoLogs(self).lines(name, node_ids, follow, timestamps)

    def log_blocks(
        self, name: str, node_ids: list[str] | None = None, follow: bool = False, timestamps: bool = False
    ) -> Iterator[LogBlock]:
        for line in self.logs(name, node_ids, follow, timestamps):  # the API streams lines
            times = (line.time,) if line.time is not None else None
            yield LogBlock(line.node_id, line.node_name, line.text, times)

    # -- artifacts --------------------------------------------------------------------

    def artifact_store(self, name: str) -> ArtifactStore:
        from dflowctl.storage import store_for_run

        return store_for_run(self.get_run(name), self.settings, self.kube)

    # -- control ------------------------------------------------------------------------

    def stop(self, name: str, *, terminate: bool = False) -> Workflow:
        wf = self.get_run(name)
        if is_finished(wf):
            phase = (wf.get("status") or {}).get("phase") or "finished"
            raise UsageError(f"workflow {name} has already finished ({phase}); nothing to stop")
        strategy = "Terminate" if terminate else "Stop"
        return decode_nodes(self.kube.patch_workflow(name, {"spec": {"shutdown": strategy}}))

    def retry(self, name: str, options: RunOptions) -> Workflow:
        wf = self.get_run(name)
        phase = (wf.get("status") or {}).get("phase")
        if options.resubmit:
            created = self._create(resubmit_manifest(wf))
            if not options.wait:
                return created
            return self.watch(created["metadata"]["name"], options.on_update or (lambda _wf: None))
        if not is_finished(wf) or phase not in FAILED_OR_ERROR:
            raise UsageError(
                f"workflow {name} is {phase or 'not finished'}: only a Failed or Error run can be retried",
                hint="use --resubmit to run it again from the start",
            )
        raw = self.kube.get_workflow(name)
        compressed = bool((raw.get("status") or {}).get("compressedNodes"))
        decoded = decode_nodes(raw)
        # As `argo retry` does: the failed pods go first, or the controller finds them again
        # ("already exists") and the retried steps never run.
        nodes = (decoded.get("status") or {}).get("nodes") or {}
        for nid in retried_pod_nodes(decoded):
            self.kube.delete_pod(self.kube.namespace, node_pod_name(decoded, nodes[nid]))
        patch = retry_patch(decoded, compressed=compressed)
        patched = decode_nodes(self.kube.patch_workflow(name, patch))
        if not options.wait:
            return patched
        self._until_taken_up(name, str(patched["metadata"].get("resourceVersion") or ""))
        return self.watch(name, options.on_update or (lambda _wf: None))

    def _until_taken_up(self, name: str, version: str) -> None:
        """Until the controller writes to the workflow a retry re-opened. Argo v4.0.5's
        throttler can lose the key of a workflow re-opened right after it completed (the
        controller then logs "postponed due to max parallelism limit" for good, with no
        limit set): as a user would, touch it (an annotation) while it does not answer,
        at most ``NUDGES`` times."""
        for count in range(1, NUDGES + 1):
            deadline = time.monotonic() + NUDGE_AFTER
            while time.monotonic() < deadline:
                time.sleep(0.25)
                if str(self.kube.get_workflow(name)["metadata"].get("resourceVersion") or "") != version:
                    return
            touch = {"metadata": {"annotations": {RETRY_NUDGE: str(count)}}}
            version = str(self.kube.patch_workflow(name, touch)["metadata"].get("resourceVersion") or "")

    def resume(
        self,
        name: str,
        node: str | None = None,
        parameters: Mapping[str, str] | None = None,
        fail: str | None = None,
    ) -> Workflow:
        """As ``argo resume`` / ``argo node set`` do it through the API server: the
        changed nodes (and ``spec.suspend: null``) as one merge patch."""
        from dflowctl.argo.resume import ResumeError, check_selector, global_outputs, resume_nodes

        raw = self.kube.get_workflow(name)
        if is_finished(raw):
            phase = (raw.get("status") or {}).get("phase") or "finished"
            raise UsageError(f"workflow {name} has already finished ({phase}); nothing to resume")
        compressed = bool((raw.get("status") or {}).get("compressedNodes"))
        decoded = decode_nodes(raw)
        status = decoded.get("status") or {}
        held = bool((decoded.get("spec") or {}).get("suspend"))
        try:
            if node is not None:
                check_selector(node)
            changed = resume_nodes(status.get("nodes") or {}, node, dict(parameters or {}), rfc3339(), fail)
        except ResumeError as err:
            raise UsageError(f"cannot resume {name}: {err}") from None
        if not changed and not (node is None and held):
            raise UsageError(f"cannot resume {name}: nothing is suspended")
        patch: dict[str, Any] = {}
        if node is None and held:
            patch["spec"] = {"suspend": None}
        if changed:
            if compressed:
                merged = {**(status.get("nodes") or {}), **changed}
                patch["status"] = {"compressedNodes": encode_nodes(merged)}
            else:
                patch["status"] = {"nodes": changed}
            outputs = global_outputs(status, changed)
            if outputs is not None:
                patch.setdefault("status", {})["outputs"] = {
                    **(status.get("outputs") or {}),
                    "parameters": outputs,
                }
        return decode_nodes(self.kube.patch_workflow(name, patch))

    def reused_by(self, name: str) -> list[str]:
        """The other runs that read artifacts of run ``name`` (``run --reuse``)."""
        from dflowctl.engines.argoreuse import readers

        return readers(
            self.kube.list_workflows(label_selector=f"{MANAGED_BY}=dflowctl").get("items") or [], name
        )

    def delete(self, name: str) -> None:
        """Delete the Workflow; when another run reads its artifacts (``run --reuse``),
        Argo's artifact GC is turned off for it first, so its artifacts stay."""
        if self.reused_by(name):
            from dflowctl.engines.argoreuse import keep_artifacts_patch

            patch = keep_artifacts_patch(self.kube.get_workflow(name))
            if patch is not None:
                self.kube.patch_workflow(name, patch)
        self.kube.delete_workflow(name)


__all__ = ["ArgoEngine", "WorkflowRejectedError", "decode_nodes", "encode_nodes", "retry_patch"]
