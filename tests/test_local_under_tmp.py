"""One rule for host paths in a pod's private view: what a pod needs from the host (the
package and its stand-ins such as argosay, the interpreter and its environment) is seen
read-only wherever it lives, ``/tmp`` included (CI runners check projects out there).

The test runs dflowctl from a copy of the package under /tmp, with the pods' Python from
a virtualenv under /tmp, in both isolation methods.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path

import pytest

import dflowctl
from dflowctl.engines.local import isolation

pytestmark = pytest.mark.timeout(180)

WORKFLOW = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: from-tmp-}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: say, template: say}
      - {name: py, template: py}
      - {name: keep, template: keep}
    - - {name: nap, template: nap}
  - name: say
    container:
      image: argoproj/argosay:v2
      args: [echo, hello, /tmp/said]
    outputs:
      parameters:
      - name: said
        valueFrom: {path: /tmp/said}
  - name: nap
    container:
      image: argoproj/argosay:v2
      args: [sleep, "5\u03bcs"]
  - name: keep
    script:
      image: python:3.12
      command: [python3]
      source: |
        import sys
        open("/tmp/mine.txt", "w").write(sys.prefix)
    outputs:
      artifacts:
      - {name: all, path: /tmp}
  - name: py
    script:
      image: python:3.12
      command: [python3]
      source: |
        import sys
        try:
            open(sys.prefix + "/written-by-a-pod", "w")
            print(sys.prefix, "writable")
        except OSError:
            print(sys.prefix, "read-only")
"""


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("clone")
    assert str(root).startswith("/tmp/")
    shutil.copytree(
        Path(dflowctl.__file__).parent, root / "dflowctl", ignore=shutil.ignore_patterns("__pycache__")
    )
    return root


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    return path


@pytest.mark.parametrize("mode", isolation.METHODS)
def test_a_copy_under_tmp_runs_argosay_and_a_venv_under_tmp(
    clone: Path, venv: Path, tmp_path: Path, mode: str
) -> None:
    if mode == isolation.OVERLAY and isolation.method_for(tmp_path) != isolation.OVERLAY:
        pytest.skip("no private mount views here")
    wf = tmp_path / "wf.yaml"
    wf.write_text(WORKFLOW)
    env = {
        **os.environ,
        "NO_COLOR": "1",
        # -S below: no .pth files, so the editable install's hook cannot prefer the work tree
        "PYTHONPATH": os.pathsep.join([str(clone), sysconfig.get_paths()["purelib"]]),
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "DFLOWCTL_HOME": str(tmp_path / "home"),
        "DFLOWCTL_CONFIG": str(tmp_path / "none.yaml"),
        isolation.ENV_FORCE: mode,
    }
    where = subprocess.run(
        [sys.executable, "-S", "-c", "import dflowctl; print(dflowctl.__file__)"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert where.stdout.strip() == str(clone / "dflowctl" / "__init__.py")
    res = subprocess.run(
        [sys.executable, "-S", "-m", "dflowctl", "run", str(wf), "-o", "json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr
    nodes = json.loads(res.stdout)["status"]["nodes"].values()
    pods = {n["displayName"]: n for n in nodes if n["type"] == "Pod"}
    assert {k: n["phase"] for k, n in pods.items()} == {
        "say": "Succeeded",
        "nap": "Succeeded",
        "py": "Succeeded",
        "keep": "Succeeded",
    }
    assert pods["say"]["outputs"]["parameters"][0]["value"] == "hello"
    # the pod's /tmp as an output holds what it wrote, not the (empty) mount points of the
    # package and venv bound into it
    (stored,) = (tmp_path / "home" / "runs").glob("*/artifacts/*/*keep*/all.tgz")
    with tarfile.open(stored) as tar:
        assert sorted(m.name for m in tar.getmembers()) == ["tmp", "tmp/mine.txt"]
    if mode == isolation.OVERLAY:  # bound read-only (a remapped pod has no view to bind into)
        assert pods["py"]["outputs"]["result"] == f"{venv} read-only"
        assert not (venv / "written-by-a-pod").exists()
    else:
        assert pods["py"]["outputs"]["result"].startswith(f"{venv} ")
