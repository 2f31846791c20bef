"""The step cache through the real CLI (issue 11): keys, `run --reuse`, `--rerun`, `cache`, `retry`."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli

SPEC = """\
apiVersion: dflowctl/v1alpha1
kind: Workflow
metadata:
  name: keyed
spec:
  parameters:
    n: {type: int, default: 3}
  artifacts:
    data: ./data.txt
  ops:
    count:
      image: python:3.12-slim
      python: work:count   # a comment
      source: ./ops
      env: {MODE: plain, LEVEL: "1"}
      inputs:
        parameters: {n: int}
        artifacts: {data: {}}
      outputs:
        parameters: {total: int}
  steps:
    - name: count
      op: count
      parameters: {n: "{{workflow.parameters.n}}"}
      artifacts: {data: "{{workflow.artifacts.data}}"}
"""

WORK = """\
import os
from pathlib import Path


def count(n: int, data: Path) -> int:
    return n + len(data.read_text().split()) + len(os.environ["MODE"])
"""


IMAGE_THEN_PYTHON = "      image: python:3.12-slim\n      python: work:count"


def _project(tmp_path: Path) -> Path:
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops" / "work.py").write_text(WORK)
    (tmp_path / "data.txt").write_text("a b c\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    return spec


def _run(spec: Path, *args: str) -> dict[str, Any]:
    res = run_cli("run", str(spec), "--reuse", *args, "-o", "json", cwd=spec.parent)
    assert res.returncode == 0, res.stdout + res.stderr
    return json.loads(res.stdout)


def _pods(wf: dict[str, Any]) -> dict[str, dict[str, Any]]:
    nodes = wf["status"]["nodes"].values()
    return {n["displayName"]: n for n in nodes if n["type"] == "Pod"}


def _hit(wf: dict[str, Any], step: str = "count") -> bool:
    return bool(_pods(wf)[step]["memoizationStatus"]["hit"])


def _key(wf: dict[str, Any], step: str = "count") -> str:
    return str(_pods(wf)[step]["memoizationStatus"]["key"])


def test_what_changes_a_key_and_what_does_not(dflowctl_home: Path, tmp_path: Path) -> None:
    spec = _project(tmp_path)
    first = _run(spec)
    assert not _hit(first)
    node = _pods(first)["count"]
    params = {p["name"]: p["value"] for p in node["outputs"]["parameters"]}
    assert params["total"] == "11"
    assert params["dflowctl-key"] == _key(first) and len(_key(first)) == 64
    assert json.loads(params["dflowctl-inputs"])["data"]  # the input artifact by content digest
    assert node["memoizationStatus"]["cacheName"] == "dflowctl"
    base = _key(first)

    # what must not change it: a comment, a reordered mapping, a touched file
    spec.write_text(
        SPEC.replace("# a comment", "# another comment")
        .replace('env: {MODE: plain, LEVEL: "1"}', 'env: {LEVEL: "1", MODE: plain}')
        .replace(
            "      image: python:3.12-slim\n      python: work:count",
            "      python: work:count\n      image: python:3.12-slim",
        )
    )
    later = time.time() + 5
    for f in (tmp_path / "data.txt", tmp_path / "ops" / "work.py"):
        os.utime(f, (later, later))
    same = _run(spec)
    assert _hit(same) and _key(same) == base
    assert _pods(same)["count"]["message"] == f"reused from {first['metadata']['name']}"

    # what must: another parameter value, image, env value, input file, op source file
    changes = [
        ("-p", "n=4"),
        (),  # image (spec edited below)
        (),  # env value
        (),  # input file
        (),  # op source
    ]
    edits = [
        lambda: None,
        lambda: spec.write_text(SPEC.replace("python:3.12-slim", "python:3.13-slim")),
        lambda: spec.write_text(SPEC.replace("MODE: plain", "MODE: fancy")),
        lambda: (spec.write_text(SPEC), (tmp_path / "data.txt").write_text("a b c d\n")),
        lambda: (tmp_path / "ops" / "work.py").write_text(WORK.replace("n +", "2 * n +")),
    ]
    seen = {base}
    for args, edit in zip(changes, edits, strict=True):
        edit()
        wf = _run(spec, *args)
        assert not _hit(wf), args
        assert _key(wf) not in seen
        seen.add(_key(wf))
    assert {p["name"]: p["value"] for p in _pods(wf)["count"]["outputs"]["parameters"]}["total"] == "15"


SCENARIO = """\
apiVersion: dflowctl/v1alpha1
kind: Workflow
metadata:
  name: relax-analyse
spec:
  ops:
    relax:
      python: chem:relax
      source: ./ops
      inputs: {parameters: {i: int}}
      outputs: {artifacts: {structure: {}}}
    analyse:
      python: chem:analyse
      source: ./ops
      inputs: {artifacts: {structures: {}}}
      outputs: {parameters: {energy: int}}
  steps:
    - name: relax
      op: relax
      parameters: {i: "{{item}}"}
      foreach: {range: {count: 5}}
    - name: analyse
      op: analyse
      artifacts: {structures: "{{steps.relax.outputs.artifacts.structure}}"}
"""

CHEM = """\
from pathlib import Path


def relax(i: int) -> Path:
    out = Path("structure.txt")
    out.write_text(str(i * 10))
    return out


def analyse(structures: Path) -> int:
    files = sorted(p for p in structures.rglob("*") if p.is_file())
    return sum(int(p.read_text()) for p in files) // BUG
"""


def test_relax_analyse_fix_the_analysis_and_run_with_reuse(dflowctl_home: Path, tmp_path: Path) -> None:
    (tmp_path / "ops").mkdir()
    chem = tmp_path / "ops" / "chem.py"
    chem.write_text(CHEM)
    spec = tmp_path / "spec.yaml"
    spec.write_text(SCENARIO)
    res = run_cli("run", str(spec), cwd=tmp_path)
    assert res.returncode == 1, res.stdout + res.stderr
    failed = re.search(r"relax-analyse-\w+", res.stdout).group(0)  # type: ignore[union-attr]
    log = run_cli("logs", failed, "--step", "analyse", cwd=tmp_path).stdout
    assert "NameError: name 'BUG' is not defined" in log

    chem.write_text(CHEM.replace("// BUG", "// 1"))
    # retry still runs the stored code, and says which op changed since
    res = run_cli("retry", failed, cwd=tmp_path)
    assert res.returncode == 1
    assert (
        f"note: changed on disk since {failed} ran: relax, analyse; retry runs the code stored with the run. "
        "To run the changed code and reuse what still holds: "
        f"dflowctl run {spec.resolve()} --reuse {failed}\n"
    ) in res.stderr
    # both ops share the source folder, so both templates changed; the key of relax's
    # items changed too (its source digest), so reuse is by step key: relax runs again
    # here. With the analysis in its own folder only it would run (next test).

    res = run_cli("run", str(spec), "--reuse", failed, "-o", "json", cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    wf = json.loads(res.stdout)
    assert {p["name"]: p["value"] for p in _pods(wf)["analyse"]["outputs"]["parameters"]}["energy"] == "100"


def test_after_fixing_only_the_analysis_only_it_runs(dflowctl_home: Path, tmp_path: Path) -> None:
    (tmp_path / "relax-ops").mkdir()
    (tmp_path / "analyse-ops").mkdir()
    relax_src, analyse_src = CHEM.split("\n\ndef analyse")
    (tmp_path / "relax-ops" / "chem.py").write_text(relax_src + "\n")
    fixed = tmp_path / "analyse-ops" / "chem.py"
    fixed.write_text("from pathlib import Path\n\n\ndef analyse" + analyse_src)
    spec = tmp_path / "spec.yaml"
    text = SCENARIO.replace(
        "source: ./ops\n      inputs: {parameters", "source: ./relax-ops\n      inputs: {parameters"
    )
    spec.write_text(text.replace("source: ./ops", "source: ./analyse-ops"))
    res = run_cli("run", str(spec), cwd=tmp_path)
    assert res.returncode == 1, res.stdout + res.stderr
    failed = re.search(r"relax-analyse-\w+", res.stdout).group(0)  # type: ignore[union-attr]

    # rerun: one step again, here, with its recorded inputs; the record stays as it was
    record = dflowctl_home / "runs" / failed / "workflow.json"
    before = record.read_bytes()
    res = run_cli("rerun", failed, "--step", "analyse", cwd=tmp_path)
    assert res.returncode == 1
    assert "NameError: name 'BUG' is not defined" in res.stdout
    assert res.stderr.startswith(f"rerun analyse of {failed} (template analyse):\n")
    assert res.stderr.endswith(
        "analyse Failed: Error (exit code 1): NameError: name 'BUG' is not defined (analyse-ops/chem.py:6)\n"
    )
    res = run_cli("rerun", failed, "--step", "relax", "--item", "2", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stderr.endswith("relax(2:2) Succeeded\n")
    res = run_cli("rerun", failed, "--step", "relax", cwd=tmp_path)
    assert (res.returncode, res.stderr) == (
        2,
        "error: step 'relax' has 5 items\n  hint: pick one with --item N (0 to 4)\n",
    )
    assert record.read_bytes() == before

    fixed.write_text(fixed.read_text().replace("// BUG", "// 1"))
    res = run_cli("retry", failed, cwd=tmp_path)
    assert res.returncode == 1
    assert f"note: changed on disk since {failed} ran: analyse; retry runs" in res.stderr

    res = run_cli("run", str(spec), "--reuse", failed, cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "  reused: 5 of 6 steps from earlier runs (run --reuse)" in res.stdout
    assert "  analyse  energy = 100" in res.stdout
    name = re.search(r"relax-analyse-\w+", res.stdout).group(0)  # type: ignore[union-attr]
    wf = json.loads(run_cli("status", name, "-o", "json", cwd=tmp_path).stdout)
    pods = _pods(wf)
    assert [d for d, n in sorted(pods.items()) if not n["memoizationStatus"]["hit"]] == ["analyse"]
    # the provenance is there for every step; the hidden parameters stay out of the usual views
    assert all(n["memoizationStatus"]["key"] for n in pods.values())
    assert "dflowctl-key" not in res.stdout
    status = run_cli("status", name, cwd=tmp_path)
    assert "dflowctl-" not in status.stdout and "reused from" in status.stdout

    # --rerun forces a step (all its items) to run again
    res = run_cli("run", str(spec), "--reuse", "--rerun", "relax", "-o", "json", cwd=tmp_path)
    wf = json.loads(res.stdout)
    hits = {d: n["memoizationStatus"]["hit"] for d, n in _pods(wf).items()}
    assert [d for d, hit in hits.items() if hit] == ["analyse"]

    # a downloaded artifact of a reused step is the earlier run's file
    out = tmp_path / "dl"
    res = run_cli("download", name, "--step", "relax(3:3)", "-d", str(out), cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    files = [p for p in out.rglob("*") if p.is_file() and p.name != "items.json"]  # beside: the item map
    assert sorted(p.read_text() for p in files) == ["30"]

    # deleting the earlier run leaves the reused one whole (its artifacts were copied in)
    res = run_cli("delete", failed, cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    again = tmp_path / "dl-again"
    res = run_cli("download", name, "--step", "relax(3:3)", "-d", str(again), cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert sorted(p.read_text() for p in again.rglob("*") if p.is_file() and p.name != "items.json") == ["30"]


def test_a_corrupted_or_missing_cache_entry_is_a_miss(dflowctl_home: Path, tmp_path: Path) -> None:
    spec = _project(tmp_path)
    spec.write_text(
        SPEC.replace("outputs:\n        parameters: {total: int}", "outputs:\n        artifacts: {copy: {}}")
    )
    (tmp_path / "ops" / "work.py").write_text(
        "from pathlib import Path\n\n\ndef count(n: int, data: Path) -> Path:\n"
        "    out = Path('copy.txt')\n    out.write_text(data.read_text() * n)\n    return out\n"
    )
    first = _run(spec)
    assert not _hit(first)
    blobs = [p for p in (dflowctl_home / "cache" / "blobs").rglob("*") if p.is_file()]
    assert len(blobs) == 1
    blobs[0].write_text("tampered\n")
    again = _run(spec)
    assert not _hit(again)  # the blob no longer has its digest
    entries = list((dflowctl_home / "cache" / "entries").rglob("*.json"))
    for e in entries:
        e.write_text("{not json")
    assert not _hit(_run(spec))
    assert _hit(_run(spec))


def test_cache_false_always_runs_and_cache_command(dflowctl_home: Path, tmp_path: Path) -> None:
    spec = _project(tmp_path)
    spec.write_text(SPEC.replace("      env: {MODE", "      cache: false\n      env: {MODE"))
    first = _run(spec)
    again = _run(spec)
    assert (
        "memoizationStatus" not in _pods(first)["count"] and "memoizationStatus" not in _pods(again)["count"]
    )
    spec.write_text(SPEC)
    _run(spec)
    res = run_cli("cache", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert re.fullmatch(r"cache: \S+/cache\n  1 step results, 0 artifacts, \d+ B\n", res.stdout), res.stdout
    res = run_cli("cache", "prune", "--older-than", "1h", cwd=tmp_path)
    assert res.stdout == "pruned 0 step results (0 B)\n"
    res = run_cli("cache", "prune", "--max-size", "0", cwd=tmp_path)
    assert res.returncode == 0 and res.stdout.startswith("pruned 1 step results ("), res.stdout
    assert not _hit(_run(spec))
    res = run_cli("cache", "prune", "--older-than", "soon", cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.startswith("error: invalid --older-than 'soon'")


@pytest.mark.parametrize("args", [["--reuse"], ["--reuse", "--rerun", "count"], ["--rerun", "count"]])
def test_reuse_on_argo_names_the_run(args: list[str], dflowctl_home: Path, tmp_path: Path) -> None:
    spec = _project(tmp_path)
    res = run_cli("run", str(spec), *args, "-e", "argo", cwd=tmp_path)
    assert (res.returncode, res.stderr) == (
        2,
        "error: on Argo, --reuse needs the run to take results from: --reuse RUN\n"
        "  hint: list runs with: dflowctl status -e argo\n",
    )


def test_reuse_in_the_background_and_by_config(dflowctl_home: Path, tmp_path: Path) -> None:
    spec = _project(tmp_path)
    first = _run(spec)
    # --no-wait: the detached process reads what the run may reuse
    res = run_cli("run", str(spec), "--no-wait", "--reuse", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    name = res.stdout.split()[-1]
    watch = run_cli("status", name, "--watch", "-o", "json", cwd=tmp_path)
    assert watch.returncode == 0, watch.stderr
    wf = json.loads(run_cli("status", name, "-o", "json", cwd=tmp_path).stdout)
    assert _hit(wf) and _key(wf) == _key(first)
    # config `reuse: true` makes it the default; --no-reuse runs everything
    config = tmp_path / "config.yaml"
    config.write_text("reuse: true\n")
    env = {"DFLOWCTL_CONFIG": str(config)}
    res = run_cli("run", str(spec), "-o", "json", cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr
    assert _hit(json.loads(res.stdout))
    res = run_cli("run", str(spec), "--no-reuse", "-o", "json", cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr
    assert not _hit(json.loads(res.stdout))
    # and a run without --reuse still keeps its results
    res = run_cli("run", str(spec), "--reuse", "--rerun", "count", "-o", "json", cwd=tmp_path)
    assert not _hit(json.loads(res.stdout))


KEYED = SCENARIO.replace(
    "      foreach: {range: {count: 5}}", "      key: relax-{{item}}\n      foreach: {range: {count: 5}}"
).replace("      python: chem:analyse\n", "      python: chem:analyse\n      cache: false\n")


def test_a_step_key_names_items_and_the_manifest_passes_argo_validate(
    dflowctl_home: Path, tmp_path: Path
) -> None:
    from tests.conftest import require_shared
    from tests.test_examples_argo import argo_validate

    (tmp_path / "ops").mkdir()
    (tmp_path / "ops" / "chem.py").write_text(CHEM.replace("// BUG", "// 1"))
    spec = tmp_path / "spec.yaml"
    spec.write_text(KEYED)
    rendered = run_cli("render", str(spec), "-o", "json", cwd=tmp_path)
    assert rendered.returncode == 0, rendered.stderr
    manifest = json.loads(rendered.stdout)
    main = next(t for t in manifest["spec"]["templates"] if t["name"] == "main")
    relax = main["steps"][0][0]
    assert {"name": "dflowctl-step-key", "value": "relax-{{item}}"} in relax["arguments"]["parameters"]
    analyse = next(t for t in manifest["spec"]["templates"] if t["name"] == "analyse")
    assert analyse["metadata"] == {"annotations": {"dflowctl.io/cache": "false"}}
    require_shared()
    path = tmp_path / "manifest.json"
    path.write_text(rendered.stdout)
    check = argo_validate(path)
    assert check.returncode == 0, check.stdout + check.stderr

    first = _run(spec)
    assert first["status"]["phase"] == "Succeeded"
    # --rerun by key: only that item runs again (and the uncached analysis)
    again = _run(spec, "--rerun", "relax-2")
    ran = sorted(d for d, n in _pods(again).items() if not (n.get("memoizationStatus") or {}).get("hit"))
    assert ran == ["analyse", "relax(2:2)"]
    # rerun by key
    name = first["metadata"]["name"]
    res = run_cli("rerun", name, "--step", "relax-3", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stderr.endswith("relax(3:3) Succeeded\n")
    # a key's references are checked like any value
    spec.write_text(KEYED.replace("relax-{{item}}", "relax-{{steps.nope.outputs.result}}"))
    res = run_cli("validate", str(spec), cwd=tmp_path)
    assert res.returncode == 2 and "nope" in res.stderr, res.stderr
