"""`dflowctl graph SPEC|NAME`: the step graph as Mermaid or Graphviz text."""

from __future__ import annotations

from pathlib import Path

import typer

from dflowctl.commands._common import CONTEXT_OPT, ENGINE_OPT, KUBECONFIG_OPT, NAMESPACE_OPT, settings_from
from dflowctl.errors import UsageError

GRAPH_FORMATS = ("mermaid", "dot")


def register(app: typer.Typer) -> None:
    @app.command("graph")
    def graph_cmd(
        target: str = typer.Argument(
            ..., help="A spec or Argo Workflow file (before running), or a run's name."
        ),
        fmt: str = typer.Option("mermaid", "--format", "-f", help="mermaid or dot."),
        parameter: list[str] = typer.Option(
            [], "-p", "--parameter", help="Set a parameter: NAME=VALUE (a spec)."
        ),
        engine: str | None = ENGINE_OPT,
        namespace: str | None = NAMESPACE_OPT,
        kubeconfig: str | None = KUBECONFIG_OPT,
        context: str | None = CONTEXT_OPT,
    ) -> int:
        """Print the step graph of a spec (from its rendered manifest) or of a run (with phases)."""
        import sys

        from dflowctl import actions, runs
        from dflowctl.report.graph import manifest_graph, run_graph, to_dot, to_mermaid

        if fmt not in GRAPH_FORMATS:
            raise UsageError(f"unknown graph format {fmt!r}", hint="use one of: " + ", ".join(GRAPH_FORMATS))
        settings = settings_from(engine, namespace, kubeconfig, context)
        path = Path(target)
        if path.is_file():
            with actions.prepared_manifest(path, parameter, None, settings.engine) as prepared:
                graph = manifest_graph(prepared.manifest)
        elif target.endswith((".yaml", ".yml", ".json")) or "/" in target:
            raise UsageError(f"{target}: no such file")
        else:
            eng = actions.make_engine(settings)
            graph = run_graph(eng.get_run(runs.resolve(eng, target)))
        sys.stdout.write(to_mermaid(graph) if fmt == "mermaid" else to_dot(graph))
        return 0
