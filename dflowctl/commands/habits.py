"""argo's verbs where dflowctl means the same (``list``, ``get``, ``watch``, ``wait``,
``lint``, ``submit``), shell completion, and what to type for verbs we do not have."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path

import typer

from dflowctl.commands._common import (
    CONTEXT_OPT,
    ENGINE_OPT,
    KUBECONFIG_OPT,
    NAMESPACE_OPT,
    OUTPUT_OPT,
    complete_run,
    settings_from,
)
from dflowctl.errors import UsageError

# argo (and dflow) verbs with another name here: what to type instead
INSTEAD = {
    "terminate": "dflowctl stop NAME --terminate",
    "resubmit": "dflowctl retry NAME --resubmit (argo engine)",
    "cp": "dflowctl download NAME",
    "template": "dflowctl render SPEC (templates live in the spec)",
    "suspend": "dflowctl stop NAME (a run suspends itself: `suspend` templates, spec.suspend)",
    "rm": "dflowctl delete NAME",
    "ls": "dflowctl list",
    "query_status": "dflowctl status NAME",
    "query_step": "dflowctl outputs NAME --step STEP",
}
SHELLS = ("bash", "zsh", "fish")


def unknown_command(app: typer.Typer, args: Sequence[str]) -> None:
    """A first word that names no command: ``UsageError`` naming ours (exit 2)."""
    first = next((a for a in args if not a.startswith("-")), None)
    if first is None:
        return
    names = [c.name for c in app.registered_commands if c.name]
    names += [g.name for g in app.registered_groups if g.name]  # `cache` and its subcommands
    if first in names:
        return
    hint = INSTEAD.get(first)
    if hint is None:
        close = difflib.get_close_matches(first, names, n=1, cutoff=0.6)
        hint = f"dflowctl {close[0]}" if close else None
    raise UsageError(
        f"no command {first!r}",
        hint=f"did you mean: {hint}" if hint else "dflowctl --help lists the commands",
    )


def register(app: typer.Typer) -> None:
    @app.command("list")
    def list_cmd(
        engine: str | None = ENGINE_OPT,
        output: str = OUTPUT_OPT,
        phase: list[str] = typer.Option([], "--phase", help="Only runs in this phase (repeatable)."),
        label: list[str] = typer.Option([], "-l", "--label", help="Only runs with this label: key=value."),
        since: str | None = typer.Option(None, "--since", help="Only runs started within: 30m, 2h, 1d."),
        namespace: str | None = NAMESPACE_OPT,
        kubeconfig: str | None = KUBECONFIG_OPT,
        context: str | None = CONTEXT_OPT,
    ) -> int:
        """List runs (= status without a name; argo's verb)."""
        from dflowctl.commands.status import list_runs

        return list_runs(engine, output, phase, label, since, namespace, kubeconfig, context)

    @app.command("get")
    def get_cmd(
        name: str = typer.Argument(..., help="The run's name (or @latest).", autocompletion=complete_run),
        engine: str | None = ENGINE_OPT,
        output: str = OUTPUT_OPT,
        namespace: str | None = NAMESPACE_OPT,
        kubeconfig: str | None = KUBECONFIG_OPT,
        context: str | None = CONTEXT_OPT,
    ) -> int:
        """Show one run (= status NAME; argo's verb)."""
        from dflowctl.commands.status import show_run

        return show_run(name, engine, output, False, namespace, kubeconfig, context)

    @app.command("watch")
    def watch_cmd(
        name: str = typer.Argument(..., help="The run's name (or @latest).", autocompletion=complete_run),
        engine: str | None = ENGINE_OPT,
        output: str = OUTPUT_OPT,
        namespace: str | None = NAMESPACE_OPT,
        kubeconfig: str | None = KUBECONFIG_OPT,
        context: str | None = CONTEXT_OPT,
    ) -> int:
        """Follow a run to its end; exit 1 if it failed (= status NAME --watch)."""
        from dflowctl.commands.status import show_run

        return show_run(name, engine, output, True, namespace, kubeconfig, context)

    @app.command("wait")
    def wait_cmd(
        name: str = typer.Argument(..., help="The run's name (or @latest).", autocompletion=complete_run),
        engine: str | None = ENGINE_OPT,
        namespace: str | None = NAMESPACE_OPT,
        kubeconfig: str | None = KUBECONFIG_OPT,
        context: str | None = CONTEXT_OPT,
    ) -> int:
        """Wait quietly for a run to end; print its phase; exit 0 if it succeeded, 1 if not."""
        from dflowctl import actions, console, runs
        from dflowctl.argo.phases import is_finished
        from dflowctl.commands._common import Following, interruptible

        eng = actions.make_engine(settings_from(engine, namespace, kubeconfig, context))
        run = runs.resolve(eng, name)
        workflow = eng.get_run(run)
        if not is_finished(workflow):
            with interruptible(Following(run)):
                workflow = eng.watch(run, lambda _wf: None)
        console.print_paths([f"{run} {console.workflow_phase(workflow)}"])
        return actions.exit_code(workflow)

    @app.command("lint")
    def lint_cmd(
        specs: list[Path] = typer.Argument(..., help="Spec files to check.", show_default=False),
        fmt: str = typer.Option("text", "--format", "-f", help="Output: text, json or github."),
    ) -> int:
        """Check specs (= validate; argo's verb)."""
        from dflowctl.commands.validate import FORMATS, report, validate_files

        if fmt not in FORMATS:
            raise UsageError(f"--format must be one of {', '.join(FORMATS)}, not `{fmt}`")
        return report(validate_files(specs), fmt)

    @app.command("submit")
    def submit_cmd(
        spec: Path = typer.Argument(..., help="A dflowctl spec, or an Argo Workflow file."),
        parameter: list[str] = typer.Option([], "-p", "--parameter", help="Set a parameter: NAME=VALUE."),
        parameter_file: Path | None = typer.Option(None, "--parameter-file", "-f", help="A parameter file."),
        name: str | None = typer.Option(None, "--name", help="The run's name (default: generated)."),
        label: list[str] = typer.Option([], "--label", "-l", help="Add a label to the run: key=value."),
        output: str = OUTPUT_OPT,
        engine: str | None = ENGINE_OPT,
        namespace: str | None = NAMESPACE_OPT,
        kubeconfig: str | None = KUBECONFIG_OPT,
        context: str | None = CONTEXT_OPT,
    ) -> int:
        """Start a run and return at once (= run --no-wait; argo's verb)."""
        from dflowctl.commands.run import run_spec

        return run_spec(
            spec, parameter, parameter_file, engine, None, False, output, False, False, None, name, label,
            namespace, kubeconfig, context,
        )  # fmt: skip

    @app.command("completion")
    def completion_cmd(shell: str = typer.Argument(..., help="bash, zsh or fish.")) -> int:
        """Print the shell completion script: eval "$(dflowctl completion bash)"."""
        import sys

        from typer.completion import get_completion_script

        from dflowctl.cli import COMPLETE_VAR

        if shell not in SHELLS:
            raise UsageError(f"unknown shell {shell!r}", hint="use one of: " + ", ".join(SHELLS))
        script = get_completion_script(prog_name="dflowctl", complete_var=COMPLETE_VAR, shell=shell)
        sys.stdout.write(script.rstrip("\n") + "\n")
        return 0
