"""The README's commands with ``-e argo`` against a REAL API server and Argo controller, results checked.

The README's examples in its order (run -p, -o json, status, the step tree, logs
--step, download --step, a plain Argo file with -p, report @latest, outputs @latest
-o csv), then the rows of its command table that talk to a cluster: submit, list,
get, watch, wait, status filters, logs -f/--tail/--grep/--since, graph, download
--item, run --name/-l/--artifact/--parameter-file, and ui. stop, retry and delete
are in test_argo_cluster.py and test_argo_cluster_rbac.py. ``make test-cluster``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.cluster.fixtures import cli, cluster_env
from tests.conftest import ARGO_EXAMPLES, REPO, SPECS, require_shared

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]
__all__ = ["cluster_env"]

HELLO = str(SPECS / "hello.yaml")


def name_in(stdout: str, prefix: str) -> str:
    return next(w for w in stdout.split() if w.startswith(prefix))


@pytest.fixture
def env(cluster_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {**cluster_env, "DFLOWCTL_HOME": str(tmp_path / "home"), "NO_COLOR": "1"}


def test_readme_examples_on_real_argo(env: dict[str, str], tmp_path: Path) -> None:
    require_shared()
    made: list[str] = []
    try:
        # dflowctl run specs/hello.yaml -p msg=Hi
        hi = cli("run", "-e", "argo", "--wait", HELLO, "-p", "msg=Hi", env=env, timeout=600)
        assert hi.returncode == 0, hi.stdout + hi.stderr
        name = name_in(hi.stdout, "hello-")
        made.append(name)
        assert "Succeeded" in hi.stdout + hi.stderr
        # dflowctl run specs/hello.yaml -o json > run.json: the final Workflow, nothing else on stdout
        as_json = cli("run", "-e", "argo", "--wait", HELLO, "-o", "json", env=env, timeout=600)
        assert as_json.returncode == 0, as_json.stderr
        wf = json.loads(as_json.stdout)
        made.append(wf["metadata"]["name"])
        assert wf["status"]["phase"] == "Succeeded" and wf["metadata"]["labels"]["team"] == "materials"
        # dflowctl status: the runs
        listing = cli("status", env=env)
        assert listing.returncode == 0 and name in listing.stdout and wf["metadata"]["name"] in listing.stdout
        # dflowctl status NAME: the step tree
        tree = cli("status", name, env=env)
        assert tree.returncode == 0, tree.stderr
        marks = [ln.split()[:4] for ln in tree.stdout.splitlines() if ln.lstrip().startswith(("├", "└"))]
        assert marks == [
            ["├─✔", "write", "write-file", "Succeeded"],
            ["└─✔", "shout", "shout", "Succeeded"],
        ], tree.stdout
        # dflowctl logs NAME --step shout: each line prefixed with its step
        logs = cli("logs", name, "--step", "shout", env=env)
        assert logs.returncode == 0 and logs.stdout.strip(), logs.stderr
        assert all(ln.startswith("shout: ") for ln in logs.stdout.splitlines()), logs.stdout
        # dflowctl download NAME --step write -d out: out/write/out_art/{msg.txt,results.txt}
        out = tmp_path / "out"
        got = cli("download", name, "--step", "write", "-d", str(out), env=env)
        assert got.returncode == 0, got.stderr
        files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
        assert files == ["write/out_art/msg.txt", "write/out_art/results.txt"], files
        assert (out / "write" / "out_art" / "msg.txt").read_text() == "Hi\n"
        # dflowctl run my-argo-workflow.yaml -p message=hi: a plain Argo file
        argo_file = str(ARGO_EXAMPLES / "arguments-parameters.yaml")
        plain = cli("run", "-e", "argo", "--wait", argo_file, "-p", "message=hi there", env=env, timeout=600)
        assert plain.returncode == 0, plain.stdout + plain.stderr
        plain_name = name_in(plain.stdout, "arguments-parameters-")
        made.append(plain_name)
        said = cli("logs", plain_name, env=env)
        assert "hi there" in said.stdout, said.stdout + said.stderr
        # dflowctl report @latest: writes <name>.html here
        report = cli("report", "@latest", env=env, cwd=tmp_path)
        assert report.returncode == 0, report.stderr
        page = (tmp_path / f"{plain_name}.html").read_text()
        assert plain_name in page and "hi there" in page
        # dflowctl outputs @latest -o csv (the latest is the Argo file's run: no outputs; hello's has)
        rows = cli("outputs", name, "-o", "csv", env=env)
        assert rows.returncode == 0, rows.stderr
        table = list(csv.DictReader(io.StringIO(rows.stdout)))
        assert [(r["step"], r["phase"], r["size"]) for r in table] == [("shout", "Succeeded", "3")], (
            rows.stdout
        )
        latest = cli("outputs", "@latest", "-o", "csv", env=env)  # the Argo file's run: no parameters
        assert (latest.returncode, latest.stdout, latest.stderr) == (
            0,
            "step,index,item,phase\n",
            "no output parameters\n",
        )
    finally:
        for run in made:
            cli("delete", run, env=env)


def test_readme_command_table_on_real_argo(env: dict[str, str], tmp_path: Path) -> None:
    made: list[str] = []
    try:
        # submit: start, print the name, return; wait: NAME PHASE, exit 0
        sub = cli("submit", "-e", "argo", str(SPECS / "fanout.yaml"), "-p", "n=3", env=env)
        assert sub.returncode == 0, sub.stderr
        fan = sub.stdout.split()[-1]
        made.append(fan)
        waited = cli("wait", fan, env=env, timeout=600)
        assert (waited.returncode, waited.stdout.strip()) == (0, f"{fan} Succeeded"), waited.stderr
        for verb in (("list",), ("get", fan), ("watch", fan)):
            got = cli(*verb, env=env)
            assert got.returncode == 0 and fan in got.stdout + got.stderr, (verb, got.stdout, got.stderr)
        filtered = cli("status", "--phase", "Succeeded", "--since", "2h", "-o", "json", env=env)
        assert fan in [w["metadata"]["name"] for w in json.loads(filtered.stdout)]
        none = cli("status", "--phase", "Failed", "-l", "no-such=label", "-o", "json", env=env)
        assert none.returncode == 0 and json.loads(none.stdout) == []
        # logs -f (follows to the end), --tail, --grep, --since
        follow = cli("logs", fan, "-f", env=env, timeout=300)
        assert follow.returncode == 0 and follow.stdout.strip(), follow.stderr
        tail = cli("logs", fan, "--tail", "1", env=env)
        steps = {ln.split(":", 1)[0] for ln in follow.stdout.splitlines()}
        assert len(tail.stdout.splitlines()) == len(steps), (tail.stdout, steps)
        grep = cli("logs", fan, "--grep", "sub-process exited", "--since", "1h", env=env)
        assert grep.returncode == 0 and grep.stdout.strip()
        assert all("sub-process exited" in ln for ln in grep.stdout.splitlines())
        # graph of a run, with phases
        graph = cli("graph", fan, env=env)
        assert graph.returncode == 0 and graph.stdout.startswith("flowchart"), graph.stdout + graph.stderr
        # download --step S --item N: one item of a fan-out
        status = json.loads(cli("status", fan, "-o", "json", env=env).stdout)
        steps_with_art = {
            n["displayName"].split("(")[0]
            for n in status["status"]["nodes"].values()
            if n.get("type") == "Pod" and (n.get("outputs") or {}).get("artifacts")
        }
        if steps_with_art:
            step = sorted(steps_with_art)[0]
            one = cli("download", fan, "--step", step, "--item", "1", "-d", str(tmp_path / "one"), env=env)
            assert one.returncode == 0, one.stderr
            files = [p.relative_to(tmp_path / "one").as_posix() for p in (tmp_path / "one").rglob("*")]
            items = [f for f in files if f.count("/") > 1]
            assert items and all(f.split("/")[2] == "1" for f in items), files
        # run --name N -l k=v --artifact NAME=PATH --parameter-file F
        project = tmp_path / "project"
        (project / "data").mkdir(parents=True)
        (project / "data" / "a.txt").write_text("a\n")
        (project / "other").mkdir()
        for i in range(3):
            (project / "other" / f"{i}.txt").write_text(f"{i}\n")
        (project / "pick.yaml").write_text(json.dumps(PICK))
        (project / "values.yaml").write_text("data: other\n")
        named = cli(
            "run", "-e", "argo", "--wait", "-o", "json", "pick.yaml", "--name", "readme-pick",
            "-l", "case=readme", "--artifact", "data=other", env=env, cwd=project, timeout=600,
        )  # fmt: skip
        assert named.returncode == 0, named.stdout + named.stderr
        made.append("readme-pick")
        wf = json.loads(named.stdout)
        assert wf["metadata"]["name"] == "readme-pick" and wf["metadata"]["labels"]["case"] == "readme"
        assert counted(wf) == "3"
        by_file = cli(
            "run", "-e", "argo", "--wait", "-o", "json", "pick.yaml", "--parameter-file", "values.yaml",
            env=env, cwd=project, timeout=600,
        )  # fmt: skip
        assert by_file.returncode == 0, by_file.stdout + by_file.stderr
        made.append(json.loads(by_file.stdout)["metadata"]["name"])
        assert counted(json.loads(by_file.stdout)) == "3"
        labelled = cli("status", "-l", "case=readme", "-o", "json", env=env)
        assert [w["metadata"]["name"] for w in json.loads(labelled.stdout)] == ["readme-pick"]
    finally:
        for run in made:
            cli("delete", run, env=env)


PICK = {
    "apiVersion": "dflowctl/v1alpha1",
    "kind": "Workflow",
    "metadata": {"name": "pick"},
    "spec": {
        "artifacts": {"data": "./data"},
        "ops": {
            "count": {
                "image": "alpine:3.20",
                "script": "cat /in/data/*.txt | wc -l | tr -d ' ' > /tmp/n\n",
                "inputs": {"artifacts": {"data": {"path": "/in/data"}}},
                "outputs": {"parameters": {"lines": {"type": "int", "from": "/tmp/n"}}},
            }
        },
        "steps": [{"name": "count", "op": "count", "artifacts": {"data": "{{workflow.artifacts.data}}"}}],
    },
}


def counted(wf: dict[str, object]) -> str:
    nodes = wf["status"]["nodes"].values()  # type: ignore[index]
    node = next(n for n in nodes if n["displayName"] == "count")
    return str(next(p["value"] for p in node["outputs"]["parameters"] if p["name"] == "lines"))


def test_ui_serves_argo_runs(env: dict[str, str], tmp_path: Path) -> None:
    run = cli("run", "-e", "argo", "--wait", HELLO, env=env, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    name = name_in(run.stdout, "hello-")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dflowctl", "ui", "--port", "0", "-e", "argo"],
        cwd=tmp_path,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert " at http://127.0.0.1:" in line, line
        url = line.split(" at ")[1].split()[0]
        with urllib.request.urlopen(url, timeout=60) as resp:
            assert f'href="/runs/{name}"' in resp.read().decode()
        with urllib.request.urlopen(f"{url}runs/{name}", timeout=120) as resp:
            page = resp.read().decode()
        assert resp.status == 200 and name in page and "shout" in page
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        cli("delete", name, env=env)


def test_readme_is_what_these_tests_run() -> None:
    """The README's example block is the one these tests follow (a changed example needs a changed test)."""
    readme = (REPO / "README.md").read_text()
    for command in (
        "dflowctl run specs/hello.yaml -p msg=Hi",
        "dflowctl run specs/hello.yaml -o json > run.json",
        "dflowctl status                                    # list runs",
        "dflowctl logs hello-x7k2p --step shout",
        "dflowctl download hello-x7k2p --step write -d out",
        "dflowctl run my-argo-workflow.yaml -p message=hi",
        "dflowctl report @latest",
        "dflowctl outputs @latest -o csv > outputs.csv",
    ):
        assert command in readme, command
