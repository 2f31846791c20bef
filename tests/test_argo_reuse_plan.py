"""The manifest ``run -e argo --reuse RUN`` submits, in process: Argo's schema (argo-validate
--strict --lint) and a size that does not grow with the width of a reused fan-out."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from dflowctl.engines.argoreuse import reuse_manifest
from dflowctl.render import render_workflow, upload_paths
from dflowctl.spec import load_spec
from dflowctl.uploads import source_keys
from tests.conftest import SHARED, SPECS
from tests.earlier import WF, earlier_run

VALIDATE = SHARED / "tools" / "argo-validate"


def rendered(width: int) -> dict[str, Any]:
    wf = load_spec(SPECS / "fanout.yaml", {"n": str(width)})
    return render_workflow(wf, source_keys(upload_paths(wf)))


def supplied(manifest: Mapping[str, Any]) -> None:
    """Every input a reused step's template declares without a value is given by the step."""
    spec = manifest["spec"]
    templates = {t["name"]: t for t in spec["templates"]}
    main = templates[spec["entrypoint"]]
    steps = [s for g in main.get("steps") or [] for s in g] or main.get("dag", {}).get("tasks", [])
    for step in steps:
        tmpl = templates[step["template"]]
        if not tmpl["name"].startswith("dflowctl-reused-"):
            continue
        given = {p["name"] for p in step.get("arguments", {}).get("parameters") or []}
        for p in tmpl["inputs"]["parameters"]:
            assert p["name"] in given or "value" in p or "default" in p, (step["name"], p)
        given = {a["name"] for a in step.get("arguments", {}).get("artifacts") or []}
        for a in tmpl["inputs"].get("artifacts") or []:
            assert a["name"] in given or a.get("optional"), (step["name"], a)


def validate(manifest: Mapping[str, Any], tmp_path: Path) -> None:
    supplied(manifest)
    if not VALIDATE.is_file():
        pytest.skip("needs ../shared/tools/argo-validate")
    path = tmp_path / "reuse.json"
    path.write_text(json.dumps(manifest), encoding="utf-8")
    got = subprocess.run(
        [sys.executable, str(VALIDATE), "--strict", "--lint", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert got.returncode == 0, got.stdout + got.stderr


@pytest.mark.parametrize("width", [3])
def test_every_step_of_an_unchanged_run_is_reused(width: int) -> None:
    manifest = rendered(width)
    done = reuse_manifest(manifest, earlier_run(manifest))
    assert done.steps == ["square", "total"] and done.pods == width + 1
    main = done.manifest["spec"]["templates"][0]
    square, total = main["steps"][0][0], main["steps"][1][0]
    assert square["template"] == "dflowctl-reused-square" and square["withSequence"] == {
        "count": "{{workflow.parameters.n}}"
    }
    assert {
        "name": "dflowctl-out-a-result",
        "s3": {"key": f"{WF}/dflowctl/fanin/square/result/{{{{=asInt(item)}}}}"},
    } in square["arguments"]["artifacts"]
    assert total["arguments"]["parameters"] == [{"name": "dflowctl-out-p-total", "value": "5"}]
    assert total["arguments"]["artifacts"][0]["s3"]["key"] == f"{WF}/dflowctl/fanin/square/result"


def test_rerun_keeps_the_step_and_what_follows_it() -> None:
    manifest = rendered(3)
    done = reuse_manifest(manifest, earlier_run(manifest), rerun=["total"])
    assert done.steps == ["square"]
    assert done.manifest["spec"]["templates"][0]["steps"][1][0]["template"] == "sum-files"


def test_the_reuse_manifest_does_not_grow_with_the_width() -> None:
    sizes = []
    for width in (10, 1000):
        manifest = rendered(width)
        done = reuse_manifest(manifest, earlier_run(manifest))
        assert done.steps == ["square", "total"]
        sizes.append(len(json.dumps(done.manifest, separators=(",", ":"))))
    assert sizes[1] - sizes[0] == 2  # the width's own two extra digits


def test_the_reuse_manifest_passes_argo_validate(tmp_path: Path) -> None:
    manifest = rendered(3)
    done = reuse_manifest(manifest, earlier_run(manifest))
    validate(done.manifest, tmp_path)


# ---------------------------------------------------------------- what changes a key on Argo


def diamond(tmp_path: Path, edit: tuple[str, str] = ("", ""), source_edit: bool = False) -> dict[str, Any]:
    """specs/dag-diamond.yaml (its ops copied), with one text edit, rendered."""
    root = tmp_path / ("edited" if edit[0] or source_edit else "plain")
    shutil.copytree(SPECS / "ops", root / "ops", dirs_exist_ok=True)
    if source_edit:
        with (root / "ops" / "numbers.py").open("a", encoding="utf-8") as fh:
            fh.write("\n# edited\n")
    text = (SPECS / "dag-diamond.yaml").read_text(encoding="utf-8")
    assert edit[0] in text
    (root / "spec.yaml").write_text(text.replace(*edit), encoding="utf-8")
    wf = load_spec(root / "spec.yaml")
    return render_workflow(wf, source_keys(upload_paths(wf)))


def diamond_outcome(_name: str, inputs: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    if "factor" in inputs:
        return "Succeeded", {"value": str(int(inputs["x"]) * int(inputs["factor"]))}
    if "a" in inputs:
        return "Succeeded", {"sum": str(int(inputs["a"]) + int(inputs["b"]))}
    return "Succeeded", {"line": f"result: {inputs['value']}"}


ALL = ["start", "left", "right", "join", "report"]


@pytest.mark.parametrize(
    ("edit", "reused"),
    [
        (("", ""), ALL),
        (('echo "result: $value"', 'echo "value: $value"'), ALL[:4]),  # the script
        (("image: alpine:3.20", "image: alpine:3.21"), ALL[:4]),  # another image
        (("factor: 3}", "factor: 4}"), ["start", "left"]),  # a parameter: right, and what reads it
        (("x: {type: int, default: 3}", "x: {type: int, default: 4}"), []),  # a workflow parameter
        (("      image: alpine:3.20\n", "      image: alpine:3.20\n      env: {MODE: fast}\n"), ALL[:4]),
        (("    report:\n", "    report:\n      cache: false\n"), ALL[:4]),  # never reused
        # not a change: a comment, a reordered mapping
        (("  dag:\n", "  # the diamond\n  dag:\n"), ALL),
        (
            (
                "      image: python:3.12-slim\n      python: numbers:scale\n",
                "      python: numbers:scale\n      image: python:3.12-slim\n",
            ),
            ALL,
        ),
        # documented: the order of an op's inputs is part of its interface (docs/reuse.md)
        (("parameters: {x: int, factor: int}", "parameters: {factor: int, x: int}"), []),
    ],
)
def test_the_key_rule_on_argo(tmp_path: Path, edit: tuple[str, str], reused: list[str]) -> None:
    old = earlier_run(diamond(tmp_path), diamond_outcome)
    assert reuse_manifest(diamond(tmp_path, edit), old).steps == reused


def test_an_edited_op_source_runs_every_step_of_that_source(tmp_path: Path) -> None:
    old = earlier_run(diamond(tmp_path), diamond_outcome)
    assert reuse_manifest(diamond(tmp_path, source_edit=True), old).steps == []  # report reads join


def test_a_dag_reuse_passes_argo_validate(tmp_path: Path) -> None:
    old = earlier_run(diamond(tmp_path), diamond_outcome)
    done = reuse_manifest(diamond(tmp_path, ("factor: 3}", "factor: 4}")), old)
    validate(done.manifest, tmp_path)


def test_a_step_key_and_an_unset_default_input(tmp_path: Path) -> None:
    """`key:` gives the op's template a defaulted input; a step without it relies on the default."""
    text = (SPECS / "dag-diamond.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "    - name: left\n      op: scale\n", "    - name: left\n      op: scale\n      key: left-one\n"
    )
    shutil.copytree(SPECS / "ops", tmp_path / "ops")
    (tmp_path / "spec.yaml").write_text(text, encoding="utf-8")
    wf = load_spec(tmp_path / "spec.yaml")
    manifest = render_workflow(wf, source_keys(upload_paths(wf)))
    done = reuse_manifest(manifest, earlier_run(manifest, diamond_outcome))
    assert done.steps == ALL
    validate(done.manifest, tmp_path)


def test_reuse_step_takes_a_step_whose_source_changed(tmp_path: Path) -> None:
    """`--reuse-step` on Argo: steps whose op source changed are taken from RUN all the same;
    a step reading only pinned results is a hit again by its own key."""
    from dflowctl.errors import UsageError

    old = earlier_run(diamond(tmp_path), diamond_outcome)
    edited = diamond(tmp_path, source_edit=True)
    assert reuse_manifest(edited, old, reuse_steps=["start"]).steps == ["start"]
    both = reuse_manifest(edited, old, reuse_steps=["start", "left", "right", "join"])
    assert both.steps == ALL  # report's inputs are the pinned join's outputs: the same key
    assert reuse_manifest(edited, old, rerun=["start"], reuse_steps=["start"]).steps == []  # --rerun wins
    validate(both.manifest, tmp_path)
    with pytest.raises(UsageError, match="--reuse-step nosuch: wf has no step of that name"):
        reuse_manifest(edited, old, reuse_steps=["nosuch"])


def test_a_step_whose_op_outputs_artifacts_only_is_reused(tmp_path: Path) -> None:
    """specs/hello.yaml's `write`: its one output is an artifact. Its reused template has no
    output parameter of its own, only the record of the run it was taken from (planning
    used to fail with KeyError: 'parameters', and every step ran)."""
    text = (SPECS / "hello.yaml").read_text(encoding="utf-8")
    shutil.copytree(SPECS / "ops", tmp_path / "ops")
    (tmp_path / "spec.yaml").write_text(text[: text.index("    - name: shout\n")], encoding="utf-8")
    wf = load_spec(tmp_path / "spec.yaml")
    manifest = render_workflow(wf, source_keys(upload_paths(wf)))
    done = reuse_manifest(manifest, earlier_run(manifest, lambda _name, _inputs: ("Succeeded", {})))
    assert done.steps == ["write"] and done.pods == 1
    validate(done.manifest, tmp_path)


def test_a_step_that_did_not_write_an_optional_output_is_reused_without_it(tmp_path: Path) -> None:
    """Its reused template declares that output all the same, optional and from an optional
    input given nothing: Argo's controller refuses a reference to an output a template
    lacks (`failed to resolve {{steps.no-file.outputs.artifacts.f}}`, found on the real
    controller: tests/test_argo_cluster.py::test_dflow_ops_on_real_argo)."""
    text = (SPECS / "hello.yaml").read_text(encoding="utf-8")
    text = text[: text.index("    - name: shout\n")].replace("out_art: {}", "out_art: {optional: true}")
    shutil.copytree(SPECS / "ops", tmp_path / "ops")
    (tmp_path / "spec.yaml").write_text(text, encoding="utf-8")
    wf = load_spec(tmp_path / "spec.yaml")
    manifest = render_workflow(wf, source_keys(upload_paths(wf)))
    old = earlier_run(manifest, lambda _name, _inputs: ("Succeeded", {}))
    assert reuse_manifest(manifest, old).steps == ["write"]
    for node in old["status"]["nodes"].values():
        node.get("outputs", {}).pop("artifacts", None)
    done = reuse_manifest(manifest, old)
    assert done.steps == ["write"]
    made = next(t for t in done.manifest["spec"]["templates"] if t["name"] == "dflowctl-reused-write")
    assert made["outputs"]["artifacts"] == [
        {"name": "out_art", "from": "{{inputs.artifacts.dflowctl-out-a-out_art}}", "optional": True}
    ]
    assert {"name": "dflowctl-out-a-out_art", "optional": True} in made["inputs"]["artifacts"]
    validate(done.manifest, tmp_path)


def test_an_items_loop_is_reused_whole(tmp_path: Path) -> None:
    """A `foreach: {items: […]}` fan-out (a parameter sweep: its items are `{dflowctl-i,
    dflowctl-v}` pairs) is reused as a range loop is: its index is `item['dflowctl-i']`."""
    text = (SPECS / "fanout.yaml").read_text(encoding="utf-8")
    text = text.replace('range: {count: "{{workflow.parameters.n}}"}', "items: [4, 7, 9]")
    shutil.copytree(SPECS / "ops", tmp_path / "ops")
    (tmp_path / "spec.yaml").write_text(text, encoding="utf-8")
    wf = load_spec(tmp_path / "spec.yaml")
    manifest = render_workflow(wf, source_keys(upload_paths(wf)))
    done = reuse_manifest(manifest, earlier_run(manifest))
    assert done.steps == ["square", "total"] and done.pods == 4
    square = done.manifest["spec"]["templates"][0]["steps"][0][0]
    assert square["withItems"][2] == {"dflowctl-i": 2, "dflowctl-v": "9"}
    assert {
        "name": "dflowctl-out-a-result",
        "s3": {"key": f'{WF}/dflowctl/fanin/square/result/{{{{=asInt(item["dflowctl-i"])}}}}'},
    } in square["arguments"]["artifacts"]
    validate(done.manifest, tmp_path)


def test_an_artifact_counts_by_its_location_as_argo_records_it() -> None:
    """Argo's controller records an argument's `from` + `subPath` as one key (seen on the
    real controller: an entries loop's `slices/2`); a plan has them apart. Both count the
    same, inside a fan-in folder too, and not as the key a run's name would be replaced in."""
    from dflowctl.engines.argokeys import artifact_identity

    fanins = {"wf/dflowctl/fanin/relax/relaxed": "d1"}
    same = [
        (
            {"s3": {"key": "wf/wf-entries-1/slices"}, "subPath": "2"},
            {"s3": {"key": "wf/wf-entries-1/slices/2"}},
        ),
        (
            {"s3": {"key": "wf/dflowctl/fanin/relax/relaxed"}, "subPath": "0/a.txt"},
            {"s3": {"key": "wf/dflowctl/fanin/relax/relaxed/0/a.txt"}},
        ),
    ]
    for planned, recorded in same:
        assert artifact_identity(planned, fanins) == artifact_identity(recorded, fanins)
    assert artifact_identity({"s3": {"key": "wf/dflowctl/fanin/relax/relaxed"}}, fanins) == "fanin:d1:"
    assert "wf" not in artifact_identity({"s3": {"key": "wf/wf-entries-1/slices"}}, {})
