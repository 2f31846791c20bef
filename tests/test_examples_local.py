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


def test_shapes_files_keep_their_names_and_items_their_index(tmp_path: Path) -> None:
    code, wf = run_json(tmp_path, "shapes.yaml")
    assert code == 0 and wf["status"]["phase"] == "Succeeded"
    assert param(node(wf, "sum"), "total") == str(sum(i * i for i in range(40)))  # 20540
    name = wf["metadata"]["name"]
    env = {"DFLOWCTL_HOME": str(tmp_path), "DFLOWCTL_CONFIG": str(tmp_path / "none.yaml")}
    got = run_cli("download", name, "-d", str(tmp_path / "out"), cwd=tmp_path, env=env)
    assert got.returncode == 0, got.stderr
    out = tmp_path / "out"
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == sorted(
        ["plot/image/plot.png", "report/text/out.txt", "square/items.json"]
        + [f"square/result/{i}/sq.txt" for i in range(40)]
    )
    assert (out / "square/result/7/sq.txt").read_text() == "49\n"
    assert (out / "report/text/out.txt").read_text() == "total: 20540\n"
    assert (out / "plot/image/plot.png").read_bytes().startswith(b"\x89PNG")
    assert json.loads((out / "square/items.json").read_text()) == {str(i): i for i in range(40)}


FANIN_OPS = """
from pathlib import Path


def write(x: int) -> Path:
    Path("v.txt").write_text(str(x))
    return Path("v.txt")


def names(folder: Path, each: list[Path]) -> dict:
    tree = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    return {"tree": tree, "each": [p.read_text() for p in each]}
"""


@pytest.mark.parametrize(
    ("foreach", "keys"), [({"count": 12}, range(12)), ({"start": 5, "end": 7}, range(3))]
)
def test_fan_in_folder_holds_each_item_by_index(tmp_path: Path, foreach: dict[str, int], keys: range) -> None:
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops" / "fanops.py").write_text(FANIN_OPS)
    leaf = {"image": "python:3.12-slim", "source": "./ops"}
    spec = {
        "apiVersion": "dflowctl/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "byindex"},
        "spec": {
            "ops": {
                "write": {
                    **leaf,
                    "python": "fanops:write",
                    "inputs": {"parameters": {"x": "int"}},
                    "outputs": {"artifacts": {"v": {}}},
                },
                "names": {
                    **leaf,
                    "python": "fanops:names",
                    "inputs": {"artifacts": {"folder": {}, "each": {}}},
                    "outputs": {"parameters": {"tree": "list", "each": "list"}},
                },
            },
            "steps": [
                {"name": "w", "op": "write", "parameters": {"x": "{{item}}"}, "foreach": {"range": foreach}},
                {
                    "name": "n",
                    "op": "names",
                    "artifacts": {
                        "folder": "{{steps.w.outputs.artifacts.v}}",
                        "each": "{{steps.w.outputs.artifacts.v}}",
                    },
                },
            ],
        },
    }
    (tmp_path / "byindex.yaml").write_text(json.dumps(spec))
    env = {"DFLOWCTL_HOME": str(tmp_path), "DFLOWCTL_CONFIG": str(tmp_path / "none.yaml")}
    res = run_cli("run", str(tmp_path / "byindex.yaml"), "-o", "json", cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr
    wf = json.loads(res.stdout)
    first = foreach.get("start", 0)
    assert json.loads(param(node(wf, "n"), "tree")) == sorted(f"{i}/v.txt" for i in keys)
    assert json.loads(param(node(wf, "n"), "each")) == [
        str(first + i) for i in keys
    ]  # list[Path]: index order


def test_typed_fan_in_sums_a_list_of_int(tmp_path: Path) -> None:
    code, wf = run_json(tmp_path, "typed-fanin.yaml", "n=40")
    assert code == 0 and wf["status"]["phase"] == "Succeeded"
    assert param(node(wf, "sum"), "total") == str(sum(i * i for i in range(40)))
    ys = json.loads(param(node(wf, "sum"), "ys"))
    assert ys == [i * i for i in range(40)]  # decoded ints, in item order


def test_typed_fan_in_puts_null_where_an_item_failed(tmp_path: Path) -> None:
    code, wf = run_json(tmp_path, "typed-fanin.yaml", "fail=[3, 7]")
    assert code == 0 and wf["status"]["phase"] == "Succeeded"  # continue_on: {failed: true}
    assert [n["phase"] for n in nodes_named(wf, "square(3:3)") + nodes_named(wf, "square(7:7)")] == [
        "Failed",
        "Failed",
    ]
    ys = json.loads(param(node(wf, "sum"), "ys"))
    assert ys == [None if i in (3, 7) else i * i for i in range(10)]
    assert param(node(wf, "sum"), "total") == str(285 - 9 - 49)


@pytest.mark.parametrize(("n", "said"), [(7, "7 is odd"), (4, "4 is even")])
def test_conditional_outputs_take_the_branch_that_ran(tmp_path: Path, n: int, said: str) -> None:
    code, wf = run_json(tmp_path, "conditional-outputs.yaml", f"n={n}")
    assert code == 0 and wf["status"]["phase"] == "Succeeded"
    assert param(node(wf, "parity"), "said") == said
    assert node(wf, "show")["outputs"]["result"] == f"parity says: {said}\n{said}"
