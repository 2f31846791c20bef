"""The local engine honours `resources`: CPU slots, free memory, distinct GPUs (engines/local/machine.py)."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import pytest

from dflowctl.engines.local.machine import Capacity, Ledger, Request, cpu_count, oversized, request_of
from tests.conftest import run_cli

pytestmark = pytest.mark.timeout(120)

SPEC = """\
apiVersion: dflowctl/v1alpha1
kind: Workflow
metadata: {name: res}
spec:
  ops:
    work:
      script: |
        date +%s.%N > /tmp/start
        echo "${CUDA_VISIBLE_DEVICES-none}" > /tmp/gpus
        sleep 1.5
        date +%s.%N > /tmp/end
      resources: RESOURCES
      outputs:
        parameters:
          start: {from: /tmp/start}
          end: {from: /tmp/end}
          gpus: {from: /tmp/gpus}
  dag:
    - {name: a, op: work}
    - {name: b, op: work}
"""


def run(tmp: Path, resources: str, *args: str, **env: str) -> dict[str, dict[str, str]]:
    (tmp / "wf.yaml").write_text(SPEC.replace("RESOURCES", resources), encoding="utf-8")
    env = {"DFLOWCTL_HOME": str(tmp / "home"), "DFLOWCTL_CONFIG": str(tmp / "none.yaml"), **env}
    res = run_cli("run", "wf.yaml", *args, cwd=tmp, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    name = re.search(r"^Name: (\S+)$", res.stdout, re.M)
    assert name
    status = run_cli("status", name.group(1), "-o", "json", cwd=tmp, env=env)
    out = {}
    for node in json.loads(status.stdout)["status"]["nodes"].values():
        if node["type"] == "Pod":
            out[node["displayName"]] = {p["name"]: p["value"] for p in node["outputs"]["parameters"]}
    return out


def overlap(steps: dict[str, dict[str, str]]) -> bool:
    a, b = steps["a"], steps["b"]
    return float(a["start"]) < float(b["end"]) and float(b["start"]) < float(a["end"])


def test_cpu_requests_take_slots(tmp_path: Path) -> None:
    assert overlap(run(tmp_path, "{cpu: 1}", "--parallelism", "2"))
    assert not overlap(run(tmp_path, "{cpu: 2}", "--parallelism", "2"))


def test_memory_is_admitted_against_free_memory(tmp_path: Path) -> None:
    assert overlap(run(tmp_path, "{memory: 400Mi}", "--parallelism", "2", DFLOWCTL_MEMORY="1Gi"))
    assert not overlap(run(tmp_path, "{memory: 600Mi}", "--parallelism", "2", DFLOWCTL_MEMORY="1Gi"))


def test_gpu_steps_get_distinct_devices(tmp_path: Path) -> None:
    steps = run(tmp_path, "{gpu: 1}", "--parallelism", "2", DFLOWCTL_GPUS="2")
    assert overlap(steps)
    assert {steps["a"]["gpus"], steps["b"]["gpus"]} == {"0", "1"}
    steps = run(tmp_path, "{gpu: 1}", "--parallelism", "2", DFLOWCTL_GPUS="1")
    assert not overlap(steps)
    assert steps["a"]["gpus"] == steps["b"]["gpus"] == "0"
    assert run(tmp_path, "{cpu: 1}", DFLOWCTL_GPUS="1")["a"]["gpus"] == "none"  # asked for none


def test_a_request_larger_than_the_machine_is_refused_before_the_run(tmp_path: Path) -> None:
    (tmp_path / "wf.yaml").write_text(SPEC.replace("RESOURCES", "{cpu: 4096, gpu: 1}"), encoding="utf-8")
    env = {"DFLOWCTL_HOME": str(tmp_path / "home"), "DFLOWCTL_GPUS": "0"}
    res = run_cli("run", "wf.yaml", cwd=tmp_path, env=env)
    assert res.returncode == 2
    hint = "  hint: the local engine runs every pod on this machine: lower the request, or use `-e argo`"
    cpus = cpu_count()
    assert res.stderr == (
        f"wf.yaml:12:24: op 'work' requests 4096 CPUs, and this machine has {cpus}\n{hint}\n"
        f"wf.yaml:12:35: op 'work' requests 1 GPU, and this machine has 0\n{hint}\n"
        "2 problems found\n"
    )
    assert not (tmp_path / "home").exists()


def test_argo_file_request_larger_than_the_machine(tmp_path: Path) -> None:
    (tmp_path / "wf.yaml").write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {generateName: big-}\n"
        "spec:\n  entrypoint: main\n  templates:\n  - name: main\n    container:\n"
        "      image: alpine\n      command: [echo]\n"
        "      resources: {requests: {memory: 2Gi}}\n",
        encoding="utf-8",
    )
    env = {"DFLOWCTL_HOME": str(tmp_path / "home"), "DFLOWCTL_MEMORY": "1Gi"}
    res = run_cli("run", "wf.yaml", cwd=tmp_path, env=env)
    assert res.returncode == 2
    assert res.stderr == (
        "wf.yaml:11:30: template 'main' requests 2.0Gi of memory, and this machine has 1.0Gi free\n"
        "        resources: {requests: {memory: 2Gi}}\n"
        "                               ^\n"
        "  hint: the local engine runs every pod on this machine: lower the request, or use `-e argo`\n"
    )


# ---------------------------------------------------------------- the ledger itself


def test_request_of_reads_requests_then_limits() -> None:
    tmpl = {
        "script": {
            "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"nvidia.com/gpu": "2"}}
        }
    }
    assert request_of(tmpl) == Request(cpu=0.5, memory=2**30, gpu=2)
    assert request_of({"container": {"resources": {"limits": {"cpu": "3"}}}}) == Request(cpu=3.0)
    assert request_of({"container": {}}) == Request()
    assert Request(cpu=0.5).slots(4) == 1 and Request(cpu=2.1).slots(4) == 3 and Request(cpu=9).slots(4) == 4


def test_oversized_names_each_resource() -> None:
    assert oversized(Request(cpu=8, memory=2**34, gpu=1), Capacity(2, 2**30, ())) == [
        ("cpu", "requests 8 CPUs, and this machine has 2"),
        ("memory", "requests 16.0Gi of memory, and this machine has 1.0Gi free"),
        ("gpu", "requests 1 GPU, and this machine has 0"),
    ]
    assert oversized(Request(cpu=2, memory=2**30, gpu=1), Capacity(2, 2**30, ("0",))) == []


def test_ledger_serves_in_order_and_wakes_on_cancel() -> None:
    ledger = Ledger(4, None, ("0", "1"))
    cancel = threading.Event()
    big = ledger.acquire(Request(cpu=3, gpu=1), cancel)
    assert big is not None and big.gpus == ("0",) and big.env() == {"CUDA_VISIBLE_DEVICES": "0"}
    order: list[str] = []

    def take(name: str, req: Request) -> None:
        grant = ledger.acquire(req, cancel)
        order.append(name if grant is not None else f"{name}:cancelled")

    first = threading.Thread(target=take, args=("four", Request(cpu=4)))
    first.start()
    time.sleep(0.2)
    second = threading.Thread(target=take, args=("one", Request(cpu=1)))  # would fit now, but waits its turn
    second.start()
    time.sleep(0.2)
    assert order == []
    ledger.release(big)
    first.join(5)
    assert order == ["four"]
    cancel.set()
    ledger.wake_all()
    second.join(5)
    assert order == ["four", "one:cancelled"]
