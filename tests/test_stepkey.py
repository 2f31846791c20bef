"""`dflowctl.stepkey`: what a step's key depends on, and content digests (pure)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from dflowctl.stepkey import folder_digest, is_cacheable, is_hidden, path_digest, source_key_digest, step_key

TMPL: dict[str, Any] = {
    "name": "count",
    "inputs": {
        "parameters": [
            {"name": "n", "value": "3"},
            {"name": "dflowctl-fanin", "value": "wf-abc12/dflowctl/fanin/x"},
        ],
        "artifacts": [{"name": "data", "path": "/in", "s3": {"key": "wf-abc12/a/data.tgz"}}],
    },
    "outputs": {"artifacts": [{"name": "o", "path": "/out", "s3": {"key": "wf-abc12/o/{{pod.name}}"}}]},
    "script": {
        "image": "python:3.12",
        "command": ["python3"],
        "source": "print(1)",
        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
    },
    "retryStrategy": {"limit": 2},
}


def key(tmpl: dict[str, Any], wf: str = "wf-abc12", digests: dict[str, str] | None = None) -> str:
    return step_key(tmpl, wf, {"data": "d1"} if digests is None else digests)


def test_the_run_name_retry_name_and_output_places_do_not_count() -> None:
    base = key(TMPL)
    other_run = {
        **TMPL,
        "inputs": {
            **TMPL["inputs"],
            "parameters": [
                {"name": "n", "value": "3"},
                {"name": "dflowctl-fanin", "value": "wf-zzz99/dflowctl/fanin/x"},
            ],
        },
    }
    assert key(other_run, "wf-zzz99") == base
    assert key({**TMPL, "name": "count-2", "retryStrategy": {"limit": 5}, "timeout": "1m"}) == base
    moved = {**TMPL, "outputs": {"artifacts": [{"name": "o", "path": "/out", "s3": {"key": "elsewhere"}}]}}
    assert key(moved) == base
    swapped_env = {**TMPL, "script": {**TMPL["script"], "env": list(reversed(TMPL["script"]["env"]))}}
    assert key(swapped_env) == base


def test_inputs_code_image_and_env_count() -> None:
    base = key(TMPL)
    assert key(TMPL, digests={"data": "d2"}) != base
    assert key({**TMPL, "script": {**TMPL["script"], "image": "python:3.13"}}) != base
    assert key({**TMPL, "script": {**TMPL["script"], "source": "print(2)"}}) != base
    env = [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}]
    assert key({**TMPL, "script": {**TMPL["script"], "env": env}}) != base
    params = [{"name": "n", "value": "4"}, TMPL["inputs"]["parameters"][1]]
    assert key({**TMPL, "inputs": {**TMPL["inputs"], "parameters": params}}) != base


def test_content_digests(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        (d / "sub").mkdir(parents=True)
        (d / "sub" / "f.txt").write_text("x")
    assert path_digest(a) == path_digest(b)
    os.utime(b / "sub" / "f.txt", (1, 1))  # touched: same content
    assert path_digest(a) == path_digest(b)
    (b / "sub" / "f.txt").write_text("y")
    assert path_digest(a) != path_digest(b)
    (b / "sub" / "f.txt").write_text("x")
    os.chmod(b / "sub" / "f.txt", 0o755)
    assert path_digest(a) != path_digest(b)
    # fan-in folders: entries named after the run's pods count by content only
    f1, f2 = tmp_path / "f1", tmp_path / "f2"
    f1.mkdir(), f2.mkdir()
    (f1 / "run-a-sq-111").write_text("1")
    (f1 / "run-a-sq-222").write_text("4")
    (f2 / "run-b-sq-999").write_text("4")
    (f2 / "run-b-sq-888").write_text("1")
    assert folder_digest(f1, "run-a") == folder_digest(f2, "run-b")
    (f2 / "run-b-sq-888").write_text("9")
    assert folder_digest(f1, "run-a") != folder_digest(f2, "run-b")


def test_small_rules() -> None:
    assert source_key_digest("dflowctl/sources/" + "a" * 64 + ".tgz") == "sources:" + "a" * 64
    assert source_key_digest("x/y.tgz") is None
    assert is_hidden("dflowctl-key") and not is_hidden("total")
    assert is_cacheable(TMPL)
    assert not is_cacheable({**TMPL, "metadata": {"annotations": {"dflowctl.io/cache": "false"}}})


def test_zero_values_argo_writes_back_do_not_count() -> None:
    """A stored Workflow's templates carry the container's ``name: ""`` and ``resources: {}``
    (Go zero values the controller writes back): the same key as the rendered template."""
    stored = {**TMPL, "script": {**TMPL["script"], "name": "", "resources": {}}}
    assert key(stored) == key(TMPL)
    limited = {**TMPL, "script": {**TMPL["script"], "resources": {"limits": {"cpu": "1"}}}}
    assert key(limited) != key(TMPL)
    named = {**TMPL, "script": {**TMPL["script"], "name": "worker"}}
    assert key(named) != key(TMPL)


def test_the_key_s_recipe_is_the_one_stored_keys_were_made_with() -> None:
    """A key made now equals the one the same template got before long strings were kept
    encoded (pinned with the code before that change): entries in users' caches still hit.
    Changing the recipe means bumping KEY_VERSION."""
    script = "# the bootstrap of run wf-abcde\n" + 'print("a \\"quoted\\" line, é, \\\\ and \\t\x01")\n' * 40
    tmpl = {
        "name": "square",
        "metadata": {"annotations": {"x": "y"}},
        "inputs": {
            "parameters": [{"name": "x", "value": "3"}, {"name": "a" * 300, "value": "long name"}],
            "artifacts": [{"name": "data", "path": "/tmp/in"}],
        },
        "outputs": {"artifacts": [{"name": "result", "path": "/tmp/out", "s3": {"key": "wf-abcde/out"}}]},
        "script": {
            "image": "python:3.12",
            "command": ["python3"],
            "source": script,
            "env": [{"name": "LONG", "value": "v" * 400}, {"name": "RUN", "value": "wf-abcde"}],
        },
    }
    runtime = {"python": "/usr/bin/python3", "version": "3.11"}
    expected = "fea1247b3be0bbe04dfa06384cf9072c088c06d90e9aae2a76dea0d532d3a198"
    assert step_key(tmpl, "wf-abcde", {"data": "sha:1"}, runtime) == expected
    assert step_key(tmpl, "wf-abcde", {"data": "sha:1"}, runtime) == expected  # (its long texts kept)
    other_run = json.loads(json.dumps(tmpl).replace("wf-abcde", "wf-fghij"))
    assert step_key(other_run, "wf-fghij", {"data": "sha:1"}, runtime) == expected
    changed = {**tmpl, "script": {**tmpl["script"], "source": script + " "}}
    assert step_key(changed, "wf-abcde", {"data": "sha:1"}, runtime) != expected
