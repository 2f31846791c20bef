"""The manifest ``run -e argo --reuse RUN`` submits, in process: Argo's schema (argo-validate
--strict --lint) and a size that does not grow with the width of a reused fan-out."""

from __future__ import annotations

import json
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
from tests.test_local_semantics import WF, FakeRuntime

VALIDATE = SHARED / "tools" / "argo-validate"


def rendered(width: int) -> dict[str, Any]:
    wf = load_spec(SPECS / "fanout.yaml", {"n": str(width)})
    return render_workflow(wf, source_keys(upload_paths(wf)))


def earlier_run(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest run as workflow ``wf`` by Argo's semantics (no pod): its status, with
    each Pod node's outputs where the template stores them."""
    text = json.dumps(manifest).replace(
        "{{workflow.parameters.n}}", manifest["spec"]["arguments"]["parameters"][0]["value"]
    )
    spec = json.loads(text)["spec"]

    def outcome(name: str, inputs: Mapping[str, str]) -> tuple[str, dict[str, str]]:
        if "dflowctl-index" in inputs:
            return "Succeeded", {"dflowctl-index": inputs["dflowctl-index"]}
        return "Succeeded", {"total": "5"}

    rt = FakeRuntime(spec["templates"], outcome)
    rt.execute(WF, WF, {"template": spec["entrypoint"]}, {}, None)
    templates = {t["name"]: t for t in spec["templates"]}
    for node in rt.book.nodes.values():
        if node["type"] != "Pod":
            continue
        params = {p["name"]: p.get("value", "") for p in node["inputs"].get("parameters") or []}
        arts = []
        for a in (templates[node["templateName"]].get("outputs") or {}).get("artifacts") or []:
            key = (a.get("s3") or {}).get("key") or f"{WF}/{node['id']}/{a['name']}.tgz"
            for k, v in params.items():
                key = key.replace(f"{{{{inputs.parameters.{k}}}}}", v)
            arts.append({"name": a["name"], "s3": {"key": key}})
        if arts:
            node.setdefault("outputs", {})["artifacts"] = arts
    return {"metadata": {"name": WF}, "spec": spec, "status": {"nodes": rt.book.nodes}}


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


@pytest.mark.skipif(not VALIDATE.is_file(), reason="needs ../shared/tools/argo-validate")
def test_the_reuse_manifest_passes_argo_validate(tmp_path: Path) -> None:
    manifest = rendered(3)
    done = reuse_manifest(manifest, earlier_run(manifest))
    path = tmp_path / "reuse.json"
    path.write_text(json.dumps(done.manifest), encoding="utf-8")
    got = subprocess.run(
        [sys.executable, str(VALIDATE), "--strict", "--lint", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert got.returncode == 0, got.stdout + got.stderr
