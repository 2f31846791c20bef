"""A dflowctl bootstrap's definitions run once in the warm fork server; each pod runs only
its main guard (render/bootcheck.py, engines/local/_podcode._warm_main; issue 16)."""

from __future__ import annotations

import ast
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from dflowctl.engines.local import _podcode, _podproc, isolation, preload
from dflowctl.render import bootcheck, leaf, render_workflow, upload_paths
from dflowctl.spec import load_spec
from dflowctl.uploads import source_keys
from tests.conftest import SPECS, run_cli

pytestmark = pytest.mark.timeout(120)

GUARD = 'if __name__ == "__main__":\n'


def _bootstraps(spec: Path) -> list[str]:
    wf = load_spec(spec, {})
    manifest = render_workflow(wf, source_keys(upload_paths(wf)))
    return [
        t["script"]["source"]
        for t in manifest["spec"]["templates"]
        if "script" in t and t["script"]["source"].startswith("# dflowctl bootstrap:")
    ]


@pytest.mark.parametrize("name", ["fanout.yaml", "dflow-hello.yaml", "slices.yaml"])
def test_every_rendered_bootstrap_is_found_with_its_guard(name: str) -> None:
    texts = _bootstraps(SPECS / name)
    assert texts
    for text in texts:
        at = bootcheck.main_guard_at(text)
        assert at is not None and text[at:].startswith(GUARD)
        assert GUARD not in text[:at] and text[at - 1] == "\n"
        assert preload.main_guard_at(text) == at
    if name == "slices.yaml":  # the group runner's guard, after its definitions
        assert any(leaf.group_runner_text() in t for t in texts)
    if name == "dflow-hello.yaml":
        assert any(leaf.dflow_python_line() in t for t in texts)


def test_any_other_text_is_run_whole_in_its_pod() -> None:
    text = _bootstraps(SPECS / "fanout.yaml")[0]
    config = text.index("json.loads(") + len("json.loads(")
    guard = text.index(GUARD)
    changed = [
        text[:guard] + "print('side effect')\n" + text[guard:],  # a statement before the guard
        text[:config]
        + "open('/etc/hostname').read())\n"
        + text[text.index("\n", config) + 1 :],  # code, not a literal
        text[:config] + '"{}" + "")\n' + text[text.index("\n", config) + 1 :],
        text.replace("def main(", "def main2(", 1),
        text + "print('after')\n",
        "# dflowctl bootstrap: mine\nprint('hello')\n" + GUARD + "    pass\n",
        text[:guard],  # no guard
    ]
    for other in changed:
        assert bootcheck.main_guard_at(other) is None
    assert preload.main_guard_at("print('x')\n") is None
    assert preload.main_guard_at(None) is None


def _module_level(tree: ast.Module, guard_line: int) -> list[ast.stmt]:
    return [s for s in tree.body if s.lineno < guard_line]


def _pure_value(node: ast.expr | None) -> bool:
    """A constant, or ``json.loads`` of one (the CONFIG line), or a name of the same module."""
    if node is None or isinstance(node, ast.Constant | ast.Name):
        return True
    if isinstance(node, ast.Dict) and not node.keys:
        return True
    return (
        isinstance(node, ast.Call)
        and ast.unparse(node.func) == "json.loads"
        and all(isinstance(a, ast.Constant) for a in node.args)
    )


def _check_pure(body: list[ast.stmt], where: str) -> None:
    for stmt in body:
        what = f"{where}: line {stmt.lineno}"
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            continue
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # a docstring
        if isinstance(stmt, ast.FunctionDef):
            assert not stmt.decorator_list or all(
                ast.unparse(d) in ("classmethod", "staticmethod") for d in stmt.decorator_list
            ), what
            defaults = [*stmt.args.defaults, *stmt.args.kw_defaults]
            assert all(d is None or isinstance(d, ast.Constant) for d in defaults), what
            continue
        if isinstance(stmt, ast.ClassDef):
            assert not stmt.decorator_list and not stmt.keywords, what
            assert all(isinstance(b, ast.Name) for b in stmt.bases), what
            _check_pure(stmt.body, f"{where}: class {stmt.name}")
            continue
        if isinstance(stmt, ast.Assign | ast.AnnAssign):
            assert _pure_value(stmt.value), what
            continue
        raise AssertionError(f"{what}: {ast.unparse(stmt)[:80]} runs code at import")


def test_the_definitions_read_nothing_of_the_pod_s_world() -> None:
    """What the server runs once for every pod must be the same in each: imports,
    constants, functions (constant defaults, no decorators that call) and classes."""
    render = Path(leaf.__file__).parent
    bootstrap = (render / "bootstrap.py").read_text(encoding="utf-8")
    tree = ast.parse(bootstrap)
    _check_pure(_module_level(tree, bootstrap.count("\n", 0, bootstrap.index(GUARD)) + 1), "bootstrap.py")
    runner = leaf.group_runner_text()
    tree = ast.parse(runner)
    _check_pure(_module_level(tree, runner.count("\n", 0, runner.index(GUARD)) + 1), "bootgroup.py")


def test_the_server_runs_the_definitions_once_and_each_pod_the_guard(tmp_path: Path) -> None:
    seen = tmp_path / "seen"
    source = (
        "from __future__ import annotations\n"
        f"with open({str(seen)!r}, 'a') as fh:\n    fh.write('ran\\n')\n"
        "import tabnanny\n"
        "def main() -> str:\n    return 'main'\n" + GUARD + "    RESULT = main()\n"
    )
    at = source.index(GUARD)
    spec: dict[str, Any] = {
        "mode": "python",
        "py": {"target": "/x/script", "source": source, "warm_main": at},
    }
    had = "tabnanny" in sys.modules
    try:
        for _ in range(3):
            py = {**spec["py"]}
            _podcode.precompile({**spec, "py": py})
            module, tail = py["_warm"]
        assert seen.read_text() == "ran\n"  # once, for every pod of the text
        assert module.__name__ == "__main__" and module.__file__ == "/x/script" and "main" in vars(module)
        assert "RESULT" not in vars(module)
        exec(tail, vars(module))  # what a pod does with it: the guard only
        assert module.RESULT == "main" and seen.read_text() == "ran\n"
        assert tail.co_names == ("__name__", "main", "RESULT")
        if not had:  # what the definitions imported is the server's, as preloaded modules are
            assert "tabnanny" in _podproc._PRELOADED
        head = "raise SystemExit(3)\n"
        broken = {"target": "/x/other", "source": head + GUARD + "    pass\n", "warm_main": len(head)}
        _podcode.precompile({"mode": "python", "py": broken})
        assert "_warm" not in broken and "_code" in broken  # the pod runs it whole, as before
    finally:
        _podcode._WARM_MAIN.clear()
        _podcode._CODE_CACHE.clear()
        if not had:
            sys.modules.pop("tabnanny", None)
            _podproc._PRELOADED.discard("tabnanny")


def test_a_pod_s_own_module_of_a_preloaded_name_makes_it_run_the_whole_script(tmp_path: Path) -> None:
    (tmp_path / "json.py").write_text("")
    (tmp_path / "other.py").write_text("")
    saved = set(_podproc._PRELOADED)
    _podproc._PRELOADED.update({"json", "zzz_not_here"})
    modules = dict(sys.modules)
    try:
        assert _podproc._unshadow([str(tmp_path / "missing"), str(tmp_path)]) is True
        assert "json" not in sys.modules
        (tmp_path / "json.py").unlink()
        assert _podproc._unshadow([str(tmp_path)]) is False
    finally:
        sys.modules.update(modules)
        _podproc._PRELOADED.clear()
        _podproc._PRELOADED.update(saved)


OVERLAY_OK = sys.platform.startswith("linux") and isolation.method_for(Path.cwd()) == isolation.OVERLAY


@pytest.mark.skipif(not OVERLAY_OK, reason="no private views here (pods start without the warm server)")
def test_through_the_cli_each_pod_runs_only_the_guard(tmp_path: Path, dflowctl_home: Path) -> None:
    """The op finds the script's ``<module>`` frame under its own: the guard's code (four
    names), not the whole bootstrap's; the outputs and a failing item's message as before."""
    ops = tmp_path / "ops"
    ops.mkdir()
    (ops / "frames.py").write_text(
        textwrap.dedent(
            """
            import sys

            def names(x: int) -> int:
                if x == 2:
                    raise ValueError("item two")
                frame = sys._getframe()
                while frame.f_code.co_name != "<module>":
                    frame = frame.f_back
                return len(frame.f_code.co_names) * 100 + x
            """
        )
    )
    (tmp_path / "wf.yaml").write_text(
        textwrap.dedent(
            """
            apiVersion: dflowctl/v1alpha1
            kind: Workflow
            metadata: {name: warm}
            spec:
              ops:
                op:
                  image: python:3.12-slim
                  python: frames:names
                  source: ./ops
                  inputs: {parameters: {x: int}}
                  outputs: {parameters: {n: int}}
              steps:
                - name: each
                  op: op
                  parameters: {x: "{{item}}"}
                  foreach: {range: {count: 4}}
                  continue_on: {failed: true}
            """
        )
    )
    proc = run_cli("run", "wf.yaml", "-o", "json", cwd=tmp_path)
    nodes = json.loads(proc.stdout)["status"]["nodes"].values()
    pods = sorted((n for n in nodes if n["type"] == "Pod"), key=lambda n: n["displayName"])
    values = [
        next((p["value"] for p in (n.get("outputs") or {}).get("parameters") or [] if p["name"] == "n"), None)
        for n in pods
    ]
    assert values == ["400", "401", None, "403"], proc.stderr
    assert pods[2]["phase"] == "Failed" and "ValueError: item two" in pods[2]["message"]
