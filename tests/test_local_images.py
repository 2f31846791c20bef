"""What a container image runs locally: argv rules, image names, programs the host lacks."""

from __future__ import annotations

import pytest

from dflowctl.engines.local import images


@pytest.mark.parametrize(
    ("image", "name"),
    [
        ("python:3.12-slim", "python"),
        ("docker.io/library/python:3.11@sha256:abc", "python"),
        ("localhost:5000/team/tool:1", "team/tool"),
        ("docker/whalesay:latest", "docker/whalesay"),
        ("busybox", "busybox"),
        (None, ""),
    ],
)
def test_image_name(image: str | None, name: str) -> None:
    assert images.image_name(image) == name


def test_argv_rules() -> None:
    assert images.argv_for("container", {"image": "busybox", "command": ["sh", "-c"], "args": ["x"]}) == [
        "sh",
        "-c",
        "x",
    ]
    assert images.argv_for("container", {"image": "alpine", "args": ["echo", "a"]}) == ["echo", "a"]
    assert images.argv_for("container", {"image": "ubuntu:22.04"}) == ["/bin/bash"]
    assert images.argv_for("script", {"image": "python:3", "source": "x", "args": ["a"]}, "/s") == [
        "python3",
        "/s",
        "a",
    ]
    # as Argo's executeScript: a script without `source` runs its command and args as they are
    assert images.argv_for("script", {"image": "argoproj/argosay:v2", "args": ["echo", "[]"]}, "/s") == [
        "/argosay",
        "echo",
        "[]",
    ]
    assert images.argv_for("script", {"image": "alpine", "source": "x"}, "/s") == ["sh", "/s"]
    with pytest.raises(images.CommandError):
        images.argv_for("container", {"image": "ghcr.io/x/unknown:1"})


def test_k8s_variable_expansion() -> None:
    env = {"A": "1"}
    assert images.expand_vars("$(A)-$(B)-$$(A)-$$", env) == "1-$(B)-$(A)-$"


def test_unrunnable_names_the_missing_program() -> None:
    whalesay = {"name": "w", "container": {"image": "docker/whalesay", "command": ["cowsay-not-here"]}}
    assert (
        images.unrunnable(whalesay)
        == "image docker/whalesay: its program 'cowsay-not-here' is not on this host"
    )
    absolute = {"name": "a", "container": {"image": "example.com/tool:1", "command": ["/opt/not-here/tool"]}}
    assert (
        images.unrunnable(absolute)
        == "image example.com/tool:1: its program '/opt/not-here/tool' is not on this host"
    )
    assert (
        images.unrunnable({"name": "a", "container": {"image": "argoproj/argosay:v2"}}) is None
    )  # a stand-in
    unknown = {"name": "u", "container": {"image": "example.com/tool:1"}}
    assert "give `command:`" in str(images.unrunnable(unknown))
    assert (
        images.unrunnable({"name": "s", "container": {"image": "busybox", "command": ["sh", "-c", "true"]}})
        is None
    )
    assert images.unrunnable({"name": "p", "script": {"image": "python:3", "source": "print(1)"}}) is None
    tagged = {"name": "t", "container": {"image": "x", "command": ["{{inputs.parameters.tool}}"]}}
    assert images.unrunnable(tagged) is None
    assert images.unrunnable({"name": "steps", "steps": []}) is None
