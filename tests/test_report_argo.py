"""`report` and `outputs` of a run on the Argo engine (the stand-in cluster of tests/k8s:
the real kubernetes and minio clients, artifacts in a loopback S3)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.browser import open_page
from tests.conftest import SPECS, run_cli
from tests.k8s import fixtures
from tests.k8s.fixtures import ArgoCluster

argo_cluster = fixtures.argo_cluster
fake_kube = fixtures.fake_kube
s3 = fixtures.s3
s3_server = fixtures.s3_server

pytestmark = pytest.mark.timeout(180)


def test_report_and_outputs_of_an_argo_run(argo_cluster: ArgoCluster, tmp_path: Path) -> None:
    env = argo_cluster.env
    res = run_cli(
        "run", "-e", "argo", "--wait", str(SPECS / "fanout.yaml"), "-p", "n=4", env=env, timeout=120
    )
    assert res.returncode == 0, res.stderr
    name = re.search(r"^Name: (\S+)$", res.stdout, re.MULTILINE)
    assert name
    res = run_cli("outputs", "@latest", "-o", "json", env=env)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)[0]["outputs"] == {"total": 14}
    out = tmp_path / "argo.html"
    res = run_cli("report", name.group(1), "-o", str(out), env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    html = out.read_text()
    assert "engine: <b>argo</b>" in html
    page = open_page(out.as_uri())
    assert page.console == []
    assert len(page.find("g", "node")) == 3 and len(page.find("a", "chip")) == 4
    # the squares' files were fetched from S3 for their previews
    previews = [e for e in page.find("table", "files")]
    assert len(previews) == 1
    texts = sorted("".join(p.text).strip() for p in page.find("pre"))
    assert [t for t in texts if t in ("0", "1", "4", "9")] == ["0", "1", "4", "9"]


def test_ui_serves_a_namespace(argo_cluster: ArgoCluster, tmp_path: Path) -> None:
    env = argo_cluster.env
    res = run_cli("run", "-e", "argo", "--wait", str(SPECS / "hello.yaml"), env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    name = re.search(r"^Name: (\S+)$", res.stdout, re.MULTILINE)
    assert name
    proc = subprocess.Popen(
        [sys.executable, "-m", "dflowctl", "ui", "-e", "argo", "--port", "0"],
        cwd=tmp_path,
        env={**os.environ, **env, "NO_COLOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("Serving argo namespace "), line
        url = line.split(" at ")[1].split()[0]
        with urllib.request.urlopen(url, timeout=30) as resp:
            listing = resp.read().decode()
        assert f'href="/runs/{name.group(1)}"' in listing
        page = open_page(f"{url}runs/{name.group(1)}")
        assert page.console == []
        assert [e.text[1] for e in page.find("g", "node")] == [name.group(1), "write", "shout"]
        assert "engine: argo" in page.text
    finally:
        proc.terminate()
        proc.wait(timeout=20)
