"""`dflowctl rerun NAME --step S [--item N]`: one step of a run again, here, to debug it."""

from __future__ import annotations

import typer

from dflowctl.commands._common import ENGINE_OPT, check_run_name, complete_run, settings_from
from dflowctl.errors import UsageError


def register(app: typer.Typer) -> None:
    @app.command("rerun")
    def rerun_cmd(
        name: str = typer.Argument(
            ..., help="The run's name (or @latest).", autocompletion=complete_run, callback=check_run_name
        ),
        step: str = typer.Option(..., "--step", "-s", help="The step to run again (its name)."),
        item: int | None = typer.Option(None, "--item", min=0, help="Which item of a foreach step."),
        engine: str | None = ENGINE_OPT,
    ) -> int:
        """Run one step again on this machine with the inputs it had, in the foreground.

        Its output goes to the terminal; the run's record is not changed."""
        import sys

        from dflowctl import actions, console, runs
        from dflowctl.stepkey import is_hidden

        settings = settings_from(engine)
        if settings.engine != "local":
            raise UsageError("rerun works on local runs for now", hint="use it on a run of the local engine")
        eng = actions.make_engine(settings)
        name = runs.resolve(eng, name)
        workflow = eng.get_run(name)
        from dflowctl.engines.local import rerun as local_rerun
        from dflowctl.engines.local.records import RunDir

        node = local_rerun.pick_pod(workflow, step, item)
        console.info(f"rerun {node.get('displayName')} of {name} (template {node.get('templateName')}):")
        run = RunDir(settings.runs_dir / name)
        done = local_rerun.rerun(run, workflow, node, sys.stdout)
        phase = str(done.get("phase"))
        message = f": {done['message']}" if done.get("message") else ""
        lines = [f"{done.get('displayName', step)} {phase}{message}"]
        for p in (done.get("outputs") or {}).get("parameters") or []:
            if not is_hidden(p.get("name")):
                lines.append(f"  {p['name']} = {p.get('value', '')}")
        console.info("\n".join(lines))
        return 0 if phase == "Succeeded" else 1
