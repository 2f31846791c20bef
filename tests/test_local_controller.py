"""The local controller on real runs of small Argo manifests (real pods: host processes).

Each test writes a Workflow inline, runs it with ``LocalEngine.submit`` and checks
what Argo would record: node names, ids, types, phases, messages, outputs and
the run's files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dflowctl.argo import node_id, parse_rfc3339, pod_name
from dflowctl.engines import RunOptions
from dflowctl.engines.local import LocalEngine
from dflowctl.settings import load_settings
from tests.conftest import Within, nodes_seen, wait_until

pytestmark = pytest.mark.timeout(120)


def sh(name: str, script: str, **extra: Any) -> dict[str, Any]:
    """A container template running ``script`` with sh."""
    return {
        "name": name,
        "container": {"image": "alpine:3.19", "command": ["sh", "-c"], "args": [script]},
        **extra,
    }


def workflow(entry: str, templates: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "t-"},
        "spec": {"entrypoint": entry, "templates": templates, **spec},
    }


@pytest.fixture
def engine(dflowctl_home: Path) -> LocalEngine:
    return LocalEngine(load_settings())


def run(engine: LocalEngine, manifest: dict[str, Any], **opts: Any) -> dict[str, Any]:
    return engine.submit(manifest, RunOptions(wait=True, **opts))


def by_name(wf: dict[str, Any], suffix: str) -> dict[str, Any]:
    name = wf["metadata"]["name"] + suffix
    nid = node_id(wf["metadata"]["name"], name)
    node = wf["status"]["nodes"][nid]
    assert node["name"] == name
    return node


def log_of(engine: LocalEngine, wf: dict[str, Any], node: dict[str, Any]) -> str:
    return "\n".join(line.text for line in engine.logs(wf["metadata"]["name"], [node["id"]]))


# ---------------------------------------------------------------------- steps


def test_steps_run_groups_in_order_and_pass_parameters(engine: LocalEngine) -> None:
    produce = sh(
        "produce",
        "echo -n 42 > /tmp/answer.txt; echo produced",
        outputs={"parameters": [{"name": "answer", "valueFrom": {"path": "/tmp/answer.txt"}}]},
    )
    consume = sh(
        "consume",
        "echo got {{inputs.parameters.value}} from {{workflow.name}}",
        inputs={"parameters": [{"name": "value"}]},
    )
    main = {
        "name": "main",
        "steps": [
            [{"name": "a", "template": "produce"}],
            [
                {
                    "name": "b",
                    "template": "consume",
                    "arguments": {
                        "parameters": [{"name": "value", "value": "{{steps.a.outputs.parameters.answer}}"}]
                    },
                }
            ],
        ],
    }
    wf = run(engine, workflow("main", [main, produce, consume]))
    name = wf["metadata"]["name"]
    status = wf["status"]
    assert status["phase"] == "Succeeded", status.get("message")
    assert status["progress"] == "2/2"
    root = status["nodes"][name]
    assert root["type"] == "Steps" and root["displayName"] == name and root["templateName"] == "main"
    g0, a, g1, b = (by_name(wf, s) for s in ("[0]", "[0].a", "[1]", "[1].b"))
    assert (g0["type"], g0["displayName"], g0["boundaryID"]) == ("StepGroup", "[0]", name)
    assert (a["type"], a["displayName"], a["boundaryID"], a["templateName"]) == ("Pod", "a", name, "produce")
    assert root["children"] == [g0["id"]]
    assert g0["children"] == [a["id"]]
    assert a["children"] == [g1["id"]]  # the next group hangs from the previous group's outbound nodes
    assert g1["children"] == [b["id"]]
    assert root["outboundNodes"] == [b["id"]]
    assert a["outputs"]["parameters"][0]["value"] == "42"
    assert a["outputs"]["exitCode"] == "0"
    assert a["outputs"]["result"] == "produced"
    assert b["inputs"]["parameters"] == [{"name": "value", "value": "42"}]
    assert log_of(engine, wf, b) == f"got 42 from {name}"
    assert parse_rfc3339(a["finishedAt"]) <= parse_rfc3339(b["startedAt"])


def test_failing_step_fails_the_run_with_argo_messages(engine: LocalEngine) -> None:
    main = {
        "name": "main",
        "steps": [[{"name": "bad", "template": "bad"}], [{"name": "never", "template": "bad"}]],
    }
    wf = run(engine, workflow("main", [main, sh("bad", "echo oops >&2; exit 3")]))
    status = wf["status"]
    bad = by_name(wf, "[0].bad")
    assert status["phase"] == "Failed"
    assert (
        bad["phase"] == "Failed" and bad["message"] == "Error (exit code 3): oops"
    )  # the last line of stderr
    assert bad["outputs"]["exitCode"] == "3"
    assert by_name(wf, "[0]")["message"] == f"child '{bad['id']}' failed"
    assert status["message"] == f"child '{bad['id']}' failed"
    names = {n["name"] for n in status["nodes"].values()}
    assert wf["metadata"]["name"] + "[1]" not in names  # later groups never start
    assert wf["metadata"]["labels"]["workflows.argoproj.io/phase"] == "Failed"
    assert wf["metadata"]["labels"]["workflows.argoproj.io/completed"] == "true"
    assert "oops" in log_of(engine, wf, bad)


def test_continue_on_failed_lets_the_run_go_on(engine: LocalEngine) -> None:
    main = {
        "name": "main",
        "steps": [
            [{"name": "bad", "template": "bad", "continueOn": {"failed": True}}],
            [{"name": "after", "template": "ok"}],
        ],
    }
    wf = run(engine, workflow("main", [main, sh("bad", "exit 1"), sh("ok", "echo fine")]))
    assert wf["status"]["phase"] == "Succeeded"
    assert by_name(wf, "[0].bad")["phase"] == "Failed"
    assert by_name(wf, "[1].after")["phase"] == "Succeeded"


def test_when_false_skips_with_argo_message(engine: LocalEngine) -> None:
    main = {
        "name": "main",
        "steps": [
            [
                {"name": "yes", "template": "ok", "when": "{{workflow.parameters.flag}} == on"},
                {"name": "no", "template": "ok", "when": "{{workflow.parameters.flag}} != on"},
            ]
        ],
    }
    wf = run(
        engine,
        workflow(
            "main", [main, sh("ok", "echo ran")], arguments={"parameters": [{"name": "flag", "value": "on"}]}
        ),
    )
    assert wf["status"]["phase"] == "Succeeded"
    no = by_name(wf, "[0].no")
    assert (no["type"], no["phase"], no["message"]) == (
        "Skipped",
        "Skipped",
        "when 'on != on' evaluated false",
    )
    assert by_name(wf, "[0].yes")["phase"] == "Succeeded"


# ---------------------------------------------------------------------- loops


def test_loops_expand_and_aggregate(engine: LocalEngine) -> None:
    square = sh(
        "square",
        "echo $(({{inputs.parameters.n}} * {{inputs.parameters.n}}))",
        inputs={"parameters": [{"name": "n"}]},
    )
    total = {
        "name": "total",
        "inputs": {"parameters": [{"name": "values"}]},
        "script": {
            "image": "python:3.12",
            "command": ["python3"],
            "source": "import json\nprint(sum(json.loads('{{inputs.parameters.values}}')))",
        },
    }
    main = {
        "name": "main",
        "steps": [
            [
                {
                    "name": "sq",
                    "template": "square",
                    "withItems": [1, 2, 3],
                    "arguments": {"parameters": [{"name": "n", "value": "{{item}}"}]},
                }
            ],
            [
                {
                    "name": "seq",
                    "template": "square",
                    "withSequence": {"count": "2", "start": "4"},
                    "arguments": {"parameters": [{"name": "n", "value": "{{item}}"}]},
                }
            ],
            [
                {
                    "name": "sum",
                    "template": "total",
                    "arguments": {"parameters": [{"name": "values", "value": "{{steps.sq.outputs.result}}"}]},
                }
            ],
            [
                {
                    "name": "again",
                    "template": "square",
                    "withParam": "{{steps.sq.outputs.result}}",
                    "arguments": {"parameters": [{"name": "n", "value": "{{item}}"}]},
                }
            ],
        ],
    }
    wf = run(engine, workflow("main", [main, square, total]))
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    items = [by_name(wf, f"[0].sq({i}:{n})") for i, n in enumerate([1, 2, 3])]
    assert [n["displayName"] for n in items] == ["sq(0:1)", "sq(1:2)", "sq(2:3)"]
    assert by_name(wf, "[0]")["children"] == [n["id"] for n in items]
    assert [by_name(wf, f"[1].seq({i}:{n})")["outputs"]["result"] for i, n in enumerate([4, 5])] == [
        "16",
        "25",
    ]
    assert by_name(wf, "[2].sum")["outputs"]["result"] == "14"
    assert by_name(wf, "[3].again(2:9)")["outputs"]["result"] == "81"
    name = wf["metadata"]["name"]
    assert items[0]["id"] == node_id(name, f"{name}[0].sq(0:1)")


# ---------------------------------------------------------------------- dag


def test_dag_depends_omits_and_skips_like_argo(engine: LocalEngine) -> None:
    dag = {
        "name": "main",
        "dag": {
            "tasks": [
                {"name": "A", "template": "ok"},
                {"name": "B", "template": "bad", "depends": "A"},
                {"name": "C", "template": "ok", "depends": "B"},  # B failed: omitted
                {"name": "D", "template": "ok", "depends": "B.Failed"},  # runs
                {"name": "E", "template": "ok", "depends": "A", "when": "1 == 2"},  # skipped
                {"name": "F", "template": "ok", "depends": "E"},  # a skipped dependency counts as done
            ]
        },
    }
    wf = run(engine, workflow("main", [dag, sh("ok", "echo ok"), sh("bad", "exit 1")]))
    name = wf["metadata"]["name"]
    phases = {t: by_name(wf, f".{t}")["phase"] for t in "ABCDEF"}
    assert phases == {
        "A": "Succeeded",
        "B": "Failed",
        "C": "Omitted",
        "D": "Succeeded",
        "E": "Skipped",
        "F": "Succeeded",
    }
    c = by_name(wf, ".C")
    assert (c["type"], c["message"]) == ("Skipped", "omitted: depends condition not met")
    root = wf["status"]["nodes"][name]
    assert root["type"] == "DAG"
    assert root["children"] == [by_name(wf, ".A")["id"]]  # only tasks without dependencies hang from the DAG
    assert by_name(wf, ".B")["boundaryID"] == name
    # C is a target whose branch failed (B): the DAG fails, as in Argo
    assert wf["status"]["phase"] == "Failed"


def test_dag_fan_out_task_group_and_outputs(engine: LocalEngine) -> None:
    gen = {
        "name": "gen",
        "script": {
            "image": "python:3.12",
            "command": ["python3"],
            "source": "import json; print(json.dumps([{'v': 1}, {'v': 2}]))",
        },
    }
    dbl = sh(
        "dbl",
        "echo -n $(({{inputs.parameters.v}} * 2)) > /tmp/out",
        inputs={"parameters": [{"name": "v"}]},
        outputs={"parameters": [{"name": "out", "valueFrom": {"path": "/tmp/out"}}]},
    )
    dag = {
        "name": "main",
        "outputs": {
            "parameters": [
                {"name": "all", "valueFrom": {"parameter": "{{tasks.dbl.outputs.parameters.out}}"}}
            ]
        },
        "dag": {
            "tasks": [
                {"name": "gen", "template": "gen"},
                {
                    "name": "dbl",
                    "template": "dbl",
                    "dependencies": ["gen"],
                    "withParam": "{{tasks.gen.outputs.result}}",
                    "arguments": {"parameters": [{"name": "v", "value": "{{item.v}}"}]},
                },
            ]
        },
    }
    wf = run(engine, workflow("main", [dag, gen, dbl]))
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    group = by_name(wf, ".dbl")
    assert group["type"] == "TaskGroup"
    kids = [by_name(wf, ".dbl(0:v:1)"), by_name(wf, ".dbl(1:v:2)")]
    assert group["children"] == [k["id"] for k in kids]
    assert by_name(wf, ".gen")["children"] == [group["id"]]
    root = wf["status"]["nodes"][wf["metadata"]["name"]]
    assert root["outputs"]["parameters"][0]["value"] == '["2","4"]'


# ---------------------------------------------------------------------- retries, timeouts


def test_retry_runs_the_right_number_of_attempts(engine: LocalEngine, shared_dir: Path) -> None:
    counter = shared_dir / "count"
    flaky = sh(
        "flaky",
        f"n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}; [ $n -ge 3 ]",
        retryStrategy={"limit": "{{workflow.parameters.limit}}"},
    )
    wf = run(engine, workflow("flaky", [flaky], arguments={"parameters": [{"name": "limit", "value": "4"}]}))
    name = wf["metadata"]["name"]
    root = wf["status"]["nodes"][name]
    assert wf["status"]["phase"] == "Succeeded"
    assert root["type"] == "Retry"
    assert counter.read_text().strip() == "3"
    attempts = [wf["status"]["nodes"][c] for c in root["children"]]
    assert [a["name"] for a in attempts] == [f"{name}(0)", f"{name}(1)", f"{name}(2)"]
    assert [a["phase"] for a in attempts] == ["Failed", "Failed", "Succeeded"]
    assert attempts[0]["id"] == node_id(name, f"{name}(0)")
    assert (root["outputs"] or {}).get("exitCode") == "0"


def test_retry_gives_up_after_limit(engine: LocalEngine, shared_dir: Path) -> None:
    counter = shared_dir / "count"
    always = sh("always", f"echo x >> {counter}; exit 2", retryStrategy={"limit": 1, "retryPolicy": "Always"})
    wf = run(engine, workflow("always", [always]))
    root = wf["status"]["nodes"][wf["metadata"]["name"]]
    assert wf["status"]["phase"] == "Failed"
    assert root["message"] == "No more retries left"
    assert len(counter.read_text().splitlines()) == 2


def test_template_timeout_kills_the_pod(engine: LocalEngine) -> None:
    slow = sh("slow", "sleep 30", timeout="1s")
    wf = run(engine, workflow("slow", [slow]))
    root = wf["status"]["nodes"][wf["metadata"]["name"]]
    assert wf["status"]["phase"] == "Failed"
    assert root["phase"] == "Failed"
    assert parse_rfc3339(root["finishedAt"]) - parse_rfc3339(root["startedAt"]) < 10


def test_workflow_deadline_stops_the_run(engine: LocalEngine) -> None:
    main = {"name": "main", "steps": [[{"name": "a", "template": "slow"}]]}
    wf = run(engine, workflow("main", [main, sh("slow", "sleep 30")], activeDeadlineSeconds=1))
    assert wf["status"]["phase"] == "Failed"
    assert by_name(wf, "[0].a")["phase"] == "Failed"


# ---------------------------------------------------------------------- artifacts


def test_artifacts_between_steps_with_argo_keys(engine: LocalEngine, dflowctl_home: Path) -> None:
    make = sh(
        "make",
        "mkdir -p /tmp/out && echo hello > /tmp/out/msg.txt && echo world > /tmp/plain.txt",
        outputs={
            "artifacts": [
                {"name": "dir", "path": "/tmp/out"},
                {"name": "plain", "path": "/tmp/plain.txt", "archive": {"none": {}}},
            ]
        },
    )
    use = sh(
        "use",
        "cat /in/dir/msg.txt /in/plain.txt /in/raw.txt",
        inputs={
            "artifacts": [
                {"name": "dir", "path": "/in/dir"},
                {"name": "plain", "path": "/in/plain.txt"},
                {"name": "raw", "path": "/in/raw.txt", "raw": {"data": "raw!"}},
            ]
        },
    )
    main = {
        "name": "main",
        "steps": [
            [{"name": "make", "template": "make"}],
            [
                {
                    "name": "use",
                    "template": "use",
                    "arguments": {
                        "artifacts": [
                            {"name": "dir", "from": "{{steps.make.outputs.artifacts.dir}}"},
                            {"name": "plain", "from": "{{steps.make.outputs.artifacts.plain}}"},
                        ]
                    },
                }
            ],
        ],
    }
    wf = run(engine, workflow("main", [main, make, use]))
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    name = wf["metadata"]["name"]
    made = by_name(wf, "[0].make")
    pod = pod_name(name, "make", made["name"])
    arts = {a["name"]: a for a in made["outputs"]["artifacts"]}
    assert arts["dir"]["s3"] == {"key": f"{name}/{pod}/dir.tgz"}
    assert arts["plain"]["s3"] == {"key": f"{name}/{pod}/plain.txt"}
    repo = dflowctl_home / "runs" / name / "artifacts"
    assert (repo / name / pod / "dir.tgz").is_file()
    assert (repo / name / pod / "plain.txt").read_text() == "world\n"
    assert log_of(engine, wf, by_name(wf, "[1].use")).splitlines() == ["hello", "world", "raw!"]
    dest = dflowctl_home.parent / "dl"
    engine.artifact_store(name).fetch(arts["dir"], dest)
    assert (dest / "msg.txt").read_text() == "hello\n"


def test_fan_in_of_100_artifacts_arrives_as_one_directory(engine: LocalEngine) -> None:
    part = sh(
        "part",
        "echo {{inputs.parameters.i}} > /tmp/part.txt",
        inputs={"parameters": [{"name": "i"}]},
        outputs={
            "artifacts": [
                {
                    "name": "part",
                    "path": "/tmp/part.txt",
                    "archive": {"none": {}},
                    "s3": {"key": "{{workflow.name}}/fanin/part/{{pod.name}}/part.txt"},
                }
            ]
        },
    )
    gather = sh(
        "gather",
        "ls /in/parts | wc -l; cat /in/parts/*/part.txt | awk '{s+=$1} END {print s}'",
        inputs={"artifacts": [{"name": "parts", "path": "/in/parts"}]},
    )
    main = {
        "name": "main",
        "steps": [
            [
                {
                    "name": "part",
                    "template": "part",
                    "withSequence": {"count": "100"},
                    "arguments": {"parameters": [{"name": "i", "value": "{{item}}"}]},
                }
            ],
            [
                {
                    "name": "gather",
                    "template": "gather",
                    "arguments": {
                        "artifacts": [{"name": "parts", "s3": {"key": "{{workflow.name}}/fanin/part"}}]
                    },
                }
            ],
        ],
    }
    wf = run(engine, workflow("main", [main, part, gather]))
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    assert wf["status"]["progress"] == "101/101"
    gathered = by_name(wf, "[1].gather")
    assert gathered["outputs"]["result"].split() == ["100", str(sum(range(100)))]


# ---------------------------------------------------------------------- parallelism, exit handler, records


def test_parallelism_two_is_observed(engine: LocalEngine) -> None:
    main = {
        "name": "main",
        "parallelism": 2,
        "steps": [[{"name": "s", "template": "nap", "withItems": [1, 2, 3, 4, 5]}]],
    }
    wf = run(engine, workflow("main", [main, sh("nap", "sleep 1")]))
    assert wf["status"]["phase"] == "Succeeded"
    pods = [n for n in wf["status"]["nodes"].values() if n["type"] == "Pod"]
    spans = [(parse_rfc3339(p["startedAt"]), parse_rfc3339(p["finishedAt"])) for p in pods]
    assert all(end > start for start, end in spans)  # 1 s each: non-empty at whole-second precision
    most = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert most == 2


def test_exit_handler_sees_workflow_status(engine: LocalEngine) -> None:
    main = {"name": "main", "steps": [[{"name": "bad", "template": "bad"}]]}
    wf = run(
        engine,
        workflow(
            "main", [main, sh("bad", "exit 1"), sh("bye", "echo status={{workflow.status}}")], onExit="bye"
        ),
    )
    name = wf["metadata"]["name"]
    exit_node = wf["status"]["nodes"][node_id(name, f"{name}.onExit")]
    assert exit_node["phase"] == "Succeeded"
    assert exit_node["outputs"]["result"] == "status=Failed"
    assert wf["status"]["phase"] == "Failed"


def test_global_outputs_and_parameters(engine: LocalEngine) -> None:
    out = sh(
        "out",
        "echo -n v-{{workflow.parameters.p}} > /tmp/o",
        outputs={"parameters": [{"name": "o", "globalName": "final", "valueFrom": {"path": "/tmp/o"}}]},
    )
    wf = run(engine, workflow("out", [out], arguments={"parameters": [{"name": "p", "value": "x"}]}))
    assert wf["status"]["outputs"]["parameters"] == [{"name": "final", "value": "v-x"}]


def test_records_are_readable_and_listed(engine: LocalEngine, dflowctl_home: Path) -> None:
    wf = run(engine, workflow("one", [sh("one", "echo hi")]))
    name = wf["metadata"]["name"]
    folder = dflowctl_home / "runs" / name
    assert name.startswith("t-") and len(name) == 7
    assert json.loads((folder / "workflow.json").read_text())["status"]["phase"] == "Succeeded"
    assert (folder / "manifest.yaml").read_text().count(name) >= 1
    assert not (folder / "pid").exists()
    assert (folder / "logs" / f"{name}.log").read_text() == "hi\n"
    assert engine.get_run(name)["status"]["phase"] == "Succeeded"
    assert [w["metadata"]["name"] for w in engine.list_runs()] == [name]
    from dflowctl.errors import NotFoundError

    with pytest.raises(NotFoundError) as err:
        engine.get_run(name[:-1] + "?")
    assert err.value.hint == f"did you mean {name!r}?"
    engine.delete(name)
    assert not folder.exists()


# ---------------------------------------------------------------------- stop, interrupt, retry


def _gated(shared: Path) -> dict[str, Any]:
    """Step a counts its runs; step b waits while the gate file exists."""
    main = {
        "name": "main",
        "steps": [[{"name": "a", "template": "count"}], [{"name": "b", "template": "wait"}]],
    }
    count = sh("count", f"echo run >> {shared}/a")
    wait = sh("wait", f"while [ -e {shared}/gate ]; do sleep 0.05; done; echo done")
    return workflow("main", [main, count, wait])


def _wait_for(engine: LocalEngine, name: str, suffix: str, phase: str) -> None:
    def read() -> dict[str, Any]:
        try:
            return engine.get_run(name)
        except Exception:  # not recorded yet
            return {}

    wait_until(read, nodes_seen(suffix=suffix, phase=phase), f"node {suffix} {phase}")


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if text.encode() in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def test_stop_then_retry_reuses_what_succeeded(engine: LocalEngine, shared_dir: Path) -> None:

    (shared_dir / "gate").touch()
    wf = engine.submit(_gated(shared_dir), RunOptions(wait=False))
    name = wf["metadata"]["name"]
    _wait_for(engine, name, "[1].b", "Running")
    with Within(5.0, "stop") as took:
        stopped = engine.stop(name)
    took.check()
    assert stopped["status"]["phase"] == "Failed"
    assert stopped["status"]["message"] == "Stopped with strategy 'Stop'"
    assert by_name(stopped, "[1].b")["phase"] == "Failed"
    assert _processes_mentioning(f"{shared_dir}/gate") == []
    first_a = by_name(stopped, "[0].a")
    (shared_dir / "gate").unlink()
    final = engine.retry(name, RunOptions(wait=True))
    assert final["status"]["phase"] == "Succeeded", final["status"].get("message")
    assert (shared_dir / "a").read_text().splitlines() == ["run"]  # a was not run again
    assert by_name(final, "[0].a") == first_a
    assert by_name(final, "[1].b")["outputs"]["result"] == "done"


def test_interrupt_ends_pods_and_records_the_stop(dflowctl_home: Path, shared_dir: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    (shared_dir / "gate").touch()
    manifest = json.dumps(_gated(shared_dir))
    code = (
        "import json, sys\n"
        "from dflowctl.engines import RunOptions\n"
        "from dflowctl.engines.local import LocalEngine\n"
        "try:\n"
        f"    LocalEngine().submit(json.loads({manifest!r}), RunOptions(wait=True))\n"
        "except KeyboardInterrupt:\n"
        "    sys.exit(130)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.time() + 30
        runs = dflowctl_home / "runs"
        while time.time() < deadline and not list(runs.glob("*/logs/*.log")):
            time.sleep(0.05)
        engine = LocalEngine(load_settings())
        name = engine.list_runs()[0]["metadata"]["name"]
        _wait_for(engine, name, "[1].b", "Running")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 130
    finally:
        proc.kill()
    time.sleep(0.1)
    assert _processes_mentioning(f"{shared_dir}/gate") == []
    wf = engine.get_run(name)
    assert wf["status"]["phase"] == "Failed"
    assert wf["status"]["message"] == "Stopped with strategy 'Terminate'"
    (shared_dir / "gate").unlink()
    final = engine.retry(name, RunOptions(wait=True))
    assert final["status"]["phase"] == "Succeeded"
    assert (shared_dir / "a").read_text().splitlines() == ["run"]


# ---------------------------------------------------------------------- more of Argo's semantics


def test_template_fail_fast_stops_new_loop_items(engine: LocalEngine) -> None:
    main = {
        "name": "main",
        "parallelism": 1,
        "failFast": True,
        "steps": [
            [
                {
                    "name": "u",
                    "template": "u",
                    "withItems": [0, 0, 1, 0],
                    "arguments": {"parameters": [{"name": "code", "value": "{{item}}"}]},
                }
            ]
        ],
    }
    u = sh("u", "exit {{inputs.parameters.code}}", inputs={"parameters": [{"name": "code"}]})
    wf = run(engine, workflow("main", [main, u]))
    names = sorted(n["displayName"] for n in wf["status"]["nodes"].values() if n["type"] == "Pod")
    assert names == ["u(0:0)", "u(1:0)", "u(2:1)"]  # u(3:0) never started
    assert wf["status"]["phase"] == "Failed"


def test_dag_without_fail_fast_runs_the_other_branches(engine: LocalEngine) -> None:
    dag = {
        "name": "main",
        "dag": {
            "failFast": False,
            "tasks": [
                {"name": "bad", "template": "bad"},
                {"name": "slow", "template": "ok"},
                {"name": "after", "template": "ok", "depends": "slow"},
            ],
        },
    }
    wf = run(engine, workflow("main", [dag, sh("bad", "exit 1"), sh("ok", "sleep 0.2")]))
    assert by_name(wf, ".after")["phase"] == "Succeeded"
    assert wf["status"]["phase"] == "Failed"


def test_step_exit_hook_inline_template_and_input_artifact_key(engine: LocalEngine) -> None:
    make = sh(
        "make",
        "echo payload > /tmp/f",
        outputs={
            "artifacts": [
                {
                    "name": "f",
                    "path": "/tmp/f",
                    "archive": {"none": {}},
                    "s3": {"key": "{{workflow.name}}/shared/f.txt"},
                }
            ]
        },
    )
    read = sh(
        "read",
        "cat /in/f",
        inputs={
            "artifacts": [{"name": "f", "path": "/in/f", "s3": {"key": "{{workflow.name}}/shared/f.txt"}}]
        },
    )
    main = {
        "name": "main",
        "steps": [
            [{"name": "make", "template": "make", "hooks": {"exit": {"template": "bye"}}}],
            [{"name": "read", "template": "read"}],
            [
                {
                    "name": "inline",
                    "inline": {"container": {"image": "alpine", "command": ["echo", "in line"]}},
                }
            ],
        ],
    }
    wf = run(engine, workflow("main", [main, make, read, sh("bye", "echo bye")]))
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    made = by_name(wf, "[0].make")
    hook = by_name(wf, "[0].make.onExit")
    assert hook["displayName"] == "make.onExit" and hook["outputs"]["result"] == "bye"
    assert hook["id"] in made["children"]
    assert by_name(wf, "[1].read")["outputs"]["result"] == "payload"
    inline = by_name(wf, "[2].inline")
    assert inline["outputs"]["result"] == "in line" and "templateName" not in inline


def test_suspend_with_duration_and_missing_parameter(engine: LocalEngine) -> None:
    main = {
        "name": "main",
        "steps": [[{"name": "wait", "template": "wait"}], [{"name": "need", "template": "need"}]],
    }
    wait = {"name": "wait", "suspend": {"duration": "1"}}
    need = sh("need", "echo {{inputs.parameters.x}}", inputs={"parameters": [{"name": "x"}]})
    wf = run(engine, workflow("main", [main, wait, need]))
    assert by_name(wf, "[0].wait")["type"] == "Suspend"
    assert by_name(wf, "[0].wait")["phase"] == "Succeeded"
    need_node = by_name(wf, "[1].need")
    assert (need_node["phase"], need_node["message"]) == ("Error", "inputs.parameters.x was not supplied")
    assert wf["status"]["phase"] == "Failed"


def test_detached_run_can_be_watched_and_its_logs_followed(engine: LocalEngine) -> None:
    main = {
        "name": "main",
        "steps": [[{"name": "a", "template": "talk"}], [{"name": "b", "template": "talk"}]],
    }
    talk = sh("talk", "echo one; sleep 0.3; echo two")
    wf = engine.submit(workflow("main", [main, talk]), RunOptions(wait=False))
    name = wf["metadata"]["name"]
    lines = [(line.node_name, line.text) for line in engine.logs(name, follow=True)]
    assert lines == [("a", "one"), ("a", "two"), ("b", "one"), ("b", "two")]
    seen: list[str] = []
    final = engine.watch(name, lambda w: seen.append(w["status"]["phase"]))
    assert final["status"]["phase"] == "Succeeded" and seen[-1] == "Succeeded"


def test_parallel_steps_writing_the_same_absolute_path_do_not_collide(engine: LocalEngine) -> None:
    write = sh(
        "write",
        "echo -n {{inputs.parameters.v}} > /tmp/same.txt; sleep 0.3; cat /tmp/same.txt",
        inputs={"parameters": [{"name": "v"}]},
        outputs={"parameters": [{"name": "v", "valueFrom": {"path": "/tmp/same.txt"}}]},
    )
    main = {
        "name": "main",
        "steps": [
            [
                {
                    "name": "w",
                    "template": "write",
                    "withItems": ["left", "right", "third"],
                    "arguments": {"parameters": [{"name": "v", "value": "{{item}}"}]},
                }
            ]
        ],
    }
    wf = run(engine, workflow("main", [main, write]))
    assert wf["status"]["phase"] == "Succeeded"
    for i, v in enumerate(["left", "right", "third"]):
        node = by_name(wf, f"[0].w({i}:{v})")
        assert node["outputs"]["result"] == v
        assert node["outputs"]["parameters"][0]["value"] == v


def test_exit_handler_runs_after_the_workflow_deadline(engine: LocalEngine) -> None:
    main = {"name": "main", "steps": [[{"name": "a", "template": "slow"}]]}
    wf = run(
        engine,
        workflow(
            "main",
            [main, sh("slow", "sleep 30"), sh("bye", "sleep 1.5; echo {{workflow.status}}")],
            activeDeadlineSeconds=1,
            onExit="bye",
        ),
    )
    name = wf["metadata"]["name"]
    a = by_name(wf, "[0].a")
    assert (a["phase"], a["message"]) == ("Failed", "Step exceeded its deadline")
    exit_node = wf["status"]["nodes"][node_id(name, f"{name}.onExit")]
    assert exit_node["phase"] == "Succeeded" and exit_node["outputs"]["result"] == "Failed"
    assert wf["status"]["phase"] == "Failed"


def test_recursion_and_sequence_format(engine: LocalEngine) -> None:
    countdown = {
        "name": "countdown",
        "inputs": {"parameters": [{"name": "n"}]},
        "steps": [
            [
                {
                    "name": "say",
                    "template": "say",
                    "arguments": {"parameters": [{"name": "n", "value": "{{inputs.parameters.n}}"}]},
                }
            ],
            [
                {
                    "name": "again",
                    "template": "countdown",
                    "when": "{{inputs.parameters.n}} > 1",
                    "arguments": {
                        "parameters": [{"name": "n", "value": "{{=asInt(inputs.parameters.n) - 1}}"}]
                    },
                }
            ],
        ],
    }
    say = sh("say", "echo n={{inputs.parameters.n}}", inputs={"parameters": [{"name": "n"}]})
    main = {
        "name": "main",
        "steps": [
            [
                {
                    "name": "down",
                    "template": "countdown",
                    "arguments": {"parameters": [{"name": "n", "value": "3"}]},
                }
            ],
            [
                {
                    "name": "hex",
                    "template": "say",
                    "withSequence": {"start": "9", "end": "11", "format": "%02X"},
                    "arguments": {"parameters": [{"name": "n", "value": "{{item}}"}]},
                }
            ],
        ],
    }
    wf = run(engine, workflow("main", [main, countdown, say]))
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    said = sorted(n["outputs"]["result"] for n in wf["status"]["nodes"].values() if n["displayName"] == "say")
    assert said == ["n=1", "n=2", "n=3"]
    last = by_name(wf, "[0].down[1].again[1].again[1].again")
    assert (last["phase"], last["message"]) == ("Skipped", "when '1 > 1' evaluated false")
    assert [
        by_name(wf, f"[1].hex({i}:{h})")["outputs"]["result"] for i, h in enumerate(["09", "0A", "0B"])
    ] == ["n=09", "n=0A", "n=0B"]
