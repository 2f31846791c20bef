"""``cowsay`` of ``docker/whalesay`` and ``argoproj/argosay:v1`` on the local engine (issue 14):
a host stand-in found by name on the pod's PATH, from a bare command and from a shell."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from dflowctl.engines.local import images
from dflowctl.engines.local.cowsay import bubble

from .conftest import run_cli

pytestmark = pytest.mark.timeout(120)

WORKFLOW = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: says
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: whale
        template: whale
      - name: cow
        template: cow
  - name: whale
    container:
      image: docker/whalesay:latest
      command: [cowsay]
      args: ["hello world"]
  - name: cow
    container:
      image: argoproj/argosay:v1
      command: [sh, -c]
      args: ["echo moo | cowsay -W 10 && cowsay a b c"]
"""


def test_whalesay_and_argosay_v1_say_it(tmp_path: Path, dflowctl_home: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(WORKFLOW, encoding="utf-8")
    res = run_cli("run", str(path), "-o", "json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    nodes = {n["displayName"]: n for n in json.loads(res.stdout)["status"]["nodes"].values()}
    whale = nodes["whale"]["outputs"]["result"].splitlines()
    assert whale[:3] == [" _____________", "< hello world >", " -------------"]
    assert "##        ." in whale[6] and whale[-1] == "          \\____\\______/"
    cow = nodes["cow"]["outputs"]["result"]
    assert cow.startswith(" _____\n< moo >\n -----\n        \\   ^__^\n")
    assert "< a b c >" in cow


def test_the_program_is_the_images_own() -> None:
    assert set(images.path_programs("docker/whalesay")) == {"cowsay"}
    assert set(images.path_programs("argoproj/argosay:v1")) == {"cowsay"}
    # v2 is `FROM argoproj/argosay:v1` (test/e2e/images/argosay/v2/Dockerfile): its cowsay too,
    # which Argo's e2e TestWorkflowInlinePodName runs (`command: [cowsay]`, Succeeded)
    assert set(images.path_programs("argoproj/argosay:v2")) == {"cowsay"}
    assert images.path_programs("alpine:3.20") == {}


def test_bubble_wraps_as_cowsay() -> None:
    assert bubble("hi") == " ____\n< hi >\n ----"
    assert bubble("one two three", 5) == textwrap.dedent(
        """\
         _______
        / one   \\
        | two   |
        \\ three /
         -------"""
    )
