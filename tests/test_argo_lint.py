"""Argo's own linter over what dflowctl renders: ``argo lint --offline`` (built by ``make cluster-build``).

Every manifest ``dflowctl render`` prints for ``specs/`` and ``tests/data/valid``,
and every golden file, must pass the linter of the pinned Argo release (v4.0.5,
built from its module; see docs/argo.md). Marked ``cluster`` (it needs the built
binary, not a cluster); skipped when the binary is not there.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.cluster.fixtures import argo_cli
from tests.conftest import REPO, SPECS, run_cli

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]

# tests/data/valid/everything.yaml needs parameters to render; the rest render as they are.
VALID = REPO / "tests" / "data" / "valid"
RENDERED = sorted(SPECS.glob("*.yaml")) + sorted(
    p for p in VALID.glob("*.yaml") if p.name != "everything.yaml"
)
GOLDEN = sorted((REPO / "tests" / "golden").glob("*.yaml"))


def lint(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    argo = argo_cli()
    if not argo.exists():
        pytest.skip(f"{argo} is not built (make cluster-build)")
    return subprocess.run(
        [str(argo), "lint", "--offline", "--kinds", "workflows", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_rendered_manifests_pass_argo_lint(tmp_path: Path) -> None:
    out = []
    for spec in RENDERED:
        rendered = run_cli("render", str(spec))
        assert rendered.returncode == 0, rendered.stderr
        target = tmp_path / f"{spec.parent.name}-{spec.stem}.yaml"
        target.write_text(rendered.stdout)
        out.append(target)
    assert len(out) >= 8
    proc = lint(out)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_golden_files_pass_argo_lint() -> None:
    assert GOLDEN
    proc = lint(GOLDEN)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_argo_lint_refuses_a_broken_manifest(tmp_path: Path) -> None:
    """The linter is really checking: a template reference to nothing fails."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {generateName: bad-}\n"
        "spec:\n  entrypoint: main\n  templates:\n  - name: main\n    steps:\n"
        "    - - {name: a, template: nowhere}\n"
    )
    proc = lint([bad])
    assert proc.returncode != 0
    assert "nowhere" in proc.stdout + proc.stderr
