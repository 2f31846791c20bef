"""The interpreter rule, the static imports, the probe and the pre-run plan (dflowctl.pyenv)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dflowctl.errors import SpecError
from dflowctl.pyenv.choose import ChoiceError, Context, choose, conda_env
from dflowctl.pyenv.imports import op_imports, script_imports
from dflowctl.pyenv.plan import plan
from dflowctl.pyenv.probe import ProbeError, probe
from dflowctl.spec.model import LocalPython

pytestmark = pytest.mark.timeout(120)


def make_venv(where: Path, module: str | None = "onlyvenv") -> Path:
    """A real venv (no pip) with a tiny package written into its site-packages."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    if module:
        site = next((where / "lib").glob("python3*/site-packages"))
        (site / module).mkdir()
        (site / module / "__init__.py").write_text("VALUE = 42\n")
    return where


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_venv(tmp_path_factory.mktemp("envs") / "v")


def ctx(**kw: object) -> Context:
    environ = {"PATH": os.environ.get("PATH", os.defpath), "HOME": "/nonexistent"}
    environ.update(kw.pop("environ", {}))  # type: ignore[arg-type]
    return Context(environ=environ, conda_base=lambda: None, **kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------- the rule, in order


def test_rule_order(venv: Path, tmp_path: Path) -> None:
    other = make_venv(tmp_path / "other", None)
    py, opy = str(venv / "bin" / "python"), str(other / "bin" / "python")
    env = {"VIRTUAL_ENV": str(other), "CONDA_PREFIX": str(other)}
    images = [("deepmd/*", LocalPython("venv", str(venv)))]
    full = ctx(images=images, python=opy, environ=env)
    local = LocalPython("venv", str(venv))
    assert choose(local, "deepmd/dp:2", "python3", full).how == f"`local: {{venv: {venv}}}` in the spec"
    assert choose(None, "deepmd/dp:2", "python3", full).python == py
    assert (
        choose(None, "deepmd/dp:2", "python3", full).how
        == "the config's python['deepmd/*'] for image deepmd/dp:2"
    )
    assert choose(None, "python:3.12", "python3", full).python == opy  # no pattern matches: --python
    flagless = ctx(environ={**env, "VIRTUAL_ENV": str(venv)})
    assert choose(None, "python:3.12", "python3", flagless).python == py
    assert choose(None, None, "python3", flagless).how == "the active VIRTUAL_ENV"
    conda = ctx(environ={"CONDA_PREFIX": str(venv)})
    assert (choose(None, None, "python3", conda).python, choose(None, None, "python3", conda).how) == (
        py,
        "the active CONDA_PREFIX",
    )
    bare = choose(None, None, "python3", ctx())
    assert bare.how == "python3 on PATH" and os.path.isabs(bare.python)


def test_first_matching_pattern_wins(venv: Path, tmp_path: Path) -> None:
    other = make_venv(tmp_path / "o", None)
    images = [("python:3.11*", LocalPython("venv", str(other))), ("python:*", LocalPython("venv", str(venv)))]
    c = ctx(images=images)
    assert choose(None, "python:3.11-slim", "python3", c).python == str(other / "bin" / "python")
    assert choose(None, "python:3.12-slim", "python3", c).python == str(venv / "bin" / "python")


def test_conda_name_resolves_through_conda_exe(venv: Path, tmp_path: Path) -> None:
    base = tmp_path / "conda"
    make_venv(base / "envs" / "myenv")
    (base / "bin").mkdir()
    environ = {"CONDA_EXE": str(base / "bin" / "conda"), "PATH": os.defpath}
    c = Context(environ=environ)
    assert conda_env("myenv", c) == base / "envs" / "myenv"
    assert conda_env("base", c) == base
    got = choose(LocalPython("conda", "myenv"), None, "python3", c)
    assert got.python == str(base / "envs" / "myenv" / "bin" / "python")
    with pytest.raises(ChoiceError) as err:
        choose(LocalPython("conda", "nope"), None, "python3", c)
    assert str(err.value) == f"no conda environment 'nope' (looked in {base / 'envs'})"


def test_bad_environments_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(ChoiceError) as err:
        choose(LocalPython("venv", str(tmp_path)), None, "python3", ctx())
    assert str(err.value) == f"venv {tmp_path}: {tmp_path}/bin/python is not an executable file"
    with pytest.raises(ChoiceError) as err:
        choose(None, None, "python3", ctx(python="python9.9"))
    assert str(err.value) == "python9.9 is not on PATH"
    with pytest.raises(ChoiceError) as err:
        choose(LocalPython("conda", "x"), None, "python3", ctx())
    assert str(err.value) == (
        "no conda environment 'x' (looked in /nonexistent/.conda/envs; "
        "conda itself was not found (no CONDA_EXE, no conda on PATH))"
    )


# ---------------------------------------------------------------- imports


def test_op_imports_follow_the_source_tree(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "pkg" / "sub").mkdir(parents=True)
    (src / "pkg" / "__init__.py").write_text("import yaml\n")
    (src / "pkg" / "ops.py").write_text(
        "import os\nimport numpy as np\nfrom . import helper\nfrom .sub import thing\n"
        "try:\n    import optional\nexcept ImportError:\n    pass\n"
        "def f():\n    import inner\n"
    )
    (src / "pkg" / "helper.py").write_text("import scipy.linalg\nfrom dflow.python import OP\n")
    (src / "pkg" / "sub" / "thing.py").write_text("from ..helper import x\nimport ase\n")
    (src / "broken.py").write_text("import (\n")
    assert op_imports("pkg.ops", src) == {"ase", "numpy", "os", "scipy", "yaml"}
    assert op_imports("pkg.ops", None) == {"pkg"}  # from the environment itself
    assert op_imports("broken", src) == set()
    assert script_imports("import json, numpy\nfrom a.b import c\nfrom __future__ import annotations\n") == {
        "a",
        "json",
        "numpy",
    }


# ---------------------------------------------------------------- probe and plan


def test_probe_answers_once_with_version_and_missing(venv: Path) -> None:
    py = str(venv / "bin" / "python")
    got = probe(py, ["onlyvenv", "json", "surely_not_a_module_xyz"])
    assert got.missing == {"surely_not_a_module_xyz"}
    assert got.version == ".".join(map(str, sys.version_info[:3]))
    assert str(venv) in got.folders()
    with pytest.raises(ProbeError) as err:
        probe(str(venv / "nope"), [])
    assert str(err.value) == f"cannot run {venv / 'nope'}: No such file or directory"


def _manifest(source: str, image: str = "python:3.12-slim") -> dict[str, object]:
    tmpl = {"name": "t", "script": {"image": image, "command": ["python3"], "source": source}}
    return {"spec": {"templates": [tmpl, {"name": "sh", "script": {"image": "alpine", "source": "ls"}}]}}


def test_plan_checks_imports_per_interpreter(venv: Path) -> None:
    py = str(venv / "bin" / "python")
    manifest = _manifest("import onlyvenv\nprint(onlyvenv.VALUE)\n")
    got = plan(manifest, ctx(python=py))
    assert list(got) == ["t"]
    assert (got["t"].python, got["t"].how) == (py, "--python")
    with pytest.raises(SpecError) as err:
        plan(
            manifest,
            ctx(environ={"PATH": str(venv.parent)}, python=sys.executable, python_from="DFLOWCTL_PYTHON"),
        )
    v = ".".join(map(str, sys.version_info[:3]))
    assert str(err.value) == (
        f"template 't' imports 'onlyvenv', which {sys.executable} (Python {v}, chosen by DFLOWCTL_PYTHON) "
        "cannot import: install onlyvenv into that environment, or choose one that has it: "
        "a `python:` image mapping in the config file, or --python"
    )


# ---------------------------------------------------------------- spec, config, host folders


def test_local_only_on_python_and_command_ops(tmp_path: Path) -> None:
    from tests.conftest import run_cli

    (tmp_path / "wf.yaml").write_text(
        "apiVersion: dflowctl/v1alpha1\nkind: Workflow\nmetadata: {name: bad}\nspec:\n  ops:\n"
        "    sh:\n      script: echo hi\n      local: {venv: /x}\n"
        "    comp:\n      steps:\n        - {name: a, op: sh}\n      local: {conda: y}\n"
        "  steps:\n    - {name: a, op: comp}\n"
    )
    res = run_cli("validate", "wf.yaml", cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr == (
        "wf.yaml:8:7: `local` chooses the Python of Python and command ops, and op `sh` runs a shell script\n"
        "        local: {venv: /x}\n"
        "        ^\n"
        "wf.yaml:12:7: `local` has no effect on composite op `comp`\n"
        "        local: {conda: y}\n"
        "        ^\n"
        "  hint: set it on the ops its steps run\n"
        "2 problems found\n"
    )


def test_local_paths_are_relative_to_the_spec(tmp_path: Path) -> None:
    from dflowctl.spec import load_spec

    (tmp_path / "wf.yaml").write_text(
        "apiVersion: dflowctl/v1alpha1\nkind: Workflow\nmetadata: {name: ok}\nspec:\n  ops:\n"
        "    a: {python: 'm:f', local: {venv: ./venv}}\n"
        "    b: {python: 'm:f', local: {python: python3.11}}\n"
        "    c: {python: 'm:f', local: {conda: envs/x}}\n"
        "  steps:\n    - {name: a, op: a}\n    - {name: b, op: b}\n    - {name: c, op: c}\n"
    )
    ops = load_spec(tmp_path / "wf.yaml").ops
    assert (ops["a"].local.kind, ops["a"].local.value) == ("venv", str(tmp_path / "venv"))  # type: ignore[union-attr]
    assert ops["b"].local.value == "python3.11"  # type: ignore[union-attr]  # a name: looked up on PATH
    assert ops["c"].local.value == str(tmp_path / "envs" / "x")  # type: ignore[union-attr]


def test_config_python_mapping(tmp_path: Path) -> None:
    from dflowctl.errors import UsageError
    from dflowctl.settings import load_settings

    cfg = tmp_path / "config.yaml"
    cfg.write_text('python:\n  "deepmd/*": {venv: ./dp}\n  "python:3.11*": {conda: ase}\n')
    got = load_settings(config_path=cfg).python_images
    assert got == (
        ("deepmd/*", LocalPython("venv", str(tmp_path / "dp"))),
        ("python:3.11*", LocalPython("conda", "ase")),
    )
    cfg.write_text('python:\n  "deepmd/*": {virtualenv: ./dp}\n')
    with pytest.raises(UsageError) as err:
        load_settings(config_path=cfg)
    assert str(err.value) == (
        f"{cfg}: python['deepmd/*']: give exactly one of `python: ...`, `venv: ...`, `conda: ...`"
    )
    cfg.write_text("python: /usr/bin/python3\n")
    with pytest.raises(UsageError) as err:
        load_settings(config_path=cfg)
    assert str(err.value) == f"{cfg}: `python` must map image patterns to environments"


def test_host_binds_are_the_hidden_folders_outermost(tmp_path: Path) -> None:
    from dflowctl.engines.local.isolation import host_binds

    (tmp_path / "v" / "lib").mkdir(parents=True)
    folders = [str(tmp_path / "v"), str(tmp_path / "v" / "lib"), "/usr/lib", "/tmp", str(tmp_path / "gone")]
    expected = [str(tmp_path / "v")] if str(tmp_path).startswith("/tmp/") else []
    base = host_binds()  # what every pod gets (the package, this interpreter) when they live under /tmp
    assert host_binds(folders) == sorted({*base, *expected})


def test_plan_refuses_a_too_old_python(tmp_path: Path) -> None:
    fake = tmp_path / "python3.6"
    fake.write_text(
        '#!/bin/sh\necho \'{"executable": "' + str(fake) + '", "version": "3.6.9", '
        '"prefix": "/x", "base_prefix": "/x", "path": [], "missing": []}\'\n'
    )
    fake.chmod(0o755)
    with pytest.raises(SpecError) as err:
        plan(_manifest("import json\n"), ctx(python=str(fake)))
    assert str(err.value) == (
        f"template 't': {fake} (chosen by --python) is Python 3.6.9; "
        "the local engine runs Python ops with Python >= 3.8"
    )
