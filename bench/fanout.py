"""Fan-out/fan-in benchmark of the local engine (issue 3): dflowctl vs one interpreter start vs dflow.

For each N in --sizes (default 10,100,1000,10000; --big adds 100,000) it runs
`dflowctl run specs/fanout.yaml -p n=N` (the real CLI in a subprocess, local
engine, its event lines on a pipe as in CI; the sum is checked from the record)
and reports the wall time, the cost per item, the per-item overhead (beyond the
op's own work, the op timed in-process), the cost of one bare `python3 -c pass`,
the peak memory of the dflowctl process and of its whole process tree (sampled),
the event lines it printed a second, and how long `dflowctl status` (the run
list, and the run's own table) takes once the run is there. Then the ratio of
the cost per item at the largest N to that at N=1,000 (issue 16).

When dflow (`pip install pydflow`, the `bench` extra) is importable by the
interpreter given with --dflow-python or $DFLOWCTL_BENCH_DFLOW_PYTHON (default:
this one), or with --install-dflow (pydflow installed into a venv cached outside the
repository, ~/.cache/dflowctl-tests/pydflow-venv, shared with the tests), the same
workflow written with dflow (bench/dflow_fanout.py, driven by bench/fanout_dflow.py)
runs in dflow's debug mode right after (N <= --dflow-max, default 1,000), with a time
cap per N: --dflow-timeout, raised to what proves the 50x target by the bound alone
(50 x dflowctl's wall at that N, plus 5%). A run stopped at the cap counts its
finished items from dflow's debug work dir and reports a lower bound (cap / N per
item) and the rate it reached (cap / items). Without dflow it says so in one line and
skips the dflow columns.

For the largest N, the readers of the run (bench/fanout_readers.py): `status`, `status
NAME`, `-o json`, `logs`, `download`, `report`, with the bytes each prints or writes
and the same bytes (files) written by plain Python as the baseline (issue 16 item 2:
at most 1 s beyond it).

Prints a table and whether issue 3's targets are met; it is not a test. Usage:
    python bench/fanout.py [--sizes 10,100,1000,10000] [--big] [--install-dflow | --dflow-python PY]
                           [--dflow-timeout 240] [--no-dflow]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from fanout_dflow import (
    DFLOW_VENV,
    TARGET_RATIO,
    DflowRun,
    dflow_available,
    dflow_cells,
    expected_total,
    install_dflow,
    print_dflow_target,
    run_dflow,
)
from fanout_readers import Timed, print_readers, time_readers, timed

REPO = Path(__file__).resolve().parent.parent
SPEC = REPO / "specs" / "fanout.yaml"
OPS = REPO / "specs" / "ops" / "numbers.py"
SCALE_RATIO = 1.2  # issue 16: cost per item at the largest N <= 1.2x that at N=1,000
STATUS_LIMIT = 1.0  # seconds for `dflowctl status` of the largest run


def real_python3() -> str:
    """The interpreter `python3` on PATH starts (not a pyenv-style shim in front of it)."""
    found = shutil.which("python3") or sys.executable
    out = subprocess.run([found, "-c", "import sys; print(sys.executable)"], capture_output=True, text=True)
    return out.stdout.strip() or found


def spawn_cost(python: str, repeats: int = 20) -> float:
    """Median seconds of one `python -c pass` (an interpreter start and exit)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([python, "-c", "pass"], check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def op_work_per_item(work: Path, repeats: int = 1000) -> float:
    """Seconds the fan-out op itself (numbers.square: compute, write its file) takes per item."""
    spec = importlib.util.spec_from_file_location("bench_numbers", OPS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    here = Path.cwd()
    work.mkdir(parents=True, exist_ok=True)
    os.chdir(work)
    try:
        t0 = time.perf_counter()
        for x in range(repeats):
            module.square(x)
        return (time.perf_counter() - t0) / repeats
    finally:
        os.chdir(here)


@dataclass
class Run:
    wall: float
    cpu: float  # user + system seconds of dflowctl and everything it reaped (pods included)
    peak_mb: float  # the dflowctl process (its VmHWM, last sample)
    tree_mb: float  # the whole process tree: largest sampled sum of RSS
    lines: int  # event lines printed (stderr, not a terminal)
    status_s: float  # `dflowctl status` (the run list)
    detail_s: float  # `dflowctl status NAME` (the run's table)
    readers: dict[str, Timed]  # the readers of the largest N's run (fanout_readers)


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(_children(p))
    return out


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


class Sampler(threading.Thread):
    """Peak memory of a process and of its tree, sampled every 0.1 s."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.own_kb = 0
        self.tree_kb = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.1):
            self.own_kb = max(self.own_kb, _status_kb(self.pid, "VmHWM"))
            self.tree_kb = max(self.tree_kb, sum(_status_kb(p, "VmRSS") for p in _tree(self.pid)))


def run_dflowctl(n: int, home: Path, readers: bool = False) -> Run:
    env = {**os.environ, "DFLOWCTL_HOME": str(home), "NO_COLOR": "1"}
    env.pop("DFLOWCTL_ENGINE", None)
    env.pop("CI", None)
    cmd = [sys.executable, "-m", "dflowctl", "run", str(SPEC), "-p", f"n={n}"]
    with tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, cwd=home)
        sampler = Sampler(proc.pid)
        sampler.start()
        # wait4: the CPU time of dflowctl and of every process it reaped (fork servers, and
        # through them the pods): less sensitive to the machine's load than the wall time
        _pid, code, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(code)
        sampler.done.set()
        sampler.join()
        err.seek(0)
        lines = err.read().decode(errors="replace").splitlines()
        out.seek(0)
        stdout = out.read().decode(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"dflowctl run failed (exit {proc.returncode}):\n" + "\n".join(lines[-20:]))
    name = stdout.splitlines()[0].removeprefix("Name: ").strip()
    record = json.loads((home / "runs" / name / "workflow.json").read_text())
    totals = [
        p["value"]
        for node in record["status"]["nodes"].values()
        if node.get("displayName") == "total"
        for p in (node.get("outputs") or {}).get("parameters", [])
        if p["name"] == "total"
    ]
    if totals != [str(expected_total(n))]:
        raise SystemExit(f"dflowctl: wrong total for n={n}: {totals} (expected {expected_total(n)})")
    cli = [sys.executable, "-m", "dflowctl"]
    status_s = timed([*cli, "status"], env, home)[0]
    detail_s = timed([*cli, "status", name], env, home)[0]
    more = time_readers(name, env, home) if readers else {}
    cpu = usage.ru_utime + usage.ru_stime
    return Run(wall, cpu, sampler.own_kb / 1024, sampler.tree_kb / 1024, len(lines), status_s, detail_s, more)


@dataclass
class Row:
    n: int
    run: Run
    overhead: float  # seconds per item beyond the op's own work
    spawn: float
    dflow: DflowRun | None
    load: float  # load average (1 min) when this N ended

    @property
    def wall(self) -> float:
        return self.run.wall

    def dflow_cells(self) -> tuple[str, str, str]:
        return dflow_cells(self.dflow, self.n, self.wall)


def print_table(rows: list[Row]) -> None:
    head = [
        "N",
        "dflowctl s",
        "ms/item",
        "CPU ms/item",
        "overhead ms/item",
        "spawn ms",
        "dflowctl MB",
        "tree MB",
        "lines/s",
        "status s",
        "status NAME s",
        "load",
        "dflow s",
        "dflow s/item",
        "dflow/dflowctl",
    ]
    cells = [
        [
            str(r.n),
            f"{r.wall:.2f}",
            f"{r.wall / r.n * 1000:.1f}",
            f"{r.run.cpu / r.n * 1000:.1f}",
            f"{r.overhead * 1000:.1f}",
            f"{r.spawn * 1000:.1f}",
            f"{r.run.peak_mb:.0f}",
            f"{r.run.tree_mb:.0f}",
            f"{r.run.lines / r.wall:.1f}",
            f"{r.run.status_s:.2f}",
            f"{r.run.detail_s:.2f}",
            f"{r.load:.1f}",
            *r.dflow_cells(),
        ]
        for r in rows
    ]
    widths = [max(len(c[i]) for c in [head, *cells]) for i in range(len(head))]
    for line in [head, *cells]:
        print("  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)))


def print_scale(rows: list[Row]) -> None:
    """Issue 16's targets: the cost per item does not grow with N; bounded memory; fast status."""
    by_n = {r.n: r for r in rows}
    last = rows[-1]
    base = by_n.get(1000)
    if base is not None and last.n > base.n:
        ratio = (last.wall / last.n) / (base.wall / base.n)
        verdict = "MET" if ratio <= SCALE_RATIO else "NOT MET"
        print(
            f"target cost per item at N={last.n} <= {SCALE_RATIO}x that at N=1000: "
            f"{last.wall / last.n * 1000:.2f} ms vs {base.wall / base.n * 1000:.2f} ms = {ratio:.2f}x -> {verdict}"
        )
        cpu_ratio = (last.run.cpu / last.n) / (base.run.cpu / base.n)
        print(
            f"  CPU per item (dflowctl and its processes, load-independent): {last.run.cpu / last.n * 1000:.2f} ms "
            f"vs {base.run.cpu / base.n * 1000:.2f} ms = {cpu_ratio:.2f}x"
        )
    if base is not None:
        verdict = "MET" if base.wall <= 4.0 else "NOT MET"
        print(f"target N=1000 end to end <= 4 s: {base.wall:.2f} s -> {verdict} (load {base.load:.1f})")
    ten = by_n.get(10000)
    if ten is not None:
        print(
            f"target N=10000 end to end <= 40 s: {ten.wall:.2f} s -> {'MET' if ten.wall <= 40 else 'NOT MET'}; "
            f"dflowctl peak memory <= 300 MB: {ten.run.peak_mb:.0f} MB -> "
            f"{'MET' if ten.run.peak_mb <= 300 else 'NOT MET'}; "
            f"`status` <= {STATUS_LIMIT:.0f} s: {ten.run.status_s:.2f} s -> "
            f"{'MET' if ten.run.status_s <= STATUS_LIMIT else 'NOT MET'} (load {ten.load:.1f})"
        )


def print_targets(rows: list[Row], with_dflow: bool, why_not: str) -> None:
    last = rows[-1]
    verdict = "MET" if last.overhead < last.spawn else "NOT MET"
    print(
        f"target per-item overhead < one interpreter start, N={last.n}: {last.overhead * 1000:.1f} ms "
        f"vs {last.spawn * 1000:.1f} ms -> {verdict}"
    )
    if len(rows) >= 2:
        first = rows[0]
        slope = (last.wall - first.wall) / (last.n - first.n)
        print(
            f"  marginal cost of one more item (N={first.n}..{last.n}): {slope * 1000:.1f} ms "
            f"= {slope / last.spawn:.2f}x an interpreter start"
        )
    print_dflow_target(last.dflow if with_dflow else None, last.n, last.wall, why_not)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10,100,1000,10000")
    ap.add_argument("--big", action="store_true", help="add N=100,000")
    ap.add_argument("--dflow-max", type=int, default=1000, help="largest N dflow runs at")
    ap.add_argument("--dflow-python", default=os.environ.get("DFLOWCTL_BENCH_DFLOW_PYTHON") or sys.executable)
    ap.add_argument("--dflow-timeout", type=float, default=240.0, help="cap per N, seconds")
    ap.add_argument("--no-dflow", action="store_true")
    ap.add_argument(
        "--install-dflow",
        action="store_true",
        help=f"pip install pydflow into a venv cached outside the repository ({DFLOW_VENV}) and use it",
    )
    ap.add_argument("--dflow-venv", type=Path, default=DFLOW_VENV, help="the venv --install-dflow uses")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.big and 100000 not in sizes:
        sizes.append(100000)

    python3 = real_python3()
    on_path = shutil.which("python3") or python3
    print(f"machine: {os.cpu_count()} CPUs; load average at start: {os.getloadavg()}")
    print(f"interpreter start = median `python3 -c pass` of {python3}", end="")
    if os.path.realpath(on_path) != os.path.realpath(python3):
        print(f" (through {on_path} on PATH: {spawn_cost(on_path, 5) * 1000:.1f} ms)")
    else:
        print()
    dflow_python, why_not = args.dflow_python, "--no-dflow"
    if not args.no_dflow and args.install_dflow:
        installed, said = install_dflow(args.dflow_venv)
        print(f"dflow: {said}")
        dflow_python, why_not = installed or "", said
    with_dflow = not args.no_dflow and bool(dflow_python) and dflow_available(dflow_python)
    if with_dflow:
        print(
            f"dflow: {dflow_python}, debug mode, N <= {args.dflow_max}, cap per N: {args.dflow_timeout:.0f} s "
            f"or {TARGET_RATIO:.0f}x dflowctl's wall + 5%, whichever is longer"
        )
    elif not args.no_dflow:
        if dflow_python and not args.install_dflow:
            why_not = f"dflow is not importable by {dflow_python}"
        print(
            f"dflow: SKIPPED, {why_not} (--install-dflow installs pydflow into {args.dflow_venv}, "
            "or --dflow-python PY): dflow columns skipped"
        )

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="dflowctl-bench-") as tmp:
        base = Path(tmp)
        op_time = op_work_per_item(base / "op")
        print(f"op's own work (numbers.square in-process): {op_time * 1e6:.0f} us per item")
        for n in sizes:
            spawn = spawn_cost(python3)
            home = base / f"home-{n}"
            home.mkdir()
            run = run_dflowctl(n, home, readers=n == max(sizes))
            # Not removed until every size has run: ext4 without a journal does not reuse an
            # inode for 60-360 s after it is freed and scans past every such inode at each
            # allocation in that block group, where the next size's home would be made
            # (docs/benchmarks.md, "A freed run beside the next one").
            dflow = None
            if with_dflow and n <= args.dflow_max:
                dwork = base / f"dflow-{n}"
                dwork.mkdir()
                # long enough for the bound alone (cap / N per item) to prove the target
                cap = max(args.dflow_timeout, TARGET_RATIO * run.wall * 1.05)
                print(f"  N={n}: dflow with a cap of {cap:.0f} s", flush=True)
                dflow = run_dflow(dflow_python, n, dwork, cap)  # kept until the end too
            load = os.getloadavg()[0]
            rows.append(Row(n, run, run.wall / n - op_time, spawn, dflow, load))
            print(f"  N={n} done in {run.wall:.1f} s (load average {load:.2f})", flush=True)

    print()
    print_table(rows)
    print("(ms/item = wall / N, all included: CLI start, render, controller, records, pods;")
    print(
        " overhead = ms/item minus the op's own work; spawn = one interpreter start, measured before each N;"
    )
    print(" CPU ms/item = user + system time of dflowctl and every process under it, per item;")
    print(" dflowctl MB = peak RSS of the dflowctl process, tree MB = of it and every process under it;")
    print(" lines/s = event lines it printed (not a terminal) per second; status s = `dflowctl status`,")
    print(
        " status NAME s = `dflowctl status NAME` (the whole table), both after the run, as a user runs them;"
    )
    print(" dflow '>=': stopped at the cap, bound = cap / N, '~' = cap / items done)")
    print()
    print_targets([r for r in rows if r.n <= args.dflow_max] or rows, with_dflow, why_not)
    print_scale(rows)
    last = rows[-1]
    print_readers(last.n, last.run.readers, last.load)


if __name__ == "__main__":
    main()
