"""Daemon templates on the local engine, with Argo's semantics (issue 14): the daemon's
step is done once its pod is up, the steps after it run beside it and reach it at
``{{tasks.x.ip}}`` / ``{{steps.x.ip}}``, and it is killed, ending Succeeded, when the
scope that started it ends (Argo's killDaemonedChildren; e2e daemon_pod_test.go's
TestMarkDaemonedPodSucceeded, TestWorkflowCompletesIfContainsDaemonPod)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dflowctl.argo import parse_rfc3339

from .conftest import run_cli
from .test_local_argo_semantics import node, run_argo

pytestmark = pytest.mark.timeout(180)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SERVER_DAG = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: daemon-dag-
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - name: server
        template: server
      - name: client
        dependencies: [server]
        template: client
        arguments:
          parameters:
          - name: ip
            value: "{{tasks.server.ip}}"
  - name: server
    daemon: true
    container:
      image: python:3.11
      command: [sh, -c, "sleep 1; exec python3 -m http.server PORT --bind 127.0.0.1 --directory /etc"]
      readinessProbe:  # the task is done (its dependents start) once this answers
        tcpSocket: {port: PORT}
  - name: client
    inputs:
      parameters:
      - name: ip
    script:
      image: python:3.11
      command: [python3]
      source: |
        import urllib.request
        body = urllib.request.urlopen("http://{{inputs.parameters.ip}}:PORT/hostname", timeout=5).read()
        print("reached", "{{inputs.parameters.ip}}", bool(body))
"""


def test_a_daemon_serves_the_tasks_after_it_and_ends_with_its_dag(tmp_path: Path) -> None:
    wf = run_argo(tmp_path, SERVER_DAG.replace("PORT", str(free_port())))
    assert wf["status"]["phase"] == "Succeeded"
    server, client = node(wf, "server"), node(wf, "client")
    assert client["outputs"]["result"] == "reached 127.0.0.1 True"
    # killed when its DAG ended: Succeeded (not Failed by the kill), no longer daemoned
    assert server["phase"] == "Succeeded" and "daemoned" not in server
    assert server["podIP"] == "127.0.0.1"
    # as Argo's controller records it (compared on the test cluster): finishedAt is when it was up
    assert parse_rfc3339(server["finishedAt"]) <= parse_rfc3339(client["startedAt"])


SLEEPING_STEPS = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: daemon-steps-
spec:
  entrypoint: main
  onExit: after
  templates:
  - name: main
    steps:
    - - name: inner
        template: inner
    - - name: later
        template: echo
  - name: inner
    steps:
    - - name: daemoned
        template: daemoned
    - - name: beside
        template: echo
  - name: daemoned
    daemon: true
    container:
      image: argoproj/argosay:v2
      command: [sleep]
      args: ["60"]
  - name: echo
    container:
      image: argoproj/argosay:v2
  - name: after
    container:
      image: alpine:3.19
      command: [sh, -c, "echo {{workflow.status}}"]
"""


def test_a_sleeping_daemon_is_killed_when_its_steps_end(tmp_path: Path) -> None:
    started = time.monotonic()
    wf = run_argo(tmp_path, SLEEPING_STEPS)
    assert time.monotonic() - started < 45  # not the daemon's 60 s
    assert wf["status"]["phase"] == "Succeeded"
    daemoned, beside, later = node(wf, "daemoned"), node(wf, "beside"), node(wf, "later")
    assert daemoned["phase"] == "Succeeded"
    # up (finishedAt, as Argo records it) before the step beside it started; killed with the
    # inner steps (the run took far less than its 60 s), before the outer step after them
    assert parse_rfc3339(daemoned["finishedAt"]) <= parse_rfc3339(beside["startedAt"])
    assert parse_rfc3339(beside["finishedAt"]) <= parse_rfc3339(later["startedAt"])


def test_a_stopped_run_kills_its_daemons(tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(
        SLEEPING_STEPS.replace(
            "    - - name: beside\n        template: echo", "    - - name: beside\n        template: wait"
        )
        + "  - name: wait\n    container:\n      image: alpine:3.19\n      command: [sleep, '60']\n"
    )
    env = {**os.environ, "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dflowctl", "run", str(path)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while (
            time.monotonic() < deadline
            and '"daemoned": true' not in run_cli("status", "@latest", "-o", "json", cwd=tmp_path).stdout
        ):
            time.sleep(0.3)
        assert run_cli("stop", "@latest", cwd=tmp_path).returncode == 0
        proc.wait(60)
    finally:
        proc.kill()
    wf = json.loads(run_cli("status", "@latest", "-o", "json", cwd=tmp_path).stdout)
    assert wf["status"]["phase"] == "Failed"
    assert node(wf, "daemoned")["phase"] == "Succeeded"  # as Argo's e2e TestStopBehaviorWithDaemon


RETRIED = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: daemon-retry-
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: server
        template: server
    - - name: client
        template: client
        arguments:
          parameters:
          - name: ip
            value: "{{steps.server.ip}}"
  - name: server
    daemon: true
    retryStrategy:
      limit: "LIMIT"
    container:
      image: python:3.11
      # the first two pods fail before they are up; the third serves
      command:
      - sh
      - -c
      - if [ {{retries}} -lt 2 ]; then exit 1; fi; exec python3 -m http.server PORT --bind 127.0.0.1
      readinessProbe:
        tcpSocket: {port: PORT}
  - name: client
    inputs:
      parameters:
      - name: ip
    container:
      image: python:3.11
      command:
      - python3
      - -c
      - import urllib.request as u; print(u.urlopen('http://{{inputs.parameters.ip}}:PORT/').status)
"""


def test_a_daemon_that_fails_before_it_is_up_is_retried(tmp_path: Path) -> None:
    # Argo's processNodeRetries: a failed attempt is retried; a daemoned one ends the
    # retries, the Retry node daemoned (its ip the attempt's) until the scope kills it
    port = str(free_port())
    wf = run_argo(tmp_path, RETRIED.replace("PORT", port).replace("LIMIT", "3"))
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    retry = node(wf, "server")
    assert (retry["type"], retry["phase"], retry.get("podIP")) == ("Retry", "Succeeded", "127.0.0.1")
    assert "daemoned" not in retry
    assert [node(wf, f"server({i})")["phase"] for i in range(3)] == ["Failed", "Failed", "Succeeded"]
    assert node(wf, "server(0)")["message"] == "Error (exit code 1)"
    assert node(wf, "client")["outputs"]["result"] == "200"
    # with too few retries, the daemon never comes up: the step fails as any retried one
    wf = run_argo(tmp_path, RETRIED.replace("PORT", port).replace("LIMIT", "1"))
    assert wf["status"]["phase"] == "Failed"
    retry = node(wf, "server")
    assert (retry["phase"], retry["message"]) == ("Failed", "No more retries left")


FAILS_WHEN_UP = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: daemon-retry-up-
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - name: daemoned
        template: daemoned
      - name: beside
        dependencies: [daemoned]
        template: beside
        arguments:
          parameters:
          - {name: ip, value: "{{tasks.daemoned.ip}}"}
  - name: daemoned
    retryStrategy:
      limit: LIMIT
    daemon: true
    container:
      image: alpine:3.23
      command: [sh, -c]
      # up at once (no readinessProbe); the first attempt fails on its own once `beside`
      # has reached it (so once it was up, for Argo's controller too); the next one sleeps
      args:
      - |
        if [ {{retries}} -lt 1 ]; then
          python3 -c "import socket; socket.create_server(('127.0.0.1', PORT)).accept()"
          exit 1
        fi
        sleep 120
  - name: beside
    inputs:
      parameters:
      - name: ip
    container:
      image: alpine:3.23
      command: [python3, -c]
      args:
      - |
        import socket, time
        for _ in range(1200):
            try:
                socket.create_connection(("{{inputs.parameters.ip}}", PORT), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(25)
"""


def test_a_daemon_that_fails_after_it_was_up_is_retried(tmp_path: Path) -> None:
    """e2e TestDaemonPodRetry (Argo's processNodeRetries), as the test cluster's v4.0.5
    controller does it (tests/test_argo_cluster_daemons.py): an attempt that was up and
    fails on its own while its scope goes on is retried, a new pod; the one up when the DAG
    ends is killed with it (Succeeded), and so the Retry node and the workflow Succeed."""
    wf = run_argo(tmp_path, FAILS_WHEN_UP.replace("LIMIT", "2").replace("PORT", str(free_port())))
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    retry = node(wf, "daemoned")
    assert (retry["type"], retry["phase"], retry.get("podIP")) == ("Retry", "Succeeded", "127.0.0.1")
    assert "daemoned" not in retry and "message" not in retry
    attempts = [node(wf, f"daemoned({i})") for i in range(2)]
    assert [a["phase"] for a in attempts] == ["Failed", "Succeeded"]
    assert attempts[0]["message"] == "Error (exit code 1)"
    assert sorted(retry["children"]) == sorted(a["id"] for a in attempts)
    assert parse_rfc3339(attempts[1]["startedAt"]) >= parse_rfc3339(attempts[0]["finishedAt"])
    assert node(wf, "beside")["phase"] == "Succeeded"


def test_a_daemon_out_of_retries_after_it_was_up_stays_daemoned_until_its_scope_ends(
    tmp_path: Path,
) -> None:
    """With no retry left (limit 0), Argo keeps the Retry node daemoned, its phase the
    failed attempt's, until the DAG kills its daemoned nodes: it ends Succeeded with
    `No more retries left`, and so does the workflow (v4.0.5 on the test cluster)."""
    wf = run_argo(tmp_path, FAILS_WHEN_UP.replace("LIMIT", "0").replace("PORT", str(free_port())))
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    retry = node(wf, "daemoned")
    assert (retry["phase"], retry["message"]) == ("Succeeded", "No more retries left")
    assert "daemoned" not in retry
    assert node(wf, "daemoned(0)")["phase"] == "Failed"
    # it ended when its attempt failed, long before the DAG did
    assert parse_rfc3339(retry["finishedAt"]) < parse_rfc3339(node(wf, "beside")["finishedAt"]) - 10
