"""The floor of the local engine's pod shape on this machine (issue 16 item 3), next to dflowctl.

Every pod of the local engine is a process forked from a warm interpreter that enters a
private view (docs/local-engine.md): a mount namespace, an overlay over the host's ``/``,
its own ``/tmp``, the kernel's mounts bound in, a chroot. This bench does only that
kernel work, N times, W pods at once (W: this machine's CPUs, as the engine's slots),
through the engine's own ``_podview.enter_view`` from an interpreter that preloaded what
the fork server preloads, in three layers:

    fork      fork and exit (nothing else)
    view      + the private view, its folders made before and moved aside after
    writes    + what the fan-out's op writes (its working folder, the file, the output
              folders, a link of the file into them, the item's index)

with the pods' folders spread over the disk as a run's ``work`` folder spreads them
(engines/local/spread.py), then the writes layer again with the folders where the file
system puts them by default (the baseline of that change, in the same run), and then runs the same N items through dflowctl (``dflowctl run specs/fanout.yaml
-p n=N``, bench/fanout.py's ``run_dflowctl``, the total checked) in the same run. It
prints the wall time and CPU per item of each, and the ratio of each to the target of
issue 16 (N=1,000 in 4 s end to end): the floor's ratio is what the shape itself costs
here, before dflowctl does anything. The pods' folders go under ``--scratch`` (default:
the temp folder, where a run's home usually is), and so does the dflowctl run's home; the
file system's cost of making and removing folders is a large part of the floor (the unspread
line shows how large it was; compare ``--scratch /dev/shm``, a RAM file system).
Needs private views (root, or user namespaces): else it says SKIPPED and why. Usage:

    python bench/pod_floor.py [--n 1000] [--workers W] [--scratch DIR] [--no-dflowctl]
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dflowctl.engines.local._podserver import DEFAULT_PRELOAD, probe  # noqa: E402
from dflowctl.engines.local._podview import enter_view  # noqa: E402
from dflowctl.engines.local.spread import spread_subfolders  # noqa: E402

TARGET_N = 1000
TARGET_S = 4.0  # issue 16: N=1,000 end to end in at most 4 s
LAYERS = {"fork": "fork + exit", "view": "+ private view", "writes": "+ the op's writes"}
PLAIN = "  (folders not spread)"  # the same writes layer, its folders where ext4 puts them by default


def _pod(layer: str, folder: str, item: int) -> None:
    """In the forked pod: enter the view, write what the fan-out's op writes. Never returns."""
    code = 0
    try:
        if layer != "fork":
            root = f"{folder}/root"
            work = f"{folder}/.overlay-work"
            enter_view({"upper": root, "work": work, "merged": work, "tmp": f"{root}/tmp"})
        if layer == "writes":
            os.makedirs("/tmp/dflowctl/workdir")
            os.chdir("/tmp/dflowctl/workdir")
            with open("square.txt", "w", encoding="utf-8") as fh:
                fh.write(f"{item * item}\n")
            os.makedirs("/tmp/dflowctl/outputs/parameters")
            os.makedirs("/tmp/dflowctl/outputs/artifacts/result")
            os.link("square.txt", "/tmp/dflowctl/outputs/artifacts/result/square.txt")
            with open("/tmp/dflowctl/outputs/parameters/dflowctl-index", "w", encoding="utf-8") as fh:
                fh.write(str(item))
    except BaseException as exc:  # reported; the worker then stops the bench
        sys.stderr.write(f"pod {item}: {exc}\n")
        code = 1
    finally:
        os._exit(code)


def _worker(layer: str, base: Path, first: int, n: int, step: int) -> None:
    """In a forked worker: run the items first, first+step, ... one after the other; move each
    pod's folder into the trash when it ends and remove the trash with one ``rm -rf`` at the
    end. Never returns (exit 1 on any failure, reported on stderr)."""
    code = 1
    try:
        trash = base / f"trash-{first}"
        trash.mkdir()
        for item in range(first, n, step):
            folder = base / str(item)
            if layer != "fork":
                (folder / "root" / "tmp").mkdir(parents=True)
                (folder / ".overlay-work").mkdir()
            pid = os.fork()
            if pid == 0:
                _pod(layer, str(folder), item)
            if os.waitpid(pid, 0)[1] != 0:
                return
            if layer != "fork":
                os.rename(folder, trash / str(item))
        subprocess.run(["rm", "-rf", "--", str(trash)], check=True)
        code = 0
    except BaseException as exc:  # reported; the bench then stops
        sys.stderr.write(f"worker {first}: {exc}\n")
    finally:
        os._exit(code)


def floor(layer: str, n: int, workers: int, scratch: Path, spread: bool = True) -> tuple[float, float]:
    """(wall seconds, CPU seconds of every process) of n pods of ``layer``; their folders are
    spread over the disk as a run's ``work`` folder spreads them (engines/local/spread.py)
    unless ``spread`` is false."""
    base = Path(tempfile.mkdtemp(prefix=f"floor-{layer}-", dir=scratch))
    if spread:
        spread_subfolders(base)
    before = os.times()
    t0 = time.perf_counter()
    pids = []
    for w in range(workers):
        pid = os.fork()
        if pid == 0:
            _worker(layer, base, w, n, workers)
        pids.append(pid)
    failed = [pid for pid in pids if os.waitpid(pid, 0)[1] != 0]
    wall = time.perf_counter() - t0
    after = os.times()
    shutil.rmtree(base, ignore_errors=True)
    if failed:
        raise SystemExit(f"{layer}: {len(failed)} worker(s) failed (see above)")
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return wall, cpu


def ratio_line(label: str, wall: float, cpu: float, n: int) -> str:
    at_target = wall * TARGET_N / n  # the same cost per item, at the target's N
    return (
        f"  {label:<24} {wall:7.2f} s  {wall / n * 1000:6.2f} ms/item  {cpu / n * 1000:6.2f} ms CPU/item"
        f"  {at_target / TARGET_S:5.2f}x the target"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=TARGET_N, help="pods (default 1,000)")
    ap.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)), help="pods at once")
    ap.add_argument(
        "--scratch", type=Path, default=None, help="where the pods' folders go (default: $TMPDIR)"
    )
    ap.add_argument("--no-dflowctl", action="store_true", help="only the floor")
    args = ap.parse_args()
    if args.n < 1 or args.workers < 1:
        ap.error("--n and --workers must be at least 1")
    if args.scratch is not None and not args.scratch.is_dir():
        ap.error(f"--scratch {args.scratch}: not a folder")
    for name in DEFAULT_PRELOAD:  # what the fork server holds when it forks a pod
        importlib.import_module(name)
    with tempfile.TemporaryDirectory(prefix="dflowctl-pod-floor-", dir=args.scratch) as tmp:
        scratch = Path(tmp)
        (scratch / "probe").mkdir()
        if probe(str(scratch / "probe")) != 0:
            print("pod floor: SKIPPED: private views (mount namespaces and overlays) are not available here")
            return 0
        print(
            f"pod floor: N={args.n}, {args.workers} at once, Linux {os.uname().release}, pods' folders in {tmp}"
        )
        print(
            f"  (the target: N={TARGET_N} in {TARGET_S:.0f} s end to end; ratios at the same cost per item)"
        )
        for layer, label in LAYERS.items():
            wall, cpu = floor(layer, args.n, args.workers, scratch)
            print(ratio_line(label, wall, cpu, args.n))
        wall, cpu = floor("writes", args.n, args.workers, scratch, spread=False)
        print(ratio_line(PLAIN, wall, cpu, args.n))
        if not args.no_dflowctl:
            sys.path.insert(0, str(REPO / "bench"))
            from fanout import run_dflowctl

            home = scratch / "home"
            home.mkdir()
            run = run_dflowctl(args.n, home)
            print(ratio_line("dflowctl run (fan-out)", run.wall, run.cpu, args.n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
