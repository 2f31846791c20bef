"""Stopping an overlay pod must not wait for the disk.

The cancel test's flake under load (``test_cancel_kills_the_whole_group[overlay-sh]``,
2 s bound) came from the pod's last exit: it tears down the pod's mount namespace, and
unmounting a non-volatile overlay syncs the whole upper file system (the host's disk)
first — seconds when the host is busy writing. The overlays are ``volatile`` now (the
layer is read back on this host and thrown away, never needed on disk).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from dflowctl.engines.local import isolation
from dflowctl.engines.local.podapi import PodRequest, PodResult
from dflowctl.engines.local.pods import CANCEL_MESSAGE, PodRunner
from tests.conftest import Within

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(
        isolation.method_for(Path.cwd()) != isolation.OVERLAY, reason="no private mount views here"
    ),
]


def _sh(script: str) -> dict:
    return {"name": "t", "container": {"image": "busybox", "command": ["sh", "-c"], "args": [script]}}


def _request(tmp_path: Path, script: str) -> PodRequest:
    return PodRequest(
        pod_name="pod",
        template=_sh(script),
        work_dir=tmp_path / "pod",
        input_artifacts=[],
        log_path=tmp_path / "logs" / "pod.log",
    )


def test_a_pods_overlays_are_volatile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(isolation.ENV_FORCE, isolation.OVERLAY)
    with PodRunner(parallelism=1) as runner:
        res = runner.run(_request(tmp_path, "grep ' / ' /proc/self/mountinfo"), threading.Event())
    assert res.phase == "Succeeded", res.message
    root = [line for line in (res.result or "").splitlines() if " - overlay " in line]
    assert root and all("volatile" in line for line in root), res.result


def test_stopping_a_pod_with_much_unwritten_data_is_quick(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(isolation.ENV_FORCE, isolation.OVERLAY)
    script = "dd if=/dev/zero of=/mnt/big bs=1M count=300 status=none; echo ready > /tmp/ready; sleep 60"
    cancel = threading.Event()
    box: list[PodResult] = []
    with PodRunner(parallelism=1) as runner:
        th = threading.Thread(target=lambda: box.append(runner.run(_request(tmp_path, script), cancel)))
        th.start()
        ready = tmp_path / "pod" / "root" / "tmp" / "ready"
        deadline = time.monotonic() + 60
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert ready.exists()
        with Within(2.0, "the stop") as took:
            cancel.set()
            th.join(30)
    # SIGTERM did it (143, not 137): no SIGKILL after the 2 s grace was needed; and no
    # wait for the disk (a non-volatile overlay's unmount syncs it first)
    assert box and (box[0].phase, box[0].message, box[0].exit_code) == ("Failed", CANCEL_MESSAGE, 143)
    took.check()
