"""What pods see of the host: its environment (never dflowctl's secrets, but what ops need),
and never the host's /proc, /sys or /dev read back as outputs. Through the real CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from dflowctl.engines.local import isolation
from dflowctl.engines.local.hostenv import EnvPolicy
from tests.conftest import run_cli

pytestmark = pytest.mark.timeout(120)

SECRET = "s3cr3t-Value-that-must-never-leak"
TOKEN = "tok-abc123-never-leak"

ENV_DUMP = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: envdump-}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: sh, template: sh}
      - {name: py, template: py}
  - name: sh
    container:
      image: busybox
      command: [sh, -c]
      args: ["env; echo ---; tr '\\\\0' '\\\\n' < /proc/$PPID/environ; echo"]
  - name: py
    script:
      image: python:3.12
      command: [python3]
      source: |
        import os
        for k, v in sorted(os.environ.items()):
            print(f"{k}={v}")
        print("---")
        print(open(f"/proc/{os.getppid()}/environ", "rb").read().replace(b"\\0", b"\\n").decode())
"""

HOST_ENV = {
    "DFLOWCTL_S3_SECRET_KEY": SECRET,
    "DFLOWCTL_S3_ACCESS_KEY": "AKIAEXAMPLEKEY0001",
    "MY_SERVICE_TOKEN": TOKEN,
    "AWS_SECRET_ACCESS_KEY": SECRET + "-aws",
    "INNOCENT_LOOKING": SECRET,  # a settings secret under any name
    "CONDA_PREFIX": "/opt/conda/envs/dp",
    "CONDA_DEFAULT_ENV": "dp",
    "VIRTUAL_ENV": sys.prefix,  # a real one: it also chooses the Python of Python pods (pyenv)
    "LD_LIBRARY_PATH": "/opt/cuda/lib64",
    "CUDA_VISIBLE_DEVICES": "0,1",
    "OMP_NUM_THREADS": "3",
    "MY_OP_SETTING": "kept-when-passed",
}


def _run(tmp_path: Path, extra: dict[str, str] | None = None) -> tuple[str, str]:
    wf = tmp_path / "envdump.yaml"
    wf.write_text(ENV_DUMP)
    env = {**HOST_ENV, "DFLOWCTL_HOME": str(tmp_path / "home"), **(extra or {})}
    res = run_cli("run", str(wf), "-o", "json", cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr
    name = json.loads(res.stdout)["metadata"]["name"]
    logs = run_cli("logs", name, cwd=tmp_path, env=env)
    assert logs.returncode == 0, logs.stderr
    return logs.stdout, name


def _everything_written(home: Path) -> str:
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in home.rglob("*") if p.is_file())


@pytest.mark.parametrize("fork_server", ["1", "0"])
def test_pods_and_the_fork_server_never_hold_dflowctls_secrets(tmp_path: Path, fork_server: str) -> None:
    out, _ = _run(tmp_path, {"DFLOWCTL_FORK_SERVER": fork_server})
    for secret in (SECRET, TOKEN, "AKIAEXAMPLEKEY0001"):
        assert secret not in out
        assert secret not in _everything_written(tmp_path / "home")
    assert "DFLOWCTL_S3" not in out and "MY_SERVICE_TOKEN" not in out
    # ...but what ops need from the user's environment is there, in both pods
    for key in (
        "CONDA_PREFIX",
        "CONDA_DEFAULT_ENV",
        "VIRTUAL_ENV",
        "LD_LIBRARY_PATH",
        "CUDA_VISIBLE_DEVICES",
    ):
        assert out.count(f"{key}={HOST_ENV[key]}") >= 2, key
    assert "MY_OP_SETTING" not in out  # not in the pass list by default


def test_the_pass_and_deny_lists_are_configurable(tmp_path: Path) -> None:
    out, _ = _run(tmp_path, {"DFLOWCTL_POD_ENV_PASS": "MY_OP_*", "DFLOWCTL_POD_ENV_DENY": "CUDA_*,OMP_*"})
    assert out.count("MY_OP_SETTING=kept-when-passed") >= 2
    assert "CUDA_VISIBLE_DEVICES" not in out and "OMP_NUM_THREADS" not in out
    assert "CONDA_PREFIX=/opt/conda/envs/dp" in out


def test_the_config_file_sets_the_lists_too(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("pod_env_pass: [MY_OP_SETTING]\npod_env_deny: [VIRTUAL_ENV]\n")
    out, _ = _run(tmp_path, {"DFLOWCTL_CONFIG": str(config)})
    assert "MY_OP_SETTING=kept-when-passed" in out and "VIRTUAL_ENV" not in out


def test_a_deny_always_wins_and_secret_values_never_pass() -> None:
    policy = EnvPolicy.of(passed=["*"], denied=[], secrets=[SECRET])
    env = policy.host_env({"A": "1", "DFLOWCTL_X": "2", "GH_TOKEN": "3", "OTHER": SECRET, "PYTHONPATH": "/x"})
    assert env == {"A": "1", "PYTHONPATH": "/x"}
    assert policy.server_env({"A": "1", "PYTHONPATH": "/x"}) == {"A": "1"}  # never PYTHON* in a server


PROC_OUTPUT = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: procout-}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: param, template: param}
      - {name: link, template: link}
      - {name: art, template: art}
  - name: param
    container:
      image: busybox
      command: ["true"]
    outputs:
      parameters:
      - name: env
        valueFrom: {path: /proc/self/environ}
  - name: link
    container:
      image: busybox
      command: [sh, -c, "ln -s /proc/self/environ /tmp/env"]
    outputs:
      parameters:
      - name: env
        valueFrom: {path: /tmp/env}
  - name: art
    container:
      image: busybox
      command: ["true"]
    outputs:
      artifacts:
      - {name: sys, path: /sys/kernel}
"""


@pytest.mark.parametrize("mode", isolation.METHODS)
def test_outputs_are_never_read_from_the_hosts_proc_sys_or_dev(tmp_path: Path, mode: str) -> None:
    if mode == isolation.OVERLAY and isolation.method_for(tmp_path) != isolation.OVERLAY:
        pytest.skip("no private mount views here")
    wf = tmp_path / "procout.yaml"
    wf.write_text(PROC_OUTPUT)
    env = {
        "DFLOWCTL_HOME": str(tmp_path / "home"),
        "DFLOWCTL_S3_SECRET_KEY": SECRET,
        isolation.ENV_FORCE: mode,
    }
    res = run_cli("run", str(wf), "-o", "json", cwd=tmp_path, env=env)
    assert res.returncode == 1, res.stderr
    assert SECRET not in res.stdout + res.stderr
    assert SECRET not in _everything_written(tmp_path / "home")
    nodes = json.loads(res.stdout)["status"]["nodes"].values()
    messages = {n["displayName"]: (n["phase"], n.get("message", "")) for n in nodes if n["type"] == "Pod"}
    if mode == isolation.OVERLAY:
        refused = "the local engine reads no output from the host's /proc, /sys or /dev"
        assert messages["param"] == (
            "Error",
            f"output parameter 'env': /proc/self/environ is the host's /proc: {refused}",
        )
        assert messages["link"] == (
            "Error",
            f"output parameter 'env': /tmp/env is the host's /proc: {refused}",
        )
        assert messages["art"] == (
            "Error",
            f"output artifact 'sys': /sys/kernel is the host's /sys: {refused}",
        )
    else:  # a remapped pod has no view of the host's /proc: the file is simply not there
        assert all(phase == "Error" for phase, _ in messages.values()), messages
