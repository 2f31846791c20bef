"""Every example renders, and Argo's own schema (../shared/tools/argo-validate
--strict --lint) accepts the result, from the library and through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dflowctl.render import render_workflow, upload_paths
from dflowctl.spec import load_spec
from dflowctl.uploads import source_keys

from .conftest import ARGO_VALIDATE, REPO, SPECS, require_shared, run_cli

SPEC_FILES = sorted(SPECS.glob("*.yaml"))


def argo_validate(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ARGO_VALIDATE), "--strict", "--lint", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_all_examples_pass_argo_validate(tmp_path: Path) -> None:
    require_shared()
    out = []
    for spec in SPEC_FILES:
        path = tmp_path / f"{spec.stem}.json"
        path.write_text(
            json.dumps(render_workflow(wf := load_spec(spec), source_keys(upload_paths(wf)))),
            encoding="utf-8",
        )
        out.append(path)
    proc = argo_validate(*out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("OK (Workflow)") == len(SPEC_FILES), proc.stdout


def test_argo_validate_catches_a_broken_manifest(tmp_path: Path) -> None:
    """The oracle is real: a misspelled field fails."""
    require_shared()
    manifest = render_workflow(wf := load_spec(SPECS / "hello.yaml"), source_keys(upload_paths(wf)))
    manifest["spec"]["templates"][0]["stepz"] = manifest["spec"]["templates"][0].pop("steps")
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(manifest), encoding="utf-8")
    assert argo_validate(path).returncode == 1


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_render_cli_output_passes_argo_validate(fmt: str, tmp_path: Path) -> None:
    require_shared()
    proc = run_cli("render", "specs/fanout.yaml", "-p", "n=7", "-o", fmt, timeout=60)
    assert proc.returncode == 0, proc.stderr
    path = tmp_path / f"fanout.{fmt}"
    path.write_text(proc.stdout, encoding="utf-8")
    check = argo_validate(path)
    assert check.returncode == 0, check.stdout + check.stderr
    if fmt == "yaml":
        assert "source: |\n" in proc.stdout  # scripts stay readable blocks
    else:
        params = json.loads(proc.stdout)["spec"]["arguments"]["parameters"]
        assert params[0]["name"] == "n" and params[0]["value"] == "7"


def test_render_cli_errors() -> None:
    proc = run_cli("render", "specs/fanout.yaml", "-p", "n=many", timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "`n` is int" in proc.stderr
    proc = run_cli("render", "specs/fanout.yaml", "-o", "xml", timeout=60)
    assert proc.returncode == 2 and "unknown output format 'xml'" in proc.stderr
    proc = run_cli("render", "specs/no-such.yaml", timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_render_never_imports_kubernetes_or_minio() -> None:
    code = (
        "import sys\n"
        "from dflowctl.cli import main\n"
        "rc = main(['render', 'specs/hello.yaml'])\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('kubernetes', 'minio'))\n"
        "sys.stderr.write('imported: %s\\n' % bad)\n"
        "sys.exit(3 if bad else rc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("apiVersion: argoproj.io/v1alpha1\n")


def test_render_cli_parameter_file(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("msg: Hello from a file\n", encoding="utf-8")
    proc = run_cli("render", "specs/hello.yaml", "--parameter-file", str(params), "-o", "json", timeout=60)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads(proc.stdout)
    assert manifest["spec"]["arguments"]["parameters"] == [{"name": "msg", "value": "Hello from a file"}]
    assert manifest["metadata"]["generateName"] == "hello-"
