"""Issue 15: what each pod cost (CPU time, peak memory: its whole process tree) and
when each log line came, through the real CLI on the local engine and the Argo
stand-in (tests/k8s); Argo's own ``resourcesDuration`` shown as ``argo get`` does."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from dflowctl import console, runsummary, usage
from tests.cluster.fixtures import cli, cluster_env
from tests.conftest import run_cli
from tests.k8s import fixtures
from tests.k8s.fixtures import ArgoCluster

argo_cluster = fixtures.argo_cluster
fake_kube = fixtures.fake_kube
s3 = fixtures.s3
s3_server = fixtures.s3_server
__all__ = ["cluster_env"]

pytestmark = pytest.mark.timeout(180)

MIB = 1024 * 1024

# A shell step whose child Python holds 64 MiB and burns 0.4 s of CPU (not wall) time,
# then a step that prints two lines a second apart.
SPEC = """\
apiVersion: dflowctl/v1alpha1
kind: Workflow
metadata: {name: cost}
spec:
  ops:
    eat:
      script: |
        python3 -c "
        import time
        b = b'x' * (64 * 2**20)
        t = time.process_time()
        while time.process_time() - t < 0.4:
            pass
        "
        echo fed
    talk:
      script: |
        echo first
        sleep 1.2
        echo second
  steps:
    - name: eat
      op: eat
    - name: talk
      op: talk
"""

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"


def _when(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


def _pods(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    nodes = workflow["status"]["nodes"].values()
    return {n["displayName"]: n for n in nodes if n["type"] == "Pod"}


def _run(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> str:
    spec = tmp_path / "cost.yaml"
    spec.write_text(SPEC)
    res = run_cli("run", str(spec), *args, cwd=tmp_path, env=env, timeout=150)
    assert res.returncode == 0, res.stderr
    m = re.search(r"^Name: (\S+)$", res.stdout, re.MULTILINE)
    assert m, res.stdout
    return m.group(1)


@pytest.mark.parametrize("fork_server", ["1", "0"])
def test_local_pods_record_cpu_time_and_peak_memory_of_their_tree(
    dflowctl_home: Path, tmp_path: Path, fork_server: str
) -> None:
    name = _run(tmp_path, env={"DFLOWCTL_FORK_SERVER": fork_server})
    res = run_cli("status", name, "-o", "json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    eat = _pods(json.loads(res.stdout))["eat"]
    measured = eat[usage.USAGE_KEY]
    # the op's own child (python3 under sh) counts: CPU it burnt, memory it held
    assert measured["cpuSeconds"] >= 0.39
    assert 64 * MIB <= measured["peakMemoryBytes"] < 1024 * MIB
    assert set(eat["resourcesDuration"]) == {"cpu", "memory"}
    assert all(isinstance(v, int) for v in eat["resourcesDuration"].values())
    assert eat["resourcesDuration"]["cpu"] == round(measured["cpuSeconds"])

    res = run_cli("status", name, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    head = next(ln for ln in lines if ln.startswith("STEP"))
    assert head.split() == ["STEP", "TEMPLATE", "PHASE", "DURATION", "CPU", "MEMORY", "MESSAGE"]
    row = next(ln for ln in lines if re.match(r"^\W+eat ", ln))
    cpu, mem = row.split()[-2:]
    assert float(cpu.rstrip("s")) >= 0.39 and mem.endswith("Mi"), row
    resources = next(ln for ln in lines if ln.startswith("Resources:"))
    assert re.fullmatch(r"Resources: \d+\.\d\ds CPU, \d+(\.\d+)?Mi peak memory \(one pod\)", resources)

    out = tmp_path / "r.html"
    res = run_cli("report", name, "-o", str(out), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    html = out.read_text()
    assert html.count("<th>CPU time</th><th>peak memory</th>") == 2  # steps and timeline
    assert f'<td class="num">{usage.format_bytes(measured["peakMemoryBytes"])}</td>' in html


def test_logs_timestamps_local(dflowctl_home: Path, tmp_path: Path) -> None:
    name = _run(tmp_path)
    talk = _pods(json.loads(run_cli("status", name, "-o", "json", cwd=tmp_path).stdout))["talk"]
    res = run_cli("logs", name, "--step", "talk", "--timestamps", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert [re.sub(STAMP, "T", ln) for ln in lines] == ["talk: T first", "talk: T second"], lines
    first, second = (_when(ln.split()[1]) for ln in lines)
    assert second - first >= 1.1  # the sleep between them
    started, finished = _when(talk["startedAt"][:-1] + ".0Z"), _when(talk["finishedAt"][:-1] + ".0Z")
    assert started - 1 <= first <= second <= finished + 1
    # --tail and --grep apply to the text, not to the time
    res = run_cli("logs", name, "--timestamps", "--tail", "1", "--grep", "^[fs]", cwd=tmp_path)
    assert [re.sub(STAMP, "T", ln) for ln in res.stdout.splitlines()] == ["eat: T fed", "talk: T second"]
    # without --timestamps, the log is as it was
    res = run_cli("logs", name, "--step", "talk", cwd=tmp_path)
    assert res.stdout == "talk: first\ntalk: second\n"
    # a log kept without times (an older record) gives its lines the pod's start
    for times in (dflowctl_home / "runs" / name / "logs").glob("*.times"):
        times.unlink()
    res = run_cli("logs", name, "--step", "talk", "--timestamps", cwd=tmp_path)
    assert res.stdout == f"talk: {talk['startedAt']} first\ntalk: {talk['startedAt']} second\n"


def test_timestamps_of_a_long_log_stream_in_bounded_memory(dflowctl_home: Path, tmp_path: Path) -> None:
    spec = tmp_path / "many.yaml"
    spec.write_text(SPEC.replace("echo first\n        sleep 1.2\n        echo second", "seq 1 200000"))
    res = run_cli("run", str(spec), cwd=tmp_path, timeout=150)
    assert res.returncode == 0, res.stderr
    res = run_cli("logs", "@latest", "--step", "talk", "--timestamps", cwd=tmp_path)
    lines = res.stdout.splitlines()
    assert len(lines) == 200000 and lines[-1].endswith(" 200000")
    times = [_when(ln.split()[1]) for ln in lines[::5000]]
    assert times == sorted(times)


def test_argo_resources_duration_shown_as_argo_get_does() -> None:
    rd = {"cpu": 2, "memory": 1}
    wf = {
        "metadata": {"name": "wf"},
        "status": {
            "phase": "Succeeded",
            "resourcesDuration": {"cpu": 4, "memory": 2},
            "nodes": {
                "wf": {"id": "wf", "name": "wf", "displayName": "wf", "type": "Steps",
                       "phase": "Succeeded", "children": ["a"]},
                "a": {"id": "a", "name": "wf[0].a", "displayName": "a", "type": "Pod", "phase": "Succeeded",
                      "boundaryID": "wf", "templateName": "t", "resourcesDuration": rd},
            },
        },
    }  # fmt: skip
    lines = console.plain_step_lines(wf)
    assert lines[0].split() == ["STEP", "TEMPLATE", "PHASE", "DURATION", "RESOURCES", "MESSAGE"]
    assert lines[2].endswith("2s*(1 cpu),1s*(100Mi memory)")
    assert runsummary.resources_text(wf) == "4s*(1 cpu),2s*(100Mi memory)"
    assert usage.format_resources_duration({"nvidia.com/gpu": 3, "memory": 1, "cpu": 2}) == (
        "2s*(1 cpu),1s*(100Mi memory),3s*(1 nvidia.com/gpu)"
    )


def test_logs_timestamps_on_the_argo_stand_in(argo_cluster: ArgoCluster, tmp_path: Path) -> None:
    env = argo_cluster.env
    spec = tmp_path / "cost.yaml"
    spec.write_text(SPEC)
    res = run_cli("run", "-e", "argo", "--wait", str(spec), env=env, timeout=150)
    assert res.returncode == 0, res.stderr
    res = run_cli("logs", "-e", "argo", "@latest", "--step", "talk", "--timestamps", env=env)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert [re.sub(STAMP, "T", ln) for ln in lines] == ["talk: T first", "talk: T second"], lines
    first, second = (_when(ln.split()[1]) for ln in lines)
    assert second - first >= 1.1
    res = run_cli("logs", "-e", "argo", "@latest", "--step", "talk", env=env)
    assert res.stdout == "talk: first\ntalk: second\n"


@pytest.mark.cluster
@pytest.mark.timeout(900)
def test_timestamps_and_resources_duration_on_a_real_cluster(
    cluster_env: dict[str, str], tmp_path: Path
) -> None:
    env = cluster_env
    spec = tmp_path / "cost.yaml"
    spec.write_text(SPEC)
    res = cli("run", "-e", "argo", "--wait", "-o", "json", str(spec), env=env, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    wf = json.loads(res.stdout)
    name = wf["metadata"]["name"]
    # the kubelet stamps each line; the API gives them with timestamps=true
    res = cli("logs", "-e", "argo", name, "--step", "talk", "--timestamps", env=env)
    assert res.returncode == 0, res.stderr
    stamped = [re.fullmatch(r"talk: (\d{4}-\d\d-\d\dT[\d:.]+Z) (.*)", ln) for ln in res.stdout.splitlines()]
    assert stamped and all(stamped), res.stdout
    # the op's own lines, beside the executor's (`time=… level=INFO … argo=true`), as `argo logs` shows them
    ours = [(m.group(1), m.group(2)) for m in stamped if m and "argo=true" not in m.group(2)]
    assert [text for _, text in ours] == ["first", "second"], res.stdout
    assert ours[0][0] < ours[1][0]
    # Argo's resourcesDuration of each pod, shown as `argo get` does
    pods = _pods(wf)
    assert all(set(p.get("resourcesDuration") or {}) >= {"cpu", "memory"} for p in pods.values()), pods
    res = cli("status", "-e", "argo", name, env=env)
    assert res.returncode == 0, res.stderr
    head = next(ln for ln in res.stdout.splitlines() if ln.startswith("STEP"))
    assert head.split() == ["STEP", "TEMPLATE", "PHASE", "DURATION", "RESOURCES", "MESSAGE"]
    assert re.search(r"\d+s\*\(1 cpu\),\d+s\*\(100Mi memory\)", res.stdout)
