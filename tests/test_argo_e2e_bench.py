"""bench/argo_e2e.py reads Argo's e2e tests as they assert: the workflow, the phase, what
the test creates and does meanwhile (the Go module cache holds them after
`make cluster-build`; skipped without it)."""

from __future__ import annotations

import sys

import pytest

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
import argo_e2e

E2E = argo_e2e.default_e2e()
needs_e2e = pytest.mark.skipif(not E2E.is_dir(), reason="Argo's e2e tests are not in the Go module cache")


def test_argo_cli_calls_become_dflowctl_ones() -> None:
    assert argo_e2e._cli(["resume", "@latest"]) == ["resume", "NAME"]
    assert argo_e2e._cli(
        ["node", "set", "@latest", "--output-parameter", "m=x", "--node-field-selector", "displayName=a"]
    ) == ["resume", "NAME", "--node", "displayName=a", "-p", "m=x"]
    assert argo_e2e._cli(["terminate", "@latest"]) == ["stop", "NAME", "--terminate"]
    assert argo_e2e._cli(["stop", "@latest", "--node-field-selector", "x=y", "--message", "m"]) == [
        "stop",
        "NAME",
        "--node",
        "x=y",
        "--message",
        "m",
    ]
    assert argo_e2e._cli(["delete", "@latest"]) == []


@needs_e2e
def test_the_asserted_workflows_are_found_with_their_phase() -> None:
    cases = {c.name: c for c in argo_e2e.discover(E2E)}
    assert len(cases) >= 150
    assert cases["invalid_command_test.TestInvalidCommand"].phases == {"Failed"}
    assert cases["invalid_command_test.TestInvalidCommand"].source == "@testdata/cannot-start-workflow.yaml"
    # an inline workflow gets its kind; the WorkflowTemplate the test creates goes with it
    ref = cases["functional_test.TestWorkflowTemplateRefWithExitHandlerError"]
    assert ref.text.startswith("apiVersion: argoproj.io/v1alpha1\nkind: Workflow\n")
    assert ref.phases == {"Failed"} and "kind: WorkflowTemplate" in ref.templates[0]
    # ConfigMaps the test creates are documents given with --templates
    cm = cases["workflow_configmap_substitution_test.TestNameSubstitution"]
    assert '"name": "cmref-parameters"' in cm.templates[0] and '"msg": "hello world"' in cm.templates[0]
    # the shutdown between submitting and asserting is played
    stop = cases["signals_test.TestTerminateBehavior"]
    assert [a.argv for a in stop.actions if a.argv] == [["stop", "NAME", "--terminate"]]
    assert stop.phases == {"Failed", "Error"}
    # a test Argo's suite skips asserts nothing
    assert "signals_test.TestStopBehavior" not in cases
