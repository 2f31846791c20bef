"""Workflow artifacts chosen at submit time: `run --artifact NAME=PATH` and entries of
`--parameter-file`, through the real CLI on the local engine and on the Argo stand-in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.k8s import fixtures
from tests.k8s.fixtures import ArgoCluster

argo_cluster = fixtures.argo_cluster
fake_kube = fixtures.fake_kube
s3 = fixtures.s3
s3_server = fixtures.s3_server

pytestmark = pytest.mark.timeout(180)

SPEC = {
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


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_text("1\n")
    other = tmp_path / "other"
    other.mkdir()
    for i in range(3):
        (other / f"{i}.txt").write_text(f"{i}\n")
    (tmp_path / "pick.yaml").write_text(json.dumps(SPEC))
    return tmp_path


def lines_of(stdout: str) -> str:
    wf = json.loads(stdout)
    node = next(n for n in wf["status"]["nodes"].values() if n["displayName"] == "count")
    return next(p["value"] for p in node["outputs"]["parameters"] if p["name"] == "lines")


def test_artifact_flag_and_parameter_file_choose_the_data(project: Path, dflowctl_home: Path) -> None:
    declared = run_cli("run", "pick.yaml", "-o", "json", cwd=project)
    assert declared.returncode == 0, declared.stderr
    assert lines_of(declared.stdout) == "1"
    chosen = run_cli("run", "pick.yaml", "--artifact", "data=other", "-o", "json", cwd=project)
    assert chosen.returncode == 0, chosen.stderr
    assert lines_of(chosen.stdout) == "3"
    conf = project / "conf"
    conf.mkdir()
    (conf / "values.yaml").write_text("data: ../other\n")  # relative to the file's folder
    filed = run_cli("run", "pick.yaml", "--parameter-file", "conf/values.yaml", "-o", "json", cwd=project)
    assert filed.returncode == 0, filed.stderr
    assert lines_of(filed.stdout) == "3"
    both = run_cli(
        "run", "pick.yaml", "-f", "conf/values.yaml", "--artifact", "data=data", "-o", "json", cwd=project
    )
    assert both.returncode == 0 and lines_of(both.stdout) == "1"  # the flag wins over the file


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("data=./missing", "error: --artifact: workflow artifact `data`: ./missing does not exist"),
        ("dta=other", "error: --artifact: the workflow has no artifact `dta`\n  hint: did you mean `data`?"),
        ("data", "error: --artifact expects NAME=PATH, not `data`\n  hint: e.g. --artifact data=./other-dir"),
        (
            "data=gs://b/k",
            "error: --artifact: workflow artifact `data` has an unsupported source `gs://b/k`\n"
            "  hint: use a local path, s3://bucket/key or http(s)://...",
        ),
    ],
)
def test_bad_artifact_flags_are_one_line_errors(
    project: Path, dflowctl_home: Path, flag: str, message: str
) -> None:
    res = run_cli("run", "pick.yaml", "--artifact", flag, cwd=project)
    assert res.returncode == 2
    assert res.stderr == message + "\n"
    assert not (dflowctl_home / "runs").exists() or not list((dflowctl_home / "runs").iterdir())


@pytest.mark.slow
def test_artifact_flag_uploads_to_the_cluster(project: Path, argo_cluster: ArgoCluster) -> None:
    res = run_cli(
        "run",
        "-e",
        "argo",
        "--wait",
        "pick.yaml",
        "--artifact",
        f"data={project / 'other'}",
        "-o",
        "json",
        cwd=project,
        env=argo_cluster.env,
    )
    assert res.returncode == 0, res.stderr
    assert lines_of(res.stdout) == "3"
