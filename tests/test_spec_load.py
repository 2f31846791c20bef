from __future__ import annotations

import os
from pathlib import Path

import pytest

from dflowctl.errors import SpecError
from dflowctl.spec import load_spec, load_yaml
from tests.conftest import REPO

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
