"""`run -e argo --reuse RUN` (issue 11): the planning time and the submitted manifest's size,
for the fan-out of specs/fanout.yaml at width 10 and 1,000, every step reused.

The earlier run is made without a cluster (tests/earlier.py: the manifest walked by Argo's
semantics, no pod). Targets: the reuse manifest's size does not grow with the width (only
the width's own digits), and planning a 1,000-item fan-out takes well under a second or
two. Not a test. Usage: python bench/argo_reuse.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dflowctl.engines.argoreuse import reuse_manifest  # noqa: E402
from dflowctl.render import render_workflow, upload_paths  # noqa: E402
from dflowctl.spec import load_spec  # noqa: E402
from dflowctl.uploads import source_keys  # noqa: E402
from tests.earlier import earlier_run  # noqa: E402

WIDTHS = (10, 1_000)


def main() -> int:
    print("run -e argo --reuse: specs/fanout.yaml, every step reused")
    sizes = []
    ok = True
    for width in WIDTHS:
        wf = load_spec(REPO / "specs" / "fanout.yaml", {"n": str(width)})
        manifest = render_workflow(wf, source_keys(upload_paths(wf)))
        old = earlier_run(manifest)
        started = time.perf_counter()
        done = reuse_manifest(manifest, old)
        took = time.perf_counter() - started
        size = len(json.dumps(done.manifest, separators=(",", ":")).encode())
        plain = len(json.dumps(manifest, separators=(",", ":")).encode())
        sizes.append(size)
        ok &= done.steps == ["square", "total"] and done.pods == width + 1
        print(
            f"  width {width:>5,}: planned in {took:.2f} s, {done.pods:,} pods not run; "
            f"manifest {size:,} B (without reuse {plain:,} B)"
        )
    digits = len(str(WIDTHS[1])) - len(str(WIDTHS[0]))
    same = sizes[1] - sizes[0] == digits
    print(
        f"  size at {WIDTHS[1]:,} - size at {WIDTHS[0]:,} = {sizes[1] - sizes[0]} B (target {digits}: the width's digits)"
    )
    return 0 if ok and same else 1


if __name__ == "__main__":
    sys.exit(main())
