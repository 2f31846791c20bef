"""The bootstrap really runs: a rendered Python op's script source, run with the
host's python3 in a temp dir laid out as Argo lays out inputs (env vars and
artifact paths; ``DFLOWCTL_ROOT`` stands for /tmp/dflowctl)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from dflowctl.render import render_workflow, upload_paths
from dflowctl.spec import model as m
from dflowctl.uploads import source_keys

from .conftest import SPECS

PYTHON = shutil.which("python3") or sys.executable

USER_OPS = '''
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


class Counter:
    """A dflow-style OP class with a list-of-paths input."""

    @classmethod
    def get_input_sign(cls):
        return {"files": list[Path], "label": str}

    @classmethod
    def get_output_sign(cls):
        return {"count": int, "names": list}

    def execute(self, op_in):
        return {"count": len(op_in["files"]), "names": [p.name for p in op_in["files"]]}


def describe(flag: bool, ratio: float, cfg: dict, tags: list, anything) -> dict:
    return {"text": f"{flag}/{ratio}", "cfg": {**cfg, "n": len(tags)}, "echo": anything}


def nested() -> list:
    Path("a").mkdir()
    Path("a/b.txt").write_text("b")
    Path("c.txt").write_text("c")
    elsewhere = Path(tempfile.mkdtemp()) / "outside.txt"
    elsewhere.write_text("o")
    return [Path("a/b.txt"), Path("c.txt").resolve(), elsewhere]


def read_one(x: Path) -> str:
    return f"{x.name}:{x.read_text().strip()}"


def typed(ys: list, fs: list, ds: list, ss: list) -> dict:
    return {"out": {"ys": ys, "fs": fs, "ds": ds, "ss": ss}}


def make_dir(n: int) -> Path:
    out = Path("made")
    out.mkdir()
    for i in range(n):
        (out / f"f{i}.txt").write_text(str(i))
    return out


def kept(given: Path) -> list:
    Path("own.txt").write_text("own")
    Path("twice.txt").write_text("twice")
    os.link("twice.txt", "also.txt")
    elsewhere = Path(tempfile.mkdtemp()) / "far.txt"
    elsewhere.write_text("far")
    return [Path("own.txt"), Path("twice.txt"), given, elsewhere]


def missing_output(x: int) -> dict:
    return {"other": x}


def wrong_type(x: int) -> dict:
    return {"value": "not a number"}


def not_a_path(x: int):
    return 42


def boom(x: int) -> int:
    raise ValueError(f"cannot handle {x}")


def where(x: int) -> str:
    return str(Path.cwd())
'''


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str
    root: Path

    def param(self, name: str) -> str:
        return (self.root / "outputs" / "parameters" / name).read_text(encoding="utf-8")

    def artifact(self, name: str) -> Path:
        return self.root / "outputs" / "artifacts" / name


def python_op(name: str, entry: str, source: Path, **kw: object) -> m.Op:
    return m.Op(name, "python", image="python:3.12-slim", python=entry, source=source, **kw)  # type: ignore[arg-type]


def script_of(op: m.Op) -> str:
    wf = m.Workflow("t", Path("/nonexistent/t.yaml"), ops={op.name: op}, steps=((m.Step("s", op.name),),))
    rendered = render_workflow(wf, {op.source: "dflowctl/sources/x.tgz"} if op.source else {})
    tmpl = next(t for t in rendered["spec"]["templates"] if t["name"] == op.name)
    assert tmpl["script"]["command"] == ["python3"]
    return tmpl["script"]["source"]


def run_op(
    op: m.Op,
    tmp_path: Path,
    params: dict[str, str] | None = None,
    artifacts: dict[str, Path] | None = None,
    extra_env: dict[str, str] | None = None,
    *,
    script: str | None = None,
    root_files: dict[str, str] | None = None,
) -> Result:
    """Lay out inputs the way Argo does (source unpacked at ROOT/source) and run the script
    (``script``: another text than the op's rendered one; ``root_files``: more input files,
    by their path under ROOT)."""
    root = tmp_path / "root"
    if op.source is not None:
        shutil.copytree(op.source, root / "source")
    for rel, text in (root_files or {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    for name, src in (artifacts or {}).items():
        dest = root / "inputs" / "artifacts" / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dest)
    path = tmp_path / "script"
    path.write_text(script_of(op) if script is None else script, encoding="utf-8")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DFLOWCTL_ROOT": str(root)}
    env.update({f"DFLOWCTL_PARAM_{k}": v for k, v in (params or {}).items()})
    env.update(extra_env or {})
    proc = subprocess.run(
        [PYTHON, str(path)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    return Result(proc.returncode, proc.stdout, proc.stderr, root)


@pytest.fixture
def user_src(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "userops.py").write_text(textwrap.dedent(USER_OPS), encoding="utf-8")
    return src


P = m.Param
A = m.ArtifactDecl


def test_op_class_writes_artifact_directory(tmp_path: Path) -> None:
    op = python_op(
        "write-file",
        "hello_ops:WriteFile",
        SPECS / "ops",
        inputs_parameters=(P("msg"), P("number", "int", default=1)),
        outputs_artifacts=(A("out_art"),),
    )
    res = run_op(op, tmp_path, {"msg": "Hi there", "number": "2"})
    assert res.code == 0, res.stderr
    out = res.artifact("out_art")
    assert sorted(p.name for p in out.iterdir()) == ["msg.txt", "results.txt"]
    assert (out / "msg.txt").read_text() == "Hi there\nHi there\n"
    assert (out / "results.txt").read_text() == "number: 2\nlength: 8\n"


def test_plain_function_parameter_output(tmp_path: Path) -> None:
    op = python_op(
        "add",
        "numbers:add",
        SPECS / "ops",
        inputs_parameters=(P("a", "int"), P("b", "int")),
        outputs_parameters=(P("sum", "int"),),
    )
    res = run_op(op, tmp_path, {"a": "40", "b": "2"})
    assert res.code == 0, res.stderr
    assert res.param("sum") == "42"


def test_plain_function_reads_fan_in_directory(tmp_path: Path) -> None:
    fanin = tmp_path / "fanin"
    for i, pod in enumerate(["pod-a", "pod-b", "pod-c"]):
        fanin.mkdir(exist_ok=True)
        (fanin / pod).write_text(f"{(i + 1) ** 2}\n")
    op = python_op(
        "sum-files",
        "numbers:sum_files",
        SPECS / "ops",
        inputs_artifacts=(A("files"),),
        outputs_parameters=(P("total", "int"),),
    )
    res = run_op(op, tmp_path, artifacts={"files": fanin})
    assert res.code == 0, res.stderr
    assert res.param("total") == "14"


def test_single_file_output_keeps_its_name(tmp_path: Path) -> None:
    op = python_op(
        "square",
        "numbers:square",
        SPECS / "ops",
        inputs_parameters=(P("x", "int"),),
        outputs_artifacts=(A("result"),),
    )
    res = run_op(op, tmp_path, {"x": "7"})
    assert res.code == 0, res.stderr
    assert [p.name for p in res.artifact("result").iterdir()] == ["square.txt"]
    assert (res.artifact("result") / "square.txt").read_text() == "49\n"


def test_output_paths_keep_their_relative_names(tmp_path: Path, user_src: Path) -> None:
    op = python_op("nested", "userops:nested", user_src, outputs_artifacts=(A("out"),))
    res = run_op(op, tmp_path)
    assert res.code == 0, res.stderr
    out = res.artifact("out")
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == ["a/b.txt", "c.txt", "outside.txt"]


def test_one_file_folder_is_handed_as_the_file(tmp_path: Path, user_src: Path) -> None:
    one = tmp_path / "one"
    one.mkdir()
    (one / "sq.txt").write_text("9\n")
    op = python_op(
        "read-one",
        "userops:read_one",
        user_src,
        inputs_artifacts=(A("x"),),
        outputs_parameters=(P("text"),),
    )
    res = run_op(op, tmp_path, artifacts={"x": one})
    assert res.code == 0, res.stderr
    assert res.param("text") == "sq.txt:9"


def test_op_class_gets_list_of_paths_for_list_sign(tmp_path: Path, user_src: Path) -> None:
    fanin = tmp_path / "in"
    fanin.mkdir()
    for name in ("b", "a", "c"):
        (fanin / name).write_text(name)
    op = python_op(
        "counter",
        "userops:Counter",
        user_src,
        inputs_parameters=(P("label"),),
        inputs_artifacts=(A("files"),),
        outputs_parameters=(P("count", "int"), P("names", "list")),
    )
    res = run_op(op, tmp_path, {"label": "x"}, {"files": fanin})
    assert res.code == 0, res.stderr
    assert res.param("count") == "3"
    assert res.param("names") == '["a", "b", "c"]'


def describe_op(src: Path) -> m.Op:
    """USER_OPS's `describe`: one input and output of each parameter type."""
    return python_op(
        "describe",
        "userops:describe",
        src,
        inputs_parameters=(
            P("flag", "bool"),
            P("ratio", "float"),
            P("cfg", "dict"),
            P("tags", "list"),
            P("anything", "any"),
        ),
        outputs_parameters=(P("text", "str"), P("cfg", "dict"), P("echo", "any")),
    )


def test_types_decode_and_encode(tmp_path: Path, user_src: Path) -> None:
    res = run_op(
        describe_op(user_src),
        tmp_path,
        {"flag": "true", "ratio": "2", "cfg": '{"k": 1}', "tags": '["x", "y"]', "anything": "plain"},
    )
    assert res.code == 0, res.stderr
    assert res.param("text") == "True/2.0"  # str written raw
    assert res.param("cfg") == '{"k": 1, "n": 2}'  # others as JSON
    assert res.param("echo") == "plain"


def test_directory_output_and_working_directory(tmp_path: Path, user_src: Path) -> None:
    op = python_op(
        "make-dir",
        "userops:make_dir",
        user_src,
        inputs_parameters=(P("n", "int"),),
        outputs_artifacts=(A("out"),),
    )
    res = run_op(op, tmp_path, {"n": "3"})
    assert res.code == 0, res.stderr
    assert sorted(p.name for p in res.artifact("out").iterdir()) == ["f0.txt", "f1.txt", "f2.txt"]
    where = python_op(
        "where", "userops:where", user_src, inputs_parameters=(P("x", "int"),), outputs_parameters=(P("cwd"),)
    )
    res = run_op(where, tmp_path / "w", {"x": "1"})
    assert res.code == 0, res.stderr
    assert res.param("cwd") == str(res.root / "workdir")


def test_files_the_op_made_become_outputs_without_a_second_copy(tmp_path: Path, user_src: Path) -> None:
    """A file made in the working directory is linked into the outputs (same inode, no copy of
    its bytes); an input, a file with other names and a file from elsewhere are copied."""
    given = tmp_path / "given.txt"
    given.write_text("given")
    op = python_op(
        "kept", "userops:kept", user_src, inputs_artifacts=(A("given"),), outputs_artifacts=(A("out"),)
    )
    res = run_op(op, tmp_path, artifacts={"given": given})
    assert res.code == 0, res.stderr
    out, work = res.artifact("out"), res.root / "workdir"
    assert {p.name: p.read_text() for p in out.iterdir()} == {
        "own.txt": "own",
        "twice.txt": "twice",
        "given": "given",
        "far.txt": "far",
    }
    assert (out / "own.txt").stat().st_ino == (work / "own.txt").stat().st_ino
    assert (out / "twice.txt").stat().st_ino != (work / "twice.txt").stat().st_ino
    assert (out / "given").stat().st_ino != (res.root / "inputs" / "artifacts" / "given").stat().st_ino
    assert (out / "far.txt").stat().st_nlink == 1
    made = python_op(
        "make-dir",
        "userops:make_dir",
        user_src,
        inputs_parameters=(P("n", "int"),),
        outputs_artifacts=(A("out"),),
    )
    res = run_op(made, tmp_path / "d", {"n": "2"})
    assert res.code == 0, res.stderr
    assert (res.artifact("out") / "f1.txt").stat().st_ino == (
        res.root / "workdir" / "made" / "f1.txt"
    ).stat().st_ino


def _assert_clean_error(res: Result, *fragments: str) -> None:
    assert res.code == 1
    assert "Traceback" not in res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("dflowctl: op '"), res.stderr
    for fragment in fragments:
        assert fragment in last, res.stderr


def test_missing_output_is_a_clear_error(tmp_path: Path, user_src: Path) -> None:
    op = python_op(
        "bad",
        "userops:missing_output",
        user_src,
        inputs_parameters=(P("x", "int"),),
        outputs_parameters=(P("value", "int"), P("extra", "int")),
    )
    res = run_op(op, tmp_path, {"x": "1"})
    _assert_clean_error(res, "returned unknown output(s) other; declared outputs: value, extra")
    assert not (res.root / "outputs" / "parameters" / "value").exists()


def test_missing_declared_output(tmp_path: Path, user_src: Path) -> None:
    op = python_op(
        "bad",
        "userops:wrong_type",
        user_src,
        inputs_parameters=(P("x", "int"),),
        outputs_parameters=(P("value", "str"), P("count", "int")),
    )
    res = run_op(op, tmp_path, {"x": "1"})
    _assert_clean_error(res, "output parameter 'count' was not returned")


def test_wrong_output_type_is_a_clear_error(tmp_path: Path, user_src: Path) -> None:
    op = python_op(
        "bad",
        "userops:wrong_type",
        user_src,
        inputs_parameters=(P("x", "int"),),
        outputs_parameters=(P("value", "int"),),
    )
    res = run_op(op, tmp_path, {"x": "1"})
    _assert_clean_error(
        res, "op 'bad' (userops:wrong_type)", "'value' is declared int but the op returned str"
    )


def test_artifact_output_must_be_a_path(tmp_path: Path, user_src: Path) -> None:
    op = python_op(
        "bad",
        "userops:not_a_path",
        user_src,
        inputs_parameters=(P("x", "int"),),
        outputs_artifacts=(A("out"),),
    )
    res = run_op(op, tmp_path, {"x": "1"})
    _assert_clean_error(res, "output artifact 'out' must be a path, a list or a dict of paths, got int")


def test_bad_input_value_is_a_clear_error(tmp_path: Path, user_src: Path) -> None:
    op = python_op(
        "bad",
        "userops:boom",
        user_src,
        inputs_parameters=(P("x", "int"),),
        outputs_parameters=(P("y", "int"),),
    )
    res = run_op(op, tmp_path, {"x": "seven"})
    _assert_clean_error(res, "input parameter 'x' is declared int but got 'seven'")
    res = run_op(op, tmp_path / "2", {})
    _assert_clean_error(res, "input parameter 'x' was not given")


def test_unknown_module_is_a_clear_error(tmp_path: Path, user_src: Path) -> None:
    op = python_op("bad", "nosuchmodule:f", user_src, inputs_parameters=(P("x", "int"),))
    res = run_op(op, tmp_path, {"x": "1"})
    _assert_clean_error(res, "cannot import module 'nosuchmodule'")
    op = python_op("bad", "userops:nosuchfunction", user_src, inputs_parameters=(P("x", "int"),))
    res = run_op(op, tmp_path / "2", {"x": "1"})
    _assert_clean_error(res, "module 'userops' has no attribute 'nosuchfunction'")


def test_user_exception_shows_its_traceback(tmp_path: Path, user_src: Path) -> None:
    op = python_op(
        "boom",
        "userops:boom",
        user_src,
        inputs_parameters=(P("x", "int"),),
        outputs_parameters=(P("y", "int"),),
    )
    res = run_op(op, tmp_path, {"x": "3"})
    assert res.code == 1
    assert "Traceback (most recent call last)" in res.stderr
    assert 'userops.py", line' in res.stderr and "in boom" in res.stderr
    assert "in main" not in res.stderr  # the bootstrap's own frames are left out
    # the one line: type, last line of the message, and the op's frame (source/FILE:LINE)
    line = next(
        i
        for i, text in enumerate((user_src / "userops.py").read_text().splitlines(), 1)
        if 'raise ValueError(f"cannot handle {x}")' in text
    )
    assert res.stderr.strip().endswith(
        f"dflowctl: op 'boom' (userops:boom) failed: ValueError: cannot handle 3 (source/userops.py:{line})"
    )


def test_rendered_source_is_safe_for_argo_substitution(user_src: Path) -> None:
    op = python_op("add", "numbers:add", SPECS / "ops", inputs_parameters=(P("a", "int"),))
    source = script_of(op)
    assert "{{" not in source and "}}" not in source
    compile(source, "script", "exec")


def test_rendered_hello_example_runs(tmp_path: Path) -> None:
    """The script source exactly as `dflowctl render specs/hello.yaml` carries it."""
    from dflowctl.spec import load_spec

    wf = load_spec(SPECS / "hello.yaml", {"msg": "Hello dflowctl"})
    rendered = render_workflow(wf, source_keys(upload_paths(wf)))
    tmpl = next(t for t in rendered["spec"]["templates"] if t["name"] == "write-file")
    root = tmp_path / "root"
    shutil.copytree(SPECS / "ops", root / "source")
    (tmp_path / "script").write_text(tmpl["script"]["source"], encoding="utf-8")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DFLOWCTL_ROOT": str(root)}
    for var in tmpl["script"]["env"]:  # what Argo substitutes from the step's arguments
        env[var["name"]] = (
            var["value"]
            .replace("{{inputs.parameters.msg}}", "Hello dflowctl")
            .replace("{{inputs.parameters.number}}", "1")
        )
    proc = subprocess.run(
        [PYTHON, "script"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    out = root / "outputs" / "artifacts" / "out_art"
    assert (out / "msg.txt").read_text() == "Hello dflowctl\n"
    assert (out / "results.txt").read_text() == "number: 1\nlength: 14\n"


def test_typed_lists_decode_fan_in_text_and_keep_nulls(tmp_path: Path, user_src: Path) -> None:
    op = python_op(
        "typed",
        "userops:typed",
        user_src,
        inputs_parameters=(
            P("ys", "list[int]"),
            P("fs", "list[float]"),
            P("ds", "list[dict]"),
            P("ss", "list[str]"),
        ),
        outputs_parameters=(P("out", "dict"),),
    )
    given = {
        "ys": '["1", 4, null, "9"]',
        "fs": '["0.5", 2]',
        "ds": '["{\\"a\\": 1}", {"b": 2}]',
        "ss": '["x", 3]',
    }
    res = run_op(op, tmp_path, given)
    assert res.code == 0, res.stderr
    assert json.loads(res.param("out")) == {
        "ys": [1, 4, None, 9],
        "fs": [0.5, 2.0],
        "ds": [{"a": 1}, {"b": 2}],
        "ss": ["x", "3"],
    }
    kept = run_op(op, tmp_path / "kept", {**given, "ys": '["1", "two"]'})
    assert kept.code == 0, kept.stderr
    assert json.loads(kept.param("out"))["ys"] == [1, "two"]  # what does not read as an int is kept


def test_a_fan_in_is_realigned_by_item_index_and_the_index_written(tmp_path: Path, user_src: Path) -> None:
    op = python_op(
        "typed",
        "userops:typed",
        user_src,
        inputs_parameters=(
            P("ys", "list[int]"),
            P("fs", "list[float]"),
            P("ds", "list[dict]"),
            P("ss", "list[str]"),
        ),
        outputs_parameters=(P("out", "dict"),),
    )
    given = {"ys": '["1", "9"]', "fs": "[]", "ds": "[]", "ss": "[]"}
    align = {"DFLOWCTL_ALIGN_ys": '["0", "2"]', "DFLOWCTL_COUNT_ys": "4", "DFLOWCTL_INDEX": "5"}
    res = run_op(op, tmp_path, given, extra_env=align)
    assert res.code == 0, res.stderr
    assert json.loads(res.param("out"))["ys"] == [1, None, 9, None]
    assert res.param("dflowctl-index") == "5"
    bad = run_op(op, tmp_path / "bad", given, extra_env={**align, "DFLOWCTL_ALIGN_ys": '["0"]'})
    assert bad.code == 1
    assert bad.stderr.strip().splitlines()[-1] == (
        "dflowctl: op 'typed' (userops:typed): input parameter 'ys': 2 value(s) do not match item indices [0]"
    )
