"""Cold-start wall time of `dflowctl validate SPEC` (median of N runs) against
`python -c pass` and, when pydflow is installed, `python -c "import dflow"`.
Prints; not a test. Target: <= 0.25 s median and >= 3x faster than importing dflow.

    python bench/validate_startup.py [SPEC] [-n RUNS]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET = 0.25


def wall(argv: list[str], runs: int) -> float:
    """Median wall time of ``argv`` over ``runs`` cold runs (after one warm-up for the OS cache)."""
    subprocess.run(argv, cwd=REPO, capture_output=True, check=False)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, cwd=REPO, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def default_spec() -> Path:
    for candidate in (REPO / "specs" / "hello.yaml", REPO / "tests" / "data" / "valid" / "hello.yaml"):
        if candidate.exists():
            return candidate
    raise SystemExit("no spec found: pass one")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", nargs="?", type=Path, default=None)
    parser.add_argument("-n", "--runs", type=int, default=10)
    args = parser.parse_args()
    spec = (args.spec or default_spec()).resolve()
    py = sys.executable
    check = subprocess.run(
        [py, "-m", "dflowctl", "validate", str(spec)], cwd=REPO, capture_output=True, text=True
    )
    if check.returncode != 0:
        raise SystemExit(f"validate failed on {spec}:\n{check.stderr}")
    base = wall([py, "-c", "pass"], args.runs)
    ours = wall([py, "-m", "dflowctl", "validate", str(spec)], args.runs)
    print(
        f"spec: {spec.relative_to(REPO) if spec.is_relative_to(REPO) else spec}  runs: {args.runs} (median)"
    )
    print(f"python -c pass              {base:7.3f} s")
    print(
        f"dflowctl validate           {ours:7.3f} s   {ours / base:5.1f}x python startup   "
        f"target <= {TARGET} s: {'met' if ours <= TARGET else 'NOT met'}"
    )
    has_dflow = subprocess.run([py, "-c", "import dflow"], capture_output=True).returncode == 0
    if has_dflow:
        dflow = wall([py, "-c", "import dflow"], args.runs)
        print(
            f'python -c "import dflow"    {dflow:7.3f} s   validate is {dflow / ours:4.1f}x faster '
            f"(target >= 3x: {'met' if dflow >= 3 * ours else 'NOT met'})"
        )
    else:
        print('python -c "import dflow"    (pydflow not installed: pip install pydflow, or .[bench])')


if __name__ == "__main__":
    main()
