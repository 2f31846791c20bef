"""substitute(): Argo's {{tag}} and {{=expr}} tags."""

from __future__ import annotations

import pytest

from dflowctl.expr import (
    ExprError,
    build_env,
    find_tags,
    item_scope,
    loop_node_name,
    substitute,
    substitute_tree,
)
from tests.conftest import Within


def test_simple_tags_with_and_without_spaces() -> None:
    scope = {"inputs.parameters.msg": "hi", "workflow.name": "wf-1"}
    assert substitute("{{inputs.parameters.msg}}", scope) == "hi"
    assert substitute("say {{ inputs.parameters.msg }} in {{workflow.name}}!", scope) == "say hi in wf-1!"


def test_text_without_tags_is_returned_unchanged() -> None:
    text = "echo ${HOME} {not a tag} }} {"
    assert substitute(text, {}) is text


def test_names_with_dashes_are_plain_keys() -> None:
    scope = {"steps.flip-coin.outputs.result": "heads", "inputs.parameters.num-1": "5"}
    assert substitute("{{steps.flip-coin.outputs.result}}/{{inputs.parameters.num-1}}", scope) == "heads/5"


def test_unknown_tag_strict_raises_naming_it() -> None:
    with pytest.raises(ExprError, match=r"failed to resolve \{\{inputs.parameters.nope\}\}"):
        substitute("x {{inputs.parameters.nope}}", {})


def test_unknown_tag_lenient_is_left_as_is() -> None:
    text = "a {{ inputs.parameters.nope }} b {{x}}"
    assert substitute(text, {"x": "1"}, strict=False) == "a {{ inputs.parameters.nope }} b 1"


def test_non_string_values_render_like_argo() -> None:
    scope = {"i": 3, "f": 2.5, "g": 15.0, "t": True, "n": False, "d": {"b": 1, "a": "x<y"}, "l": [1, "two"]}
    out = substitute("{{i}} {{f}} {{g}} {{t}} {{n}} {{d}} {{l}}", scope)
    assert out == '3 2.5 15 true false {"a":"x\\u003cy","b":1} [1,"two"]'


def test_unterminated_tag_is_literal() -> None:
    assert substitute("a {{x}} {{ b", {"x": "1"}) == "a 1 {{ b"


def test_nested_tag_rule() -> None:
    # Argo resolves the innermost tag of `{{ a {{b}}` and keeps the prefix
    assert substitute("{{ a {{b}}", {"b": "B"}) == "{{ a B"


def test_find_tags() -> None:
    assert find_tags("{{a}} {{= b }} {{ c.d }}") == ["a", "c.d"]
    assert find_tags("none") == []


def test_expression_tag_asint() -> None:
    assert (
        substitute("hello {{=asInt(inputs.parameters.foo) * 10}}", {"inputs.parameters.foo": "3"})
        == "hello 30"
    )


def test_expression_tag_with_leading_space_and_brackets() -> None:
    scope = {"inputs.parameters.should-print": "true"}
    assert substitute("{{= inputs.parameters[\"should-print\"] == 'true'}}", scope) == "true"


def test_expression_steps_with_dash_via_brackets() -> None:
    scope = {"steps.flip-coin.outputs.result": "heads", "steps.heads.outputs.result": "it was heads"}
    expr = "{{=steps['flip-coin'].outputs.result == 'heads' ? steps.heads.outputs.result : 'no'}}"
    assert substitute(expr, scope) == "it was heads"


def test_expression_results_are_printed_like_go_percent_v() -> None:
    assert substitute("{{=1/4}}", {}) == "0.25"
    assert substitute("{{=10/2}}", {}) == "5"
    assert substitute("{{=1000000.0}}", {}) == "1e+06"
    assert substitute("{{=[1, 'a', true]}}", {}) == "[1 a true]"
    assert substitute("{{={'b': 2, 'a': [1]} }}", {}) == "map[a:[1] b:2]"
    # the tag ends at the first '}}', as in Argo
    with pytest.raises(ExprError):
        substitute("{{={'b': 2, 'a': [1]}}}", {})


def test_expression_item_in_scope() -> None:
    assert substitute("{{=item}}", {"item": "3"}) == "3"
    assert (
        substitute("{{=item.a + '-' + item.b}}", {"item": '{"a":"x","b":"y"}', "item.a": "x", "item.b": "y"})
        == "x-y"
    )
    assert substitute("{{=item.a}}", {"item": {"a": 5}}) == "5"


def test_expression_error_strict_and_lenient() -> None:
    with pytest.raises(ExprError, match=r"failed to evaluate \{\{=nosuch \+ 1\}\}"):
        substitute("{{=nosuch + 1}}", {})
    assert substitute("a {{=nosuch + 1}}", {}, strict=False) == "a {{=nosuch + 1}}"


def test_expression_nil_result() -> None:
    with pytest.raises(ExprError, match="nil"):
        substitute("{{=inputs.parameters.missing}}", {"inputs.parameters.x": "1"})
    assert substitute("{{=inputs.parameters.missing}}", {"inputs.parameters.x": "1"}, strict=False) == (
        "{{=inputs.parameters.missing}}"
    )


def test_build_env_children_win_over_leaf() -> None:
    env = build_env(
        {
            "inputs.parameters": '[{"name":"x","value":"1"}]',
            "inputs.parameters.x": "1",
            "workflow.parameters.json": "[]",
            "item": {"a": 1, "b": 2},
            "item.a": "1",
        }
    )
    assert env["inputs"]["parameters"] == {"x": "1"}
    assert env["workflow"]["parameters"]["json"] == "[]"
    assert env["item"] == {"a": "1", "b": 2}
    assert callable(env["asInt"]) and "add" in env["sprig"]


def test_build_env_does_not_mutate_scope_values() -> None:
    item = {"a": 1}
    build_env({"item": item, "item.b": "2"})
    assert item == {"a": 1}


def test_many_substitutions_are_fast() -> None:
    template = "echo {{inputs.parameters.msg}} {{item}} > /tmp/{{pod.name}}.txt; {{=asInt(item) + 1}}"
    scopes = [{"inputs.parameters.msg": "hello", "item": str(i), "pod.name": f"p-{i}"} for i in range(10_000)]
    with Within(2.0, "10,000 substitutions") as took:
        outs = [substitute(template, s) for s in scopes]
    assert outs[7] == "echo hello 7 > /tmp/p-7.txt; 8"
    took.check()


def test_many_simple_substitutions_are_very_fast() -> None:
    template = "python3 -c 'print({{inputs.parameters.x}})' --out {{outputs.parameters.y.path}}"
    scope = {"inputs.parameters.x": "1", "outputs.parameters.y.path": "/tmp/y"}
    with Within(0.5, "10,000 simple substitutions") as took:
        for _ in range(10_000):
            substitute(template, scope)
    took.check()


def test_substitute_tree_keys_values_and_scalars() -> None:
    tree = {"name": "{{x}}", "{{x}}-key": [1, True, None, "a {{= asInt(x) + 1 }}"], "n": 2.5}
    assert substitute_tree(tree, {"x": "1"}) == {"name": "1", "1-key": [1, True, None, "a 2"], "n": 2.5}
    assert substitute_tree(["{{y}}"], {}, strict=False) == ["{{y}}"]
    with pytest.raises(ExprError):
        substitute_tree({"a": ["{{y}}"]}, {})


def test_item_scope_and_names() -> None:
    assert item_scope("a b") == {"item": "a b"}
    assert item_scope(3) == {"item": "3"}
    assert item_scope(2.5) == {"item": "2.5"}
    assert item_scope(True) == {"item": "true"}
    assert item_scope({"os": "debian", "version": 9, "tags": ["x"], "m": {"k": 1}}) == {
        "item": '{"m":{"k":1},"os":"debian","tags":["x"],"version":9}',
        "item.os": "debian",
        "item.version": "9",
        "item.tags": '["x"]',
        "item.m": '{"k":1}',
    }
    assert item_scope(["a", 1]) == {"item": '["a",1]'}
    assert loop_node_name("print", 0, "hello") == "print(0:hello)"
    assert loop_node_name("t", 1, {"version": 9, "os": "debian"}) == "t(1:os:debian,version:9)"
    assert loop_node_name("t", 2, ["a", 1]) == "t(2:[a 1])"


def test_item_scope_feeds_substitute() -> None:
    scope = item_scope({"evenness": "even", "value": 4})
    assert (
        substitute("{{item.evenness}}/{{item.value}}/{{item}}", scope)
        == 'even/4/{"evenness":"even","value":4}'
    )
    assert substitute("{{=asInt(item.value) * 2}}", scope) == "8"


def test_argo_variables_doc_examples() -> None:
    """The expression examples of Argo's docs/variables.md, as tags."""
    scope = {
        "inputs.parameters.my-int-param": "7",
        "inputs.parameters.my-float-param": "2.5",
        "inputs.parameters.my-string-param": "  padded  ",
        "inputs.parameters.json": '{"some": {"path": "found"}}',
        "steps.my-step.outputs.result": "out",
    }
    cases = {
        "{{=[1, 2]}}": "[1 2]",
        "{{=filter([1, 2], { # > 1})}}": "[2]",
        "{{=map([1, 2], { # * 2 })}}": "[2 4]",
        "{{=asInt(inputs.parameters['my-int-param'])}}": "7",
        "{{=asFloat(inputs.parameters['my-float-param'])}}": "2.5",
        "{{=string(1)}}": "1",
        "{{=toJson([1, 2])}}": "[1,2]",
        "{{=jsonpath(inputs.parameters.json, '$.some.path')}}": "found",
        "{{=sprig.trim(inputs.parameters['my-string-param'])}}": "padded",
        "{{=sprig.int('not a number')}}": "0",
        "{{=steps['my-step'].outputs.result}}": "out",
    }
    for text, expected in cases.items():
        assert substitute(text, scope) == expected, text
