"""Golden renders of the examples in specs/: `tests/golden/<name>.yaml`.

Regenerate with `make golden` (DFLOWCTL_REGENERATE=1); CI never does. The
`dflowctl-source` keys are content hashes of specs/ops, so editing an op's code
changes its golden file on purpose.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dflowctl.render import render_workflow, upload_paths
from dflowctl.render.dump import dump_yaml
from dflowctl.spec import load_spec
from dflowctl.uploads import source_keys

from .conftest import REPO, SPECS

GOLDEN = REPO / "tests" / "golden"
SPEC_FILES = sorted(SPECS.glob("*.yaml"))
REGENERATE = os.environ.get("DFLOWCTL_REGENERATE") == "1"


def test_every_example_has_a_golden_file() -> None:
    assert SPEC_FILES, "no examples in specs/"
    goldens = sorted(p.stem for p in GOLDEN.glob("*.yaml"))
    assert goldens == sorted(p.stem for p in SPEC_FILES) or REGENERATE


@pytest.mark.parametrize("spec", SPEC_FILES, ids=[p.stem for p in SPEC_FILES])
def test_golden_render(spec: Path) -> None:
    text = dump_yaml(render_workflow(wf := load_spec(spec), source_keys(upload_paths(wf))))
    golden = GOLDEN / f"{spec.stem}.yaml"
    if REGENERATE:
        golden.write_text(text, encoding="utf-8")
        return
    assert golden.exists(), f"{golden} is missing: run `make golden`"
    assert text == golden.read_text(encoding="utf-8"), (
        f"{spec.name} renders differently: run `make golden` and review"
    )
