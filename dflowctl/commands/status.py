"""`dflowctl status [NAME]`: the list of runs, or one run's step tree.

``list``, ``get`` and ``watch`` (argo's verbs) are this command too (``commands/habits.py``).
"""

from __future__ import annotations

import typer

from dflowctl.commands._common import (
    CONTEXT_OPT,
    ENGINE_OPT,
    KUBECONFIG_OPT,
    NAMESPACE_OPT,
    OUTPUT_OPT,
    Following,
    address_flags,
    check_output,
    check_run_name,
    complete_run,
    interruptible,
    pause_gc_for_reading,
    settings_from,
)
from dflowctl.errors import UsageError

PHASES = ("Pending", "Running", "Succeeded", "Failed", "Error")
PHASE_OPT = typer.Option([], "--phase", help="List only runs in this phase (repeatable).")
LABEL_OPT = typer.Option([], "-l", "--label", help="List only runs with this label: key=value (repeatable).")
SINCE_OPT = typer.Option(None, "--since", help="List only runs started within this long: 30m, 2h, 1d.")


def list_runs(
    engine: str | None,
    output: str,
    phase: list[str],
    label: list[str],
    since: str | None,
    namespace: str | None,
    kubeconfig: str | None,
    context: str | None,
) -> int:
    from dflowctl import actions, console, runs

    fmt = check_output(output)
    known = {p.lower(): p for p in PHASES}
    for p in phase:
        if p.lower() not in known:
            raise UsageError(f"unknown phase {p!r}", hint="use one of: " + ", ".join(PHASES))
    labels = runs.parse_labels(label)
    window = runs.parse_since(since) if since is not None else None
    settings = settings_from(engine, namespace, kubeconfig, context)
    eng = actions.make_engine(settings)
    # the table needs no nodes: an engine that can list without them (local) does so
    summaries = getattr(eng, "list_summaries", None) if fmt == "table" else None
    found = summaries() if summaries is not None else eng.list_runs()
    shown = runs.filter_runs(found, phases=phase, labels=labels, since=window)
    if fmt != "table":
        console.print_object(shown, fmt)
        return 0
    console.print_runs(shown)
    if not shown and not found and settings.engine == "local":
        from dflowctl.home import elsewhere_hint

        hint = elsewhere_hint(settings.home)
        if hint:
            console.info(hint)
    elif not shown and found:
        console.info(f"({len(found)} run(s) left out by the filters)")
    return 0


def show_run(
    name: str,
    engine: str | None,
    output: str,
    watch: bool,
    namespace: str | None,
    kubeconfig: str | None,
    context: str | None,
) -> int:
    """One run's detail; with ``watch``, followed to its end. Exits with the run's result
    (0 succeeded or still going, 1 failed) when watching."""
    from dflowctl import actions, runs
    from dflowctl.argo.phases import is_finished

    fmt = check_output(output)
    if not watch:
        pause_gc_for_reading()
    eng = actions.make_engine(settings_from(engine, namespace, kubeconfig, context))
    name = runs.resolve(eng, name)
    workflow = eng.get_run(name)
    if watch and not is_finished(workflow):
        following = Following(name)
        if fmt == "table":
            from dflowctl import console

            with interruptible(following), console.RunView() as view:
                view.named = True  # the name is the argument
                workflow = eng.watch(name, view.update)
        else:
            with interruptible(following):
                workflow = eng.watch(name, following.note)
    if fmt == "table":
        from dflowctl import console

        console.print_run_detail(workflow, address_flags(engine, namespace, kubeconfig, context))
    else:  # for machines: without the console (``rich``: a big run's JSON imports no more than it needs)
        from dflowctl.machineout import print_object

        print_object(workflow, fmt)
    return actions.exit_code(workflow) if watch else 0


def register(app: typer.Typer) -> None:
    @app.command("status")
    def status_cmd(
        name: str | None = typer.Argument(
            None,
            help="A run's name (or @latest); without it, list the runs.",
            autocompletion=complete_run,
            callback=check_run_name,
        ),
        engine: str | None = ENGINE_OPT,
        output: str = OUTPUT_OPT,
        watch: bool = typer.Option(
            False, "-w", "--watch", help="Follow the run until it ends; exit 1 if it failed."
        ),
        phase: list[str] = PHASE_OPT,
        label: list[str] = LABEL_OPT,
        since: str | None = SINCE_OPT,
        namespace: str | None = NAMESPACE_OPT,
        kubeconfig: str | None = KUBECONFIG_OPT,
        context: str | None = CONTEXT_OPT,
    ) -> int:
        """List runs, or show one run's steps with phases, durations and messages."""
        if name is None:
            if watch:
                raise UsageError("--watch needs a run name", hint="dflowctl status NAME --watch")
            return list_runs(engine, output, phase, label, since, namespace, kubeconfig, context)
        if phase or label or since:
            raise UsageError("--phase, --label and --since filter the list of runs", hint="leave out NAME")
        return show_run(name, engine, output, watch, namespace, kubeconfig, context)
