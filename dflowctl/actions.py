"""Use cases behind the commands: prepare a manifest, run it, and answer for runs.

Everything here returns data and never prints; the commands decide what the
user sees (``console``). Heavy parts (the engines, ``kubernetes``, ``minio``)
are imported only when used.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dflowctl.argo.phases import FAILED_OR_ERROR
from dflowctl.engines import Engine, LogBlock, RunOptions, Workflow, get_engine
from dflowctl.errors import EXIT_FAILED, EXIT_OK, UsageError
from dflowctl.settings import Settings

if TYPE_CHECKING:
    from dflowctl.download import DownloadResult, Selected
    from dflowctl.engines.local.interpreter import Interpreter
    from dflowctl.pyenv.choose import Context as PythonContext
    from dflowctl.spec import model
    from dflowctl.spec.load import YamlDocument
    from dflowctl.spec.model import Op


@dataclass
class Prepared:
    """A manifest ready to submit, and what it needs from this machine.

    ``source_archives`` maps an artifact-repository key to a local archive file
    (a ``source:`` directory packed reproducibly); the engine puts each one in
    its repository under that key when it submits.
    """

    manifest: Workflow
    base_dir: Path
    source_archives: dict[str, Path] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # a spec's ops, and which op each leaf template runs (for the local engine's Python choice)
    ops: Mapping[str, Op] = field(default_factory=dict)
    template_ops: dict[str, str] = field(default_factory=dict)


def make_engine(settings: Settings) -> Engine:
    return get_engine(settings.engine, settings)


# ---------------------------------------------------------------- preparing a manifest


@contextmanager
def prepared_manifest(
    path: Path,
    overrides: Sequence[str] = (),
    parameter_file: Path | None = None,
    engine: str = "local",
    templates: Sequence[Path] = (),
    artifacts: Sequence[str] = (),
    python: PythonContext | None = None,
) -> Iterator[Prepared]:
    """The Argo manifest for ``path`` (a dflowctl spec or an Argo Workflow file).

    A context manager: the source archives it packs live in a temporary folder
    until the block ends. ``python``: which Python runs local ops (``python_context``),
    for looking up ops from installed libraries.
    """
    with tempfile.TemporaryDirectory(prefix="dflowctl-sources-") as tmp:
        yield prepare(path, overrides, parameter_file, Path(tmp), engine, templates, artifacts, python)


def prepare(
    path: Path,
    overrides: Sequence[str],
    parameter_file: Path | None,
    tmp: Path,
    engine: str = "local",
    templates: Sequence[Path] = (),
    artifacts: Sequence[str] = (),
    python: PythonContext | None = None,
) -> Prepared:
    """Load and render ``path``; ``source:`` archives are packed into ``tmp``.

    An Argo Workflow file is taken as it is (with ``-p`` applied); for the local
    engine, what it cannot run on this host is reported before anything runs.
    ``artifacts`` are ``--artifact NAME=PATH`` flags (dflowctl specs only).
    """
    from dflowctl.inputs import load_input

    loaded = load_input(path)
    if artifacts and loaded.argo:
        raise UsageError(
            "--artifact sets the workflow artifacts of a dflowctl spec, not of an Argo Workflow file",
            hint="edit spec.arguments.artifacts of the file",
        )
    if loaded.argo:
        warnings: list[str] = []
        manifest = argo_manifest(loaded.doc, overrides, parameter_file, warnings)
        if engine == "local":
            from dflowctl import configmaps, wftemplates
            from dflowctl.argofile import check_local_document, plain

            extra = wftemplates.template_files(templates)
            check_local_document(loaded.doc, extra)
            maps, docs = wftemplates.gather(path, extra)
            wftemplates.resolve(manifest, {k: plain(d.data) for k, d in docs.items()})
            configmaps.resolve(manifest, maps)
        elif templates:
            raise UsageError(
                "--templates is for local runs",
                hint="on a cluster, its WorkflowTemplates and ConfigMaps are used",
            )
        return Prepared(manifest, path.resolve().parent, warnings=warnings)
    if templates:
        raise UsageError("--templates is for Argo Workflow files", hint="a spec holds its own ops")
    from dflowctl.render import render_workflow_ops, upload_paths
    from dflowctl.uploads import pack_uploads

    wf = spec_model(loaded.doc, overrides, parameter_file, artifacts, python)
    archives, sources = pack_uploads(upload_paths(wf), tmp)
    manifest, template_ops = render_workflow_ops(wf, sources)
    if engine == "local":
        check_machine(manifest, template_ops, wf.ops)
    warnings = [w.one_line() for w in wf.warnings]
    return Prepared(manifest, wf.base_dir, archives, ops=wf.ops, template_ops=template_ops, warnings=warnings)


def check_machine(manifest: Workflow, template_ops: Mapping[str, str], ops: Mapping[str, Op]) -> None:
    """A spec's resource requests that this machine can never give: ``SpecError`` at the op's
    `resources` (the local engine runs every pod here)."""
    from dflowctl.argofile import MACHINE_HINT
    from dflowctl.engines.local.machine import oversized_templates
    from dflowctl.errors import Diagnostic, SpecError

    templates = manifest["spec"]["templates"]
    diags: dict[tuple[str, str], Diagnostic] = {}
    for i, where, why in oversized_templates(templates):
        op = ops.get(template_ops.get(str(templates[i].get("name")), ""))
        if op is None:
            continue
        key = "gpu" if where[-1] in ("nvidia.com/gpu",) else str(where[-1])
        loc = op.locs.get(f"resources.{key}") or op.loc
        diags.setdefault((op.name, key), Diagnostic(f"op '{op.name}' {why}", loc, MACHINE_HINT))
    if diags:
        raise SpecError(diags.values())


def python_plan(prepared: Prepared, settings: Settings, python_flag: bool = False) -> dict[str, Interpreter]:
    """For a local run: the Python of each Python template, every import checked before
    anything runs (``SpecError`` naming the op, the module, the interpreter and the fix).

    ``python_flag``: ``settings.python`` came from ``--python`` (not ``DFLOWCTL_PYTHON``).
    """
    from dflowctl.pyenv.plan import plan

    return plan(prepared.manifest, python_context(settings, python_flag), prepared.template_ops, prepared.ops)


def probe_python_early(ctx: PythonContext) -> None:
    """Start asking the interpreter that a Python op with neither ``local:`` nor an image
    of the config's ``python:`` mapping gets (``pyenv.choose``: ``python3`` by the rule)
    while the spec is read; ``python_plan`` takes the answer (docs/local-engine.md)."""
    from dflowctl.pyenv.choose import ChoiceError, choose
    from dflowctl.pyenv.probe import start_early
    from dflowctl.spec.model import PYTHON_PROGRAM

    if ctx.images:  # an op's image may choose another: ask when it is known
        return
    try:
        python = choose(None, None, PYTHON_PROGRAM, ctx).python
    except ChoiceError:
        return  # the plan says why, for the ops it concerns
    start_early(python)


def python_context(settings: Settings, python_flag: bool = False) -> PythonContext:
    """The settings' part of the rule for which Python runs a local op (``pyenv.choose``)."""
    from dflowctl.pyenv.choose import context_of

    return context_of(settings, python_flag)


def spec_model(
    doc: YamlDocument,
    overrides: Sequence[str],
    parameter_file: Path | None,
    artifacts: Sequence[str] = (),
    python: PythonContext | None = None,
) -> model.Workflow:
    """A loaded dflowctl spec, checked, with ``-p`` / ``--parameter-file`` / ``--artifact`` applied
    (``python``: which Python runs local ops, where installed op libraries are looked up)."""
    from dflowctl.spec import validate_document
    from dflowctl.spec.params import apply_parameters
    from dflowctl.spec.runartifacts import apply_artifacts, parse_artifact_pairs

    wf = validate_document(doc, python=python)
    wf = apply_parameters(wf, parse_overrides(overrides) or None, parameter_file)
    return apply_artifacts(wf, parse_artifact_pairs(artifacts), parameter_file)


def render_file(
    path: Path, overrides: Sequence[str] = (), parameter_file: Path | None = None
) -> tuple[Workflow, list[str]]:
    """What ``dflowctl render`` prints for ``path``, and warnings: an Argo file as it is
    (with ``-p`` applied to its arguments), a spec rendered."""
    from dflowctl.inputs import load_input

    loaded = load_input(path)
    warnings: list[str] = []
    if loaded.argo:
        return argo_manifest(loaded.doc, overrides, parameter_file, warnings), warnings
    from dflowctl.render import render_workflow, upload_paths
    from dflowctl.uploads import source_keys

    wf = spec_model(loaded.doc, overrides, parameter_file)
    return render_workflow(wf, source_keys(upload_paths(wf))), warnings


def parse_overrides(overrides: Sequence[str]) -> dict[str, str]:
    """``-p NAME=VALUE`` flags as a mapping (a later flag wins)."""
    from dflowctl.spec.params import parse_pairs

    return parse_pairs(overrides)


def _parameter_values(overrides: Sequence[str], parameter_file: Path | None) -> dict[str, str]:
    """Argo parameters are text: a file's non-string values as JSON (NaN and infinities
    refused, as every bound of ``spec.limits``; errors reported as for a spec)."""
    values: dict[str, str] = {}
    if parameter_file is not None:
        from dflowctl.spec.params import read_parameter_file
        from dflowctl.spec.values import finite

        origin = f"--parameter-file {parameter_file}"
        for key, val in read_parameter_file(Path(parameter_file)).items():
            if not finite(val):
                raise UsageError(f"{origin}: parameter `{key}`: NaN or an infinity, which JSON cannot carry")
            values[key] = val if isinstance(val, str) else json.dumps(val)
    values.update(parse_overrides(overrides))
    return values


def argo_manifest(
    doc: YamlDocument,
    overrides: Sequence[str] = (),
    parameter_file: Path | None = None,
    warnings: list[str] | None = None,
) -> Workflow:
    """A loaded Argo Workflow file, checked structurally, with ``-p`` applied to its arguments.

    As ``argo submit`` does, a parameter the file does not declare is added to
    ``spec.arguments.parameters``; a note saying so is appended to ``warnings``.
    """
    from dflowctl import argofile

    path = doc.path
    manifest: Workflow = argofile.manifest(doc)
    values = _parameter_values(overrides, parameter_file)
    if values:
        params = manifest.setdefault("spec", {}).setdefault("arguments", {}).setdefault("parameters", [])
        known = {p.get("name"): p for p in params}
        for name, value in values.items():
            if name not in known:
                declared = ", ".join(sorted(map(str, known))) or "none"
                (warnings if warnings is not None else []).append(
                    f"{path}: parameter {name!r} is not declared in spec.arguments (declared: {declared});"
                    " passing it as `argo submit` does"
                )
                known[name] = {"name": name}
                params.append(known[name])
            known[name]["value"] = value
            known[name].pop("valueFrom", None)
    return manifest


# ---------------------------------------------------------------- runs


def run_options(prepared: Prepared, options: RunOptions) -> RunOptions:
    archives = {**options.source_archives, **prepared.source_archives}
    return replace(options, base_dir=prepared.base_dir, source_archives=archives)


def submit(engine: Engine, prepared: Prepared, options: RunOptions) -> Workflow:
    return engine.submit(prepared.manifest, run_options(prepared, options))


def exit_code(workflow: Mapping[str, Any]) -> int:
    """0 unless the run ended Failed or Error (a run still going counts as 0)."""
    phase = (workflow.get("status") or {}).get("phase")
    return EXIT_FAILED if phase in FAILED_OR_ERROR else EXIT_OK


def logs(
    engine: Engine, name: str, step: str | None = None, follow: bool = False, timestamps: bool = False
) -> Iterator[LogBlock]:
    """Log lines of a run, or of the work nodes under ``step`` (all its items/attempts),
    several lines at a time (``LogBlock``); with ``timestamps``, each line's time."""
    node_ids: list[str] | None = None
    if step is not None:
        from dflowctl.download import find_steps

        workflow = engine.get_run(name)
        node_ids = []
        for _path, node in find_steps(workflow, step):
            node_ids.extend(n.id for _, n in node.walk() if n.is_leaf_kind)
    return engine.log_blocks(name, node_ids, follow, timestamps)


def select_artifacts(
    engine: Engine, name: str, *, step: str | None = None, artifact: str | None = None
) -> list[Selected]:
    """The output artifacts of run ``name`` that ``download`` would fetch."""
    from dflowctl.download import select

    return select(engine.get_run(name), step, artifact)


def download(
    engine: Engine,
    name: str,
    items: list[Selected],
    *,
    directory: Path | None = None,
    force: bool = False,
    on_fetched: Callable[[Selected], None] | None = None,
) -> DownloadResult:
    """Fetch ``items`` (from ``select_artifacts``) to ``directory`` (default ``./<name>``)."""
    from dflowctl.download import fetch_all

    base = directory if directory is not None else Path(name)
    return fetch_all(engine.artifact_store(name), items, base, force=force, on_fetched=on_fetched)
