from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from dflowctl.errors import SpecError
from dflowctl.spec import load_spec, load_yaml
from tests.conftest import ARGO_EXAMPLES, REPO, SHARED

VALID = REPO / "tests" / "data" / "valid"


def _only(err: SpecError) -> str:
    assert len(err.diagnostics) == 1
    return err.format()


def test_load_yaml_keeps_positions() -> None:
    doc = load_yaml(VALID / "hello.yaml", file="hello.yaml")
    assert doc.data["kind"] == "Workflow"
    assert doc.loc(["spec", "steps", 1, "op"]).line == 40
    loc = doc.loc(["spec", "ops", "shout"], key=True)
    assert (loc.file, loc.line, loc.col) == ("hello.yaml", 22, 5)
    assert doc.lines[loc.line - 1].strip().startswith("shout:")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_yaml(tmp_path / "nope.yaml", file="nope.yaml")
    assert _only(info.value) == "nope.yaml: no such file"


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_yaml(tmp_path, file="somedir")
    assert _only(info.value) == "somedir: is a directory, not a YAML file"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable(tmp_path: Path) -> None:
    spec = tmp_path / "secret.yaml"
    spec.write_text("a: 1\n")
    spec.chmod(0)
    with pytest.raises(SpecError) as info:
        load_yaml(spec, file="secret.yaml")
    assert _only(info.value) == "secret.yaml: cannot read the file: permission denied"


def test_trailing_document_marker_is_fine(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text((VALID / "dag.yaml").read_text() + "---\n")
    assert load_spec(spec).name == "diamond"


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_bytes(b"\xef\xbb\xbf" + (VALID / "dag.yaml").read_bytes())
    assert load_spec(spec).name == "diamond"


def test_spec_md_hello_validates_as_written() -> None:
    """The HelloWorld of SPEC.md, copied verbatim into tests/data/valid/hello.yaml."""
    wf = load_spec(VALID / "hello.yaml")
    assert [s.name for g in wf.steps or () for s in g] == ["write", "shout"]
    assert wf.ops["write-file"].kind == "python"
    assert wf.ops["shout"].kind == "script"
    assert wf.ops["write-file"].source == (VALID / "ops").resolve()


def test_diagnostics_name_the_file_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("sub").mkdir()
    Path("sub/x.yaml").write_text("apiVersion: dflowctl/v1alpha1\nkind: Workflow\n")
    with pytest.raises(SpecError) as info:
        load_spec("sub/x.yaml")
    assert all(d.location and d.location.file == "sub/x.yaml" for d in info.value.diagnostics)


def _positions(node: Any, path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], tuple[int, int]]:
    out: dict[tuple[Any, ...], tuple[int, int]] = {}
    if isinstance(node, dict):
        out[path] = (node.lc.line, node.lc.col)
        for k, v in node.items():
            out[(*path, k, "key")] = tuple(node.lc.key(k))
            if v is not None:
                out[(*path, k, "value")] = tuple(node.lc.value(k))
            out.update(_positions(v, (*path, k)))
    elif isinstance(node, list):
        out[path] = (node.lc.line, node.lc.col)
        for i, v in enumerate(node):
            out[(*path, i, "item")] = tuple(node.lc.item(i))
            out.update(_positions(v, (*path, i)))
    return out


def _yaml_files() -> list[Path]:
    files = sorted((REPO / "tests" / "data").rglob("*.yaml")) + sorted((REPO / "specs").glob("*.yaml"))
    return files + sorted(ARGO_EXAMPLES.glob("*.yaml"))


def _repr_keys(value: Any) -> Any:
    """Keys as their repr (``~`` and ``"None"`` stay apart; mixed key types can be sorted)."""
    if isinstance(value, dict):
        return {repr(k): _repr_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_repr_keys(v) for v in value]
    return value


@pytest.mark.timeout(120)
def test_fast_path_agrees_with_ruamel() -> None:
    """The libyaml fast path gives ruamel's round-trip tree, values and positions, or steps aside."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    from dflowctl.spec.fastyaml import fast_load
    from dflowctl.spec.limits import Limit, scan_yaml
    from dflowctl.spec.load import BUILD_ERRORS

    taken = 0
    for path in _yaml_files():
        try:
            text = path.read_text(encoding="utf-8")
            scan_yaml(text)  # neither loader is given what the bounds refuse
        except (UnicodeDecodeError, Limit):
            continue
        fast = fast_load(text)
        try:
            docs = list(YAML(typ="rt").load_all(text))
        except (YAMLError, *BUILD_ERRORS):
            assert fast is None, path
            continue
        if fast is None:
            continue
        taken += 1
        assert json.dumps(_repr_keys(fast), sort_keys=True, default=repr) == json.dumps(
            _repr_keys(docs[0]), sort_keys=True, default=repr
        ), path
        assert _positions(fast) == _positions(docs[0]), path
    assert taken >= 20


@pytest.mark.parametrize(
    "text",
    [
        "a: !!str 1\n",  # explicit tag
        "a: &x {k: 1}\nb:\n  <<: *x\n",  # merge key
        "a: 0x1f\n",  # hex int: ruamel keeps its format
        "a: 1_000\n",
        "a: 2001-12-14\n",  # timestamp
        "a: 1\na: 2\n",  # duplicate key: ruamel reports it
        "a: 1\n---\nb: 2\n",
        "- 1\n",
        "a: [1\n",
    ],
)
def test_fast_path_steps_aside(text: str) -> None:
    from dflowctl.spec.fastyaml import fast_load

    assert fast_load(text) is None


def test_fast_path_scalars() -> None:
    from dflowctl.spec.fastyaml import fast_load

    data = fast_load("a: yes\nb: true\nc: ~\nd: 1.5\ne: -3\nf: '3'\ng: 1e3\nh: .5\ni: null\nj: on\n")
    assert data == {
        "a": "yes",
        "b": True,
        "c": None,
        "d": 1.5,
        "e": -3,
        "f": "3",
        "g": 1000.0,
        "h": 0.5,
        "i": None,
        "j": "on",
    }


def test_character_yaml_does_not_allow(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text('apiVersion: dflowctl/v1alpha1\nkind: Workflow\nmetadata: {name: "a\fb"}\n')
    with pytest.raises(SpecError) as info:
        load_yaml(spec, file="s.yaml")
    assert _only(info.value) == (
        "s.yaml:3:20: the file holds a character YAML does not allow (U+000C)\n"
        '  metadata: {name: "a\fb"}\n'
        "  " + " " * 19 + "^\n"
        "  hint: remove it, or write it as an escape in a double-quoted string (e.g. \\f)"
    )


def test_spec_md_example_itself_validates(tmp_path: Path) -> None:
    """The HelloWorld block of ../shared/design/SPEC.md, read from there."""
    spec_md = SHARED / "design" / "SPEC.md"
    if not spec_md.exists():
        pytest.skip(f"{spec_md} is absent")
    text = spec_md.read_text(encoding="utf-8")
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "ops").mkdir()  # its `source: ./ops`, with the module `python:` names (validate reads it)
    (tmp_path / "ops" / "hello_ops.py").write_bytes((REPO / "specs" / "ops" / "hello_ops.py").read_bytes())
    spec = tmp_path / "hello.yaml"
    spec.write_text(block, encoding="utf-8")
    wf = load_spec(spec)
    assert wf.name == "hello" and set(wf.ops) == {"write-file", "shout"}
    assert block == (VALID / "hello.yaml").read_text(encoding="utf-8")
