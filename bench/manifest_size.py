"""Rendered manifest bytes of the fan-out example at width 10 and 10,000.

Target: equal sizes (the manifest must not grow with the width of a fan-out).
Items come from `range` (specs/fanout.yaml, width = parameter `n`), from the
entries of a folder (specs/slices.yaml: `group`, `pool`, `success_ratio`), or from an
earlier step's output (a generated variant: `numbers_up_to` returns the list,
`square` fans out over it with `foreach.param`). The last row is the Workflow
`run -e argo --reuse RUN` submits when RUN ran every step (reused steps rendered
without pods). The only difference allowed is the width's own digits in the
parameter value.
Usage: python bench/manifest_size.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dflowctl.render import render_workflow, upload_paths  # noqa: E402
from dflowctl.spec import load_spec  # noqa: E402
from dflowctl.uploads import source_keys  # noqa: E402

WIDTHS = (10, 10_000)

FROM_OUTPUT = """apiVersion: dflowctl/v1alpha1
kind: Workflow
metadata: {name: fanout-param}
spec:
  parameters:
    n: {type: int, default: 10}
  ops:
    make-list:
      image: python:3.12-slim
      python: numbers:numbers_up_to
      source: SOURCE
      inputs:
        parameters: {n: int}
      outputs:
        parameters: {items: list}
    square:
      image: python:3.12-slim
      python: numbers:square
      source: SOURCE
      inputs:
        parameters: {x: int}
      outputs:
        artifacts: {result: {}}
    sum-files:
      image: python:3.12-slim
      python: numbers:sum_files
      source: SOURCE
      inputs:
        artifacts: {files: {}}
      outputs:
        parameters: {total: int}
  steps:
    - name: make-list
      op: make-list
      parameters: {n: "{{workflow.parameters.n}}"}
    - name: square
      op: square
      parameters: {x: "{{item}}"}
      foreach: {param: "{{steps.make-list.outputs.parameters.items}}"}
    - name: total
      op: sum-files
      artifacts: {files: "{{steps.square.outputs.artifacts.result}}"}
"""


def size(spec: Path, width: int, reused: bool = False) -> int:
    wf = load_spec(spec, {"n": str(width)})
    manifest = render_workflow(wf, source_keys(upload_paths(wf)))
    if reused:  # what `run -e argo --reuse RUN` submits when RUN ran every step (bench/argo_reuse.py)
        from dflowctl.engines.argoreuse import reuse_manifest
        from tests.earlier import earlier_run

        manifest = reuse_manifest(manifest, earlier_run(manifest)).manifest
    return len(json.dumps(manifest, separators=(",", ":")).encode())


def main() -> int:
    print(f"rendered manifest bytes at fan-out width {WIDTHS[0]:,} and {WIDTHS[1]:,} (target: equal)")
    digits = len(str(WIDTHS[1])) - len(str(WIDTHS[0]))
    with tempfile.TemporaryDirectory() as tmp:
        param_spec = Path(tmp) / "fanout-param.yaml"
        param_spec.write_text(FROM_OUTPUT.replace("SOURCE", str(REPO / "specs" / "ops")), encoding="utf-8")
        ok = True
        rows = (
            ("range", REPO / "specs" / "fanout.yaml", False),
            ("earlier step", param_spec, False),
            ("folder entries", REPO / "specs" / "slices.yaml", False),  # grouped, pooled, success_ratio
            ("range, reused", REPO / "specs" / "fanout.yaml", True),
        )
        for label, spec, reused in rows:
            small, large = (size(spec, w, reused) for w in WIDTHS)
            same = large - small == digits
            ok &= same
            print(
                f"  items from {label:14s}: {small:,} B vs {large:,} B  ratio {large / small:.5f}  "
                f"(+{large - small} B = the {digits} extra digits of the width)  {'ok' if same else 'GROWS'}"
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
