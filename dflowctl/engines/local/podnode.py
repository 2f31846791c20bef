"""A leaf template as a Pod node: inputs staged, a slot taken, the pod run, its outputs recorded.

``PodNodes.run`` is what the controller does for a container or script
template: substitute ``pod.name``/``retries``, create the node (Pending), put
its input artifacts in a scratch folder, wait for the workflow's
``parallelism`` and then for the runner's slot (the node shows Running from
then on), run the pod through the ``PodRunnerLike``, and store its outputs in
the run's artifact repository.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dflowctl import expr
from dflowctl.archive import UnsafeArchiveError
from dflowctl.argo import parse_duration, pod_name, rfc3339
from dflowctl.engines.local.artifacts import LocalRepository, UnpackCache, default_key, remove, temp_dir
from dflowctl.engines.local.cache import Entry
from dflowctl.engines.local.containerset import ContainerSet
from dflowctl.engines.local.daemons import Daemons
from dflowctl.engines.local.interpreter import Interpreter
from dflowctl.engines.local.podapi import PodRequest, PodResult, PodRunnerLike
from dflowctl.engines.local.podcache import Staged, StepReuse, memoization, provenance, step_key_of
from dflowctl.engines.local.podlayer import SharedLayers
from dflowctl.engines.local.records import RunDir
from dflowctl.engines.local.runtime import Node
from dflowctl.engines.local.scope import Scope, TemplateError, param_string, walk_strings
from dflowctl.engines.local.slots import Slots
from dflowctl.engines.local.status import NodeBook
from dflowctl.engines.local.trash import Trash
from dflowctl.engines.local.volumes import Sidecars, init_requests
from dflowctl.names import is_plain_name
from dflowctl.usage import node_fields


class PodNodes:
    """The Pod nodes of one run."""

    def __init__(
        self,
        wf_name: str,
        book: NodeBook,
        run_dir: RunDir,
        runner: PodRunnerLike,
        parallelism: int | None,
        globals_: Scope,
        pythons: Mapping[str, Interpreter] | None = None,
        reuse: StepReuse | None = None,
    ) -> None:
        self.wf_name = wf_name
        self.book = book
        self.run_dir = run_dir
        self.runner = runner
        self.globals = globals_
        self.pythons = dict(pythons or {})  # template name -> its chosen Python (pyenv)
        self.repo = LocalRepository(run_dir.artifacts)
        self.unpacked = UnpackCache(self.repo, run_dir.work / ".unpacked")
        self.layers = SharedLayers(run_dir.work / ".layers")  # what pods read alike, laid out once
        self.trash = Trash(run_dir.work / ".trash")  # pods' scratch folders, removed beside the run
        # the workflow's spec.parallelism (Argo's); the host's own limit is the runner's
        self.slots = Slots(parallelism) if parallelism else None
        self.reuse = reuse  # the step cache (keys, reuse, keeping results); None: not used
        self.daemons = Daemons(runner, book)  # daemon pods up beside their scope's steps

    def run(
        self,
        name: str,
        display: str,
        tmpl_name: str,
        tmpl: dict[str, Any],
        boundary: str | None,
        retries: int | None,
        *,
        cancel: threading.Event,
        deadline: float | None,
        interrupted: Callable[[], str],
    ) -> Node | None:
        pod = pod_name(self.wf_name, tmpl_name, name)
        local = {"pod.name": pod, "node.name": name, "retries": str(retries or 0)}
        as_given = tmpl  # the key is taken before pod-local names are filled in
        tmpl = walk_strings(tmpl, lambda s: expr.substitute(s, local, strict=False))
        node = self.book.create(
            name, display, "Pod", tmpl_name or None, boundary, phase="Pending", inputs=tmpl.get("inputs")
        )
        nid = node["id"]
        scratch = temp_dir(self.run_dir.work, f"{pod}-")
        kept = False  # a daemon that is up keeps its scratch folder until it ends
        try:
            try:
                staged = self._stage_inputs(tmpl, scratch)
                timeout = _pod_timeout(tmpl)
                keyed = self._key(as_given, staged, tmpl_name)
            except TemplateError as err:
                self.book.finish(node, "Error", str(err))
                return node
            except OSError as err:  # an input that cannot be read for its digest
                self.book.finish(node, "Error", f"failed to load artifacts: {err}")
                return node
            if keyed is not None and self.reuse is not None:
                entry = self.reuse.earlier(keyed[0], display, tmpl_name, step_key_of(as_given))
                if entry is not None and self._reuse(node, tmpl, pod, entry, keyed):
                    return node
            if not _acquire(self.slots, cancel):
                self.book.finish(node, "Failed", interrupted())
                return node
            python = self.pythons.get(tmpl_name)
            try:
                req = PodRequest(
                    pod_name=pod,
                    template=tmpl,
                    work_dir=scratch / "pod",
                    input_artifacts=[(path, host) for _n, path, host, _k in staged],
                    log_path=self.run_dir.log_path(nid),
                    timeout=timeout,
                    not_after=deadline,
                    python=python,
                    layers=self.layers,
                    shared_inputs=frozenset(
                        path for _n, path, host, _k in staged if host.is_relative_to(self.unpacked.folder)
                    ),
                )
                result = None
                for init in init_requests(req):  # the pod's initContainers, one after the other
                    done = self.runner.run(init, cancel)
                    if done.phase != "Succeeded":
                        result = done
                        break
                if result is None and tmpl.get("daemon"):

                    def ended(res: PodResult) -> None:
                        try:
                            self._record(node, tmpl, pod, res, cancel, interrupted, python)
                        finally:
                            self.trash.discard(scratch)

                    sidecars = Sidecars(self.runner, req)
                    result = self.daemons.start(node, boundary, req, sidecars, cancel, ended)
                    kept = result is None
                elif result is None:
                    sidecars = Sidecars(self.runner, req)

                    def running() -> None:
                        self.book.update(node, phase="Running")
                        sidecars.start()

                    try:
                        if tmpl.get("containerSet") is not None:  # its containers, in order
                            cset = ContainerSet(
                                self.runner, self.book, node, req, self.run_dir.log_path, cancel
                            )
                            result = cset.run(running)
                        else:
                            result = self.runner.run(req, cancel, running)
                    finally:
                        sidecars.stop()
            finally:  # (a daemon that is up runs beside the steps: not in one of their slots)
                if self.slots is not None:
                    self.slots.release()
            if kept:
                return node
            assert result is not None
            self._record(node, tmpl, pod, result, cancel, interrupted, python)
            if keyed is not None:
                self._keep(node, keyed)
            return node
        finally:
            if not kept:
                self.trash.discard(scratch)

    def close(self) -> None:
        self.daemons.end_all()
        shutil.rmtree(self.unpacked.folder, ignore_errors=True)
        self.layers.close()
        self.trash.close()

    # ------------------------------------------------------------------ inputs

    def _stage_inputs(self, tmpl: Mapping[str, Any], scratch: Path) -> list[Staged]:
        staged: list[Staged] = []
        for art in (tmpl.get("inputs") or {}).get("artifacts") or []:
            path = art.get("path")
            if not path:
                continue
            if not is_plain_name(art["name"]):  # it names a folder of ours
                raise TemplateError(f"invalid input artifact name {art['name']!r}")
            host = self._artifact_host_path(art, scratch / "in" / art["name"])
            if host is None:
                continue
            s3 = art.get("s3")
            s3_key = str(s3["key"]) if isinstance(s3, Mapping) and s3.get("key") else None
            staged.append((str(art["name"]), str(path), host, s3_key))
        return staged

    def _artifact_host_path(self, art: Mapping[str, Any], scratch: Path) -> Path | None:
        if isinstance(art.get("raw"), Mapping):
            scratch.parent.mkdir(parents=True, exist_ok=True)
            scratch.write_text(str(art["raw"].get("data", "")), encoding="utf-8")
            return scratch
        s3 = art.get("s3")
        if isinstance(s3, Mapping) and s3.get("key"):
            try:
                host = self.unpacked.materialize(str(s3["key"]), scratch)
            except FileNotFoundError:
                if art.get("optional"):
                    return None
                raise TemplateError(  # noqa: B904 - the missing key is the whole story
                    f"failed to load artifact {art['name']!r}: key {s3['key']!r} does not exist"
                )
            except (UnsafeArchiveError, OSError) as err:  # this step's input, not the run's
                raise TemplateError(f"failed to load artifact {art['name']!r}: {err}") from None
            sub = art.get("subPath")
            if sub:
                host = host / str(sub).lstrip("/")
                if not host.exists():
                    raise TemplateError(f"failed to load artifact {art['name']!r}: subPath {sub!r} not found")
            return host
        if art.get("optional"):
            return None
        kinds = [
            k for k in art if k not in ("name", "path", "mode", "optional", "archive", "subPath", "from")
        ]
        what = kinds[0] if kinds else "unknown"
        raise TemplateError(f"not supported by the local engine: {what} artifacts ({art['name']})")

    # ------------------------------------------------------------------ outputs

    def _record(
        self,
        node: Mapping[str, Any],
        tmpl: Mapping[str, Any],
        pod: str,
        result: PodResult,
        cancel: threading.Event,
        interrupted: Callable[[], str],
        python: Interpreter | None = None,
    ) -> None:
        outputs: dict[str, Any] = {}
        phase, message = result.phase, result.message
        spec_out = tmpl.get("outputs") or {}
        params = []
        for p in spec_out.get("parameters") or []:
            entry = dict(p)
            if p["name"] in result.parameters:
                entry["value"] = str(result.parameters[p["name"]])
            elif p.get("value") is not None:
                entry["value"] = param_string(p["value"])
            else:
                continue
            params.append(entry)
        if python is not None:
            params.append(python.output_parameter())  # hidden from the views (stepkey.is_hidden)
        if params:
            outputs["parameters"] = params
        arts = []
        if phase == "Succeeded" or result.artifacts:
            for a in spec_out.get("artifacts") or []:
                host = result.artifacts.get(a["name"])
                if host is None:
                    continue
                try:
                    arts.append(self._store_output(a, Path(host), pod))
                except (OSError, TemplateError) as err:
                    phase, message = "Error", f"failed to save outputs: {err}"
        if arts:
            outputs["artifacts"] = arts
        if result.result is not None:
            outputs["result"] = result.result
        if result.exit_code is not None:
            outputs["exitCode"] = str(result.exit_code)
        if cancel.is_set() and phase != "Succeeded":
            message = interrupted()
            phase = "Failed"
        fields: dict[str, Any] = {}
        if outputs:
            fields["outputs"] = outputs
        fields["startedAt"] = rfc3339(result.started_at) if result.started_at else None
        if result.usage is not None:  # Argo's resourcesDuration and the measured values
            cpu, peak = result.usage
            fields.update(node_fields(cpu, peak, result.finished_at - result.started_at))
        self.book.finish(node, phase, message or "", **fields)
        if result.finished_at:
            self.book.update(node, finishedAt=rfc3339(result.finished_at))

    def _store_output(self, art: Mapping[str, Any], host: Path, pod: str) -> dict[str, Any]:
        key = self._output_key(art, pod)
        self.repo.put(key, host, art)
        out = {k: v for k, v in art.items() if k not in ("s3", "from", "optional")}
        out["s3"] = {"key": key}
        return out

    def _output_key(self, art: Mapping[str, Any], pod: str) -> str:
        s3 = art.get("s3")
        key = s3.get("key") if isinstance(s3, Mapping) else None
        if key:
            return expr.substitute(str(key), {**self.globals, "pod.name": pod}, strict=False)
        return default_key(self.wf_name, pod, art)

    # ------------------------------------------------------------------ the step cache

    def _reuse(
        self, node: Node, tmpl: Mapping[str, Any], pod: str, entry: Entry, keyed: tuple[str, dict[str, str]]
    ) -> bool:
        """Finish ``node`` with an earlier result: its outputs copied in under this run's keys.
        False (nothing recorded) when the entry does not fit this template or a copy fails."""
        reuse = self.reuse
        assert reuse is not None
        spec_out = tmpl.get("outputs") or {}
        outputs: dict[str, Any] = {}
        params = []
        for p in spec_out.get("parameters") or []:
            if p["name"] not in entry.parameters:
                return False
            params.append({**p, "value": entry.parameters[p["name"]]})
        arts = []
        try:
            for a in spec_out.get("artifacts") or []:
                digest = entry.artifacts.get(a["name"])
                if digest is None:
                    if a.get("optional"):
                        continue
                    return False
                key = self._output_key(a, pod)
                dest = self.repo.writable_path(key)
                remove(dest)
                reuse.cache.copy_blob(digest, dest)
                out = {k: v for k, v in a.items() if k not in ("s3", "from", "optional")}
                out["s3"] = {"key": key}
                arts.append(out)
        except OSError:
            return False
        if params:
            outputs["parameters"] = params
        if arts:
            outputs["artifacts"] = arts
        if entry.result is not None:
            outputs["result"] = entry.result
        if entry.exit_code is not None:
            outputs["exitCode"] = entry.exit_code
        # with `--reuse RUN` the key is RUN's (the entry may have been kept by a later run)
        source = reuse.policy.from_run or entry.run
        # a step pinned by --reuse-step keeps the key of the result it took, not its own
        taken = entry.key
        provenance(outputs, taken, keyed[1], entry.artifacts, source)
        log = self.run_dir.log_path(node["id"])
        log.parent.mkdir(parents=True, exist_ok=True)
        said = f"dflowctl: reused the result of {entry.node} (run {source}, key {taken[:12]})"
        if taken != keyed[0]:
            said += (
                f"; taken by --reuse-step: this step's key now is {keyed[0][:12]} (code or inputs changed)"
            )
        log.write_text(said + "\n")
        now = rfc3339()
        self.book.finish(
            node,
            "Succeeded",
            f"reused from {source}",
            outputs=outputs,
            startedAt=now,
            memoizationStatus=memoization(taken, True),
        )
        return True

    def _key(
        self, tmpl: Mapping[str, Any], staged: list[Staged], tmpl_name: str
    ) -> tuple[str, dict[str, str]] | None:
        """The pod's key (with the Python chosen for it) and its input digests; None: no cache."""
        if self.reuse is None:
            return None
        python = self.pythons.get(tmpl_name)
        runtime = {"python": python.python, "version": python.version} if python is not None else None
        return self.reuse.key(tmpl, staged, runtime)

    def _keep(self, node: Node, keyed: tuple[str, dict[str, str]]) -> None:
        """Keep a successful pod's result in the cache; record the node's provenance."""
        assert self.reuse is not None
        outputs = dict(node.get("outputs") or {})
        produced: dict[str, str] = {}
        if node.get("phase") == "Succeeded":
            try:
                produced = self.reuse.keep(keyed[0], str(node.get("name")), outputs)
            except OSError:
                produced = {}  # the cache is an optimisation: a full disk never fails a step
        provenance(outputs, keyed[0], keyed[1], produced, None)
        self.book.update(node, outputs=outputs, memoizationStatus=memoization(keyed[0], False))


def _acquire(slots: Slots | None, cancel: threading.Event) -> bool:
    if slots is None:
        return not cancel.is_set()
    return slots.acquire(cancel)


def _pod_timeout(tmpl: Mapping[str, Any]) -> float | None:
    """The template's own time limit (``timeout``, ``activeDeadlineSeconds``), if any."""
    limits = []
    for key in ("timeout", "activeDeadlineSeconds"):
        if tmpl.get(key) not in (None, ""):
            try:
                limits.append(parse_duration(tmpl[key]))
            except ValueError:
                raise TemplateError(f"invalid {key} {tmpl[key]!r}") from None
    return min(limits) if limits else None


__all__ = ["PodNodes"]
