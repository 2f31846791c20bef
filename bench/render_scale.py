"""validate + render of a generated 10,000-step spec (target: <= 2 s each).

Two shapes: a `steps` chain and a `dag` chain where every task takes the
previous task's output (so `depends` is inferred 10,000 times). Prints the
median wall time of load_spec + render_workflow and its ratio to the target.
Usage: python bench/render_scale.py [N] [REPEATS]
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dflowctl.render import render_workflow  # noqa: E402
from dflowctl.spec import load_spec  # noqa: E402

TARGET_S = 2.0

HEAD = """apiVersion: dflowctl/v1alpha1
kind: Workflow
metadata: {name: scale}
spec:
  parameters:
    start: {type: int, default: 1}
  ops:
    inc:
      image: python:3.12-slim
      python: numbers:add
      inputs:
        parameters: {a: int, b: int}
      outputs:
        parameters: {sum: int}
"""


def spec_text(n: int, kind: str) -> str:
    prefix = "steps" if kind == "steps" else "tasks"
    lines = [HEAD, f"  {kind}:\n"]
    for i in range(n):
        a = "{{workflow.parameters.start}}" if i == 0 else f"{{{{{prefix}.s{i - 1}.outputs.parameters.sum}}}}"
        lines.append(f'    - name: s{i}\n      op: inc\n      parameters:\n        a: "{a}"\n        b: 1\n')
    return "".join(lines)


def measure(path: Path, repeats: int) -> tuple[float, float, int]:
    """Median seconds of load_spec (validate) and of render_workflow, and the manifest size."""
    loads, renders = [], []
    size = 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        wf = load_spec(path)
        t1 = time.perf_counter()
        manifest = render_workflow(wf)
        renders.append(time.perf_counter() - t1)
        loads.append(t1 - t0)
        size = len(json.dumps(manifest))
    return statistics.median(loads), statistics.median(renders), size


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    print(f"validate+render of a generated {n:,}-step spec (median of {repeats}; target <= {TARGET_S:.1f} s)")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("steps", "dag"):
            path = Path(tmp) / f"{kind}.yaml"
            path.write_text(spec_text(n, kind), encoding="utf-8")
            load, render, size = measure(path, repeats)
            wall = load + render
            verdict = "ok" if wall <= TARGET_S else "SLOWER THAN TARGET"
            print(
                f"  {kind:5s}: {wall:6.3f} s = validate {load:.3f} s + render {render:.3f} s  "
                f"({wall / TARGET_S:.2f}x target; render alone {render / TARGET_S:.2f}x; "
                f"manifest {size / 1e6:.1f} MB)  {verdict}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
