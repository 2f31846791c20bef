from __future__ import annotations

import json
from pathlib import Path

import pytest

from dflowctl.errors import SpecError
from dflowctl.spec import load_spec
from dflowctl.spec.model import MISSING
from dflowctl.spec.schema import schema, schema_text
from dflowctl.spec.values import fits, is_duration, is_quantity
from tests.conftest import REPO

VALID = REPO / "tests" / "data" / "valid"


def test_schema_is_a_valid_2020_12_schema() -> None:
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(schema())
    assert json.loads(schema_text()) == schema()
    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def _props(node: object, path: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for name, sub in (node.get("properties") or {}).items():
            found.append(f"{path}.{name}")
            if isinstance(sub, dict) and "description" not in sub:
                found.append(f"UNDESCRIBED {path}.{name}")
        for key, sub in node.items():
            if key != "properties":
                found += _props(sub, f"{path}/{key}")
            else:
                for name, inner in sub.items():
                    found += _props(inner, f"{path}.{name}")
    elif isinstance(node, list):
        for item in node:
            found += _props(item, path)
    return found


def test_every_property_has_a_description() -> None:
    assert [p for p in _props(schema()) if p.startswith("UNDESCRIBED")] == []


def test_everything_builds_the_model() -> None:
    wf = load_spec(VALID / "everything.yaml")
    assert wf.namespace == "science"
    assert [p.name for p in wf.parameters] == ["n", "mode", "ratio", "flag", "names", "config", "anything"]
    assert wf.param("anything") is not None and wf.param("anything").default is MISSING
    assert wf.param("mode").enum == ("fast", "slow")
    assert wf.artifacts[0].source == "./data/input.txt"
    assert wf.artifacts[1].optional
    mk = wf.ops["make-list"]
    assert mk.env == {"LEVEL": "3", "DEBUG": "true", "NAME": "x"}
    assert mk.secret_env["TOKEN"].secret == "my-secret"
    assert mk.resources is not None and (mk.resources.cpu, mk.resources.memory, mk.resources.gpu) == (
        "500m",
        "512Mi",
        1,
    )
    assert mk.retry is not None and mk.retry.policy == "OnError" and mk.retry.backoff is not None
    assert mk.retry.backoff.max == "1h30m"
    assert wf.ops["square"].shell == "bash"
    assert wf.ops["square"].output_param("sq").from_path == "/tmp/sq.txt"
    assert (
        wf.ops["sum"].kind == "command" and wf.ops["echo"].kind == "command" and wf.ops["echo"].command == ()
    )
    pair = wf.ops["pair"]
    assert pair.kind == "dag" and pair.dag is not None and pair.dag[1].depends == "first"
    assert pair.output_param("sq").from_ref == "{{tasks.second.outputs.parameters.sq}}"
    groups = wf.steps or ()
    assert [len(g) for g in groups] == [1, 3, 1, 1]
    squares = groups[1][0]
    assert (
        squares.foreach is not None and squares.foreach.kind == "param" and squares.foreach.parallelism == 4
    )
    assert groups[1][1].foreach.kind == "range" and groups[1][1].foreach.end == "{{workflow.parameters.n}}"
    assert groups[1][2].foreach.items == ({"name": "a"}, {"name": "b"})
    assert groups[1][2].continue_on.failed is True
    assert groups[0][0].retry.limit == 2 and groups[0][0].timeout == "90s"
    assert (wf.on_exit, wf.parallelism, wf.timeout, wf.ttl, wf.pod_gc, wf.priority) == (
        "cleanup",
        8,
        "2h",
        3600,
        "OnPodSuccess",
        5,
    )
    assert wf.tolerations[1] == {"key": "zone", "operator": "Equal", "value": "a", "tolerationSeconds": 60}
    assert type(wf.tolerations[1]) is dict  # plain values, not ruamel's
    assert groups[0][0].value_locs["n"].line > 0


def test_dag_depends_list_is_joined() -> None:
    wf = load_spec(VALID / "dag.yaml")
    assert wf.dag is not None
    assert wf.dag[3].depends == "left && (right.Succeeded || right.Failed)"


def test_problems_are_all_reported_sorted(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    text = (VALID / "dag.yaml").read_text()
    text = text.replace("{a: 1}", "{a: one}").replace("top.Succeeded", "tpo")
    spec.write_text(text)
    with pytest.raises(SpecError) as info:
        load_spec(spec)
    lines = [d.location.line for d in info.value.diagnostics if d.location]
    assert len(lines) == 2 and lines == sorted(lines)


@pytest.mark.parametrize("text", ["90s", "10m", "2h", "1h30m", "1.5h", "500ms"])
def test_durations(text: str) -> None:
    assert is_duration(text)


@pytest.mark.parametrize("text", ["10", "10 m", "5x", "m", "1d", "-5s"])
def test_not_durations(text: str) -> None:
    assert not is_duration(text)


@pytest.mark.parametrize("text", ["500m", "2", "0.5", "512Mi", "1Gi", "1G", "1e3"])
def test_quantities(text: str) -> None:
    assert is_quantity(text)


@pytest.mark.parametrize("text", ["512mb", "2 cores", "", "Gi", "-1"])
def test_not_quantities(text: str) -> None:
    assert not is_quantity(text)


def test_fits() -> None:
    assert fits(1, "int") and not fits(True, "int") and not fits("1", "int")
    assert fits(1, "float") and fits(1.5, "float") and not fits(False, "float")
    assert fits([], "list") and fits({}, "dict") and fits(None, "any") and not fits(None, "str")
