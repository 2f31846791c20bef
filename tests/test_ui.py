"""`dflowctl ui`: the report pages served on 127.0.0.1, read only, through the real CLI,
opened in headless Chromium."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import open_page
from tests.conftest import SPECS, run_cli

SLOW_SPEC = """\
apiVersion: dflowctl/v1alpha1
kind: Workflow
metadata: {name: slow}
spec:
  ops:
    nap:
      image: alpine:3.20
      script: |
        echo "<i>napping</i>"
        sleep 3
  steps:
    - name: nap
      op: nap
"""


def _get(url: str, method: str = "GET") -> tuple[int, str]:
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode("utf-8")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode("utf-8")


@pytest.fixture
def served(dflowctl_home: Path, tmp_path: Path) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "dflowctl", "ui", "--port", "0"],
        cwd=tmp_path,
        env={**os.environ, "NO_COLOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith(
            f"Serving local runs in {dflowctl_home.absolute()}/runs at http://127.0.0.1:"
        ), line
        yield line.split(" at ")[1].split()[0]
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_ui_lists_runs_and_serves_reports(served: str, tmp_path: Path) -> None:
    res = run_cli("run", str(SPECS / "fanout.yaml"), "-p", "n=5", "--name", "fan-five", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    code, text = _get(served)
    assert code == 200 and 'href="/runs/fan-five"' in text
    code, text = _get(served + "runs/fan-five")
    assert code == 200 and '<body data-live="0">' in text and "total = 30" in text.replace("</code> =", " =")
    assert _get(served + "runs/nope")[0] == 404
    assert _get(served + "elsewhere")[0] == 404
    assert _get(served, "POST")[0] == 405
    assert _get(served + "runs/fan-five", "DELETE")[0] == 405
    page = open_page(served, tmp_path / "ui-runs.png", height=600)
    assert page.console == []
    assert [a.attrs["href"] for a in page.find("a") if a.attrs.get("href", "").startswith("/runs/")] == [
        "/runs/fan-five"
    ]
    page = open_page(served + "runs/fan-five", tmp_path / "ui-run.png")
    assert page.console == []
    assert len(page.find("g", "node")) == 3
    assert len(page.find("a", "chip")) == 5
    assert len(page.find("table", "timeline")) == 1 and len(page.find("table", "fanout-table")) == 1


def test_ui_run_page_is_live_while_the_run_goes_on(served: str, tmp_path: Path) -> None:
    spec = tmp_path / "slow.yaml"
    spec.write_text(SLOW_SPEC)
    res = run_cli("submit", str(spec), "--name", "slow-one", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    code, text = _get(served + "runs/slow-one")
    assert code == 200 and '<body data-live="1">' in text
    code, listing = _get(served)
    assert '<body data-live="1">' in listing
    deadline = time.time() + 60
    while '<body data-live="0">' not in text and time.time() < deadline:
        time.sleep(0.5)
        code, text = _get(served + "runs/slow-one")
    assert '<body data-live="0">' in text and "Succeeded" in text
    assert "&lt;i&gt;napping&lt;/i&gt;" in text  # the log tail, escaped


def test_ui_port_in_use(dflowctl_home: Path, served: str, tmp_path: Path) -> None:
    port = served.rsplit(":", 1)[1].strip("/")
    res = run_cli("ui", "--port", port, cwd=tmp_path, timeout=30)
    assert res.returncode == 2
    assert res.stderr == f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
