"""Every example in specs/ runs on the local engine and its outputs are the known values.

HelloWorld's files and the fan-out sum are asserted in test_cli_local.py; this file
covers the other examples, through the real entry point with `-o json`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SPECS, run_cli

pytestmark = pytest.mark.timeout(180)


def run_json(home: Path, spec: str, *params: str) -> tuple[int, dict[str, Any]]:
    args = ["run", str(SPECS / spec), "-o", "json"]
    for p in params:
        args += ["-p", p]
    env = {"DFLOWCTL_HOME": str(home), "DFLOWCTL_CONFIG": str(home / "none.yaml")}
    res = run_cli(*args, cwd=home, env=env)
    return res.returncode, json.loads(res.stdout)


def nodes_named(wf: dict[str, Any], display_name: str) -> list[dict[str, Any]]:
    return [n for n in wf["status"]["nodes"].values() if n["displayName"] == display_name]


def node(wf: dict[str, Any], display_name: str) -> dict[str, Any]:
    found = nodes_named(wf, display_name)
    assert len(found) == 1, (display_name, [n["displayName"] for n in wf["status"]["nodes"].values()])
    return found[0]


def param(n: dict[str, Any], name: str) -> str:
    return {p["name"]: p.get("value") for p in n["outputs"]["parameters"]}[name]


def test_dag_diamond_adds_both_sides(tmp_path: Path) -> None:
    code, wf = run_json(tmp_path, "dag-diamond.yaml")
    assert code == 0 and wf["status"]["phase"] == "Succeeded"
    assert wf["status"]["nodes"][wf["metadata"]["name"]]["type"] == "DAG"
    assert param(node(wf, "start"), "value") == "3"
    assert param(node(wf, "left"), "value") == "6"
    assert param(node(wf, "right"), "value") == "9"
    assert param(node(wf, "join"), "sum") == "15"
    assert param(node(wf, "report"), "line") == "result: 15"
    # the diamond's order: join starts after both sides finished
    join_start = node(wf, "join")["startedAt"]
    assert all(node(wf, side)["finishedAt"] <= join_start for side in ("left", "right"))


@pytest.mark.parametrize(("n", "ran", "skipped"), [(4, "even", "odd"), (7, "odd", "even")])
def test_conditional_runs_one_branch_and_skips_the_other(
    tmp_path: Path, n: int, ran: str, skipped: str
) -> None:
    code, wf = run_json(tmp_path, "conditional.yaml", f"n={n}")
    assert code == 0 and wf["status"]["phase"] == "Succeeded"
    assert param(node(wf, "check"), "even") == ("true" if n % 2 == 0 else "false")
    assert node(wf, ran)["phase"] == "Succeeded"
    assert param(node(wf, ran), "said") == f"{n} is {ran}"
    assert node(wf, skipped)["phase"] == "Skipped"
    assert "evaluated false" in node(wf, skipped)["message"]


def test_retry_succeeds_on_the_third_attempt(tmp_path: Path) -> None:
    code, wf = run_json(tmp_path, "retry.yaml")
    assert code == 0 and wf["status"]["phase"] == "Succeeded"
    retry_node = node(wf, "flaky")
    assert retry_node["type"] == "Retry"
    attempts = [wf["status"]["nodes"][c] for c in retry_node["children"]]
    assert [a["phase"] for a in attempts] == ["Failed", "Failed", "Succeeded"]
    assert param(retry_node, "attempt") == "2"  # {{retries}} counts from 0


def test_composite_op_used_twice(tmp_path: Path) -> None:
    code, wf = run_json(tmp_path, "composite.yaml")
    assert code == 0 and wf["status"]["phase"] == "Succeeded"
    assert param(node(wf, "small"), "total") == str(0 + 1 + 4)
    assert param(node(wf, "large"), "total") == str(0 + 1 + 4 + 9)
    assert param(node(wf, "both"), "sum") == "19"
    # each use fanned out on its own: 3 + 4 square items
    squares = [n for n in wf["status"]["nodes"].values() if n["displayName"].startswith("square(")]
    assert len(squares) == 7 and all(n["phase"] == "Succeeded" for n in squares)
