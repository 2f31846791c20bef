"""The readers of bench/fanout.py's largest run (issue 16 item 2): `status`, `status
NAME`, `status NAME -o json`, `logs`, `download`, `report`, each timed (wall and CPU)
with the bytes it prints or writes, against a baseline measured in the same run: plain
Python (a fresh interpreter) printing the same number of bytes, or writing the same
files (`download`: the downloaded tree copied folder by folder, file by file). The
target: each reader at most 1 s beyond its baseline.

A helper module of bench/fanout.py (run alone it does nothing)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BEYOND_LIMIT = 1.0  # seconds beyond the baseline

WRITE_BYTES = "import sys; n = int(sys.argv[1]); sys.stdout.buffer.write(b'x' * n)"
COPY_TREE = """
import os, shutil, sys
src, dst = sys.argv[1], sys.argv[2]
for folder, _dirs, files in os.walk(src):
    out = os.path.join(dst, os.path.relpath(folder, src))
    os.makedirs(out, exist_ok=True)
    for name in files:
        shutil.copyfile(os.path.join(folder, name), os.path.join(out, name))
"""


@dataclass
class Timed:
    wall: float
    cpu: float  # user + system of the process and its children
    size: int  # bytes printed, or written (a download: its files' bytes)
    files: int = 0  # files written (a download)
    baseline_wall: float = 0.0
    baseline_cpu: float = 0.0


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, int]:
    """Seconds (wall, CPU) of ``cmd`` and the bytes it printed; exits on failure."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=err)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        size = out.tell()
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(cmd)} failed: {err.read().decode(errors='replace')[-1000:]}")
    return wall, usage.ru_utime + usage.ru_stime, size


def _tree(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def time_readers(name: str, env: dict[str, str], home: Path) -> dict[str, Timed]:
    """Each reader of run ``name`` once, then its baseline."""
    cli = [sys.executable, "-m", "dflowctl"]
    out: dict[str, Timed] = {}
    for label, args in [
        ("status (the run list)", ["status"]),
        ("status NAME (table)", ["status", name]),
        ("status NAME -o json", ["status", name, "-o", "json"]),
        ("logs NAME", ["logs", name]),
        ("logs NAME --step total", ["logs", name, "--step", "total"]),
    ]:
        out[label] = Timed(*timed([*cli, *args], env, home))
    page = home / "report.html"
    wall, cpu, _ = timed([*cli, "report", name, "-o", str(page)], env, home)
    out["report NAME"] = Timed(wall, cpu, page.stat().st_size)
    dl = home / "dl"
    wall, cpu, _ = timed([*cli, "download", name, "-d", str(dl)], env, home)
    files, size = _tree(dl)
    out["download NAME"] = Timed(wall, cpu, size, files)
    for label, t in out.items():
        if label == "download NAME":
            copy = home / "dl-copy"
            t.baseline_wall, t.baseline_cpu, _ = timed(
                [sys.executable, "-c", COPY_TREE, str(dl), str(copy)], env, home
            )
            shutil.rmtree(copy, ignore_errors=True)
        else:
            t.baseline_wall, t.baseline_cpu, _ = timed(
                [sys.executable, "-c", WRITE_BYTES, str(t.size)], env, home
            )
    shutil.rmtree(dl, ignore_errors=True)
    return out


def print_readers(n: int, readers: dict[str, Timed], load: float) -> None:
    if not readers:
        return
    print()
    print(
        f"readers of the N={n} run (load average {load:.1f}; baseline = a fresh `python -c` printing the same"
    )
    print(" bytes, or for download copying the downloaded tree file by file; beyond = reader - baseline;")
    print(
        f" target: beyond <= {BEYOND_LIMIT:.0f} s, judged on CPU time, which the machine's load inflates less)"
    )
    head = [
        "reader",
        "wall s",
        "CPU s",
        "bytes",
        "files",
        "base wall s",
        "base CPU s",
        "beyond (CPU) s",
        "ratio (CPU)",
        "",
    ]
    rows = []
    for label, t in readers.items():
        beyond = t.cpu - t.baseline_cpu
        ratio = t.cpu / t.baseline_cpu if t.baseline_cpu > 0 else float("inf")
        rows.append(
            [
                label,
                f"{t.wall:.2f}",
                f"{t.cpu:.2f}",
                f"{t.size:,}",
                f"{t.files:,}" if t.files else "-",
                f"{t.baseline_wall:.2f}",
                f"{t.baseline_cpu:.2f}",
                f"{beyond:.2f}",
                f"{ratio:.1f}x",
                "MET" if beyond <= BEYOND_LIMIT else "NOT MET",
            ]
        )
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for row in [head, *rows]:
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
