"""``run -e argo --reuse RUN`` against a REAL API server and Argo controller (``make cluster-up``).

The same scenario as tests/test_argo_reuse.py on the stand-in: a reused step is a
Steps node with no pod (Argo's own controller resolves its outputs from its inputs),
downloads of the new run are the earlier run's files, and after editing the analysis
only it runs, over the earlier run's fan-in folder. ``pytest -m cluster``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.fixtures import cli, cluster_env, tree
from tests.test_argo_reuse import ANALYSE, project

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]
__all__ = ["cluster_env"]


def run(env: dict[str, str], *args: str) -> dict[str, Any]:
    got = cli("run", "-e", "argo", "--wait", "-o", "json", *args, env=env, timeout=600)
    assert got.returncode == 0, got.stdout + got.stderr
    wf: dict[str, Any] = json.loads(got.stdout)
    assert wf["status"]["phase"] == "Succeeded"
    return wf


def pods(wf: dict[str, Any]) -> list[str]:
    return sorted(n["displayName"] for n in wf["status"]["nodes"].values() if n["type"] == "Pod")


def total(wf: dict[str, Any]) -> str:
    node = next(n for n in wf["status"]["nodes"].values() if n["displayName"] == "total")
    return next(str(p["value"]) for p in node["outputs"]["parameters"] if p["name"] == "total")


def test_reuse_on_real_argo(cluster_env: dict[str, str], tmp_path: Path) -> None:
    env = {**cluster_env, "DFLOWCTL_HOME": str(tmp_path / "home")}
    spec = str(project(tmp_path / "p"))
    names: list[str] = []
    try:
        old = run(env, spec)
        names.append(old["metadata"]["name"])
        assert len(pods(old)) == 7
        new = run(env, spec, "--reuse", names[0])
        names.append(new["metadata"]["name"])
        assert pods(new) == []  # Argo created no pod for the reused steps
        shown = cli("status", names[1], env=env)
        assert shown.stdout.count(f"reused from {names[0]}") == 7, shown.stdout
        assert total(new) == total(old) == "5"
        for name, where in ((names[0], "old"), (names[1], "new")):
            got = cli("download", name, "-d", str(tmp_path / where), env=env, timeout=300)
            assert got.returncode == 0, got.stderr
        assert tree(tmp_path / "new") == tree(tmp_path / "old")
        assert "square/result/2/square.txt" in tree(tmp_path / "new")

        (tmp_path / "p" / "analyse" / "numbers.py").write_text(
            ANALYSE.replace("total = sum(", "total = 100 + sum("), encoding="utf-8"
        )
        fixed = run(env, spec, "--reuse", names[1])
        names.append(fixed["metadata"]["name"])
        assert pods(fixed) == ["total"]
        assert total(fixed) == "105"

        # deleting the first run keeps the artifacts the other two read
        gone = cli("delete", names[0], env=env)
        assert gone.returncode == 0, gone.stderr
        assert f"its artifacts are kept: {', '.join(sorted(names[1:]))} reuse(s) them" in gone.stderr
        names.pop(0)
        again = cli("download", names[0], "-d", str(tmp_path / "again"), env=env, timeout=300)
        assert again.returncode == 0, again.stderr
        assert tree(tmp_path / "again") == tree(tmp_path / "old")
    finally:
        if not os.environ.get("DFLOWCTL_KEEP_RUNS"):
            for name in names:
                cli("delete", name, env=env)


def test_reuse_step_on_real_argo(cluster_env: dict[str, str], tmp_path: Path) -> None:
    """`--reuse RUN --reuse-step prepare` after editing the module prepare shares with relax:
    prepare is a Steps node without a pod, relax runs the fixed code over its outputs."""
    from tests.test_reuse_step import SPEC, WORK

    env = {**cluster_env, "DFLOWCTL_HOME": str(tmp_path / "home")}
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops" / "work.py").write_text(WORK)
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    names: list[str] = []
    try:
        old = run(env, str(spec))
        names.append(old["metadata"]["name"])
        (tmp_path / "ops" / "work.py").write_text(WORK.replace("FACTOR = 10", "FACTOR = 100"))
        new = run(env, str(spec), "--reuse", names[0], "--reuse-step", "prepare")
        names.append(new["metadata"]["name"])
        assert "prepare" not in pods(new) and len([p for p in pods(new) if p.startswith("relax(")]) == 3
        ys = sorted(
            int(p["value"])
            for n in new["status"]["nodes"].values()
            if n["type"] == "Pod" and n["displayName"].startswith("relax(")
            for p in n["outputs"]["parameters"]
            if p["name"] == "y"
        )
        assert ys == [0, 100, 200]
    finally:
        if not os.environ.get("DFLOWCTL_KEEP_RUNS"):
            for name in names:
                cli("delete", name, env=env)


@pytest.mark.parametrize(("shape", "relax_pods"), [("parallelism: 2", 4), ("group: 3", 2)])
def test_fan_out_then_reduce_over_a_folder_reused_on_real_argo(
    cluster_env: dict[str, str], tmp_path: Path, shape: str, relax_pods: int
) -> None:
    """tests/test_argo_reuse.py's dflow habit on the real controller: the loop over a folder's
    entries (in its wrapper templates, with `parallelism`, or in `group:` pods) is reused
    whole, download gives the same files; after the reducer is fixed, `--reuse` of that run
    (a chain) runs it alone."""
    from tests.test_argo_reuse import CHEM_OPS, CHEM_SPEC, REDUCE_OPS

    env = {**cluster_env, "DFLOWCTL_HOME": str(tmp_path / "home")}
    for folder, name, text in (("ops", "chem.py", CHEM_OPS), ("reduce", "reduce.py", REDUCE_OPS)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / name).write_text(text, encoding="utf-8")
    spec = str(tmp_path / "chem.yaml")
    Path(spec).write_text(CHEM_SPEC.replace("parallelism: 2", shape), encoding="utf-8")
    names: list[str] = []
    try:
        old = run(env, spec)
        names.append(old["metadata"]["name"])
        assert len(pods(old)) == 3 + relax_pods
        new = run(env, spec, "--reuse", names[0])
        names.append(new["metadata"]["name"])
        assert pods(new) == []
        for name, where in ((names[0], "old"), (names[1], "new")):
            got = cli("download", name, "-d", str(tmp_path / where), env=env, timeout=300)
            assert got.returncode == 0, got.stderr
        assert tree(tmp_path / "new") == tree(tmp_path / "old") != {}
        fixed = REDUCE_OPS.replace('"best": min(energies)', '"best": max(energies)')
        (tmp_path / "reduce" / "reduce.py").write_text(fixed, encoding="utf-8")
        third = run(env, spec, "--reuse", names[1])
        names.append(third["metadata"]["name"])
        assert pods(third) == ["collect"]
        node = next(n for n in third["status"]["nodes"].values() if n["displayName"] == "collect")
        values = {
            p["name"]: p["value"]
            for p in node["outputs"]["parameters"]
            if not p["name"].startswith("dflowctl-")
        }
        assert values == {"best": "101.5", "count": "4"}
    finally:
        if not os.environ.get("DFLOWCTL_KEEP_RUNS"):
            for name in names:
                cli("delete", name, env=env)


@pytest.mark.parametrize("example", ["composite", "countdown"])
def test_composite_ops_reused_on_real_argo(cluster_env: dict[str, str], tmp_path: Path, example: str) -> None:
    """A composite op used twice (specs/composite.yaml) and one that uses itself under `when`
    (tests/test_argo_reuse.py's countdown): each call reuses its steps in a copy of the op's
    template of its own; the real controller resolves them and gives the same outputs."""
    import shutil

    from tests.conftest import SPECS
    from tests.test_argo_reuse import RECURSIVE_SPEC

    env = {**cluster_env, "DFLOWCTL_HOME": str(tmp_path / "home")}
    shutil.copytree(SPECS / "ops", tmp_path / "ops")
    spec = tmp_path / "spec.yaml"
    spec.write_text((SPECS / "composite.yaml").read_text() if example == "composite" else RECURSIVE_SPEC)
    names: list[str] = []
    try:
        old = run(env, str(spec))
        names.append(old["metadata"]["name"])
        new = run(env, str(spec), "--reuse", names[0])
        names.append(new["metadata"]["name"])
        assert pods(old) and pods(new) == []
        shown = ("work", "sum", "both", "small", "large")
        outputs = [
            sorted(
                (n["displayName"], json.dumps(visible(n), sort_keys=True))
                for n in wf["status"]["nodes"].values()
                if n["type"] in ("Pod", "Steps") and n["displayName"] in shown
            )
            for wf in (old, new)
        ]
        assert outputs[0] == outputs[1] and outputs[0]
    finally:
        if not os.environ.get("DFLOWCTL_KEEP_RUNS"):
            for name in names:
                cli("delete", name, env=env)


def visible(node: dict[str, Any]) -> dict[str, Any]:
    """A node's output parameters but dflowctl's own."""
    params = (node.get("outputs") or {}).get("parameters") or []
    return {p["name"]: p.get("value") for p in params if not p["name"].startswith("dflowctl-")}
