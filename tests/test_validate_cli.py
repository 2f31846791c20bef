from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.timeout(60)
GOOD = "tests/data/valid/hello.yaml"
BAD = "tests/data/invalid/unknown_output.yaml"
BAD2 = "tests/data/invalid/bad_quantity.yaml"


def test_ok_files_in_text_mode() -> None:
    res = run_cli("validate", GOOD, "tests/data/valid/dag.yaml")
    assert res.returncode == 0, res.stderr
    assert res.stdout == f"{GOOD}: ok\ntests/data/valid/dag.yaml: ok\n"
    assert res.stderr == ""


def test_several_files_some_bad() -> None:
    res = run_cli("validate", GOOD, BAD, BAD2)
    assert res.returncode == 2
    assert res.stdout == f"{GOOD}: ok\n"
    assert res.stderr.startswith(f"{BAD}:34:26: step `shout` uses")
    assert f"{BAD2}:9:24: `cpu` of op" in res.stderr
    assert res.stderr.endswith("3 problems found in 2 files\n")


def test_json_format() -> None:
    res = run_cli("validate", "--format", "json", GOOD, BAD)
    assert res.returncode == 2
    items = json.loads(res.stdout)
    assert items == [
        {
            "file": BAD,
            "line": 34,
            "col": 26,
            "message": "step `shout` uses `write.outputs.artifacts.out`, "
            "but op `write-file` has no output artifact `out`",
            "hint": "did you mean `out_art`? op `write-file` has output artifacts: out_art",
        }
    ]


def test_json_format_all_ok() -> None:
    res = run_cli("validate", "--format", "json", GOOD)
    assert res.returncode == 0
    assert json.loads(res.stdout) == []


def test_github_format() -> None:
    res = run_cli("validate", "--format", "github", BAD2, "no-such.yaml")
    assert res.returncode == 2
    lines = res.stdout.splitlines()
    assert lines[0] == (
        f"::error file={BAD2},line=9,col=24::"
        "`cpu` of op `write-file` is not a Kubernetes quantity: `2 cores` "
        "(hint: write e.g. `500m` or `2` for cpu, `512Mi` or `1Gi` for memory)"
    )
    assert lines[-1] == "::error file=no-such.yaml::no-such.yaml: no such file"


def test_bad_format_is_a_usage_error() -> None:
    res = run_cli("validate", "--format", "xml", GOOD)
    assert res.returncode == 2
    assert res.stderr == "error: --format must be one of text, json, github, not `xml`\n"


def test_schema_command_prints_the_schema() -> None:
    res = run_cli("schema")
    assert res.returncode == 0
    assert json.loads(res.stdout)["title"] == "dflowctl workflow spec"


def test_missing_file_and_directory() -> None:
    res = run_cli("validate", "no-such.yaml", "tests/data")
    assert res.returncode == 2
    assert res.stdout == ""
    assert res.stderr == (
        "no-such.yaml: no such file\n"
        "tests/data: is a directory, not a YAML file\n"
        "2 problems found in 2 files\n"
    )
