"""`dflowctl run SPEC`: validate, render, submit; with --wait follow it and exit with its result.

``submit`` (argo's verb) is ``run --no-wait`` (``commands/habits.py``); the Python
API (``dflowctl/api.py``) starts runs through ``pythons_for`` and ``name_run`` too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from dflowctl.commands._common import (
    CONTEXT_OPT,
    ENGINE_OPT,
    KUBECONFIG_OPT,
    NAMESPACE_OPT,
    OUTPUT_OPT,
    address_flags,
    check_output,
    default_wait,
    follow,
    settings_from,
)
from dflowctl.engines import Workflow
from dflowctl.errors import UsageError
from dflowctl.runs import LATEST

if TYPE_CHECKING:
    from dflowctl.actions import Prepared
    from dflowctl.settings import Settings

ANY_RUN = "*"  # `--reuse` with no run named (no run has this name)


def optional_reuse_value(args: list[str]) -> list[str]:
    """``--reuse`` takes a run name only when one follows: not an option, not a spec file.
    The parser needs a value, so a bare ``--reuse`` becomes ``--reuse=*`` (any earlier run)."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":
            return out + args[i:]
        if arg != "--reuse":
            out.append(arg)
            continue
        nxt = args[i + 1] if i + 1 < len(args) else None
        if nxt is None or nxt.startswith("-") or _looks_like_spec(nxt):
            out.append(f"--reuse={ANY_RUN}")
        else:
            out.append(arg)
    return out


def _looks_like_spec(arg: str) -> bool:
    return arg.endswith((".yaml", ".yml", ".json")) or "/" in arg or Path(arg).is_file()


LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


def name_run(manifest: Workflow, name: str | None, labels: list[str]) -> None:
    """``--name`` (instead of ``generateName``) and ``--label`` on the manifest to submit."""
    meta = manifest.setdefault("metadata", {})
    if name is not None:
        from dflowctl.spec.values import MAX_WORKFLOW_NAME, WORKFLOW_NAME

        if not WORKFLOW_NAME.match(name) or len(name) > MAX_WORKFLOW_NAME:
            raise UsageError(
                f"invalid run name {name!r}",
                hint=f"lower-case letters, digits and '-', at most {MAX_WORKFLOW_NAME} characters",
            )
        meta["name"] = name
        meta.pop("generateName", None)
    if labels:
        from dflowctl.runs import parse_labels

        pairs = parse_labels(labels)
        for key, value in pairs.items():
            if not LABEL_VALUE.match(value) or len(value) > 63 or not LABEL_KEY.match(key):
                raise UsageError(f"invalid label {key}={value}", hint="Kubernetes label keys and values")
        meta.setdefault("labels", {}).update(pairs)


def pythons_for(prepared: Prepared, settings: Settings, python_flag: bool) -> dict[str, Any]:
    """The Python each Python op runs with (local engine), as ``RunOptions.pythons``."""
    if settings.engine != "local":
        return {}
    from dflowctl import actions

    chosen = actions.python_plan(prepared, settings, python_flag=python_flag)
    return {name: i.to_json() for name, i in chosen.items()}


def check_reuse(settings: Settings, reuse: str | None) -> str | None:
    """``--reuse [RUN]`` before anything runs: ``@latest`` as the run started last (before
    this one)."""
    from dflowctl import actions

    if reuse == LATEST:
        from dflowctl import runs

        reuse = runs.resolve(actions.make_engine(settings), reuse)
    return reuse


def reuse_plan(
    prepared: Prepared,
    settings: Settings,
    reuse: str | None,
    no_reuse: bool,
    rerun: Sequence[str],
    reuse_steps: Sequence[str] = (),
) -> tuple[bool, str | None]:
    """(take earlier results, only RUN's): ``--reuse [RUN]``, ``--no-reuse``, config ``reuse:``
    (local runs; the local engine checks ``--reuse-step`` has a RUN). On Argo the manifest
    is rewritten here instead (``argo_reuse``)."""
    if settings.engine == "argo" and (reuse is not None or rerun or reuse_steps) and not no_reuse:
        argo_reuse(prepared, settings, reuse, tuple(rerun), tuple(reuse_steps))
    by_default = settings.reuse and settings.engine == "local"
    use_reuse = not no_reuse and (reuse is not None or by_default)
    return use_reuse, reuse if use_reuse and reuse not in (None, ANY_RUN) else None


def argo_reuse(
    prepared: Prepared,
    settings: Settings,
    reuse: str | None,
    rerun: tuple[str, ...],
    reuse_steps: tuple[str, ...] = (),
) -> None:
    """``-e argo --reuse RUN``: the steps RUN already ran are rendered without pods (docs/reuse.md)."""
    from dflowctl import actions, console
    from dflowctl.engines.argoreuse import reuse_manifest

    if reuse in (None, ANY_RUN):
        raise UsageError(
            "on Argo, --reuse needs the run to take results from: --reuse RUN",
            hint="list runs with: dflowctl status -e argo",
        )
    from dflowctl.engines.argo import ArgoEngine
    from dflowctl.errors import DflowctlError

    engine = actions.make_engine(settings)
    if not isinstance(engine, ArgoEngine):
        raise UsageError("--reuse RUN on a cluster needs the argo engine", hint="add -e argo")
    old = engine.get_run(reuse)
    try:
        done = reuse_manifest(
            prepared.manifest, old, rerun, engine.stored_keys(prepared.manifest), reuse_steps
        )
    except DflowctlError:
        raise  # the cluster or the repository: exit 3 with its message
    except Exception as err:  # a planning problem never stops the run: it reuses nothing
        console.info(f"warning: could not plan what to reuse ({type(err).__name__}: {err}); every step runs")
        return
    prepared.manifest = done.manifest
    if done.steps:
        console.info(f"reusing {done.pods} pod(s) of {reuse}: {', '.join(done.steps)}")
    else:
        console.info(f"nothing of {reuse} can be reused: every step runs")


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run_cmd(
        spec: Path = typer.Argument(..., help="A dflowctl spec, or an Argo Workflow file."),
        parameter: list[str] = typer.Option([], "-p", "--parameter", help="Set a parameter: NAME=VALUE."),
        parameter_file: Path | None = typer.Option(
            None, "--parameter-file", "-f", help="A YAML/JSON file of parameter values (and artifact paths)."
        ),
        artifact: list[str] = typer.Option(
            [], "--artifact", help="Set a workflow artifact: NAME=PATH (a local path, s3://… or https://…)."
        ),
        engine: str | None = ENGINE_OPT,
        parallelism: int | None = typer.Option(
            None, "--parallelism", min=1, help="Steps at once (local engine; default: CPU count)."
        ),
        wait: bool | None = typer.Option(
            None,
            "--wait/--no-wait",
            help="Follow the run to its end (default: always for local; for argo on a terminal and in CI).",
        ),
        output: str = OUTPUT_OPT,
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the manifest; submit nothing."),
        server_dry_run: bool = typer.Option(
            False, "--server-dry-run", help="Ask the API server to check the Workflow (argo engine)."
        ),
        python: str | None = typer.Option(
            None,
            "--python",
            help="The Python that runs Python ops (local engine; env DFLOWCTL_PYTHON). "
            "An op's `local:` and the config's image mapping come first.",
        ),
        name: str | None = typer.Option(None, "--name", help="The run's name (default: generated)."),
        label: list[str] = typer.Option([], "--label", "-l", help="Add a label to the run: key=value."),
        templates: list[Path] = typer.Option(
            [],
            "--templates",
            help="A file, or a folder of YAML files, of WorkflowTemplates, ClusterWorkflowTemplates "
            "and ConfigMaps an Argo Workflow file refers to (local engine; repeatable).",
        ),
        namespace: str | None = NAMESPACE_OPT,
        kubeconfig: str | None = KUBECONFIG_OPT,
        context: str | None = CONTEXT_OPT,
        reuse: str | None = typer.Option(
            None,
            "--reuse",
            metavar="[RUN]",
            help="Reuse the results of earlier steps with the same key (after the spec: any earlier run; "
            "--reuse RUN: only that run's; RUN may be @latest). "
            "Config setting `reuse: true` makes it the default.",
        ),
        no_reuse: bool = typer.Option(False, "--no-reuse", help="Run every step (overrides `reuse: true`)."),
        rerun: list[str] = typer.Option(
            [], "--rerun", metavar="STEP", help="Run this step (or op) again even if it could be reused."
        ),
        reuse_step: list[str] = typer.Option(
            [],
            "--reuse-step",
            metavar="STEP",
            help="With --reuse RUN: take this step's results (every item) from RUN even though its "
            "code or inputs changed (dflow's reuse_step).",
        ),
    ) -> int:
        """Run a workflow and show it live; exit 0 if it succeeded, 1 if it failed."""
        return run_spec(
            spec,
            parameter,
            parameter_file,
            engine,
            parallelism,
            wait,
            output,
            dry_run,
            server_dry_run,
            python,
            name,
            label,
            namespace,
            kubeconfig,
            context,
            templates=templates,
            artifact=artifact,
            reuse=reuse,
            no_reuse=no_reuse,
            rerun=tuple(rerun),
            reuse_steps=tuple(reuse_step),
        )


def run_spec(
    spec: Path,
    parameter: list[str],
    parameter_file: Path | None,
    engine: str | None,
    parallelism: int | None,
    wait: bool | None,
    output: str,
    dry_run: bool,
    server_dry_run: bool,
    python: str | None,
    name: str | None,
    label: list[str],
    namespace: str | None,
    kubeconfig: str | None,
    context: str | None,
    templates: list[Path] | None = None,
    *,
    artifact: list[str] | None = None,
    reuse: str | None = None,
    no_reuse: bool = False,
    rerun: tuple[str, ...] = (),
    reuse_steps: tuple[str, ...] = (),
) -> int:
    """``run`` (and ``submit``, which is ``run --no-wait``); ``artifact``: ``--artifact`` flags;
    ``reuse``: ``ANY_RUN`` or a run's name (``--reuse [RUN]``)."""
    from dflowctl import actions, console
    from dflowctl.engines import OnUpdate, RunOptions

    fmt = check_output(output)
    settings = settings_from(engine, namespace, kubeconfig, context, python=python)
    reuse = check_reuse(settings, reuse)
    if server_dry_run and settings.engine != "argo":
        raise UsageError("--server-dry-run needs the argo engine", hint="add -e argo")
    local_python = (
        actions.python_context(settings, python is not None) if settings.engine == "local" else None
    )
    if local_python is not None and not dry_run:  # the Python check's, started while the spec is read
        actions.probe_python_early(local_python)
    with actions.prepared_manifest(
        spec, parameter, parameter_file, settings.engine, templates or (), artifact or (), local_python
    ) as prepared:
        name_run(prepared.manifest, name, label)
        for warning in prepared.warnings:
            console.info(f"warning: {warning}")
        use_reuse, reuse_from = reuse_plan(prepared, settings, reuse, no_reuse, rerun, reuse_steps)
        if dry_run:
            console.print_object(prepared.manifest, "json" if fmt == "json" else "yaml")
            return 0
        eng = actions.make_engine(settings)
        if server_dry_run:
            options = RunOptions(wait=False, server_dry_run=True)
            console.print_object(actions.submit(eng, prepared, options), "json" if fmt == "json" else "yaml")
            return 0
        do_wait = default_wait(settings.engine) if wait is None else wait
        if settings.engine == "local" and do_wait:  # its pods' isolation, found out beside the Python check
            from dflowctl.engines.local.isolation import probe_early

            probe_early(Path(settings.runs_dir))
        pythons = pythons_for(prepared, settings, python is not None)

        def start(on_update: OnUpdate | None) -> Workflow:
            options = RunOptions(
                wait=do_wait,
                parallelism=parallelism,
                on_update=on_update,
                pythons=pythons,
                reuse=use_reuse,
                reuse_from=reuse_from,
                rerun=rerun,
                reuse_steps=reuse_steps,
                spec_path=spec,
            )
            return actions.submit(eng, prepared, options)

        # a run sent to the spec's own namespace is found again there
        spec_ns = (prepared.manifest.get("metadata") or {}).get("namespace")
        if settings.engine == "argo" and not settings.namespace and isinstance(spec_ns, str):
            namespace = spec_ns
        flags = address_flags(engine, namespace, kubeconfig, context)
        return follow(start, fmt, do_wait, settings.engine, flags)
