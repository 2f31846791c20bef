"""evaluate_depends(): Argo's enhanced depends logic."""

from __future__ import annotations

import pytest

from dflowctl.expr import ExprError, TaskResult, dependencies_to_depends, depends_tasks, evaluate_depends

S = TaskResult("Succeeded")
F = TaskResult("Failed")
E = TaskResult("Error")
K = TaskResult("Skipped")
O = TaskResult("Omitted")  # noqa: E741
R = TaskResult("Running")
P = TaskResult("Pending")
D = TaskResult("Running", daemoned=True)


@pytest.mark.parametrize(
    ("expr", "results", "expected"),
    [
        ("A", {"A": S}, True),
        ("A", {"A": K}, True),
        ("A", {"A": D}, True),
        ("A", {"A": F}, False),
        ("A", {"A": E}, False),
        ("A", {"A": O}, False),
        ("A.Succeeded", {"A": K}, False),
        ("A.Failed", {"A": F}, True),
        ("A.Errored", {"A": E}, True),
        ("A.Failed", {"A": E}, False),
        ("A.Skipped", {"A": K}, True),
        ("A.Omitted", {"A": O}, True),
        ("A.Daemoned", {"A": D}, True),
        ("A.Daemoned", {"A": S}, False),
        ("!A.Failed", {"A": S}, True),
        ("A && B", {"A": S, "B": S}, True),
        ("A && B", {"A": S, "B": F}, False),
        ("A || B", {"A": F, "B": S}, True),
        ("A && (C.Succeeded || C.Failed)", {"A": S, "C": F}, True),
        ("A && (C.Succeeded || C.Failed)", {"A": S, "C": E}, False),
        ("B.Failed && C", {"B": F, "C": S}, True),
        (
            "should-execute-2.Succeeded || should-not-execute",
            {"should-execute-2": S, "should-not-execute": K},
            True,
        ),
        ("!(A || B)", {"A": F, "B": F}, True),
        ("task-1 && task-2.Failed", {"task-1": S, "task-2": F}, True),
    ],
)
def test_depends(expr: str, results: dict[str, TaskResult], expected: bool) -> None:
    assert evaluate_depends(expr, results) is expected


def test_undecided_until_every_referenced_task_is_fulfilled() -> None:
    # Argo waits for all dependencies, even when the answer is already known
    assert evaluate_depends("A || B", {"A": S, "B": R}) is None
    assert evaluate_depends("A || B", {"A": S}) is None
    assert evaluate_depends("A && B", {"A": F, "B": P}) is None
    assert evaluate_depends("A", {"A": TaskResult("Pending", daemoned=True)}) is None
    assert evaluate_depends("A || B", {"A": S, "B": D}) is True


def test_fanned_out_results() -> None:
    some = TaskResult("Failed", children_phases=("Failed", "Succeeded"))
    allf = TaskResult("Failed", children_phases=("Failed", "Failed"))
    empty = TaskResult("Succeeded", children_phases=())
    assert evaluate_depends("A.AnySucceeded", {"A": some}) is True
    assert evaluate_depends("A.AllFailed", {"A": some}) is False
    assert evaluate_depends("A.AllFailed", {"A": allf}) is True
    assert evaluate_depends("A.AnySucceeded", {"A": allf}) is False
    assert evaluate_depends("A.AllFailed", {"A": empty}) is False


def test_bare_name_honours_continue_on_of_the_dependency() -> None:
    failed_ok = TaskResult("Failed", continue_on_failed=True)
    error_ok = TaskResult("Error", continue_on_error=True)
    assert evaluate_depends("A", {"A": failed_ok}) is True
    assert evaluate_depends("A", {"A": error_ok}) is True
    assert evaluate_depends("A", {"A": TaskResult("Error", continue_on_failed=True)}) is False
    assert evaluate_depends("A.Succeeded", {"A": failed_ok}) is False


def test_empty_depends_is_true() -> None:
    assert evaluate_depends("", {}) is True


def test_depends_tasks() -> None:
    assert depends_tasks("A && (C.Succeeded || C.Failed)") == {"A", "C"}
    assert depends_tasks("should-execute-2.Succeeded || should-not-execute") == {
        "should-execute-2",
        "should-not-execute",
    }
    assert depends_tasks("b2 && b3 && b4") == {"b2", "b3", "b4"}


def test_dependencies_to_depends() -> None:
    assert dependencies_to_depends(["A", "B"]) == "A && B"
    assert dependencies_to_depends([]) == ""
    assert evaluate_depends(dependencies_to_depends(["A", "B"]), {"A": S, "B": K}) is True
    with pytest.raises(ExprError):
        dependencies_to_depends(["bad name"])


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("A.Bogus", "task result 'Bogus' for task 'A' is invalid"),
        ("A &&", "unexpected end"),
        ("(A", "missing )"),
        ("A B", "unexpected 'B'"),
        ("A & B", "unexpected"),
    ],
)
def test_depends_errors(expr: str, message: str) -> None:
    with pytest.raises(ExprError) as info:
        evaluate_depends(expr, {"A": S, "B": S})
    assert message in str(info.value)


def test_task_result_rejects_unknown_phase() -> None:
    with pytest.raises(ExprError, match="unknown task phase"):
        TaskResult("Done")
