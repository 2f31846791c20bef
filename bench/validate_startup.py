"""Cold-start wall time of `dflowctl validate SPEC` (median of N runs) against
`python -c pass` and, when pydflow is installed, `python -c "import dflow"`.
Prints; not a test. Target: <= 0.25 s median and >= 3x faster than importing dflow.
`import dflow` runs with the interpreter given with --dflow-python or
$DFLOWCTL_BENCH_DFLOW_PYTHON (default: this one), as in bench/fanout.py.

    python bench/validate_startup.py [SPEC] [-n RUNS] [--dflow-python PY]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET = 0.25
DFLOW_LABEL = 'python -c "import dflow"'


# An installed package has its bytecode compiled (pip does it); an editable
# checkout gets it on the first run, unless PYTHONDONTWRITEBYTECODE forbids it.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def measure(argv: list[str], runs: int) -> tuple[float, float]:
    """Median wall and CPU (user+sys) time of ``argv`` over ``runs`` cold runs, after
    one warm-up (OS cache, bytecode). CPU time grows less than wall time on a busy machine."""
    subprocess.run(argv, cwd=REPO, capture_output=True, check=False, env=ENV)
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(argv, cwd=REPO, capture_output=True, check=False, env=ENV)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def load_note() -> str:
    try:
        one = os.getloadavg()[0]
    except OSError:
        return ""
    cores = os.cpu_count() or 1
    return f"  (load average {one:.1f} on {cores} cores{': wall times are inflated' if one > cores else ''})"


def default_spec() -> Path:
    for candidate in (REPO / "specs" / "hello.yaml", REPO / "tests" / "data" / "valid" / "hello.yaml"):
        if candidate.exists():
            return candidate
    raise SystemExit("no spec found: pass one")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", nargs="?", type=Path, default=None)
    parser.add_argument("-n", "--runs", type=int, default=10)
    parser.add_argument(
        "--dflow-python", default=os.environ.get("DFLOWCTL_BENCH_DFLOW_PYTHON") or sys.executable
    )
    args = parser.parse_args()
    spec = (args.spec or default_spec()).resolve()
    py = sys.executable
    check = subprocess.run(
        [py, "-m", "dflowctl", "validate", str(spec)], cwd=REPO, capture_output=True, text=True
    )
    if check.returncode != 0:
        raise SystemExit(f"validate failed on {spec}:\n{check.stderr}")
    base, base_cpu = measure([py, "-c", "pass"], args.runs)
    ours, ours_cpu = measure([py, "-m", "dflowctl", "validate", str(spec)], args.runs)
    shown = spec.relative_to(REPO) if spec.is_relative_to(REPO) else spec
    print(f"spec: {shown}  runs: {args.runs} (median){load_note()}")
    print(f"{'':28}{'wall':>8}{'cpu':>9}")
    print(f"{'python -c pass':28}{base:7.3f}s{base_cpu:8.3f}s")
    verdict = "met" if ours <= TARGET else "NOT met"
    print(
        f"{'dflowctl validate':28}{ours:7.3f}s{ours_cpu:8.3f}s   {ours / base:5.1f}x python startup;"
        f" target <= {TARGET} s wall: {verdict}"
    )
    dflow_py = args.dflow_python
    has_dflow = subprocess.run([dflow_py, "-c", "import dflow"], capture_output=True).returncode == 0
    if has_dflow:
        dflow, dflow_cpu = measure([dflow_py, "-c", "import dflow"], args.runs)
        ratio = dflow / ours
        print(
            f"{DFLOW_LABEL:28}{dflow:7.3f}s{dflow_cpu:8.3f}s   validate is {ratio:4.1f}x faster"
            f" (target >= 3x: {'met' if ratio >= 3 else 'NOT met'})"
        )
    else:
        print(
            'python -c "import dflow"    (pydflow not installed: pip install pydflow, or .[bench],'
            " or --dflow-python PY)"
        )


if __name__ == "__main__":
    main()
