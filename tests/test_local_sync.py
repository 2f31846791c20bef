"""``synchronization`` on the local engine (issue 14): mutexes and semaphores as Argo's
controller holds them (workflow and template level), within a run and across the runs of
one dflowctl home, a semaphore's limit from a ConfigMap of the same file or ``--templates``.
Through the real CLI; overlaps measured from the recorded node times."""

from __future__ import annotations

import json
import textwrap
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from dflowctl.engines.local.runlog import read_record

from .conftest import nodes_seen, run_cli, start_run, wait_for_run

pytestmark = pytest.mark.timeout(240)

Wf = dict[str, Any]

SEMAPHORE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: my-config
data:
  template: "2"
---
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: sem
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: work
        template: work
        withItems: [1, 2, 3, 4, 5]
  - name: work
    synchronization:
      semaphores:
      - configMapKeyRef: {name: my-config, key: template}
    container:
      image: busybox
      command: [sleep, "1"]
"""


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def overlap(nodes: list[dict[str, Any]]) -> int:
    """The most of ``nodes`` running at one time (from startedAt/finishedAt, 1 s precision
    where the record has it; an end and a start at the same instant do not overlap)."""
    events = sorted(
        [(_ts(n["startedAt"]), 1) for n in nodes] + [(_ts(n["finishedAt"]), -1) for n in nodes],
        key=lambda e: (e[0], e[1]),
    )
    most = cur = 0
    for _, step in events:
        cur += step
        most = max(most, cur)
    return most


def pods(wf: Wf, prefix: str) -> list[dict[str, Any]]:
    return [
        n
        for n in wf["status"]["nodes"].values()
        if n["type"] == "Pod" and n["displayName"].startswith(prefix)
    ]


def run(tmp_path: Path, text: str, *extra: str) -> Wf:
    path = tmp_path / "wf.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    res = run_cli("run", str(path), "-o", "json", *extra, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_template_semaphore_limits_items(tmp_path: Path, dflowctl_home: Path) -> None:
    wf = run(tmp_path, SEMAPHORE, "--parallelism", "8")
    assert wf["status"]["phase"] == "Succeeded"
    work = pods(wf, "work(")
    assert len(work) == 5 and all(n["phase"] == "Succeeded" for n in work)
    assert overlap(work) <= 2
    # 5 one-second pods two at a time: at least 3 rounds
    assert max(_ts(n["finishedAt"]) for n in work) - min(_ts(n["startedAt"]) for n in work) >= 2.5
    # nothing is held once the run ended
    assert wf["status"]["synchronization"] == {"semaphore": {"holding": []}}


def test_semaphore_limit_from_templates_and_refusal_without(tmp_path: Path, dflowctl_home: Path) -> None:
    cm, wf_text = SEMAPHORE.split("---\n")
    path = tmp_path / "wf.yaml"
    path.write_text(wf_text, encoding="utf-8")
    res = run_cli("run", str(path), cwd=tmp_path)
    assert res.returncode == 2
    first = res.stderr.splitlines()[0]
    assert first == (
        f"{path}:16:9: not supported by the local engine: a semaphore whose limit is in ConfigMap "
        "'my-config', which the file does not hold"
    )
    (tmp_path / "cm.yaml").write_text(cm.replace('"2"', '"1"'), encoding="utf-8")
    res = run_cli("run", str(path), "-o", "json", "--templates", str(tmp_path / "cm.yaml"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert overlap(pods(json.loads(res.stdout), "work(")) == 1


MUTEX_HOOKS = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: mutex-hooks-
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - name: job
            template: job
            hooks:
              running:
                expression: steps['job'].status == "Running"
                template: guarded
              succeed:
                expression: steps['job'].status == "Succeeded"
                template: guarded
    - name: guarded
      synchronization:
        mutex:
          name: job
      script:
        image: alpine:3.20
        command: [/bin/sh]
        source: sleep 2
    - name: job
      script:
        image: alpine:3.20
        command: [/bin/sh]
        source: sleep 1
"""


def test_hooks_respect_a_mutex(tmp_path: Path, dflowctl_home: Path) -> None:
    """Argo's TestTemplateLevelHooksWaitForTriggeredHookAndRespectSynchronization."""
    wf = run(tmp_path, MUTEX_HOOKS)
    assert wf["status"]["phase"] == "Succeeded" and wf["status"]["progress"] == "3/3"
    hooks = [n for n in wf["status"]["nodes"].values() if ".hooks." in n["name"]]
    assert sorted(n["displayName"] for n in hooks) == ["job.hooks.running", "job.hooks.succeed"]
    assert all(n["phase"] == "Succeeded" for n in hooks)
    assert overlap(hooks) == 1  # one holder of the mutex at a time


WF_MUTEX = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: wf-mutex-
spec:
  entrypoint: nap
  synchronization:
    mutexes:
    - name: test
      database: true
  templates:
  - name: nap
    container:
      image: busybox
      command: [sleep, "4"]
"""


def test_workflow_mutex_across_runs_of_a_home(tmp_path: Path, dflowctl_home: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(WF_MUTEX, encoding="utf-8")
    names = [start_run(path, cwd=tmp_path)]
    # the first holds the mutex before the second starts
    wait_for_run(dflowctl_home, names[0], nodes_seen(), "the first run's first node")
    names.append(start_run(path, cwd=tmp_path))
    # the second waits, Pending, with Argo's message
    seen_waiting = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        records = [read_record(dflowctl_home / "runs" / n / "workflow.json") for n in names]
        for r in records:
            if r["status"].get("phase") == "Pending" and r["status"].get("message") == (
                "Waiting for default/Mutex/test lock. Lock status: 0/1"
            ):
                seen_waiting = True
        if all(r["status"].get("finishedAt") for r in records):
            break
        time.sleep(0.1)
    assert seen_waiting
    finals = [read_record(dflowctl_home / "runs" / n / "workflow.json") for n in names]
    assert [f["status"]["phase"] for f in finals] == ["Succeeded", "Succeeded"]
    roots = [f["status"]["nodes"][next(iter(f["status"]["nodes"]))] for f in finals]
    assert overlap(roots) == 1
    assert (dflowctl_home / "locks").is_dir()


def test_stop_while_waiting_for_a_lock(tmp_path: Path, dflowctl_home: Path) -> None:
    text = WF_MUTEX.replace('command: [sleep, "4"]', 'command: [sleep, "30"]')
    path = tmp_path / "wf.yaml"
    path.write_text(text, encoding="utf-8")
    name1 = start_run(path, cwd=tmp_path)
    wait_for_run(dflowctl_home, name1, nodes_seen(), "the first run's first node")  # it holds the mutex
    name2 = start_run(path, cwd=tmp_path)
    record = dflowctl_home / "runs" / name2 / "workflow.json"
    wait_for_run(
        dflowctl_home,
        name2,
        lambda wf: (wf.get("status") or {}).get("message", "").startswith("Waiting for default/Mutex/test"),
        "the second run Pending for the mutex",
    )
    assert run_cli("stop", name2, cwd=tmp_path).returncode == 0
    final = read_record(record)
    assert (
        final["status"]["phase"] == "Failed" and final["status"]["message"] == "Stopped with strategy 'Stop'"
    )
    assert run_cli("stop", name1, "--terminate", cwd=tmp_path).returncode == 0
