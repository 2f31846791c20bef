"""`dflowctl report`, `graph` and `outputs` through the real CLI; reports opened in
real headless Chromium (skipped only when it is not installed)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.browser import open_page
from tests.conftest import SPECS, run_cli

N = 50
SQUARES = sum(i * i for i in range(N))

SHOUT_SPEC = """\
apiVersion: dflowctl/v1alpha1
kind: Workflow
metadata: {name: shout}
spec:
  ops:
    show:
      image: alpine:3.20
      script: |
        echo "<b>bold</b><img src=x onerror=alert(2)>"
        printf '%s' "$word" > /tmp/word.txt
        if [ "$word" = fail ]; then echo "going down </pre><script>alert(3)</script>"; exit 3; fi
      inputs:
        parameters: {word: str}
      outputs:
        parameters:
          echoed: {type: str, from: /tmp/word.txt}
  steps:
    - name: show
      op: show
      parameters: {word: "{{item}}"}
      foreach:
        items: ["<script>alert(1)</script>", "plain", "fail"]
"""


def _env(home: Path) -> dict[str, str]:
    return {"DFLOWCTL_HOME": str(home), "DFLOWCTL_CONFIG": str(home.parent / "no-config.yaml")}


def _name(stdout: str) -> str:
    m = re.search(r"^Name: (\S+)$", stdout, re.MULTILINE)
    assert m, stdout
    return m.group(1)


@pytest.fixture(scope="module")
def fanout50(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], str, Path]:
    """One run of specs/fanout.yaml with -p n=50, shared by the tests here."""
    base = tmp_path_factory.mktemp("fanout50")
    env = _env(base / "home")
    res = run_cli("run", str(SPECS / "fanout.yaml"), "-p", f"n={N}", cwd=base, env=env, timeout=600)
    assert res.returncode == 0, res.stderr
    return env, _name(res.stdout), base


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], str, Path]:
    """A run that fails, with HTML in an item (so in a step's name), in logs and in outputs."""
    base = tmp_path_factory.mktemp("shout")
    (base / "shout.yaml").write_text(SHOUT_SPEC)
    env = _env(base / "home")
    res = run_cli("run", "shout.yaml", cwd=base, env=env, timeout=300)
    assert res.returncode == 1, res.stderr
    return env, _name(res.stdout), base


def test_report_of_a_50_item_fanout_in_chromium(
    fanout50: tuple[dict[str, str], str, Path], tmp_path: Path
) -> None:
    env, name, _ = fanout50
    out = tmp_path / "fanout.html"
    res = run_cli("report", name, "-o", str(out), env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout == f"{out}\n"
    html = out.read_text()
    # self-contained: nothing to fetch (the SVG namespace is a name, not a fetch)
    assert re.search(r'(src|href|action)="(https?:)?//|url\((?!#)|@import', html) is None
    page = open_page(out.as_uri(), tmp_path / "fanout-report.png")
    assert page.console == []
    # one graph node per step: the workflow, the folded fan-out, the sum
    nodes = page.find("g", "node")
    labels = [" ".join(n.text).split("  ")[0] for n in nodes]
    assert len(nodes) == 3, labels
    assert [sorted(n.classes) for n in nodes] == [
        ["kind-group", "node", "phase-Succeeded"],
        ["kind-fanout", "node", "phase-Succeeded"],
        ["kind-step", "node", "phase-Succeeded"],
    ]
    assert len(page.find("a", "chip")) == N  # the fan-out unfolds into one chip per item
    timeline = page.find("table", "timeline")
    assert len(timeline) == 1 and len([e for e in page.find("span") if "Succeeded" in e.classes]) >= N + 1
    fan = page.find("table", "fanout-table")
    assert len(fan) == 1
    assert len([e for e in page.elements if e.tag == "tr" and "".join(e.text).startswith("49")]) == 1
    assert f"total = {SQUARES}" in page.text
    assert page.text.count("square(49:49)") >= 2  # timeline and log sections
    assert (tmp_path / "fanout-report.png").stat().st_size > 10_000


def test_report_of_a_failed_run_shows_html_as_text(
    failed_run: tuple[dict[str, str], str, Path], tmp_path: Path
) -> None:
    env, name, _ = failed_run
    out = tmp_path / "failed.html"
    res = run_cli("report", name, "-o", str(out), env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    page = open_page(out.as_uri(), tmp_path / "failed-report.png")
    assert page.console == []
    # user-written HTML stayed text: the page's own script is its only script, no image was made
    assert len(page.find("script")) == 1
    assert page.find("img") == []
    assert "<script>alert(1)</script>" in page.text  # the item, in the step's name
    assert "<b>bold</b><img src=x onerror=alert(2)>" in page.text  # a log line
    assert "going down </pre><script>alert(3)</script>" in page.text
    # the failing step's log tail is open
    open_logs = [d for d in page.find("details", "log") if "open" in d.attrs]
    assert len(open_logs) == 1 and "show(2:fail)" in "".join(open_logs[0].text)
    assert "going down" in "".join(open_logs[0].text)
    assert [sorted(n.classes) for n in page.find("g", "node")] == [
        ["kind-group", "node", "phase-Failed"],
        ["kind-fanout", "node", "phase-Failed"],
    ]
    assert "1 Failed, 2 Succeeded" in page.text


def test_report_to_stdout_and_errors(fanout50: tuple[dict[str, str], str, Path], tmp_path: Path) -> None:
    env, name, _ = fanout50
    res = run_cli("report", "@latest", "-o", "-", env=env, cwd=tmp_path)
    assert res.returncode == 0 and res.stdout.startswith("<!DOCTYPE html>")
    assert f"<title>{name} — Succeeded</title>" in res.stdout
    res = run_cli("report", "nope", env=env, cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.startswith("error: ")


def test_graph_of_a_spec_before_running(tmp_path: Path) -> None:
    res = run_cli("graph", str(SPECS / "fanout.yaml"))
    assert res.returncode == 0, res.stderr
    assert res.stdout == (
        "flowchart TD\n"
        '  n0("fanout")\n'
        '  n1[["square withSequence"]]\n'
        '  n2["total"]\n'
        "  n0 --> n1\n"
        "  n1 --> n2\n"
    )
    res = run_cli("graph", str(SPECS / "dag-diamond.yaml"), "--format", "dot")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("digraph workflow {\n") and res.stdout.endswith("}\n")
    edges = re.findall(r"(n\d+) -> (n\d+);", res.stdout)
    assert len(edges) >= 4
    res = run_cli("graph", str(SPECS / "fanout.yaml"), "--format", "png")
    assert (res.returncode, res.stderr) == (
        2,
        "error: unknown graph format 'png'\n  hint: use one of: mermaid, dot\n",
    )
    res = run_cli("graph", "missing.yaml")
    assert (res.returncode, res.stderr) == (2, "error: missing.yaml: no such file\n")


def test_graph_of_a_run_has_phases(fanout50: tuple[dict[str, str], str, Path]) -> None:
    env, name, base = fanout50
    res = run_cli("graph", name, "-f", "dot", env=env, cwd=base)
    assert res.returncode == 0, res.stderr
    assert f'label="square ×{N} (Succeeded)"' in res.stdout
    assert res.stdout.count(" -> ") == 2
    res = run_cli("graph", "@latest", env=env, cwd=base)
    assert "classDef succeeded fill:#d4f4dd" in res.stdout


def test_outputs_one_row_per_item(failed_run: tuple[dict[str, str], str, Path]) -> None:
    env, name, base = failed_run
    res = run_cli("outputs", name, "--step", "show", "-o", "csv", env=env, cwd=base)
    assert res.returncode == 0, res.stderr
    assert res.stdout == (
        "step,index,item,phase,echoed\n"
        "show,0,<script>alert(1)</script>,Succeeded,<script>alert(1)</script>\n"
        "show,1,plain,Succeeded,plain\n"
        "show,2,fail,Failed,fail\n"
    )
    res = run_cli("outputs", name, "-o", "json", env=env, cwd=base)
    rows = json.loads(res.stdout)
    assert [(r["index"], r["item"], r["outputs"]) for r in rows] == [
        (0, "<script>alert(1)</script>", {"echoed": "<script>alert(1)</script>"}),
        (1, "plain", {"echoed": "plain"}),
        (2, "fail", {"echoed": "fail"}),
    ]
    res = run_cli("outputs", name, "--step", "shwo", env=env, cwd=base)
    assert res.returncode == 2
    assert res.stderr == f"error: run {name!r} has no step 'shwo'\n  hint: did you mean 'show'?\n"
    res = run_cli("outputs", name, "-o", "xml", env=env, cwd=base)
    assert (res.returncode, res.stderr) == (
        2,
        "error: unknown output format 'xml'\n  hint: use one of: table, csv, json\n",
    )


def test_outputs_decoded_as_declared(fanout50: tuple[dict[str, str], str, Path]) -> None:
    env, name, base = fanout50
    res = run_cli("outputs", name, "-o", "json", env=env, cwd=base)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == [
        {"step": "total", "index": None, "item": None, "phase": "Succeeded", "outputs": {"total": SQUARES}}
    ]
    res = run_cli("outputs", name, env=env, cwd=base)
    assert res.stdout == f"step   index  item  phase      total\ntotal               Succeeded  {SQUARES}\n"


# one graph node per step: (spec, the nodes' labels in reading order, kinds)
EXAMPLES = {
    "hello": ["hello", "write", "shout"],
    "dag-diamond": ["dag-diamond", "start", "left", "right", "join", "report"],
    "conditional": ["conditional", "check", "even", "odd"],
    "retry": ["retry", "flaky"],
    "composite": [
        "composite",
        "large",
        "small",
        "square",
        "square",
        "square",
        "square",
        "sum",
        "sum",
        "both",
    ],
}


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_report_of_each_example(example: str, dflowctl_home: Path, tmp_path: Path) -> None:
    res = run_cli("run", str(SPECS / f"{example}.yaml"), "--name", example, cwd=tmp_path, timeout=300)
    assert res.returncode == 0, res.stderr
    res = run_cli("report", example, "-o", str(tmp_path / "r.html"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    page = open_page((tmp_path / "r.html").as_uri())
    assert page.console == []
    labels = [e.text[1] for e in page.find("g", "node")]  # <title>, then the label's <text>
    assert labels == EXAMPLES[example]
    run = json.loads(run_cli("status", example, "-o", "json", cwd=tmp_path).stdout)
    pods = [n for n in run["status"]["nodes"].values() if n["type"] == "Pod"]
    assert len(page.find("details", "log")) == len(pods)
    assert len(page.find("td", "tlcell")) == len([p for p in pods if p.get("startedAt")])  # the timeline
