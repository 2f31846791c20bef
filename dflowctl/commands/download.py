"""`dflowctl download NAME`: fetch a run's output artifacts, unpacked."""

from __future__ import annotations

from pathlib import Path

import typer

from dflowctl.commands._common import (
    CONTEXT_OPT,
    ENGINE_OPT,
    KUBECONFIG_OPT,
    NAMESPACE_OPT,
    check_run_name,
    complete_run,
    pause_gc_for_reading,
    settings_from,
)


def register(app: typer.Typer) -> None:
    @app.command("download")
    def download_cmd(
        name: str = typer.Argument(
            ..., help="The run's name (or @latest).", autocompletion=complete_run, callback=check_run_name
        ),
        step: str | None = typer.Option(
            None, "--step", "-s", help="Only this step's artifacts (STEP[N]: only its item of index N)."
        ),
        item: int | None = typer.Option(None, "--item", help="Only the item of index N of --step."),
        artifact: str | None = typer.Option(None, "--artifact", "-a", help="Only the artifact of this name."),
        directory: Path | None = typer.Option(
            None,
            "-d",
            "--dir",
            help="Where to put them (default: ./<run name>); as DIR/<step>/<artifact>/ (<i>/ per item).",
        ),
        force: bool = typer.Option(False, "--force", help="Overwrite existing files that differ."),
        engine: str | None = ENGINE_OPT,
        namespace: str | None = NAMESPACE_OPT,
        kubeconfig: str | None = KUBECONFIG_OPT,
        context: str | None = CONTEXT_OPT,
    ) -> int:
        """Download output artifacts to DIR/<step>/<artifact>."""
        pause_gc_for_reading()
        from dflowctl import actions, console, runs
        from dflowctl.download import with_item

        step = with_item(step, item)
        eng = actions.make_engine(settings_from(engine, namespace, kubeconfig, context))
        name = runs.resolve(eng, name)
        items = actions.select_artifacts(eng, name, step=step, artifact=artifact)
        with console.DownloadProgress(len(items)) as progress:
            result = actions.download(
                eng, name, items, directory=directory, force=force, on_fetched=progress.advance
            )
        # in the order of Paths (part by part), sorted as text: 10,000 Path comparisons cost more
        shown = {str(p) for p in (*result.written, *result.unchanged)}
        console.print_paths(sorted(shown, key=lambda text: text.split("/")))
        base = directory if directory is not None else Path(name)
        unchanged = f", {len(result.unchanged)} already up to date" if result.unchanged else ""
        written = len(result.written)
        console.info(f"{len(items)} artifact(s) of {name}: {written} file(s) written{unchanged} in {base}")
        return 0
