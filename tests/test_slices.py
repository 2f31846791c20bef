"""Slices (issue 10, item 4): `foreach` over the entries of an artifact folder, `group`,
`pool`, and `continue_on: {success_ratio | success_number}` — rendered, validated, run
locally through the real CLI, and on the Kubernetes stand-in (tests/k8s)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dflowctl.render import render_workflow, upload_paths
from dflowctl.render.dump import dump_yaml
from dflowctl.spec import load_spec
from dflowctl.uploads import source_keys
from tests.conftest import ARGO_VALIDATE, SPECS, require_shared, run_cli
from tests.k8s import fixtures
from tests.k8s.fixtures import ArgoCluster

argo_cluster = fixtures.argo_cluster
fake_kube = fixtures.fake_kube
s3 = fixtures.s3
s3_server = fixtures.s3_server

SLICES = SPECS / "slices.yaml"
pytestmark = pytest.mark.timeout(180)


def rendered(spec: Path, n: int) -> dict[str, Any]:
    wf = load_spec(spec, {"n": str(n)})
    return render_workflow(wf, source_keys(upload_paths(wf)))


def test_render_passes_argo_validate_and_stays_the_same_size(tmp_path: Path) -> None:
    require_shared()
    small, large = rendered(SLICES, 10), rendered(SLICES, 10_000)
    size = [len(json.dumps(m, separators=(",", ":"))) for m in (small, large)]
    assert size[1] - size[0] == 3  # the width's own extra digits, nothing more
    path = tmp_path / "slices.yaml"
    path.write_text(dump_yaml(large), encoding="utf-8")
    got = subprocess.run(
        [sys.executable, str(ARGO_VALIDATE), "--strict", "--lint", str(path)], capture_output=True, text=True
    )
    assert got.returncode == 0, got.stdout + got.stderr
    wrapper = next(t for t in large["spec"]["templates"] if t["name"] == "main-measure")
    assert [s[0]["name"] for s in wrapper["steps"]] == ["dflowctl-entries", "measure", "dflowctl-check"]
    loop = wrapper["steps"][1][0]
    assert loop["withParam"] == "{{steps.dflowctl-entries.outputs.parameters.items}}"
    assert loop["continueOn"] == {"failed": True, "error": True}
    assert {"name": "sample", "from": "{{steps.dflowctl-entries.outputs.artifacts.dflowctl-slices}}",
            "subPath": "{{item.path}}"} in loop["arguments"]["artifacts"]  # fmt: skip


def pods(wf: dict[str, Any], template: str) -> list[dict[str, Any]]:
    return [n for n in wf["status"]["nodes"].values() if n["type"] == "Pod" and n["templateName"] == template]


def node(wf: dict[str, Any], display: str) -> dict[str, Any]:
    return next(n for n in wf["status"]["nodes"].values() if n["displayName"] == display)


def params(n: dict[str, Any]) -> dict[str, Any]:
    kept = ("dflowctl-index", "dflowctl-ok")  # not the step cache's or the interpreter's records
    return {
        p["name"]: json.loads(p["value"])
        for p in n["outputs"]["parameters"]
        if not p["name"].startswith("dflowctl-") or p["name"] in kept
    }


def check_fifty_in_five(wf: dict[str, Any]) -> None:
    groups = pods(wf, "measure-group")
    assert len(groups) == 5 and all(g["phase"] == "Succeeded" for g in groups)
    ran = sorted(i for g in groups for i in params(g)["dflowctl-index"])
    assert ran == [i for i in range(50) if i not in (3, 17)]
    assert node(wf, "dflowctl-check")["phase"] == "Succeeded"
    got = params(node(wf, "reduce"))
    assert got["failed"] == [3, 17]
    assert got["files"] == 48
    assert got["total"] == sum(i * i for i in range(50)) - 9 - 17 * 17


def test_fifty_items_in_five_pods_locally(tmp_path: Path) -> None:
    env = {"DFLOWCTL_HOME": str(tmp_path / "home"), "DFLOWCTL_ENGINE": "local"}
    got = run_cli("run", "--wait", "-o", "json", str(SLICES), "-p", "fail=[3, 17]", env=env)
    assert got.returncode == 0, got.stdout + got.stderr
    wf = json.loads(got.stdout)
    check_fifty_in_five(wf)
    group = pods(wf, "measure-group")[0]
    log = run_cli("logs", wf["metadata"]["name"], "--step", group["displayName"], env=env)
    assert "dflowctl: 9 of 10 items succeeded: [0, 1, 2, 4, 5, 6, 7, 8, 9]" in log.stdout
    item = run_cli(
        "logs", wf["metadata"]["name"], "--step", "measure[17]", env=env
    )  # item 17: its group's pod
    assert (
        "dflowctl: item 17 failed: ValueError: sample-17.txt fails on purpose (ops/slices.py:" in item.stdout
    )
    assert "dflowctl: 9 of 10 items succeeded: [10, 11, 12, 13, 14, 15, 16, 18, 19]" in item.stdout
    rows = json.loads(
        run_cli("outputs", wf["metadata"]["name"], "--step", "measure", "-o", "json", env=env).stdout
    )
    assert [r["index"] for r in rows] == [
        i for i in range(50) if i not in (3, 17)
    ]  # a row per item, not per pod
    assert rows[40] == {
        "step": "measure",
        "index": 42,
        "item": "42",
        "phase": "Succeeded",
        "outputs": {"y": 1764},
    }
    dest = tmp_path / "dl"
    down = run_cli("download", wf["metadata"]["name"], "--step", "measure", "-d", str(dest), env=env)
    assert down.returncode == 0, down.stderr
    names = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    expected = [f"measure/square/{i}/sample-{i:02d}.sq" for i in range(50) if i not in (3, 17)]
    assert names == sorted(["measure/items.json", *expected])
    one = tmp_path / "one"
    down = run_cli("download", wf["metadata"]["name"], "--step", "measure[42]", "-d", str(one), env=env)
    assert down.returncode == 0, down.stderr
    assert (one / "measure" / "square" / "42" / "sample-42.sq").read_text() == "1764\n"


def test_too_few_items_fail_the_step_through_the_check_pod(tmp_path: Path) -> None:
    env = {"DFLOWCTL_HOME": str(tmp_path / "home"), "DFLOWCTL_ENGINE": "local"}
    got = run_cli("run", "--wait", "-o", "json", str(SLICES), "-p", "fail=[1, 2, 3, 4, 5, 6]", env=env)
    assert got.returncode == 1, got.stdout + got.stderr
    wf = json.loads(got.stdout)
    check = node(wf, "dflowctl-check")
    assert check["phase"] == "Failed"
    assert check["message"] == "Error (exit code 1): 44 of 50 items succeeded; success_ratio 0.9 needs 45"
    assert all(g["phase"] == "Succeeded" for g in pods(wf, "measure-group"))  # 9 of 10 and 5 of 10 ran


UNGROUPED = """apiVersion: dflowctl/v1alpha1
kind: Workflow
metadata: {name: entries}
spec:
  artifacts:
    data: {source: ./data}
  ops:
    size:
      image: python:3.12-slim
      python: sizes:size
      source: ./ops
      inputs:
        artifacts: {entry: {}}
      outputs:
        parameters: {n: int}
        artifacts: {copy: {}}
    count:
      image: alpine:3.20
      script: |
        ls /tmp/in | sort | tr '\\n' ' ' > /tmp/listing
      inputs:
        artifacts: {entry: {path: /tmp/in}}
      outputs:
        parameters: {listing: {from: /tmp/listing}}
    total:
      image: python:3.12-slim
      python: sizes:total
      source: ./ops
      inputs:
        parameters: {ns: "list[int]"}
      outputs:
        parameters: {ns: "list[int]"}
  steps:
    - - name: size
        op: size
        artifacts: {entry: "{{workflow.artifacts.data}}"}
        foreach: {entries: entry}
        continue_on: {success_number: 3}
      - name: count
        op: count
        artifacts: {entry: "{{workflow.artifacts.data}}"}
        foreach: {entries: entry}
    - name: total
      op: total
      parameters: {ns: "{{steps.size.outputs.parameters.n}}"}
"""

SIZES = """
from pathlib import Path


def size(entry: Path) -> dict:
    if entry.name == "bad.txt":
        raise ValueError("bad entry")
    files = sorted(p for p in entry.rglob("*") if p.is_file()) if entry.is_dir() else [entry]
    Path("copy.txt").write_text(",".join(p.name for p in files))
    return {"n": sum(p.stat().st_size for p in files), "copy": Path("copy.txt")}


def total(ns: list[int]) -> list:
    return ns
"""


def test_one_pod_per_entry_file_or_folder_and_success_number(tmp_path: Path) -> None:
    (tmp_path / "data" / "d").mkdir(parents=True)
    (tmp_path / "data" / "a.txt").write_text("aaaa")
    (tmp_path / "data" / "bad.txt").write_text("x")
    (tmp_path / "data" / "d" / "in.txt").write_text("123456")
    (tmp_path / "data" / "z.txt").write_text("zz")
    (tmp_path / "data" / ".hidden").write_text("not an entry")
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops" / "sizes.py").write_text(SIZES)
    spec = tmp_path / "entries.yaml"
    spec.write_text(UNGROUPED)
    env = {"DFLOWCTL_HOME": str(tmp_path / "home"), "DFLOWCTL_ENGINE": "local"}
    got = run_cli("run", "--wait", "-o", "json", str(spec), env=env)
    assert got.returncode == 0, got.stdout + got.stderr
    wf = json.loads(got.stdout)
    assert len(pods(wf, "size-fanin")) == 4  # a.txt, bad.txt, d/, z.txt
    assert params(node(wf, "total"))["ns"] == [4, None, 6, 2]  # aligned by entry index
    listings = sorted(  # a folder holding the entry's file, or the sub-folder's contents
        next(p["value"] for p in n["outputs"]["parameters"] if p["name"] == "listing")
        for n in pods(wf, "count")
    )
    assert listings == ["a.txt ", "bad.txt ", "in.txt ", "z.txt "]
    dest = tmp_path / "dl"
    assert (
        run_cli("download", wf["metadata"]["name"], "--step", "size", "-d", str(dest), env=env).returncode
        == 0
    )
    assert (dest / "size" / "copy" / "2" / "copy.txt").read_text() == "in.txt"
    assert (
        json.loads((dest / "size" / "items.json").read_text())["0"] == "i:0,name:a.txt,path:0"
    )  # as Argo names it


BAD = """apiVersion: dflowctl/v1alpha1
kind: Workflow
metadata: {name: bad}
spec:
  ops:
    say: {image: alpine:3.20, script: "echo hi", inputs: {artifacts: {entry: {path: /tmp/e}}}}
    make:
      image: alpine:3.20
      script: "mkdir -p /tmp/o; echo 3 > /tmp/n"
      outputs: {parameters: {n: {type: int, from: /tmp/n}}, artifacts: {o: {path: /tmp/o}}}
    echo:
      image: alpine:3.20
      script: "echo $x"
      inputs: {parameters: {x: str}, artifacts: {entry: {path: /tmp/e}}}
  steps:
    - name: make
      op: make
      continue_on: {success_ratio: 0.5}
    - name: a
      op: say
      artifacts: {entry: "{{steps.make.outputs.artifacts.o}}"}
      foreach: {entries: entry, group: 2}
    - name: b
      op: say
      artifacts: {entry: "{{steps.make.outputs.artifacts.o}}"}
      foreach: {entries: nope, pool: 2}
    - name: c
      op: say
      artifacts: {entry: "{{steps.make.outputs.artifacts.o}}"}
      foreach: {items: [1, 2], group: 2}
      continue_on: {success_ratio: 0.5, success_number: 1}
    - name: d
      op: echo
      parameters: {x: "{{item}}"}
      artifacts: {entry: "{{steps.make.outputs.artifacts.o}}"}
      foreach: {entries: entry}
    - name: e
      op: echo
      parameters: {x: "{{item}}"}
      artifacts: {entry: "{{steps.make.outputs.artifacts.o}}"}
      foreach: {range: {start: 0, end: "{{steps.make.outputs.parameters.n}}"}}
      continue_on: {success_number: 1}
"""


def test_validate_reports_every_slices_mistake(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(BAD)
    got = run_cli("validate", str(spec))
    assert got.returncode == 2
    lines = [line for line in got.stderr.splitlines() if line.startswith(str(spec))]
    messages = [line.split(": ", 1)[1] for line in lines]
    assert messages == [
        "`continue_on.success_ratio`/`success_number` of step `make` count its items, "
        "but it has no `foreach`",
        "`foreach.group` of step `a` needs a Python op (its items run inside one pod, one call each); "
        "`say` is a script op",
        "`foreach.entries` of step `b` names `nope`, not an input artifact of op `say`",
        "`foreach.pool` of step `b` runs the items of one pod at once, and needs `group`",
        "`foreach.group` of step `c` works with `foreach.entries` only",
        "`continue_on` of step `c` has both `success_ratio` and `success_number`; give one",
        "parameter `x` of step `d` uses `{{item}}`, but a foreach over `entries` hands each item its "
        "entry as the artifact `entry`",
        "`continue_on.success_ratio`/`success_number` of step `e` need its item count, but its `range` "
        "has referenced bounds",
    ]
    assert "Traceback" not in got.stderr


@pytest.mark.slow
def test_fifty_items_in_five_pods_on_the_stand_in(argo_cluster: ArgoCluster) -> None:
    got = run_cli(
        "run", "-e", "argo", "--wait", "-o", "json", str(SLICES), "-p", "fail=[3, 17]",
        env=argo_cluster.env, timeout=150,
    )  # fmt: skip
    assert got.returncode == 0, got.stdout + got.stderr
    check_fifty_in_five(json.loads(got.stdout))


PAIRS = """apiVersion: dflowctl/v1alpha1
kind: Workflow
metadata: {name: pairs}
spec:
  parameters:
    fail: {type: "list[int]", default: [2]}
  ops:
    make-list:
      image: python:3.12-slim
      python: numbers:numbers_up_to
      source: OPS
      inputs: {parameters: {n: int}}
      outputs: {parameters: {items: list}}
    sq:
      image: python:3.12-slim
      python: shapes:square_value
      source: OPS
      inputs: {parameters: {x: int, fail: "list[int]"}}
      outputs: {parameters: {y: int}}
    file:
      image: python:3.12-slim
      python: shapes:square
      source: OPS
      inputs: {parameters: {x: int}}
      outputs: {artifacts: {result: {}}}
    sum:
      image: python:3.12-slim
      python: shapes:total
      source: OPS
      inputs: {parameters: {ys: "list[int]"}}
      outputs: {parameters: {total: int, ys: "list[int]"}}
  steps:
    - name: make-list
      op: make-list
      parameters: {n: 5}
    - - name: by-items
        op: sq
        parameters: {x: "{{item}}", fail: "{{workflow.parameters.fail}}"}
        foreach: {items: [5, 2, 7, 2]}
        continue_on: {failed: true}
      - name: by-param
        op: sq
        parameters: {x: "{{item}}", fail: "{{workflow.parameters.fail}}"}
        foreach: {param: "{{steps.make-list.outputs.parameters.items}}", parallelism: 2}
        continue_on: {failed: true}
      - name: files
        op: file
        parameters: {x: "{{item.x}}"}
        foreach: {items: [{x: 4}, {x: 6}]}
      - name: most
        op: sq
        parameters: {x: "{{item}}", fail: "{{workflow.parameters.fail}}"}
        foreach: {param: "{{steps.make-list.outputs.parameters.items}}"}
        continue_on: {success_number: 4}
    - - name: sum-items
        op: sum
        parameters: {ys: "{{steps.by-items.outputs.parameters.y}}"}
      - name: sum-param
        op: sum
        parameters: {ys: "{{steps.by-param.outputs.parameters.y}}"}
"""


def run_pairs(tmp_path: Path, env: dict[str, str], *engine: str) -> dict[str, Any]:
    spec = tmp_path / "pairs.yaml"
    spec.write_text(PAIRS.replace("OPS", str(SPECS / "ops")))
    got = run_cli("run", *engine, "--wait", "-o", "json", str(spec), env=env, timeout=150)
    assert got.returncode == 0, got.stdout + got.stderr
    wf = json.loads(got.stdout)
    assert params(node(wf, "sum-items"))["ys"] == [25, None, 49, None]  # items 1 and 3 (value 2) failed
    assert params(node(wf, "sum-param"))["ys"] == [1, None, 9, 16, 25]  # param item 1 (value 2) failed
    assert node(wf, "dflowctl-check")["phase"] == "Succeeded"  # 4 of 5 succeeded, 4 needed
    return wf


def test_items_and_param_loops_know_their_index(tmp_path: Path) -> None:
    env = {"DFLOWCTL_HOME": str(tmp_path / "home"), "DFLOWCTL_ENGINE": "local"}
    wf = run_pairs(tmp_path, env)
    dest = tmp_path / "dl"
    down = run_cli("download", wf["metadata"]["name"], "--step", "files", "-d", str(dest), env=env)
    assert down.returncode == 0, down.stderr
    assert (dest / "files" / "result" / "1" / "sq.txt").read_text() == "36\n"
    assert json.loads((dest / "files" / "items.json").read_text()) == {"0": {"x": 4}, "1": {"x": 6}}
    rows = json.loads(run_cli("outputs", wf["metadata"]["name"], "-o", "json", env=env).stdout)
    items = sorted((r["index"], r["item"]) for r in rows if r["step"] == "by-items")
    assert items == [(0, "5"), (2, "7")]  # the item as written, not the pair


@pytest.mark.slow
def test_items_and_param_loops_know_their_index_on_the_stand_in(
    argo_cluster: ArgoCluster, tmp_path: Path
) -> None:
    run_pairs(tmp_path, argo_cluster.env, "-e", "argo")
