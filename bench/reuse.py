"""Step-cache benchmark (issue 11): a 1,000-item fan-out, run, then run again with `--reuse`.

Builds a throw-away project (the fan-out of specs/fanout.yaml, with the square op
and the reducer in their own `source:` folders), then through the real CLI:
1. `run` (every step runs; results go into the cache),
2. `run --reuse` (nothing changed: every step should be reused),
3. edit only the reducer, `run --reuse` (exactly one step should run).
Prints the times, the ratio 2/1, and the targets: run 2 within max(10% of run 1, 1.5 s);
after the edit, exactly one step ran. Not a test. Usage:
    python bench/reuse.py [--n 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
NUMBERS = (REPO / "specs" / "ops" / "numbers.py").read_text(encoding="utf-8")
SPEC = (REPO / "specs" / "fanout.yaml").read_text(encoding="utf-8")


def project(root: Path) -> Path:
    for folder in ("square-ops", "sum-ops"):
        (root / folder).mkdir()
        (root / folder / "numbers.py").write_text(NUMBERS, encoding="utf-8")
    text = SPEC.replace("source: ./ops", "source: ./square-ops", 1).replace(
        "source: ./ops", "source: ./sum-ops"
    )
    spec = root / "fanout.yaml"
    spec.write_text(text, encoding="utf-8")
    return spec


def run(spec: Path, n: int, *extra: str) -> tuple[float, dict[str, Any]]:
    cmd = [sys.executable, "-m", "dflowctl", "run", str(spec), "-p", f"n={n}", *extra, "-o", "json"]
    start = time.perf_counter()
    res = subprocess.run(cmd, cwd=spec.parent, capture_output=True, text=True, env=os.environ.copy())
    took = time.perf_counter() - start
    if res.returncode != 0:
        sys.exit(f"run failed ({res.returncode}): {res.stderr[-2000:]}")
    return took, json.loads(res.stdout)


def counts(wf: dict[str, Any]) -> tuple[int, int, str]:
    pods = [n for n in wf["status"]["nodes"].values() if n["type"] == "Pod"]
    ran = [n for n in pods if not (n.get("memoizationStatus") or {}).get("hit")]
    total = next(
        (
            p["value"]
            for n in pods
            if n["displayName"] == "total"
            for p in n["outputs"]["parameters"]
            if p["name"] == "total"
        ),
        "?",
    )
    return len(pods), len(ran), total


def reducer_seconds(wf: dict[str, Any]) -> float:
    """How long the reducer's node took (its start to its end, as recorded)."""
    from dflowctl.tree import duration_seconds

    node = next(n for n in wf["status"]["nodes"].values() if n.get("displayName") == "total")
    return duration_seconds(node.get("startedAt"), node.get("finishedAt")) or 0.0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dflowctl-bench-reuse-") as tmp:
        root = Path(tmp)
        os.environ["DFLOWCTL_HOME"] = str(root / "home")
        os.environ["DFLOWCTL_CONFIG"] = str(root / "no-config.yaml")
        spec = project(root)
        t1, wf1 = run(spec, args.n)
        t2, wf2 = run(spec, args.n, "--reuse")
        reducer = root / "sum-ops" / "numbers.py"
        reducer.write_text(reducer.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
        t3, wf3 = run(spec, args.n, "--reuse")
    expected = str(sum(i * i for i in range(args.n)))
    rows = [("run", t1, wf1), ("run --reuse (unchanged)", t2, wf2), ("run --reuse (reducer edited)", t3, wf3)]
    print(f"{'':30} {'wall s':>8} {'pods':>6} {'ran':>6} {'reducer s':>9}  total")
    for label, took, wf in rows:
        pods, ran, total = counts(wf)
        mark = "" if total == expected else "  WRONG"
        print(f"{label:30} {took:8.2f} {pods:6d} {ran:6d} {reducer_seconds(wf):9.2f}  {total}{mark}")
    limit = max(0.10 * t1, 1.5)
    ok1 = t2 <= limit
    ok2 = counts(wf3)[1] == 1
    print(
        f"ratio run 2 / run 1 = {t2 / t1:.3f}; target: {t2:.2f} s <= max(10% of {t1:.2f} s, 1.5 s) = {limit:.2f} s:"
        f" {'met' if ok1 else 'NOT met'}"
    )
    print(
        f"after editing only the reducer, steps run = {counts(wf3)[1]} (target 1): {'met' if ok2 else 'NOT met'}"
    )
    return 0 if ok1 and ok2 and all(counts(wf)[2] == expected for _l, _t, wf in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
