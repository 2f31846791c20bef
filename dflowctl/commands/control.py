"""`dflowctl stop / resume / retry / delete NAME`: control a run."""

from __future__ import annotations

import typer

from dflowctl.commands._common import (
    CONTEXT_OPT,
    ENGINE_OPT,
    KUBECONFIG_OPT,
    NAMESPACE_OPT,
    OUTPUT_OPT,
    address_flags,
    check_output,
    check_run_name,
    complete_run,
    default_wait,
    follow,
    settings_from,
)


def register(app: typer.Typer) -> None:
    @app.command("stop")
    def stop_cmd(
        name: str = typer.Argument(
            ..., help="The run's name (or @latest).", autocompletion=complete_run, callback=check_run_name
        ),
        terminate: bool = typer.Option(
            False, "--terminate", help="End it at once, without running exit handlers."
        ),
        node: str | None = typer.Option(
            None,
            "--node",
            help="Stop only this suspended node (it ends Failed; argo stop --node-field-selector): "
            "its name, display name or id, or a field selector.",
        ),
        message: str | None = typer.Option(None, "--message", help="With --node: the node's message."),
        engine: str | None = ENGINE_OPT,
        namespace: str | None = NAMESPACE_OPT,
        kubeconfig: str | None = KUBECONFIG_OPT,
        context: str | None = CONTEXT_OPT,
    ) -> int:
        """Stop a run (its exit handler still runs); --terminate ends it at once.

        --node stops one suspended node."""
        from dflowctl import actions, console, runs
        from dflowctl.errors import UsageError

        if message is not None and node is None:
            raise UsageError("--message is the message of a stopped node: give it with --node")
        if node is not None and terminate:
            raise UsageError("--terminate ends the whole run; --node stops one suspended node")
        eng = actions.make_engine(settings_from(engine, namespace, kubeconfig, context))

        name = runs.resolve(eng, name)
        if node is not None:
            workflow = eng.resume(name, node, {}, fail=message or "")
            console.print_paths([f"{name} node {node} stopped ({console.workflow_phase(workflow)})"])
            return 0
        workflow = eng.stop(name, terminate=terminate)
        phase = console.workflow_phase(workflow)
        verb = "terminated" if terminate else "stopped"
        console.print_paths([f"{name} {verb} ({phase})"])
        return 0

    @app.command("resume")
    def resume_cmd(
        name: str = typer.Argument(
            ..., help="The run's name (or @latest).", autocompletion=complete_run, callback=check_run_name
        ),
        node: str | None = typer.Option(
            None,
            "--node",
            help="Resume only this suspended node: its name, display name or id, or a field "
            "selector as argo's (displayName=approve).",
        ),
        parameter: list[str] = typer.Option(
            [], "-p", "--parameter", help="Set a `supplied` output parameter of --node: NAME=VALUE."
        ),
        engine: str | None = ENGINE_OPT,
        namespace: str | None = NAMESPACE_OPT,
        kubeconfig: str | None = KUBECONFIG_OPT,
        context: str | None = CONTEXT_OPT,
    ) -> int:
        """Resume a suspended run (`argo resume`).

        With --node and -p, set that node's supplied outputs first (`argo node set`)."""
        from dflowctl import actions, console, runs
        from dflowctl.errors import UsageError
        from dflowctl.spec.params import parse_pairs

        if parameter and node is None:
            raise UsageError("-p sets the outputs of one suspended node: give it with --node")
        values = parse_pairs(parameter)
        eng = actions.make_engine(settings_from(engine, namespace, kubeconfig, context))
        name = runs.resolve(eng, name)
        workflow = eng.resume(name, node, values)
        phase = console.workflow_phase(workflow)
        console.print_paths([f"{name} resumed ({phase})"])
        return 0

    @app.command("retry")
    def retry_cmd(
        name: str = typer.Argument(
            ..., help="The run's name (or @latest).", autocompletion=complete_run, callback=check_run_name
        ),
        wait: bool | None = typer.Option(None, "--wait/--no-wait", help="Follow the run to its end."),
        parallelism: int | None = typer.Option(None, "--parallelism", min=1, help="Steps at once (local)."),
        resubmit: bool = typer.Option(
            False, "--resubmit", help="Run it again from the start as a new run (argo engine)."
        ),
        output: str = OUTPUT_OPT,
        engine: str | None = ENGINE_OPT,
        namespace: str | None = NAMESPACE_OPT,
        kubeconfig: str | None = KUBECONFIG_OPT,
        context: str | None = CONTEXT_OPT,
    ) -> int:
        """Re-run what failed or never ran, keeping the steps that succeeded."""
        from dflowctl import actions, runs
        from dflowctl.engines import OnUpdate, RunOptions, Workflow

        fmt = check_output(output)
        settings = settings_from(engine, namespace, kubeconfig, context)
        eng = actions.make_engine(settings)
        name = runs.resolve(eng, name)
        do_wait = default_wait(settings.engine) if wait is None else wait
        _say_changed_ops(eng, name)

        def start(on_update: OnUpdate | None) -> Workflow:
            options = RunOptions(
                wait=do_wait, parallelism=parallelism, on_update=on_update, resubmit=resubmit
            )
            return eng.retry(name, options)

        flags = address_flags(engine, namespace, kubeconfig, context)
        return follow(start, fmt, do_wait, settings.engine, flags)

    @app.command("delete")
    def delete_cmd(
        name: str = typer.Argument(
            ..., help="The run's name (or @latest).", autocompletion=complete_run, callback=check_run_name
        ),
        engine: str | None = ENGINE_OPT,
        namespace: str | None = NAMESPACE_OPT,
        kubeconfig: str | None = KUBECONFIG_OPT,
        context: str | None = CONTEXT_OPT,
    ) -> int:
        """Delete a run and its records."""
        from dflowctl import actions, console, runs

        eng = actions.make_engine(settings_from(engine, namespace, kubeconfig, context))

        name = runs.resolve(eng, name)
        readers = eng.reused_by(name) if hasattr(eng, "reused_by") else []
        eng.delete(name)
        console.print_paths([f"{name} deleted"])
        if readers:
            console.info(f"its artifacts are kept: {', '.join(readers)} reuse(s) them")
        return 0


def _say_changed_ops(eng: object, name: str) -> None:
    """``retry`` runs the stored templates; say which ops were edited since (local runs)."""
    from dflowctl import console

    find = getattr(eng, "changed_ops", None)
    if find is None:
        return
    found = find(name)
    if not found or not found[1]:
        return
    spec, ops = found
    console.info(
        f"note: changed on disk since {name} ran: {', '.join(ops)}; retry runs the code stored with the run."
        f" To run the changed code and reuse what still holds: dflowctl run {spec} --reuse {name}"
    )
