"""Reports of runs: a self-contained HTML page per run (``dflowctl report``, ``dflowctl ui``)
and step graphs as Mermaid or Graphviz text (``dflowctl graph``).

``graph`` builds the graph (of a run's ``status`` or of a manifest), ``layout``
draws it as SVG, ``collect`` fetches log tails and file previews through the
engine, ``html`` assembles the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dflowctl.engines import Engine


def run_report(engine: Engine, workflow: Mapping[str, Any], *, live: bool = False, back: str = "") -> str:
    """The HTML page of a run (``workflow`` as the engine returned it)."""
    from dflowctl.report.collect import collect
    from dflowctl.report.html import page_order, report_page
    from dflowctl.tree import build_tree

    root = build_tree(workflow)  # once, for the previews' selection and the page
    order = page_order(workflow, root)
    extras = collect(engine, workflow, root=root, log_nodes=order.log_nodes())
    return report_page(workflow, extras, engine=engine.name, live=live, back=back, root=root, order=order)
