"""``dflowctl ui``: the report pages served live on 127.0.0.1, read only.

``/`` lists the runs; ``/runs/NAME`` is a run's report, which fetches itself
again every two seconds while the run goes on. Only GET and HEAD are answered.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from dflowctl.engines import Engine
from dflowctl.errors import DflowctlError, NotFoundError

RUNS_PREFIX = "/runs/"


def runs_page(engine: Engine, where: str) -> str:
    from dflowctl import console, runs
    from dflowctl.report.html import page

    found = runs.newest_first(engine.list_runs())
    live = any(not (w.get("status") or {}).get("finishedAt") for w in found)
    rows = []
    for row in console.run_rows(found):
        name, phase = row[0], row[1]
        rows.append(
            f'<tr><td><a href="{RUNS_PREFIX}{escape(quote(name, safe=""))}">{escape(name)}</a></td>'
            f'<td class="ph {escape(phase)}">{escape(phase)}</td>'
            + "".join(f"<td>{escape(cell)}</td>" for cell in row[2:])
            + "</tr>"
        )
    table = (
        "<table><tr><th>name</th><th>phase</th><th>started</th><th>duration</th><th>progress</th>"
        "<th>message</th></tr>" + "".join(rows) + "</table>"
        if rows
        else '<p class="muted">No runs yet.</p>'
    )
    body = (
        f'<header><h1>dflowctl runs</h1><div class="meta"><span>{escape(where)}</span></div></header>'
        f'<main id="content"><section id="runs">{table}</section></main>'
    )
    return page("dflowctl runs", body, live=live)


def run_page(engine: Engine, name: str) -> str:
    from dflowctl.argo.phases import is_finished
    from dflowctl.report.collect import collect
    from dflowctl.report.html import page_order, report_page
    from dflowctl.tree import build_tree

    workflow = engine.get_run(name)
    live = not is_finished(workflow)
    root = build_tree(workflow)
    order = page_order(workflow, root)
    extras = collect(
        engine, workflow, previews=not live, root=root, log_nodes=order.log_nodes()
    )  # files once ended
    return report_page(workflow, extras, engine=engine.name, live=live, back="/", root=root, order=order)


def make_handler(engine: Engine, where: str) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()  # one page at a time: engines are not shared across threads

    class Handler(BaseHTTPRequestHandler):
        server_version = "dflowctl-ui"

        def do_GET(self) -> None:
            self._answer(send_body=True)

        def do_HEAD(self) -> None:
            self._answer(send_body=False)

        def _refuse(self) -> None:
            self._send(405, "read only", send_body=True, extra={"Allow": "GET, HEAD"})

        do_POST = do_PUT = do_DELETE = do_PATCH = _refuse

        def _answer(self, send_body: bool) -> None:
            path = urlsplit(self.path).path
            try:
                with lock:
                    if path == "/":
                        text = runs_page(engine, where)
                    elif path.startswith(RUNS_PREFIX) and len(path) > len(RUNS_PREFIX):
                        text = run_page(engine, unquote(path[len(RUNS_PREFIX) :]))
                    else:
                        self._send(404, "not found", send_body)
                        return
            except NotFoundError as err:
                self._send(404, err.message, send_body)
                return
            except DflowctlError as err:
                self._send(500, err.message, send_body)
                return
            self._send(200, text, send_body, html=True)

        def _send(
            self,
            code: int,
            text: str,
            send_body: bool,
            *,
            html: bool = False,
            extra: Mapping[str, str] | None = None,
        ) -> None:
            body = (text if html else escape(text) + "\n").encode("utf-8")
            self.send_response(code)
            self.send_header(
                "Content-Type", "text/html; charset=utf-8" if html else "text/plain; charset=utf-8"
            )
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if send_body:
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # quiet: no line per request
            return

    return Handler


def serve(engine: Engine, port: int, where: str, on_ready: Any = None) -> None:
    """Serve until interrupted; ``on_ready(url)`` once listening."""
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(engine, where))
    server.daemon_threads = True
    try:
        if on_ready is not None:
            on_ready(f"http://127.0.0.1:{server.server_address[1]}/")
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
