"""The dflow side of bench/fanout.py: the same fan-out written with dflow
(bench/dflow_fanout.py) run in dflow's debug mode, stopped at a cap, and pydflow
installed on request into a venv cached outside the repository.

A helper module of bench/fanout.py (run alone it does nothing)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

DFLOW_SCRIPT = Path(__file__).with_name("dflow_fanout.py")
TARGET_RATIO = 50.0
# shared with tests/test_dflow_ops.py::test_real_pydflow_is_imported_when_installed
DFLOW_VENV = Path.home() / ".cache" / "dflowctl-tests" / "pydflow-venv"


@dataclass
class DflowRun:
    elapsed: float  # seconds until it finished or was stopped
    finished: bool
    items_done: int
    error: str = ""  # dflow's last line when the run failed (a failed run is shown, not fatal)


def expected_total(n: int) -> int:
    return sum(i * i for i in range(n))


def dflow_env(python: str) -> dict[str, str]:
    """dflow's debug mode runs every step with `python3`: put the dflow interpreter's bin first."""
    bindir = str(Path(python).absolute().parent)  # not resolved: a venv's python is a symlink
    return {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}


def dflow_available(python: str) -> bool:
    try:
        proc = subprocess.run([python, "-c", "import dflow"], capture_output=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return False
    return proc.returncode == 0


def install_dflow(venv: Path) -> tuple[str | None, str]:
    """The venv's python with pydflow importable (made and installed when missing), or
    None and why not (no network, no pip, ...)."""
    python = venv / "bin" / "python"
    if python.exists() and dflow_available(str(python)):
        return str(python), f"pydflow already in {venv}"
    try:
        if not python.exists():
            subprocess.run(
                [sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300
            )
        pip = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "pydflow"],
            capture_output=True,
            text=True,
            timeout=900,
        )
    except (OSError, subprocess.SubprocessError) as err:
        return None, f"cannot make the venv {venv}: {err}"
    if pip.returncode != 0:
        last = (pip.stderr.strip().splitlines() or ["pip failed"])[-1]
        return None, f"pip cannot install pydflow into {venv}: {last[:200]}"
    if not dflow_available(str(python)):
        return None, f"pydflow installed into {venv} but `import dflow` fails"
    return str(python), f"pydflow installed into {venv}"


def dflow_items_done(work: Path) -> int:
    """Fan-out items dflow finished: step folders named `square` whose phase is Succeeded."""
    done = 0
    for name_file in work.glob("*/*/name"):
        step = name_file.parent
        phase = step / "phase"
        try:
            if name_file.read_text().strip() == "square" and phase.read_text().strip() == "Succeeded":
                done += 1
        except OSError:
            continue
    return done


def run_dflow(python: str, n: int, work: Path, cap: float) -> DflowRun:
    proc = subprocess.Popen(
        [python, str(DFLOW_SCRIPT), str(n)],
        cwd=work,
        env=dflow_env(python),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: a stop at the cap reaches every step
    )
    t0 = time.perf_counter()
    try:
        out, err = proc.communicate(timeout=cap)
    except subprocess.TimeoutExpired:
        elapsed = time.perf_counter() - t0
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return DflowRun(elapsed, False, dflow_items_done(work))
    elapsed = time.perf_counter() - t0
    lines = out.strip().splitlines()
    if proc.returncode != 0 or not lines or lines[-1] != f"total={expected_total(n)}":
        tail = (out + err).strip().splitlines() or ["no output"]
        print(f"  dflow failed at N={n} (exit {proc.returncode}): {tail[-1][:200]}", file=sys.stderr)
        return DflowRun(elapsed, False, dflow_items_done(work), tail[-1][:80])
    return DflowRun(elapsed, True, dflow_items_done(work))


def dflow_cells(d: DflowRun | None, n: int, wall: float) -> tuple[str, str, str]:
    """dflow wall, dflow s/item, dflow/dflowctl per item; `>=` when stopped at the cap."""
    if d is None:
        return "-", "-", "-"
    per = wall / n
    if d.error:
        return f"failed after {d.elapsed:.0f} ({d.items_done}/{n} done)", "-", "-"
    if d.finished:
        return f"{d.elapsed:.1f}", f"{d.elapsed / n:.3f}", f"{d.elapsed / n / per:.0f}x"
    rate = f"{d.elapsed / d.items_done:.2f}" if d.items_done else "inf"
    rate_ratio = f"{d.elapsed / d.items_done / per:.0f}x" if d.items_done else "inf"
    return (
        f">={d.elapsed:.0f} ({d.items_done}/{n} done)",
        f">={d.elapsed / n:.3f} (~{rate})",
        f">={d.elapsed / n / per:.0f}x (~{rate_ratio})",
    )


def print_dflow_target(d: DflowRun | None, n: int, wall: float, why_not: str) -> None:
    """Issue 3's >= 50x per item, proven by the bound when dflow was stopped at the cap."""
    head = f"target >= {TARGET_RATIO:.0f}x faster per item than dflow"
    if d is None:
        print(f"{head}: not measured ({why_not})")
        return
    if d.error:
        print(f"{head}: not measured (dflow failed: {d.error})")
        return
    per = wall / n
    if d.finished:
        ratio = d.elapsed / n / per
        print(
            f"{head}, N={n}: dflow {d.elapsed:.1f} s vs dflowctl {wall:.2f} s = {ratio:.1f}x per item -> "
            f"{'MET' if ratio >= TARGET_RATIO else 'NOT MET'}"
        )
        return
    bound = d.elapsed / n / per
    rate = d.elapsed / d.items_done / per if d.items_done else float("inf")
    if bound >= TARGET_RATIO:
        verdict = "MET (proven by the lower bound)"
    elif rate >= TARGET_RATIO:
        verdict = (
            f"MET at dflow's observed rate, not proven: the lower bound is {bound:.1f}x "
            f"(a cap of {TARGET_RATIO * wall:.0f} s would prove it)"
        )
    else:
        verdict = "NOT MET"
    print(
        f"{head}, N={n}: dflow stopped at the {d.elapsed:.0f} s cap with {d.items_done}/{n} items done "
        f"(dflowctl: {wall:.2f} s); ratio >= {bound:.1f}x (cap / dflowctl's wall), "
        f"~{rate:.0f}x (cap / items done) -> {verdict}"
    )
