"""The readers of bench/fanout.py's largest run (issue 16 item 2): `status`, `status
NAME`, `status NAME -o json`, `logs`, `download`, `report`, each timed (wall and CPU)
with the bytes it prints or writes, against a baseline measured in the same run: plain
Python (a fresh interpreter) printing the same number of bytes, or writing the same
files (`download`: the downloaded tree copied folder by folder, file by file). The
target: each reader at most 1 s beyond its baseline.

A helper module of bench/fanout.py, and a tool on its own against a run already made
(a 10,000-item run takes minutes; its readers take seconds):

    python bench/fanout_readers.py --home HOME NAME [--before CODE] [--rounds 3] [--only json,report]

times the readers of run NAME in the run home HOME (`DFLOWCTL_HOME`). With `--before
CODE` (a checkout of the code before a change, e.g. `git archive main | tar -x -C
CODE`), each reader runs with that code (`PYTHONPATH=CODE`) and with this one,
alternately, `--rounds` times, each followed by its baseline, at the same load; the
medians are printed. The package's bytecode is compiled first (`compileall`, as an
install does): with `PYTHONDONTWRITEBYTECODE` set and no `__pycache__`, each start
would compile every module it imports again (0.1-0.3 s of CPU that is no reader's).
`--no-compile` leaves it as it is."""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
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
    user: float = 0.0  # the reader's CPU time split: user, system
    system: float = 0.0
    baseline_user: float = 0.0
    baseline_system: float = 0.0


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, int]:
    """Seconds (wall, CPU) of ``cmd`` and the bytes it printed; exits on failure."""
    wall, user, system, size = timed_split(cmd, env, cwd)
    return wall, user + system, size


def timed_split(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, float, int]:
    """Seconds (wall, user CPU, system CPU) of ``cmd`` and the bytes it printed."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=err)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        size = out.tell()
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(cmd)} failed: {err.read().decode(errors='replace')[-1000:]}")
    return wall, usage.ru_utime, usage.ru_stime, size


def _tree(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


# (label, the command's words after `dflowctl`, with NAME for the run's name)
READERS: list[tuple[str, list[str]]] = [
    ("status (the run list)", ["status"]),
    ("status NAME (table)", ["status", "NAME"]),
    ("status NAME -o json", ["status", "NAME", "-o", "json"]),
    ("logs NAME", ["logs", "NAME"]),
    ("logs NAME --step total", ["logs", "NAME", "--step", "total"]),
    ("report NAME", ["report", "NAME"]),  # -o HOME/report.html
    ("download NAME", ["download", "NAME"]),  # -d HOME/dl
]


def time_reader(label: str, args: list[str], name: str, env: dict[str, str], home: Path) -> Timed:
    """One reader of run ``name`` once; what it wrote is removed after (``download``)."""
    cli = [sys.executable, "-m", "dflowctl", *(name if a == "NAME" else a for a in args)]
    if args[0] == "report":
        page = home / "report.html"
        wall, user, system, _ = timed_split([*cli, "-o", str(page)], env, home)
        return Timed(wall, user + system, page.stat().st_size, user=user, system=system)
    if args[0] == "download":
        dl = home / "dl"
        shutil.rmtree(dl, ignore_errors=True)
        wall, user, system, _ = timed_split([*cli, "-d", str(dl)], env, home)
        files, size = _tree(dl)
        return Timed(wall, user + system, size, files, user=user, system=system)
    wall, user, system, size = timed_split(cli, env, home)
    return Timed(wall, user + system, size, user=user, system=system)


def time_baseline(label: str, t: Timed, env: dict[str, str], home: Path) -> None:
    """``t``'s baseline: plain Python printing its bytes, or copying the download.

    The download and its copy each start right after the previous round's tree of
    theirs is removed (``time_reader`` removes ``dl``, this ``dl-copy``): the system
    time of making 10,000 folders depends on whether 10,000 were just removed (about
    1.5-2.5x more on this machine's ext4 right after), so both sides pay the same.
    ``remove_downloads`` removes both at the end."""
    if label == "download NAME":
        dl, copy = home / "dl", home / "dl-copy"
        shutil.rmtree(copy, ignore_errors=True)
        cmd = [sys.executable, "-c", COPY_TREE, str(dl), str(copy)]
    else:
        cmd = [sys.executable, "-c", WRITE_BYTES, str(t.size)]
    t.baseline_wall, t.baseline_user, t.baseline_system, _ = timed_split(cmd, env, home)
    t.baseline_cpu = t.baseline_user + t.baseline_system


def remove_downloads(home: Path) -> None:
    """What the download and its baseline left (the last round's trees)."""
    for left in ("dl", "dl-copy"):
        shutil.rmtree(home / left, ignore_errors=True)


def time_readers(name: str, env: dict[str, str], home: Path) -> dict[str, Timed]:
    """Each reader of run ``name`` once, then its baseline."""
    compile_package(env)
    out: dict[str, Timed] = {}
    for label, args in READERS:
        time_baseline(label, out.setdefault(label, time_reader(label, args, name, env, home)), env, home)
    remove_downloads(home)
    return out


def compile_package(env: dict[str, str]) -> str:
    """The bytecode of the ``dflowctl`` that ``env`` imports, compiled (as installing it
    does); its folder."""
    code = "import dflowctl, os; print(os.path.dirname(dflowctl.__file__))"
    folder = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=env.get("DFLOWCTL_HOME"),
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", folder], env=env, check=True, capture_output=True
    )
    return folder


def print_readers(n: int | str, readers: dict[str, Timed], load: float) -> None:
    """The table (``n``: the run's item count, or its name)."""
    if not readers:
        return
    print()
    what = f"the N={n} run" if isinstance(n, int) else f"run {n}"
    print(f"readers of {what} (load average {load:.1f}; baseline = a fresh `python -c` printing the same")
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
    _print_table(head, rows)


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def compare(name: str, home: Path, before: Path, rounds: int, only: list[str], compile_first: bool) -> None:
    """Each chosen reader with the code in ``before`` and with this code, alternately,
    each run followed by its baseline; medians printed."""
    env = {**os.environ, "DFLOWCTL_HOME": str(home), "NO_COLOR": "1"}
    env.pop("DFLOWCTL_ENGINE", None)
    env.pop("CI", None)
    old_env = {**env, "PYTHONPATH": os.pathsep.join(p for p in (str(before), env.get("PYTHONPATH")) if p)}
    codes = {"before": old_env, "after": env}
    if compile_first:
        for code, code_env in codes.items():
            print(f"{code}: bytecode of {compile_package(code_env)} compiled")
    else:
        print("bytecode: as it is (--no-compile)")
    chosen = [(label, args) for label, args in READERS if not only or any(o in label for o in only)]
    runs: dict[tuple[str, str], list[Timed]] = {}
    loads: list[float] = []
    for r in range(rounds):
        for label, args in chosen:
            for code in ("before", "after") if r % 2 == 0 else ("after", "before"):
                t = time_reader(label, args, name, codes[code], home)
                time_baseline(label, t, env, home)
                runs.setdefault((label, code), []).append(t)
                loads.append(os.getloadavg()[0])
                print(
                    f"  round {r + 1} {label:<24} {code:<6} wall {t.wall:6.2f} s  CPU {t.cpu:5.2f} s"
                    f" (user {t.user:4.2f} + system {t.system:4.2f})  baseline CPU {t.baseline_cpu:4.2f} s"
                    f" ({t.baseline_user:4.2f} + {t.baseline_system:4.2f})  load {loads[-1]:.1f}",
                    flush=True,
                )
    remove_downloads(home)
    print()
    print(
        f"readers of run {name}: medians of {rounds} runs each, before and after alternately "
        f"(load average {min(loads):.1f}-{max(loads):.1f}); CPU = user + system"
    )
    head = [
        "reader",
        "bytes",
        "files",
        "before CPU s",
        "after CPU s",
        "after user+sys",
        "base CPU s",
        "base user+sys",
        "beyond before",
        "beyond after",
        "",
    ]
    rows = []
    for label, _args in chosen:
        old, new = runs[(label, "before")], runs[(label, "after")]
        base = _median([t.baseline_cpu for t in old + new])
        old_cpu, new_cpu = _median([t.cpu for t in old]), _median([t.cpu for t in new])
        beyond = new_cpu - base
        rows.append(
            [
                label,
                f"{new[-1].size:,}",
                f"{new[-1].files:,}" if new[-1].files else "-",
                f"{old_cpu:.2f}",
                f"{new_cpu:.2f}",
                f"{_median([t.user for t in new]):.2f}+{_median([t.system for t in new]):.2f}",
                f"{base:.2f}",
                f"{_median([t.baseline_user for t in old + new]):.2f}"
                f"+{_median([t.baseline_system for t in old + new]):.2f}",
                f"{old_cpu - base:.2f}",
                f"{beyond:.2f}",
                "MET" if beyond <= BEYOND_LIMIT else "NOT MET",
            ]
        )
    _print_table(head, rows)


def _print_table(head: list[str], rows: list[list[str]]) -> None:
    """Columns padded to their widest cell: the first left-aligned, the others right."""
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for row in [head, *rows]:
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("name", help="the run's name")
    parser.add_argument("--home", type=Path, required=True, help="the run home that holds it (DFLOWCTL_HOME)")
    parser.add_argument("--before", type=Path, help="a checkout of the code before: compared with this code")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each reader with each code (--before)")
    parser.add_argument(
        "--only", default="", help="readers whose label holds one of these words (comma-separated)"
    )
    parser.add_argument("--no-compile", action="store_true", help="leave the bytecode as it is")
    args = parser.parse_args()
    home = args.home.resolve()
    if not (home / "runs" / args.name).is_dir():
        raise SystemExit(f"no run {args.name!r} in {home}")
    only = [w.strip() for w in args.only.split(",") if w.strip()]
    if args.before is not None:
        compare(args.name, home, args.before.resolve(), max(1, args.rounds), only, not args.no_compile)
        return
    env = {**os.environ, "DFLOWCTL_HOME": str(home), "NO_COLOR": "1"}
    env.pop("DFLOWCTL_ENGINE", None)
    env.pop("CI", None)
    if not args.no_compile:
        compile_package(env)
    readers: dict[str, Timed] = {}
    for label, words in READERS:
        if only and not any(o in label for o in only):
            continue
        readers[label] = time_reader(label, words, args.name, env, home)
        time_baseline(label, readers[label], env, home)
    remove_downloads(home)
    print_readers(args.name, readers, os.getloadavg()[0])


if __name__ == "__main__":
    main()
