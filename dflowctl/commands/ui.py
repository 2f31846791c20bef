"""`dflowctl ui`: runs and their reports in a browser, served on 127.0.0.1 (read only)."""

from __future__ import annotations

import typer

from dflowctl.commands._common import CONTEXT_OPT, ENGINE_OPT, KUBECONFIG_OPT, NAMESPACE_OPT, settings_from


def register(app: typer.Typer) -> None:
    @app.command("ui")
    def ui_cmd(
        port: int = typer.Option(
            8765, "--port", min=0, max=65535, help="The port on 127.0.0.1 (0: any free)."
        ),
        engine: str | None = ENGINE_OPT,
        namespace: str | None = NAMESPACE_OPT,
        kubeconfig: str | None = KUBECONFIG_OPT,
        context: str | None = CONTEXT_OPT,
    ) -> int:
        """Serve the runs and each run's report, updating while it runs, on 127.0.0.1."""
        import sys

        from dflowctl import actions
        from dflowctl.commands._common import Following, interruptible
        from dflowctl.report.server import serve

        settings = settings_from(engine, namespace, kubeconfig, context)
        eng = actions.make_engine(settings)
        if settings.engine == "local":
            where = f"local runs in {settings.runs_dir.absolute()}"
        else:
            where = f"argo namespace {settings.namespace or '(from kubeconfig)'}"

        def ready(url: str) -> None:
            sys.stdout.write(f"Serving {where} at {url} (Ctrl-C to stop)\n")
            sys.stdout.flush()

        try:
            with interruptible(Following()):
                serve(eng, port, where, ready)
        except OSError as err:
            from dflowctl.errors import UsageError

            raise UsageError(f"cannot listen on 127.0.0.1:{port}: {err.strerror or err}") from None
        return 0
