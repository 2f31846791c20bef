from __future__ import annotations

import io
from datetime import datetime, timezone

from dflowctl import console, runsummary
from dflowctl.runoutputs import final_nodes, run_outputs
from dflowctl.tree import build_tree, format_duration, progress
from tests import argo_status as st

NOW = datetime(2026, 1, 2, 3, 5, 0, tzinfo=timezone.utc)


def shape(node) -> list:
    return [node.display_name, [shape(c) for c in node.children]] if node.children else [node.display_name]


def test_steps_tree_hides_step_groups() -> None:
    root = build_tree(st.hello())
    assert root is not None
    assert shape(root) == ["hello-abcde", [["write"], ["shout"]]]


def test_dag_tree_puts_items_under_their_task_and_attempts_under_retry() -> None:
    root = build_tree(st.fanout(3))
    assert shape(root) == [
        "fan-xyz12",
        [
            ["split"],
            [
                "square",
                [["square(0:0)"], ["square(1:1)", [["square(1:1)(0)"], ["square(1:1)(1)"]]], ["square(2:2)"]],
            ],
            ["total"],
        ],
    ]


def test_nested_steps_skipped_and_exit_handler() -> None:
    root = build_tree(st.nested_running())
    assert shape(root) == ["nest-q1w2e", [["inner", [["a"], ["b"]]], ["maybe"], ["nest-q1w2e.onExit"]]]


def test_items_sort_naturally_not_lexically() -> None:
    wf = st.fanout(12)
    for raw in wf["status"]["nodes"].values():
        raw["startedAt"] = st.ts(5)
    square = next(c for c in build_tree(wf).children if c.display_name == "square")
    names = [c.display_name for c in square.children]
    assert names == [f"square({i}:{i})" for i in range(12)]


def test_no_nodes_yet() -> None:
    wf = st.workflow("x", "Pending", [])
    assert build_tree(wf) is None
    assert progress(wf) == (0, 0)


def test_progress_from_status_or_counted() -> None:
    assert progress(st.hello("Failed")) == (1, 2)
    wf = st.nested_running()
    assert progress(wf) == (1, 3)  # a done; b running; onExit pending


def test_durations() -> None:
    assert [format_duration(s) for s in (None, 0.42, 12.7, 185, 3720)] == [
        "",
        "0.4s",
        "12s",
        "3m05s",
        "1h02m",
    ]


def test_final_outputs_follow_outbound_nodes() -> None:
    items = run_outputs(st.hello())
    assert [(i.step, i.kind, i.name, i.value) for i in items] == [
        ("shout", "parameter", "size", "12"),
        ("shout", "artifact", "loud", "hello-abcde/hello-abcde-shout-1/loud.tgz"),
    ]
    fan = run_outputs(st.fanout(4))
    assert [(i.step, i.name, i.value) for i in fan] == [("total", "sum", "14"), ("total", "result", "done")]


def test_final_nodes_without_outbound_are_the_last_work_nodes() -> None:
    wf = st.fanout(3)
    wf["status"]["nodes"]["fan-xyz12"].pop("outboundNodes")
    nodes = wf["status"]["nodes"]
    assert [nodes[n]["displayName"] for n in final_nodes(wf)] == ["total"]
    wf = st.hello()
    wf["status"]["nodes"]["hello-abcde"].pop("outboundNodes")
    assert [wf["status"]["nodes"][n]["displayName"] for n in final_nodes(wf)] == ["shout"]


def test_plain_events_one_line_per_change_no_ansi() -> None:
    buf = io.StringIO()
    events = console.PlainEvents(buf)
    running = st.nested_running()
    events.update(running)
    events.update(running)  # nothing changed: nothing printed
    first = buf.getvalue().splitlines()
    assert first == [  # in the order things happened
        "nest-q1w2e Running",
        "maybe  Skipped  0s  when 'false' evaluated false",
        "inner/a  Succeeded  1s",
        "inner/b  Running",
    ]
    b = next(n for n in running["status"]["nodes"].values() if n["name"].endswith(".b"))
    b.update(phase="Failed", finishedAt=st.ts(9), message="Error (exit code 2)")
    events.update(running)
    assert buf.getvalue().splitlines()[4:] == ["inner/b  Failed  5s  Error (exit code 2)"]
    assert "\x1b" not in buf.getvalue() and "\r" not in buf.getvalue()


def test_plain_step_lines() -> None:
    lines = console.plain_step_lines(st.hello("Failed"), NOW)
    assert lines[0].split() == ["STEP", "TEMPLATE", "PHASE", "DURATION", "MESSAGE"]
    assert lines[1].split() == ["✖", "hello-abcde", "Failed", "6s"]
    assert lines[2].split() == ["├─✔", "write", "write-file", "Succeeded", "1s"]
    assert lines[3].split()[:5] == ["└─✖", "shout", "shout", "Failed", "2s"]
    assert lines[3].endswith("Error (exit code 1)")


def test_summary_lines_failed_run() -> None:
    lines = console.summary_lines(st.hello("Failed"))
    assert lines[0] == "✖ hello-abcde Failed in 6s (progress 1/2)"
    assert "  message: child 'x' failed" in lines
    assert "  ✖ shout Failed: Error (exit code 1)" in lines
    assert "See the log with: dflowctl logs hello-abcde --step shout" in lines


def test_summary_lines_outputs_and_download_hint() -> None:
    lines = console.summary_lines(st.hello())
    assert lines[0] == "✔ hello-abcde Succeeded in 6s (progress 2/2)"
    assert lines[1:] == [
        "Outputs:",
        "  shout  size = 12",
        "  shout  loud -> hello-abcde/hello-abcde-shout-1/loud.tgz",
        "Fetch artifacts with: dflowctl download hello-abcde",
    ]


def test_collapse_keeps_failed_and_running_items() -> None:
    wf = st.fanout(30)
    by_name = {n["displayName"]: n for n in wf["status"]["nodes"].values()}
    by_name["square(3:3)"].update(phase="Failed", message="boom")
    by_name["square(7:7)"].update(phase="Running")
    del by_name["square(7:7)"]["finishedAt"]
    rows = console.tree_rows(build_tree(wf), limit=5)
    labels = [r.label for r in rows]
    shown = [lab for lab in labels if lab.startswith("square(") and "(1:1)(" not in lab]
    assert shown == ["square(3:3)", "square(7:7)", "square(27:27)", "square(28:28)", "square(29:29)"]
    # the "more" line stands where the first hidden item was (square(0:0))
    assert labels[labels.index("square(3:3)") - 1] == "… 25 more (25 Succeeded)"
    assert [r.prefix for r in rows if r.label.startswith("… 25")] == ["│ ├─"]


def test_collapse_keeps_steps_that_are_not_loop_items() -> None:
    wf = st.fanout(30)
    root = build_tree(wf)
    root.children = [*root.children[1].children, root.children[2]]  # items and `total` as siblings
    labels = [r.label for r in console.tree_rows(root, limit=4)]
    assert labels == [
        "fan-xyz12",
        "… 27 more (27 Succeeded)",
        "square(27:27)",
        "square(28:28)",
        "square(29:29)",
        "total",
    ]


def test_run_rows_newest_first() -> None:
    old = st.hello()
    new = st.fanout(2)
    new["status"]["startedAt"] = st.ts(30)
    rows = console.run_rows([old, new], NOW)
    assert [r[0] for r in rows] == ["fan-xyz12", "hello-abcde"]
    assert rows[1] == ("hello-abcde", "Succeeded", "1m ago", "6s", "2/2", "")


def test_live_view_renders_without_a_terminal() -> None:
    buf = io.StringIO()
    with console.RunView(live=True, stream=buf) as view:
        view.update(st.nested_running())
        view.update(st.hello())
    text = buf.getvalue()
    assert "shout" in text and "write" in text


def test_summary_leaves_out_recovered_failures() -> None:
    wf = st.fanout(3)
    assert [ln for ln in console.summary_lines(wf) if "Failed" in ln] == []
    for raw in wf["status"]["nodes"].values():
        if raw["type"] in ("Retry", "TaskGroup") or raw["displayName"] == "square(1:1)(1)":
            raw.update(phase="Failed", message="Error (exit code 3)")
    failed = [ln for ln in console.summary_lines(wf) if "Failed" in ln]
    assert failed == ["  ✖ square(1:1) Failed: Error (exit code 3) (after 2 attempts)"]
    assert "See the log with: dflowctl logs fan-xyz12 --step 'square(1:1)'" in console.summary_lines(wf)


def test_outputs_of_a_retried_step_are_shown_under_its_name() -> None:
    wf = st.fanout(3)
    nodes = wf["status"]["nodes"]
    attempt = next(nid for nid, n in nodes.items() if n["displayName"] == "square(1:1)(1)")
    nodes["fan-xyz12"]["outboundNodes"] = [attempt]
    items = run_outputs(wf)
    assert [(i.step, i.name) for i in items] == [("square(1:1)", "out")]


def test_spans_are_no_more_precise_than_the_timestamps() -> None:
    from dflowctl.tree import format_span

    assert format_span("2026-01-02T03:04:00Z", "2026-01-02T03:04:03Z") == "3s"
    assert format_span("2026-01-02T03:04:00.100Z", "2026-01-02T03:04:00.520Z") == "0.4s"
    assert format_span("2026-01-02T03:04:00Z", "2026-01-02T03:06:05Z") == "2m05s"
    assert format_span("2026-01-02T03:04:00Z", None, NOW) == "1m00s"
    assert format_span(None, None) == ""


def test_a_one_pod_workflow_shows_its_outputs_once() -> None:
    root = st.node(
        "one-abcde", "one-abcde", "Pod", "Succeeded", template="main", end=1, outputs={"result": "HI"}
    )
    items = run_outputs(st.workflow("one-abcde", "Succeeded", [root]))
    assert [(i.step, i.name, i.value) for i in items] == [("one-abcde", "result", "HI")]


def test_rich_is_imported_by_console_only() -> None:
    import ast
    from pathlib import Path

    import dflowctl

    package = Path(dflowctl.__file__).parent
    users = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "rich" or n.startswith("rich.") for n in names):
                users.append(path.relative_to(package).as_posix())
    assert sorted(set(users)) == ["console.py"]


def test_node_paths_from_argo_names() -> None:
    from dflowctl.tree import node_path

    def path(name: str, display: str = "?") -> str:
        return node_path("wf-1", {"name": name, "displayName": display})

    assert path("wf-1[0].write") == "write"
    assert path("wf-1[0].inner[1].b") == "inner/b"
    assert path("wf-1.square(3:3)") == "square(3:3)"
    assert path("wf-1.square(1:1)(0)") == "square(1:1)(0)"
    assert path('wf-1[0].fan(0:{"a":1.5,"b":[1,2]})') == 'fan(0:{"a":1.5,"b":[1,2]})'
    assert path("wf-1.task.inner-task") == "task/inner-task"
    assert path("wf-1.onExit") == "onExit"
    assert path("wf-1[0].odd(0:a)b)", "odd(0:a)b)") == "odd(0:a)b)"  # unbalanced: the display name
    assert path("wf-1", "wf-1") == "wf-1"


def test_plain_paths_match_the_tree_paths() -> None:
    from dflowctl.tree import node_path

    for wf in (st.hello(), st.fanout(3), st.nested_running()):
        name = wf["metadata"]["name"]
        tree_paths = runsummary.node_paths(build_tree(wf))
        for nid, raw in wf["status"]["nodes"].items():
            if nid in tree_paths and raw["type"] not in ("StepGroup", "TaskGroup", "Retry", "Steps", "DAG"):
                if raw["name"].endswith(".onExit"):
                    continue
                assert node_path(name, raw) == tree_paths[nid]


def test_suggested_commands_carry_the_flags() -> None:
    lines = console.summary_lines(st.hello("Failed"), " -e argo")
    assert "See the log with: dflowctl logs hello-abcde -e argo --step shout" in lines
    assert "Fetch artifacts with: dflowctl download hello-abcde -e argo" in lines


def test_events_in_one_second_keep_the_order_nodes_were_created() -> None:
    wf = st.hello()
    for raw in wf["status"]["nodes"].values():
        raw.update(startedAt=st.ts(1), finishedAt=st.ts(1))
    buf = io.StringIO()
    console.PlainEvents(buf).update(wf)
    assert [line.split()[0] for line in buf.getvalue().splitlines()[1:]] == ["write", "shout"]


def test_plain_events_of_a_big_fan_out_are_folded_per_step_and_phase() -> None:
    wf = st.fanout(200)
    buf = io.StringIO()
    console.PlainEvents(buf, fold=20).update(wf)
    lines = buf.getvalue().splitlines()
    assert len(lines) <= 22  # the run's line, at most `fold` lines, the rest counted
    assert lines[0] == "fan-xyz12 Succeeded"
    # the failed attempt is shown on its own; the items are counted per step and phase
    assert "square(1:1)(0)  Failed  1s  Error (exit code 1)" in lines
    assert "square(…)  200 Succeeded" in lines  # 199 items and the retried item's attempt
    assert any(line.startswith("total  Succeeded") for line in lines)


def test_live_rows_are_built_once_per_update() -> None:
    live = console._LiveRenderable(limit=5)
    live.workflow = st.fanout(50)
    first = live.__rich__()
    rows = live._rows
    live.__rich__()
    assert live._rows is rows  # a refresh without an update reuses the rows
    live.workflow = st.fanout(50)
    live.__rich__()
    assert live._rows is not rows
    assert isinstance(first, console.Group)
