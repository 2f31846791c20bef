"""dflow OPs run unchanged (no dflow installed: the bundled dflow.python), through the
real CLI and the local engine; their interface comes from the code (no `inputs:` /
`outputs:` in the specs); failures say why in one line; TransientError is retried,
FatalError is not."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.timeout(240)

OPS = REPO / "tests" / "data" / "dflow" / "ops"
OPS_FILE = OPS / "dflow_ops.py"

OK_SPEC = """
apiVersion: dflowctl/v1alpha1
kind: Workflow
metadata: {name: dflow-ops}
spec:
  ops:
    defaults: {python: "dflow_ops:Defaults", source: ./ops}
    big: {python: "dflow_ops:Big", source: ./ops}
    maybe: {python: "dflow_ops:Maybe", source: ./ops}
    split: {python: "dflow_ops:Split", source: ./ops}
    join: {python: "dflow_ops:Join", source: ./ops}
    join-fn: {python: "dflow_ops:join_files", source: ./ops}
    maybe-file: {python: "dflow_ops:maybe_file", source: ./ops}
    pair: {python: "dflow_ops:Pair", source: ./ops}
    models: {python: "dflow_ops:Models", source: ./ops}
    tagged: {python: "dflow_ops:Tagged", source: ./ops}
    energy: {python: "dflow_ops:Energy", source: ./ops}
    total-e: {python: "dflow_ops:total_e", source: ./ops}
    tagged-fn: {python: "dflow_ops:tagged_fn", source: ./ops}
    use-models: {python: "dflow_ops:use_models", source: ./ops}
    pair-fn: {python: "dflow_ops:pair_fn", source: ./ops}
    names: {python: "dflow_ops:names_of", source: ./ops}
    typed: {python: "dflow_ops:Typed", source: ./ops}
    add: {python: "dflow_ops:add", source: ./ops}
    count: {python: "dflow_ops:count_lines", source: ./ops}
    scale: {python: "dflow_ops:scale", source: ./ops}
    write: {python: "dflow_ops:write", source: ./ops}
  steps:
    - - {name: defaults, op: defaults}
      - {name: big, op: big, parameters: {table: {b: 1, a: 2}}}
      - {name: maybe, op: maybe}
      - {name: split, op: split, parameters: {text: "a b c"}}
      - {name: typed, op: typed, parameters: {xs: [1, 2], weights: {w: 1.5}, label: x}}
      - {name: add, op: add, parameters: {a: 1}}
      - {name: scale, op: scale, parameters: {x: 1.5}}
      - {name: write, op: write, parameters: {text: ab, times: 2}}
      - {name: no-file, op: maybe-file, parameters: {write: false}}
      - {name: a-file, op: maybe-file, parameters: {write: true}}
      - {name: models, op: models}
      - {name: untagged, op: tagged}
      - name: energies
        op: energy
        parameters: {i: "{{item}}", fail: 2}
        foreach: {items: [1, 2, 3]}
        continue_on: {failed: true}
      - {name: tagged, op: tagged, parameters: {tag: "null", n: 3}}
      - {name: untagged-fn, op: tagged-fn}
      - {name: tagged-fn, op: tagged-fn, parameters: {tag: x, n: 4}}
      - {name: pairs, op: pair, parameters: {i: "{{item}}"}, foreach: {items: [2, 1, 10]}}
      - {name: pairs-fn, op: pair-fn, parameters: {i: "{{item}}"}, foreach: {range: {count: 2}}}
    - - name: maybe-not-written
        op: maybe
        artifacts: {extra: "{{steps.no-file.outputs.artifacts.f}}"}
      - name: maybe-written
        op: maybe
        artifacts: {extra: "{{steps.a-file.outputs.artifacts.f}}"}
      - name: maybe-each
        op: maybe
        artifacts: {extra: "{{steps.no-file.outputs.artifacts.f}}"}
        foreach: {items: [1, 2], parallelism: 1}
      - name: join
        op: join
        artifacts: {parts: "{{steps.split.outputs.artifacts.parts}}"}
      - name: use-models
        op: use-models
        artifacts: {models: "{{steps.models.outputs.artifacts.models}}"}
      - name: sum-e
        op: total-e
        parameters: {es: "{{steps.energies.outputs.parameters.e}}"}
      - name: stacked
        op: names
        artifacts: {files: "{{steps.pairs.outputs.artifacts.files}}"}
      - name: stacked-fn
        op: names
        artifacts: {files: "{{steps.pairs-fn.outputs.artifacts.files}}"}
      - name: join-fn
        op: join-fn
        artifacts: {parts: "{{steps.split.outputs.artifacts.parts}}"}
      - name: count
        op: count
        artifacts: {f: "{{steps.add.outputs.artifacts.report}}"}
"""

FAIL_SPEC = """
apiVersion: dflowctl/v1alpha1
kind: Workflow
metadata: {name: dflow-fail}
spec:
  parameters:
    xs: {type: list, default: [1, "two"]}   # a literal would be refused by validate (list[int])
  ops:
    extra: {python: "dflow_ops:ExtraKey", source: ./ops}
    wrong: {python: "dflow_ops:WrongType", source: ./ops}
    forgets: {python: "dflow_ops:Forgets", source: ./ops}
    typed: {python: "dflow_ops:Typed", source: ./ops}
    flaky: {python: "dflow_ops:Flaky", source: ./ops, retry: 2}
    broken: {python: "dflow_ops:Broken", source: ./ops, retry: 2}
    models: {python: "dflow_ops:Models", source: ./ops}
  steps:
    - - {name: extra, op: extra}
      - {name: wrong, op: wrong}
      - {name: forgets, op: forgets}
      - {name: typed, op: typed, parameters: {xs: "{{workflow.parameters.xs}}", weights: {}, label: x}}
      - {name: flaky, op: flaky}
      - {name: broken, op: broken}
      - {name: bad-key, op: models, parameters: {bad: true}}
"""


def _run(tmp_path: Path, text: str) -> tuple[dict[str, Any], str]:
    shutil.copytree(OPS, tmp_path / "ops", ignore=shutil.ignore_patterns("__pycache__"))
    spec = tmp_path / "spec.yaml"
    spec.write_text(text, encoding="utf-8")
    env = {"DFLOWCTL_HOME": str(tmp_path / "home"), "DFLOWCTL_CONFIG": str(tmp_path / "none.yaml")}
    res = run_cli("run", "spec.yaml", cwd=tmp_path, env=env, timeout=200)
    name = re.search(r"^Name: (\S+)$", res.stdout, re.M)
    assert name, res.stdout + res.stderr
    status = run_cli("status", name.group(1), "-o", "json", cwd=tmp_path, env=env)
    assert status.returncode == 0, status.stderr
    return json.loads(status.stdout), res.stdout + res.stderr


def _pods(wf: dict[str, Any], step: str) -> list[dict[str, Any]]:
    nodes = wf["status"]["nodes"].values()
    return [n for n in nodes if n["type"] == "Pod" and n["displayName"].split("(")[0] == step]


def _params(wf: dict[str, Any], step: str) -> dict[str, Any]:
    (pod,) = _pods(wf, step)
    params = pod["outputs"].get("parameters", [])
    # dflowctl's own (the interpreter that ran it) left out
    return {p["name"]: _decode(p["value"]) for p in params if not p["name"].startswith("dflowctl-")}


def _decode(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text  # a str output travels as it is


def _line(text: str) -> int:
    return next(i for i, line in enumerate(OPS_FILE.read_text().splitlines(), 1) if text in line)


def test_dflow_ops_run_without_dflow_and_without_declarations(tmp_path: Path) -> None:
    wf, out = _run(tmp_path, OK_SPEC)
    assert wf["status"]["phase"] == "Succeeded", out
    assert _params(wf, "defaults") == {"text": "hihihi"}  # Parameter defaults
    assert _params(wf, "big") == {"keys": ["a", "b"]}  # BigParameter(dict)
    assert _params(wf, "maybe") == {"present": False}  # Artifact(optional=True), not given
    assert _params(wf, "split") == {"n": 3}
    assert _params(wf, "join") == {"joined": "a-b-c"}  # Artifact(List[Path]) in: the files, in order
    # an optional output not written, into an optional input: left out, as dflow renders it
    # (the argument `optional: true`) and Argo resolves it; also through a parallelism wrapper
    assert _params(wf, "maybe-not-written") == {"present": False}
    assert _params(wf, "maybe-written") == {"present": True}
    each = [p for n in _pods(wf, "maybe-each") for p in n["outputs"]["parameters"] if p["name"] == "present"]
    assert [_decode(p["value"]) for p in each] == [False, False]
    # a fan-in of List[Path] outputs, stacked as dflow does: every item's files, item by item
    assert _params(wf, "stacked") == {
        "names": ["log_2.txt", "traj_2.dump", "log_1.txt", "traj_1.dump", "log_10.txt", "traj_10.dump"],
        "texts": ["l2", "t2", "l1", "t1", "l10", "t10"],
    }
    assert _params(wf, "stacked-fn")["names"] == ["x_0.txt", "y_0.txt", "x_1.txt", "y_1.txt"]
    # a None default (dflow's Parameter(Optional[str], default=None), `= None`): None when not given
    assert _params(wf, "untagged") == {"seen": "None None"}
    assert _params(wf, "tagged") == {"seen": "None 3"}  # the text null is None, as in dflow
    assert _params(wf, "untagged-fn") == {"seen": "None None"}
    assert _params(wf, "tagged-fn") == {"seen": "'x' 4"}
    # a dflow OP's List[float] over a fan-in with a failed item: the successes only, as dflow
    assert _params(wf, "sum-e") == {"total": 6.0, "n": 2}
    # Artifact(Dict[str, Path]): a folder per key; the dict again on the way in
    assert _params(wf, "use-models") == {"keys": ["first", "second"], "first": "one"}
    assert _params(wf, "join-fn") == {"joined": "a+b+c"}  # @OP.function, Artifact(List[Path]) in
    assert _params(wf, "typed") == {"total": 4.5}  # List[int], Dict[str, float], Optional[str]
    assert _params(wf, "add") == {"total": 3}  # @OP.function, default b=2, TypedDict out
    assert _params(wf, "count") == {"lines": 1, "first": "1 + 2"}  # NamedTuple out, optional artifact
    assert _params(wf, "scale") == {"y": 3.0}  # plain function, literal dict keys
    assert _params(wf, "write") == {"size": 4}
    (pod,) = _pods(wf, "write")
    assert [a["name"] for a in pod["outputs"]["artifacts"]] == ["out"]  # Path(...) value: an artifact


def test_failures_name_the_key_and_the_line_transient_retries_fatal_does_not(tmp_path: Path) -> None:
    wf, out = _run(tmp_path, FAIL_SPEC)
    assert wf["status"]["phase"] == "Failed"

    def message(step: str) -> str:
        (pod,) = _pods(wf, step)
        return str(pod["message"])

    assert message("extra") == (
        "Error (exit code 1): RuntimeError: key m in the output given by the OP "
        "is not declared in its output sign"
    )
    assert message("wrong") == "Error (exit code 1): TypeError: type of n must be int; got str instead"
    assert message("forgets") == (
        "Error (exit code 1): RuntimeError: key n declared in the output sign is not present "
        "in the output given by the OP"
    )
    assert message("typed") == "Error (exit code 1): TypeError: type of xs[1] must be int; got str instead"
    assert message("bad-key") == (
        "Error (exit code 1): op 'models' (dflow_ops:Models): output artifact 'models': "
        "key 'a/b' cannot name a folder"
    )
    flaky = _pods(wf, "flaky")
    assert len(flaky) == 3  # retry: 2 → three attempts
    line = _line('raise TransientError("the license server is busy")')
    assert {p["message"] for p in flaky} == {
        f"Error (exit code 1): TransientError: the license server is busy (ops/dflow_ops.py:{line})"
    }
    broken = _pods(wf, "broken")
    assert len(broken) == 1  # FatalError: exit 2, the retry expression stops at once
    line = _line('raise FatalError("the structure has no atoms")')
    assert broken[0]["message"] == (
        f"Error (exit code 2): FatalError: the structure has no atoms (ops/dflow_ops.py:{line})"
    )
    # the one-line summary carries the reason; the log keeps the whole traceback
    assert f"FatalError: the structure has no atoms (ops/dflow_ops.py:{line})" in out
    env = {"DFLOWCTL_HOME": str(tmp_path / "home"), "DFLOWCTL_CONFIG": str(tmp_path / "none.yaml")}
    logs = run_cli("logs", wf["metadata"]["name"], "--step", "broken", cwd=tmp_path, env=env)
    assert "Traceback (most recent call last)" in logs.stdout, logs.stdout + logs.stderr
    assert 'raise FatalError("the structure has no atoms")' in logs.stdout


def test_dflow_tutorial_op_runs_unchanged_locally(tmp_path: Path) -> None:
    from tests.conftest import SPECS

    env = {"DFLOWCTL_HOME": str(tmp_path / "home"), "DFLOWCTL_CONFIG": str(tmp_path / "none.yaml")}
    res = run_cli("run", str(SPECS / "dflow-hello.yaml"), cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    name = re.search(r"^Name: (\S+)$", res.stdout, re.M)
    assert name
    got = run_cli("download", name.group(1), "-d", "out", cwd=tmp_path, env=env)
    assert got.returncode == 0, got.stderr
    files = {
        p.relative_to(tmp_path / "out").as_posix(): p.read_text() for p in (tmp_path / "out").rglob("*.txt")
    }
    assert files == {
        "write/out_art/msg.txt": "HelloWorld!HelloWorld!",
        "write/out_art/results.txt": "number: 2",
    }


@pytest.mark.slow
def test_real_pydflow_is_imported_when_installed(tmp_path: Path) -> None:
    """pydflow installed in a venv used as the step's interpreter: the real dflow.python wins."""
    import subprocess
    import sys

    # not under /tmp: a local pod has its own /tmp (an interpreter there is hidden from it)
    venv = Path.home() / ".cache" / "dflowctl-tests" / "pydflow-venv"
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "pydflow"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if pip.returncode != 0:
        pytest.skip(f"pip cannot install pydflow here: {pip.stderr.strip().splitlines()[-1:]}")
    ops = tmp_path / "ops"
    ops.mkdir()
    (ops / "which.py").write_text(
        "import sys\n\n"
        "PRELOADED = 'dflow.python' in sys.modules  # by the warm worker, before this import\n"
        "from dflow.python import OP, OPIO, OPIOSign\n"
        "import dflow.python\n\n\n"
        "class Which(OP):\n"
        "    @classmethod\n"
        "    def get_input_sign(cls):\n"
        "        return OPIOSign({})\n\n"
        "    @classmethod\n"
        "    def get_output_sign(cls):\n"
        "        return OPIOSign({'where': str, 'preloaded': bool})\n\n"
        "    @OP.exec_sign_check\n"
        "    def execute(self, op_in):\n"
        "        return OPIO({'where': dflow.python.__file__, 'preloaded': PRELOADED})\n",
        encoding="utf-8",
    )
    (tmp_path / "spec.yaml").write_text(
        "apiVersion: dflowctl/v1alpha1\nkind: Workflow\nmetadata: {name: which}\n"
        "spec:\n  ops:\n    which: {python: 'which:Which', source: ./ops}\n"
        "  steps:\n    - {name: which, op: which}\n",
        encoding="utf-8",
    )
    import os

    env = {
        "DFLOWCTL_HOME": str(tmp_path / "home"),
        "DFLOWCTL_CONFIG": str(tmp_path / "none.yaml"),
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",  # its python3 runs the step
    }
    res = run_cli("run", "spec.yaml", cwd=tmp_path, env=env, timeout=200)
    assert res.returncode == 0, res.stdout + res.stderr
    where = re.search(r"which  where = (\S+)", res.stdout)
    assert where, res.stdout
    assert where.group(1).startswith(str(venv)) and where.group(1).endswith("dflow/python/__init__.py")
    assert "which  preloaded = true" in res.stdout  # the warm worker imported the real pydflow once
    # and the same op without pydflow gets the bundled one
    env.pop("PATH")
    res = run_cli("run", "spec.yaml", cwd=tmp_path, env=env, timeout=200)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "which  where = <dflowctl: dflow.python>" in res.stdout
    assert "which  preloaded = false" in res.stdout


LIB = """
from dflow.python import OP, OPIO, OPIOSign, Parameter


class Relax(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"steps": Parameter(int, default=10)})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"energy": float})

    @OP.exec_sign_check
    def execute(self, op_in):
        return OPIO({"energy": -1.5 * op_in["steps"]})


def dynamic(**kwargs):
    return kwargs
"""

LIB_SPEC = """
apiVersion: dflowctl/v1alpha1
kind: Workflow
metadata: {name: lib}
spec:
  ops:
    relax: {python: "oplib:Relax"}
  steps:
    - {name: relax, op: relax, parameters: {stepz: 3}}
"""


# no Python chosen by the environment (an activated venv or conda env): python3 on PATH
NO_ENV = {"VIRTUAL_ENV": "", "CONDA_PREFIX": "", "DFLOWCTL_PYTHON": ""}


def test_entrypoint_from_an_installed_library_is_read_in_the_interpreter(tmp_path: Path) -> None:
    """No `source`: the module is found by the interpreter that runs local steps (here through
    PYTHONPATH, as an installed OP library would be) and its signs are read from there."""
    lib = tmp_path / "site"
    lib.mkdir()
    (lib / "oplib.py").write_text(LIB, encoding="utf-8")
    (tmp_path / "spec.yaml").write_text(LIB_SPEC, encoding="utf-8")
    res = run_cli("validate", "spec.yaml", cwd=tmp_path, env={"PYTHONPATH": str(lib), **NO_ENV})
    assert res.returncode == 2
    assert res.stderr.splitlines()[0] == "spec.yaml:9:45: op `relax` has no input parameter `stepz`"
    assert "hint: did you mean `steps`?" in res.stderr
    # not importable anywhere here: a warning, not an error (the image may have it)
    res = run_cli("validate", "spec.yaml", cwd=tmp_path, env=NO_ENV)
    assert res.returncode == 0, res.stderr
    assert res.stderr.splitlines()[0] == (
        "warning: spec.yaml:7:21: op `relax`: python3 here cannot find module `oplib`; "
        "it must be importable where the step runs"
    )
    assert res.stdout == "spec.yaml: ok\n"


def test_an_installed_library_is_looked_up_in_the_python_that_runs_the_op(tmp_path: Path) -> None:
    """The op library lives only in a virtualenv: the op's Python by the rule of issue 12
    (DFLOWCTL_PYTHON, ``run --python``, the active VIRTUAL_ENV) finds it, python3 does not."""
    from tests.test_pyenv import make_venv

    venv = make_venv(tmp_path / "v", module=None)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "oplib.py").write_text(LIB, encoding="utf-8")
    (tmp_path / "spec.yaml").write_text(LIB_SPEC, encoding="utf-8")
    python = str(venv / "bin" / "python")
    wrong = "spec.yaml:9:45: op `relax` has no input parameter `stepz`"
    for env in ({**NO_ENV, "DFLOWCTL_PYTHON": python}, {**NO_ENV, "VIRTUAL_ENV": str(venv)}):
        res = run_cli("validate", "spec.yaml", cwd=tmp_path, env=env)
        assert (res.returncode, res.stderr.splitlines()[0]) == (2, wrong), env
    res = run_cli("run", "spec.yaml", "--python", python, "--dry-run", cwd=tmp_path, env=NO_ENV)
    assert (res.returncode, res.stderr.splitlines()[0]) == (2, wrong)
    # the chosen Python is named where it cannot find the module
    bare = make_venv(tmp_path / "bare", module=None)
    res = run_cli(
        "validate", "spec.yaml", cwd=tmp_path, env={"DFLOWCTL_PYTHON": str(bare / "bin" / "python")}
    )
    assert res.returncode == 0, res.stderr
    assert res.stderr.splitlines()[0] == (
        f"warning: spec.yaml:7:21: op `relax`: {bare / 'bin' / 'python'} (DFLOWCTL_PYTHON) here cannot "
        "find module `oplib`; it must be importable where the step runs"
    )


def test_unreadable_code_is_one_warning_when_the_spec_declares(tmp_path: Path) -> None:
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops" / "oplib.py").write_text(LIB, encoding="utf-8")
    (tmp_path / "spec.yaml").write_text(
        "apiVersion: dflowctl/v1alpha1\nkind: Workflow\nmetadata: {name: dyn}\nspec:\n  ops:\n"
        "    dyn:\n      python: oplib:dynamic\n      source: ./ops\n"
        "      inputs: {parameters: {x: int}}\n      outputs: {parameters: {x: int}}\n"
        "  steps:\n    - {name: dyn, op: dyn, parameters: {x: 1}}\n",
        encoding="utf-8",
    )
    res = run_cli("validate", "spec.yaml", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    warnings = [line for line in res.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: spec.yaml:7:15: op `dyn`: the inputs and outputs cannot be read from the code "
        f"(ops/oplib.py:{LIB.splitlines().index('def dynamic(**kwargs):') + 1}: "
        "`dynamic` takes *args or **kwargs)"
    ]
    res = run_cli("validate", "spec.yaml", "--format", "json", cwd=tmp_path)
    assert res.returncode == 0
    (item,) = json.loads(res.stdout)
    assert item["severity"] == "warning" and item["line"] == 7


def test_one_type_grammar_for_specs_and_code() -> None:
    from dflowctl.spec.values import TYPE_PATTERN, parse_type, type_text

    schema = json.loads((REPO / "schemas" / "workflow.schema.json").read_text(encoding="utf-8"))
    assert schema["$defs"]["paramType"]["pattern"] == TYPE_PATTERN
    assert parse_type("list[ dict[str, list[int]] ]") == (
        "list",
        (("dict", (("str", ()), ("list", (("int", ()),)))),),
    )
    assert type_text(parse_type("dict[str,float]") or ("any", ())) == "dict[str, float]"
    for bad in ("dict[int, str]", "list[int, int]", "tuple[int]", "list[flaot]", "list[", "integer"):
        assert parse_type(bad) is None, bad


COUNTING_OPS = """
import builtins
import sys

_calls = []
_real = builtins.compile


def _counting(source, filename, *args, **kw):
    _calls.append(str(filename))
    return _real(source, filename, *args, **kw)


builtins.compile = _counting
from dflow.python import OP, OPIO, OPIOSign  # noqa: E402  (compiled here, or ahead)

builtins.compile = _real
SHIM = sys.modules["dflow.python"].__file__


class Shim(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"i": int})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"compiled": int, "file": str})

    @OP.exec_sign_check
    def execute(self, op_in):
        return OPIO({"compiled": _calls.count(SHIM), "file": SHIM})
"""

SHIM_SPEC = """
apiVersion: dflowctl/v1alpha1
kind: Workflow
metadata: {name: shim}
spec:
  ops:
    shim: {python: "counting_ops:Shim", source: ./ops}
  steps:
    - name: shim
      op: shim
      parameters: {i: "{{item}}"}
      foreach: {range: {count: 3}}
"""


@pytest.mark.parametrize("fork_server", ["1", "0"])
def test_the_bundled_dflow_python_is_compiled_once_by_the_warm_interpreter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fork_server: str
) -> None:
    """Its text (in every pod's bootstrap) is compiled once by the warm server for all the
    pods, not in each; a pod started without the server compiles it itself."""
    monkeypatch.setenv("DFLOWCTL_FORK_SERVER", fork_server)
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops" / "counting_ops.py").write_text(COUNTING_OPS, encoding="utf-8")
    spec = tmp_path / "spec.yaml"
    spec.write_text(SHIM_SPEC, encoding="utf-8")
    env = {"DFLOWCTL_HOME": str(tmp_path / "home"), "DFLOWCTL_CONFIG": str(tmp_path / "none.yaml")}
    res = run_cli("run", "spec.yaml", cwd=tmp_path, env=env, timeout=200)
    name = re.search(r"^Name: (\S+)$", res.stdout, re.M)
    assert name and res.returncode == 0, res.stdout + res.stderr
    wf = json.loads(run_cli("status", name.group(1), "-o", "json", cwd=tmp_path, env=env).stdout)
    seen = sorted(
        _decode(p["value"])
        for pod in _pods(wf, "shim")
        for p in pod["outputs"]["parameters"]
        if p["name"] == "compiled"
    )
    files = {
        p["value"] for pod in _pods(wf, "shim") for p in pod["outputs"]["parameters"] if p["name"] == "file"
    }
    if files != {"<dflowctl: dflow.python>"}:
        pytest.skip(f"pydflow is installed for this interpreter: {files}")
    assert seen == ([0, 0, 0] if fork_server == "1" else [1, 1, 1])
