"""Local Python ops in the user's own environment, through the real CLI (issue 12).

With nothing activated, an op importing a module that only a venv has runs when
the venv is given by each way of the rule, the run record names that interpreter,
and without it the run stops before starting with a one-line error. A venv under
/tmp (which a pod's private view replaces) works as one elsewhere.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.test_pyenv import make_venv

pytestmark = pytest.mark.timeout(180)

VERSION = ".".join(map(str, sys.version_info[:3]))  # `python -m venv` of this interpreter
SPEC = """\
apiVersion: dflowctl/v1alpha1
kind: Workflow
metadata: {name: pyenv}
spec:
  ops:
    ask:
      image: IMAGE
      python: myop:answer
      source: ./src
      outputs: {parameters: {v: int}}LOCAL
  steps:
    - name: ask
      op: ask
"""


@pytest.fixture(scope="module")
def tmp_venv() -> Iterator[Path]:
    """A venv under /tmp itself (hidden from pods by their private /tmp)."""
    where = Path(tempfile.mkdtemp(prefix="dflowctl-venv-", dir="/tmp"))
    yield make_venv(where / "v")
    shutil.rmtree(where, ignore_errors=True)


@pytest.fixture(scope="module")
def var_venv() -> Iterator[Path]:
    """A venv outside /tmp."""
    where = Path(tempfile.mkdtemp(prefix="dflowctl-venv-", dir="/var/tmp"))
    yield make_venv(where / "v")
    shutil.rmtree(where, ignore_errors=True)


def write_spec(tmp: Path, local: str = "", image: str = "python:3.12-slim") -> Path:
    (tmp / "src").mkdir(exist_ok=True)
    (tmp / "src" / "myop.py").write_text(
        "import onlyvenv\n\n\ndef answer() -> int:\n    return onlyvenv.VALUE\n", encoding="utf-8"
    )
    spec = tmp / "wf.yaml"
    spec.write_text(SPEC.replace("IMAGE", image).replace("LOCAL", local), encoding="utf-8")
    return spec


@pytest.fixture(autouse=True)
def nothing_activated(monkeypatch: pytest.MonkeyPatch) -> None:
    """No venv, no conda env, no DFLOWCTL_PYTHON in the shell that starts dflowctl."""
    for var in ("VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_EXE", "DFLOWCTL_PYTHON", "DFLOWCTL_ISOLATION"):
        monkeypatch.delenv(var, raising=False)


def bare_env(tmp: Path, **extra: str) -> dict[str, str]:
    return {"DFLOWCTL_HOME": str(tmp / "home"), "DFLOWCTL_CONFIG": str(tmp / "none.yaml"), **extra}


def cli(tmp: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=tmp, env=env)


def recorded_python(tmp: Path, env: dict[str, str], stdout: str) -> dict[str, str]:
    name = re.search(r"^Name: (\S+)$", stdout, re.M)
    assert name, stdout
    res = cli(tmp, "status", name.group(1), "-o", "json", env=env)
    assert res.returncode == 0, res.stderr
    nodes = json.loads(res.stdout)["status"]["nodes"].values()
    (pod,) = [n for n in nodes if n["type"] == "Pod"]
    params = {p["name"]: p for p in pod["outputs"]["parameters"]}
    assert params.get("v", {"value": "42"})["value"] == "42"  # the Python op's output
    logs = cli(tmp, "logs", name.group(1), env=env)
    assert logs.stdout.splitlines()[0] == (
        f"ask: dflowctl: Python {VERSION} at {params['dflowctl-python']['value']} "
        f"(chosen by {params['dflowctl-python']['description'].split(', chosen by ', 1)[1]})"
    )
    return params["dflowctl-python"]


def assert_runs_with(
    tmp: Path, venv: Path, how: str, *args: str, exe: str = "python", **env_extra: str
) -> None:
    env = bare_env(tmp, **env_extra)
    res = cli(tmp, "run", "wf.yaml", *args, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "dflowctl-python" not in res.stdout  # hidden from the summary
    assert recorded_python(tmp, env, res.stdout) == {
        "name": "dflowctl-python",
        "value": str(venv / "bin" / exe),
        "description": f"Python {VERSION}, chosen by {how}",
    }


def test_without_the_venv_the_run_stops_before_starting(tmp_path: Path) -> None:
    write_spec(tmp_path)
    env = bare_env(tmp_path, PATH=f"{Path(sys.executable).parent}:{os.defpath}")
    res = cli(tmp_path, "run", "wf.yaml", env=env)
    assert res.returncode == 2
    assert res.stdout == ""
    python3 = Path(sys.executable).parent / "python3"
    assert res.stderr == (
        f"wf.yaml:6:5: op 'ask' imports 'onlyvenv', which {python3} (Python {VERSION}, "
        "chosen by python3 on PATH) cannot import: install onlyvenv into that environment, or choose one "
        "that has it: `local:` on the op, a `python:` image mapping in the config file, or --python\n"
    )
    assert not (tmp_path / "home" / "runs").exists() or not list((tmp_path / "home" / "runs").iterdir())


def test_spec_local_venv(tmp_path: Path, tmp_venv: Path) -> None:
    write_spec(tmp_path, local=f"\n      local: {{venv: {tmp_venv}}}")
    assert_runs_with(tmp_path, tmp_venv, f"`local: {{venv: {tmp_venv}}}` in the spec")


def test_config_image_mapping(tmp_path: Path, tmp_venv: Path) -> None:
    write_spec(tmp_path, image="deepmd/dp:2.2")
    (tmp_path / "config.yaml").write_text(
        f'python:\n  "python:*": {{venv: /nonexistent}}\n  "deepmd/*": {{venv: {tmp_venv}}}\n'
    )
    how = "the config's python['deepmd/*'] for image deepmd/dp:2.2"
    assert_runs_with(tmp_path, tmp_venv, how, DFLOWCTL_CONFIG=str(tmp_path / "config.yaml"))


def test_python_flag_and_env(tmp_path: Path, tmp_venv: Path) -> None:
    write_spec(tmp_path)
    py = str(tmp_venv / "bin" / "python")
    assert_runs_with(tmp_path, tmp_venv, "--python", "--python", py)
    assert_runs_with(tmp_path, tmp_venv, "DFLOWCTL_PYTHON", DFLOWCTL_PYTHON=py)


def test_active_virtualenv_and_conda_env(tmp_path: Path, tmp_venv: Path) -> None:
    write_spec(tmp_path)
    assert_runs_with(tmp_path, tmp_venv, "the active VIRTUAL_ENV", VIRTUAL_ENV=str(tmp_venv))
    assert_runs_with(tmp_path, tmp_venv, "the active CONDA_PREFIX", CONDA_PREFIX=str(tmp_venv))


def test_python3_on_path(tmp_path: Path, tmp_venv: Path) -> None:
    write_spec(tmp_path)
    path = f"{tmp_venv}/bin:{os.defpath}"
    assert_runs_with(tmp_path, tmp_venv, "python3 on PATH", exe="python3", PATH=path)


def test_conda_env_by_name(tmp_path: Path) -> None:
    """A fake conda: <base>/envs/NAME made from a real venv, conda found through CONDA_EXE."""
    base = tmp_path / "miniconda"
    env_dir = make_venv(base / "envs" / "ase")
    write_spec(tmp_path, local="\n      local: {conda: ase}")
    assert_runs_with(
        tmp_path,
        env_dir,
        "`local: {conda: ase}` in the spec",
        CONDA_EXE=str(base / "bin" / "conda"),
    )


@pytest.mark.parametrize("isolation", ["overlay", "remap"])
@pytest.mark.parametrize("where", ["tmp", "var"])
def test_venv_under_tmp_works_as_one_elsewhere(
    tmp_path: Path, isolation: str, where: str, request: pytest.FixtureRequest
) -> None:
    if isolation == "overlay" and os.geteuid() != 0:
        pytest.skip("private views (overlay) need root")
    venv: Path = request.getfixturevalue(f"{where}_venv")
    write_spec(tmp_path)
    py = str(venv / "bin" / "python")
    for warm in ("1", "0"):  # the warm fork server, and a plain process
        env = bare_env(tmp_path, DFLOWCTL_ISOLATION=isolation, DFLOWCTL_FORK_SERVER=warm)
        res = cli(tmp_path, "run", "wf.yaml", "--python", py, env=env)
        assert res.returncode == 0, res.stdout + res.stderr
        assert recorded_python(tmp_path, env, res.stdout)["value"] == py


def test_bad_environment_is_a_located_error(tmp_path: Path) -> None:
    write_spec(tmp_path, local="\n      local: {venv: ./nope}")
    res = cli(tmp_path, "run", "wf.yaml", env=bare_env(tmp_path))
    assert res.returncode == 2
    assert res.stderr == (
        f"wf.yaml:11:21: op 'ask': no Python to run it: venv {tmp_path}/nope: "
        f"{tmp_path}/nope/bin/python is not an executable file\n"
    )


def test_argo_render_ignores_local(tmp_path: Path, tmp_venv: Path) -> None:
    write_spec(tmp_path, local=f"\n      local: {{venv: {tmp_venv}}}")
    with_local = cli(tmp_path, "render", "wf.yaml", env=bare_env(tmp_path))
    write_spec(tmp_path)
    without = cli(tmp_path, "render", "wf.yaml", env=bare_env(tmp_path))
    assert with_local.returncode == 0, with_local.stderr
    assert with_local.stdout == without.stdout
    assert "venv" not in with_local.stdout


def test_detached_run_uses_the_choice(tmp_path: Path, tmp_venv: Path) -> None:
    """--no-wait: the run's own process reads the choices from the run record (python.json)."""
    write_spec(tmp_path)
    env = bare_env(tmp_path)
    res = cli(tmp_path, "run", "wf.yaml", "--no-wait", "--python", str(tmp_venv / "bin" / "python"), env=env)
    assert res.returncode == 0, res.stderr
    name = res.stdout.strip().splitlines()[-1].split()[-1]
    waited = cli(tmp_path, "status", name, "--watch", env=env)
    assert waited.returncode == 0, waited.stdout + waited.stderr
    assert recorded_python(tmp_path, env, f"Name: {name}\n")["value"] == str(tmp_venv / "bin" / "python")


ARGO_FILE = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: py-}
spec:
  entrypoint: ask
  templates:
  - name: ask
    script:
      image: python:3.11-slim
      command: [python3]
      source: |
        import onlyvenv
        print(onlyvenv.VALUE)
"""


def test_argo_file_script_by_image_mapping(tmp_path: Path, tmp_venv: Path) -> None:
    (tmp_path / "wf.yaml").write_text(ARGO_FILE, encoding="utf-8")
    env = bare_env(tmp_path, PATH=f"{Path(sys.executable).parent}:{os.defpath}")
    res = cli(tmp_path, "run", "wf.yaml", env=env)
    assert res.returncode == 2
    python3 = Path(sys.executable).parent / "python3"
    assert res.stderr == (
        f"template 'ask' imports 'onlyvenv', which {python3} (Python {VERSION}, chosen by python3 on PATH) "
        "cannot import: install onlyvenv into that environment, or choose one that has it: "
        "a `python:` image mapping in the config file, or --python\n"
    )
    (tmp_path / "config.yaml").write_text(f'python:\n  "python:3.11*": {{venv: {tmp_venv}}}\n')
    res = cli(tmp_path, "run", "wf.yaml", env={**env, "DFLOWCTL_CONFIG": str(tmp_path / "config.yaml")})
    assert res.returncode == 0, res.stdout + res.stderr
    assert re.search(r"^  py-\S+  result = 42$", res.stdout, re.M), res.stdout


def test_command_op_with_local(tmp_path: Path, tmp_venv: Path) -> None:
    (tmp_path / "wf.yaml").write_text(
        "apiVersion: dflowctl/v1alpha1\nkind: Workflow\nmetadata: {name: cmd}\nspec:\n  ops:\n"
        "    ask:\n      image: python:3.12-slim\n"
        '      command: [python3, -c, "import onlyvenv; print(onlyvenv.VALUE)"]\n'
        f"      local: {{venv: {tmp_venv}}}\n"
        "  steps:\n    - {name: ask, op: ask}\n",
        encoding="utf-8",
    )
    res = cli(tmp_path, "run", "wf.yaml", env=bare_env(tmp_path))
    assert res.returncode == 0, res.stdout + res.stderr
    assert recorded_python(tmp_path, bare_env(tmp_path), res.stdout)["value"] == str(
        tmp_venv / "bin" / "python"
    )


def test_argo_file_logs_stay_argo_s(tmp_path: Path, tmp_venv: Path) -> None:
    """No header line in an Argo file's logs (conformance); the interpreter is in the status."""
    (tmp_path / "wf.yaml").write_text(ARGO_FILE, encoding="utf-8")
    env = bare_env(tmp_path)
    res = cli(tmp_path, "run", "wf.yaml", "--python", str(tmp_venv / "bin" / "python"), env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    name = re.search(r"^Name: (\S+)$", res.stdout, re.M).group(1)  # type: ignore[union-attr]
    assert cli(tmp_path, "logs", name, env=env).stdout == f"{name}: 42\n"
    status = json.loads(cli(tmp_path, "status", name, "-o", "json", env=env).stdout)
    (pod,) = [n for n in status["status"]["nodes"].values() if n["type"] == "Pod"]
    assert [p for p in pod["outputs"]["parameters"] if p["name"] == "dflowctl-python"] == [
        {
            "name": "dflowctl-python",
            "value": str(tmp_venv / "bin" / "python"),
            "description": f"Python {VERSION}, chosen by --python",
        }
    ]
