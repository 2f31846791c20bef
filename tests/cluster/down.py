"""``make cluster-down``: stop every process ``cluster-up`` started (pid files), then their pods' leftovers.

Order: the controller and the kubelet first (no new pods), then any container
process still running from the kubelet's pod folders, then S3, the API server and
etcd. Container mounts live in the containers' own mount namespaces and go with
them; a mount under the run folder that is still there is unmounted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.cluster import procs
from tests.cluster.layout import Layout, layout

ORDER = ("workflow-controller", "kubelet", "kube-controller-manager", "s3", "kube-apiserver", "etcd")


def container_pids(lay: Layout) -> list[int]:
    """Processes started by container.py for this run's pods (by their spec file argument)."""
    out = []
    marker = str(lay.pods)
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(marker.encode() in part for part in cmdline):
            out.append(int(proc.name))
    return out


def unmount_leftovers(lay: Layout) -> None:
    run = str(lay.run)
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as fh:
        points = [line.split(" ")[4] for line in fh if len(line.split(" ")) > 4]
    for point in sorted((p for p in points if p.startswith(run + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)


def down(lay: Layout) -> list[str]:
    stopped = []
    for name in ORDER[:3]:
        if name in procs.running(lay):
            stopped.append(name)
        procs.stop(lay, name)
    for pid in container_pids(lay):
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    for name in ORDER[3:]:
        if name in procs.running(lay):
            stopped.append(name)
        procs.stop(lay, name)
    for name in procs.running(lay):  # anything else with a pid file
        stopped.append(name)
        procs.stop(lay, name)
    if lay.run.exists():
        unmount_leftovers(lay)
    return stopped


def main() -> int:
    stopped = down(layout())
    print(
        f"cluster-down: stopped {', '.join(stopped) if stopped else 'nothing (not running)'}", file=sys.stderr
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
