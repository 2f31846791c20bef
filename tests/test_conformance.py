"""Argo's own examples on the local engine (issue 5): Argo's phase and values, or a clear refusal.

Every ``kind: Workflow`` file in Argo's ``examples/`` runs through the real CLI
(``dflowctl run FILE -o json``, one subprocess per example, several at once; see
``bench/conformance.py``). Each either
- runs and ends in the phase Argo gives it: Succeeded, or Failed for the examples
  built to fail (``FAILED`` below, with the reason from the example itself), with
  its printed or output values checked where the example has known ones
  (``VALUES``); or
- is refused before anything runs with ``FILE:LINE:COL: not supported by the local
  engine: <feature>`` (``REFUSED``: the feature expected), or rejected as invalid
  (``INVALID``: the three example files that Kubernetes would reject too).
A run that hangs past its time limit or crashes fails. ``forever.yaml`` (1000
one-second sleeps, no deadline) runs with ``activeDeadlineSeconds: 4`` added and
must stop there, Failed, as Argo stops a workflow at its deadline.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import ARGO_EXAMPLES, REPO

sys.path.insert(0, str(REPO / "bench"))
from conformance import Outcome, discover, run_all

DEFAULT_LIMIT = 75.0
# examples that sleep long: started first, with their own limit (seconds)
LONG: dict[str, float] = {
    "colored-logs.yaml": 170,  # prints 99 lines a second apart
    "loops-param-result.yaml": 170,
    "parallelism-nested-workflow.yaml": 170,
    "parallelism-nested-dag.yaml": 170,
    "parallelism-nested.yaml": 170,
    "parallelism-limit.yaml": 120,
    "parallelism-template-limit.yaml": 120,
    "dag-disable-failFast.yaml": 120,
    "dag-task-level-timeout.yaml": 120,
    "timeouts-workflow.yaml": 120,
    "step-level-timeout.yaml": 120,
    "timeouts-step.yaml": 120,
    "retry-backoff.yaml": 120,
    "synchronization-mutex-tmpl-level.yaml": 120,  # 5 × 5 s, one at a time (sleeps cut tenfold)
    "synchronization-db-mutex-tmpl-level.yaml": 120,
}


def _deadline(seconds: int) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        doc["spec"]["activeDeadlineSeconds"] = seconds

    return edit


def _shorter_sleeps(doc: dict[str, Any]) -> None:
    """`sleep 20` / `sleep 50` a tenth as long: the locks still serialize them (250 s on Argo)."""
    for tmpl in doc["spec"]["templates"]:
        args = (tmpl.get("container") or {}).get("args")
        if args:
            tmpl["container"]["args"] = [
                a.replace("sleep 20", "sleep 2").replace("sleep 50", "sleep 5") for a in args
            ]


EDITS: dict[str, Callable[[dict[str, Any]], None]] = {
    "forever.yaml": _deadline(4),
    "synchronization-mutex-tmpl-level.yaml": _shorter_sleeps,
    "synchronization-db-mutex-tmpl-level.yaml": _shorter_sleeps,
}


# What the cluster would hold for an example (given with --templates): the ConfigMap of
# semaphore limits that the synchronization examples show in their opening comment.
def _limits(key: str) -> str:
    return f'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: my-config\ndata:\n  {key}: "3"\n'


TEMPLATES: dict[str, str] = {
    "synchronization-tmpl-level.yaml": _limits("template"),
    "synchronization-wf-level.yaml": _limits("workflow"),
}

# Suspended examples: the nodes a user resumes, in order, with the outputs they supply
# (`dflowctl resume NAME --node NODE -p k=v`, as the examples' comments do it with argo).
RESUME: dict[str, list[tuple[str, dict[str, str]]]] = {
    "suspend-template.yaml": [("approve", {})],  # `delay` then ends by its 20 s duration
    "suspend-template-outputs.yaml": [("approve", {"message": "Hello, world!"})],
    "intermediate-parameters.yaml": [("approval", {"approve": "YES"})],
}

# Built to fail: Argo ends them Failed. The reason is the example's own words where it has them.
FAILED: dict[str, str] = {
    "dag-continue-on-fail.yaml": "task E is `intentional-fail` and G depends on it (`E && F`): the DAG fails",
    "dag-disable-failFast.yaml": "C: `echo intentional failure; exit 2` (failFast: false: B, D, E finish)",
    "dag-task-level-timeout.yaml": "B sleeps 15s with `timeout: 10s`",
    "exit-handlers.yaml": "`intentional-fail` template: 'exit 1' (the exit handler reports the failure)",
    "loops-arbitrary-sequential-steps.yaml": "'When a step fails, the iteration will break'",
    "pod-gc-strategy.yaml": "step `fail`: 'exit 1'",
    "pod-gc-strategy-with-label-selector.yaml": "step `fail`: 'exit 1'",
    "retry-conditional.yaml": "'retries will be made until ... the limit of 10': exit code 1 stops them",
    "step-level-timeout.yaml": "both steps sleep 30s with `timeout: 10s`; sleep1 only continues on error",
    "timeouts-step.yaml": "'activeDeadlineSeconds: 10' on a step that runs `sleep 1d`",
    "timeouts-workflow.yaml": "'activeDeadlineSeconds: 30' on a workflow of `sleep 1d` steps",
    "forever.yaml": "runs forever; stopped by the deadline the test adds",
    "exit-handler-slack.yaml": "the exit handler posts to `YOUR_WEBHOOK_URL_HERE`: curl cannot resolve it",
    "conditionals.yaml": "print-hello-expr-json's `when` reads `workflow.parameters.json`, which the example "
    "does not define: Argo leaves the `{{=…}}` unresolved and govaluate rejects it (the real cluster agrees)",
}
# Random by design: either end is Argo's.
EITHER: dict[str, str] = {
    "resubmit.yaml": "'Submit this workflow, which will very likely fail' (random-fail: 33% each)",
    "template-defaults.yaml": "'fail with a 66% probability' (retry limit 2)",
    "retry-backoff.yaml": "'fail with a 66% probability' (retry limit 10)",
    "retry-script.yaml": "random exit code 0-3, retry limit 10",
    "retry-container.yaml": "random exit code 0-3, retry limit 10",
    "retry-with-steps.yaml": "random exit code 0-3, retry limit 10",
    "custom-metrics.yaml": "step `flakey`: 'fail with a 66% probability'",
    "retry-on-error.yaml": "'fail with a 80% probability' (retry limit 2)",
}

# What the local engine refuses, by example: a phrase of the not-supported message.
REFUSED: dict[str, str] = {
    "arguments-artifacts.yaml": "http artifacts",
    "arguments-parameters-from-configmap.yaml": "ConfigMap",
    "artifact-passing-explicit-plugin.yaml": "plugin artifacts",
    "artifactory-artifact.yaml": "artifactory artifacts",
    "ci-output-artifact.yaml": "git artifacts",
    "ci.yaml": "git artifacts",
    "cron-backfill.yaml": "2 Workflow documents",
    "daemon-nginx.yaml": "image `nginx:1.13` without a command",
    "daemon-step.yaml": "image `influxdb:1.2` without a command",
    "daemoned-stateful-set-with-service.yaml": "resource",
    "dag-daemon-retry-strategy.yaml": "nginx",
    "dag-daemon-task.yaml": "image `influxdb:1.2` without a command",
    "data-transformations.yaml": "data",
    "global-parameters-from-configmap-referenced-as-local-variable.yaml": "ConfigMap",
    "global-parameters-from-configmap.yaml": "ConfigMap",
    "hdfs-artifact.yaml": "hdfs artifacts",
    "hello-hybrid.yaml": "Windows",
    "hello-windows.yaml": "Windows",
    "http-hello-world.yaml": "http",
    "http-success-condition.yaml": "http",
    "influxdb-ci.yaml": "git artifacts",
    "input-artifact-azure.yaml": "azure artifacts",
    "input-artifact-gcs.yaml": "gcs artifacts",
    "input-artifact-git.yaml": "git artifacts",
    "input-artifact-http.yaml": "http artifacts",
    "input-artifact-oss.yaml": "oss artifacts",
    "input-artifact-s3.yaml": "own bucket",
    "k8s-orchestration.yaml": "resource",
    "k8s-owner-reference.yaml": "resource",
    "k8s-patch-json-pod.yaml": "resource",
    "k8s-patch-merge-pod.yaml": "resource",
    "k8s-patch-pod.yaml": "resource",
    "k8s-resource-log-selector.yaml": "resource",
    "k8s-set-owner-reference.yaml": "resource",
    "k8s-wait-wf.yaml": "resource",
    "life-cycle-hooks-tmpl-level.yaml": "`http` templates",
    "life-cycle-hooks-wf-level.yaml": "`http` templates",
    "output-artifact-azure.yaml": "azure artifacts",
    "output-artifact-gcs.yaml": "gcs artifacts",
    "output-artifact-s3.yaml": "own bucket",
    "resource-delete-with-flags.yaml": "resource",
    "resource-flags.yaml": "resource",
    "secrets.yaml": "volumes",
    "sidecar-dind.yaml": "dockerd-entrypoint.sh",
    "sidecar-nginx.yaml": "nginx",
    "sidecar.yaml": "its script installs packages with `apk`",
    "steps-daemon-retry-strategy.yaml": "nginx",
    "synchronization-db-tmpl-level.yaml": "database",
    "synchronization-db-wf-level.yaml": "database",
    "variables-showcase.yaml": "its program `nc` is not on this host",
    "volumes-existing.yaml": "volumes",
    "webhdfs-input-output-artifacts.yaml": "http artifacts",
    "work-avoidance.yaml": "own bucket",
    "workflow-level-executor-plugin.yaml": "plugin",
    "workflow-of-workflows.yaml": "resource",
}
# Refused only where the host lacks the image's program (checked with shutil.which).
HOST_PROGRAM: dict[str, str] = {"scripts-javascript.yaml": "node", "exit-handler-slack.yaml": "curl"}
# Files Kubernetes would reject as well: the error names the problem with its position.
INVALID: dict[str, str] = {
    "fun-with-gifs.yaml": "metadata needs name or generateName",  # generateName is indented under labels
    "k8s-jobs.yaml": "metadata needs name or generateName",  # the same
    "k8s-patch-json-workflow.yaml": "duplicate key `annotations`",
}


# ---------------------------------------------------------------- expected values


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def _times(o: Outcome, display: str) -> tuple[datetime, datetime]:
    node = o.node(display)
    return (_ts(node["startedAt"]), _ts(node["finishedAt"]))


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _hello(o: Outcome) -> None:
    assert o.log() == "hello world\n"


def _steps(o: Outcome) -> None:
    assert {d: o.log(d).strip() for d in ("hello1", "hello2a", "hello2b")} == {
        "hello1": "hello1",
        "hello2a": "hello2a",
        "hello2b": "hello2b",
    }
    assert _times(o, "hello1")[1] <= min(_times(o, "hello2a")[0], _times(o, "hello2b")[0])


def _diamond(o: Outcome) -> None:
    assert {d: o.log(d).strip() for d in "ABCD"} == {d: d for d in "ABCD"}
    assert _times(o, "A")[1] <= min(_times(o, "B")[0], _times(o, "C")[0])
    assert max(_times(o, "B")[1], _times(o, "C")[1]) <= _times(o, "D")[0]


def _loops(o: Outcome) -> None:
    assert sorted(_lines(o.log())) == ["goodbye world", "hello world"]


def _coinflip(o: Outcome) -> None:
    flip = o.result("flip-coin")
    assert flip in ("heads", "tails")
    other = "tails" if flip == "heads" else "heads"
    assert o.phases()[flip] == "Succeeded" and o.phases()[other] == "Skipped"
    assert o.log(flip).strip() == f"it was {flip}"


def _exit_code(o: Outcome) -> None:
    assert o.log("echo-container").strip() == "Exit code was: 123"
    assert o.phases()["failing-container"] == "Failed"


def _global_outputs(o: Outcome) -> None:
    assert o.global_output("my-global-param") == "hello world"
    # the consumers run twice: as steps and in the exit handler (onExit: consume-globals)
    for step in ("consume-global-param", "consume-global-art"):
        assert [o.logs[n["id"]].strip() for n in o.pods(step)] == ["hello world", "hello world"]


def _output_parameter(o: Outcome) -> None:
    assert o.output("generate-parameter", "hello-param") == "hello world"
    assert o.log("consume-parameter").strip() == "hello world"


def _param_aggregation(o: Outcome) -> None:
    assert o.log("print-nums").strip() == '["1","2","3","4"]'
    assert o.log("print-evenness").strip() == '["odd","even","odd","even"]'
    assert sorted(_lines(o.log("print"))) == ["1", "2"]


def _scripts_bash(o: Outcome) -> None:
    m = re.fullmatch(r"result was: (\d+)", o.log("print").strip())
    assert m and 1 <= int(m.group(1)) <= 101


def _fibonacci(o: Outcome) -> None:
    assert o.log("printresult").strip() == "5"


def _exit_handlers(o: Outcome) -> None:
    name = o.workflow["metadata"]["name"]
    assert o.node(name)["phase"] == "Failed" and o.node(name)["templateName"] == "intentional-fail"
    assert o.phases()["cry"] == "Succeeded" and o.phases()["celebrate"] == "Skipped"
    assert o.log("cry").strip() == "boohoo!"
    sent = o.log("notify")
    assert sent.startswith(f"send e-mail: {name} Failed ")
    assert "templateName:intentional-fail,phase:Failed" in sent


def _exit_handler_param(o: Outcome) -> None:
    assert o.log("step-1.onExit").strip() == "hello world"


def _destructure(o: Outcome) -> None:
    assert o.log().strip() == "123"


def _sequence(o: Outcome) -> None:
    assert sorted(int(x) for x in _lines(o.log("sequence-count"))) == [0, 1, 2, 3, 4]
    assert sorted(int(x) for x in _lines(o.log("sequence-start-end"))) == list(range(100, 106))
    assert sorted(int(x) for x in _lines(o.log("sequence-param"))) == [200, 201, 202]
    assert sorted(int(x) for x in _lines(o.log("sequence-negative"))) == list(range(0, 6))


def _conditional_parameters(o: Outcome) -> None:
    assert o.output(o.workflow["metadata"]["name"], "stepresult") == o.result("flip-coin")


def _forever(o: Outcome) -> None:
    assert "deadline" in o.message.lower()
    assert len(_lines(o.log())) < 10


def _arguments_parameters(o: Outcome) -> None:
    assert o.log().strip() == "hello world"


def _max_overlap(o: Outcome, display: str | None = None) -> int:
    """The most pods (named ``display``, or all) running at one moment, from their times."""
    events = []
    for n in o.pods(display):
        events += [(_ts(n["startedAt"]), 1), (_ts(n["finishedAt"]), -1)]
    now = peak = 0
    for _t, step in sorted(events, key=lambda e: (e[0], e[1])):
        now += step
        peak = max(peak, now)
    return peak


def _parallelism_limit(o: Outcome) -> None:
    assert len(o.pods("sleep")) == 10 and _max_overlap(o) == 2


def _parallelism_nested_workflow(o: Outcome) -> None:
    # A has parallelism 1: the four seq-steps one after another, each running its two jobs together
    assert len(o.pods()) == 8 and _max_overlap(o) == 2
    assert [line.strip() for line in o.log().splitlines()] == ["a", "a", "b", "b", "c", "c", "d", "d"]


def _dag_targets(o: Outcome) -> None:
    # 'specifying a dag.target of 'E' will result in the execution of A, C, and E'
    assert sorted(o.phases()) == ["A", "C", "E"] and o.log("E").strip() == "E"


def _dag_enhanced_depends(o: Outcome) -> None:
    assert o.phases() == {
        "A": "Succeeded",
        "B": "Succeeded",
        "C": "Failed",
        "should-execute-1": "Succeeded",
        "should-execute-2": "Succeeded",
        "should-not-execute": "Omitted",
        "should-execute-3": "Succeeded",
    }


def _loops_dag(o: Outcome) -> None:
    assert sorted(_lines(o.log("B"))) == ["bar", "baz", "foo"]
    assert _times(o, "A")[1] <= min(_ts(n["startedAt"]) for n in o.pods("B"))
    assert max(_ts(n["finishedAt"]) for n in o.pods("B")) <= _times(o, "C")[0]


def _recursive_for_loop(o: Outcome) -> None:
    assert [line.strip() for line in o.log("iterate-counter").splitlines()] == [str(i) for i in range(1, 11)]


def _status_reference(o: Outcome) -> None:
    assert o.phases()["flakey-container"] in ("Failed", "Succeeded")
    ran = "failed" if o.phases()["flakey-container"] == "Failed" else "succeeded"
    other = "succeeded" if ran == "failed" else "failed"
    assert o.phases()[ran] == "Succeeded" and o.phases()[other] == "Skipped"
    assert o.log(ran).strip() == f"the flakey container {ran}"


def _scripts_python(o: Outcome) -> None:
    number = o.result("generate")
    assert number is not None and 1 <= int(number) <= 100
    assert o.log("print").strip() == f"result was: {number}"


def _raw(o: Outcome) -> None:
    assert o.log() == "this is\nthe raw file\ncontents\n"


def _artifact_passing(o: Outcome) -> None:
    assert o.log("consume-artifact").strip() == "hello world"


def _subpath(o: Outcome) -> None:
    assert o.log("list-artifact").strip() == "hello_world.txt"
    assert o.log("consume-artifact").strip() == "hello world"


def _aggregation_dag(o: Outcome) -> None:
    assert o.log("print-nums").strip() == '["1","2","3","4"]'
    assert o.log("print-evenness").strip() == '["odd","even","odd","even"]'
    assert sorted(_lines(o.log("print"))) == ["1", "2"]
    assert sorted(p for d, p in o.phases().items() if d.startswith("divide-by-2(")) == [
        "Skipped",
        "Skipped",
        "Succeeded",
        "Succeeded",
    ]


def _aggregation_script(o: Outcome) -> None:
    assert sorted(n["outputs"]["result"] for n in o.pods("divide-by-2")) == ["1", "2"]


def _coinflip_recursive(o: Outcome) -> None:
    flips = [o.logs[n["id"]].strip() for n in o.pods("flip-coin")]
    assert flips[-1] == "heads" and all(f == "tails" for f in flips[:-1])
    assert o.log("heads").strip() == "it was heads"


def _key_only(o: Outcome) -> None:
    assert o.log("consume") == "hello"  # argosay: `echo hello /mnt/file`, then `cat /tmp/file`


def _expression_tag(o: Outcome) -> None:
    year = o.workflow["metadata"]["creationTimestamp"][:4]
    assert [p["outputs"]["parameters"][0]["value"] for p in o.pods("task-0")] == [f"hello 30 @ {year}\n"] or [
        p["outputs"]["parameters"][0]["value"] for p in o.pods("task-0")
    ] == [f"hello 30 @ {year}"]


def _exit_dag_level(o: Outcome) -> None:
    for task in "ABCD":
        assert o.log(task).strip() == task
        assert o.log(f"{task}.onExit").strip() == "task cleanup"
        assert _times(o, task)[1] <= _times(o, f"{task}.onExit")[0]


def _template_on_exit(o: Outcome) -> None:
    assert o.log("stepA.onExit").strip() == o.log("stepB.onExit").strip() == "goodbye world"


def _exit_with_artifacts(o: Outcome) -> None:
    assert o.log("step-1.onExit") == "Welcome"


def _continue_on_fail(o: Outcome) -> None:
    assert o.phases() == {"A": "Succeeded", "B": "Succeeded", "C": "Failed", "D": "Succeeded"}


def _timeouts_step(o: Outcome) -> None:
    assert o.log().strip() == "123"
    assert "deadline" in o.message.lower()


def _retry_to_completion(o: Outcome) -> None:
    # in attempt order: "name(10)" is after "name(9)", though fast attempts share a second
    attempts = sorted(o.pods(), key=lambda n: int(n["name"].rsplit("(", 1)[1].rstrip(")")))
    assert attempts[-1]["phase"] == "Succeeded" and all(a["phase"] == "Failed" for a in attempts[:-1])


def _retry_conditional(o: Outcome) -> None:
    codes = [n["outputs"]["exitCode"] for n in o.pods("retry")]
    # retried while the exit code was 2 (> 1); the exit code 1 ends it
    assert codes[-1] == "1" and all(c == "2" for c in codes[:-1]) and len(codes) <= 11


def _root(o: Outcome) -> dict[str, Any]:
    return o.node(o.workflow["metadata"]["name"])


def _conditional_artifacts(o: Outcome) -> None:
    # 'The main template's output artifact named "result" will be set to the executed step's output'
    flip = o.result("flip-coin")
    (art,) = _root(o)["outputs"]["artifacts"]
    assert art["name"] == "result" and f"-{flip}-" in art["s3"]["key"]


def _placeholders(o: Outcome) -> None:
    assert o.output(o.workflow["metadata"]["name"], "actual-lines-count") == "3"


def _disable_fail_fast(o: Outcome) -> None:
    # failFast: false: B (sleep 30) and what depends on it finish although C failed
    phases = o.phases()
    assert [phases[t] for t in "ABCDE"] == ["Succeeded", "Succeeded", "Failed", "Succeeded", "Succeeded"]
    assert [n["phase"] for n in o.pods("C")] == ["Failed"] * 4  # retryStrategy limit 3


def _dag_task_timeout(o: Outcome) -> None:
    assert [o.phases()[t] for t in "ABC"] == ["Succeeded", "Failed", "Succeeded"]


def _sequential_steps(o: Outcome) -> None:
    assert _lines(o.log("unit-step")) == ["succeeds 1", "succeeds 2", "succeeds 3", "will fail and stop here"]


def _step_timeout(o: Outcome) -> None:
    assert o.phases() == {"sleep1": "Failed", "sleep2": "Failed"}


def _workflow_timeout(o: Outcome) -> None:
    assert [n["phase"] for n in o.pods("sleep-one-day")] == ["Failed"] * 3
    assert o.message == "Step exceeded its deadline"


def _dag_nested(o: Outcome) -> None:
    assert sorted(_lines(o.log())) == sorted(a + b for a in "ABCD" for b in "ABCD")


def _colored_logs(o: Outcome) -> None:
    assert len(_lines(o.log())) == 99


def _loops_param_result(o: Outcome) -> None:
    assert sorted(int(n["inputs"]["parameters"][0]["value"]) for n in o.pods("sleep")) == list(range(20, 31))
    assert all(o.logs[n["id"]].endswith("done\n") for n in o.pods("sleep"))


def _global_parameters(o: Outcome) -> None:
    assert o.log().strip() == "hello world"


def _verbose_snippets(o: Outcome) -> None:
    # temps [34, 27, 15, 57, 46] (base64 in the parameter): average 179 / 5, min 15, max 57
    assert (
        o.log().strip() == "The week's average temperature was 35.8 with a minimum of 15 and a maximum of 57."
    )


def _destructure_complex(o: Outcome) -> None:
    # jsonpath results printed as Go prints them ([]interface{}, map[string]interface{})
    assert o.log().strip() == "[43][43][map[age:43 name:Baris]][Baris Mo Jai]"


def _exit_step_level(o: Outcome) -> None:
    for step in ("hello1", "hello2a", "hello2b"):
        assert o.log(step).strip() == step and o.log(f"{step}.onExit").strip() == "step cleanup"


def _suspend_template(o: Outcome) -> None:
    assert [o.node(d)["phase"] for d in ("approve", "delay")] == ["Succeeded", "Succeeded"]
    start, end = _times(o, "delay")
    assert (end - start).total_seconds() >= 19  # `duration: "20"`
    assert _lines(o.log("release")) == ["hello world"]


def _suspend_outputs(o: Outcome) -> None:
    assert o.output("approve", "message") == "Hello, world!"
    assert o.log("release").strip() == "Hello, world!"


def _intermediate_parameters(o: Outcome) -> None:
    assert o.output("approval", "approve") == "YES"
    assert [n["phase"] for n in o.pods("deploy-prod")] == ["Succeeded"]


def _conditionals(o: Outcome) -> None:
    phases = o.phases()
    assert [phases[s] for s in ("print-hello-govaluate", "print-hello-expr")] == ["Succeeded"] * 2
    assert phases["print-hello-expr-json"] == "Error"
    assert _lines(o.log("print-hello-expr"))[:3] == [" _______", "< hello >", " -------"]  # cowsay


def _one_at_a_time(o: Outcome) -> None:
    # each template's mutex: its 5 items one after the other; the two templates side by side
    for display in ("synchronization-acquire-lock", "synchronization-acquire-lock1"):
        assert len(o.pods(display)) == 5 and _max_overlap(o, display) == 1
    assert _max_overlap(o) == 2


def _semaphore_of_3(o: Outcome) -> None:
    assert len(o.pods("synchronization-acquire-lock")) == 5
    assert _max_overlap(o, "synchronization-acquire-lock") == 3  # the ConfigMap's limit


def _emptydir(o: Outcome) -> None:
    assert o.log().strip() == "Volume mounted and found"  # the volume is a mount in the pod's view


def _init_container(o: Outcome) -> None:
    assert o.log().strip() == "bye"  # the main container's log; the init container's is its own


def _sidecar_stopped(o: Outcome) -> None:
    # `large` sleeps 5 s beside a sidecar that sleeps 10 s: the pod ends with its main container
    start, end = _times(o, "large")
    assert (end - start).total_seconds() < 9.5 and _lines(o.log("large")) == ["large step"]


def _volumes_pvc(o: Outcome) -> None:
    # the claim outlives the pod that wrote it: the next step reads the file
    assert _lines(o.log("print"))[-1] == "hello world"


VALUES: dict[str, Callable[[Outcome], None]] = {
    "volumes-pvc.yaml": _volumes_pvc,
    "volumes-emptydir.yaml": _emptydir,
    "init-container.yaml": _init_container,
    "pod-resources-template-override.yaml": _sidecar_stopped,
    "synchronization-mutex-tmpl-level.yaml": _one_at_a_time,
    "synchronization-db-mutex-tmpl-level.yaml": _one_at_a_time,
    "synchronization-tmpl-level.yaml": _semaphore_of_3,
    "conditionals.yaml": _conditionals,
    "suspend-template.yaml": _suspend_template,
    "suspend-template-outputs.yaml": _suspend_outputs,
    "intermediate-parameters.yaml": _intermediate_parameters,
    "expression-reusing-verbose-snippets.yaml": _verbose_snippets,
    "expression-destructure-json-complex.yaml": _destructure_complex,
    "exit-handler-step-level.yaml": _exit_step_level,
    "artifact-path-placeholders.yaml": _placeholders,
    "dag-disable-failFast.yaml": _disable_fail_fast,
    "dag-task-level-timeout.yaml": _dag_task_timeout,
    "loops-arbitrary-sequential-steps.yaml": _sequential_steps,
    "step-level-timeout.yaml": _step_timeout,
    "timeouts-workflow.yaml": _workflow_timeout,
    "dag-nested.yaml": _dag_nested,
    "colored-logs.yaml": _colored_logs,
    "loops-param-result.yaml": _loops_param_result,
    "global-parameters.yaml": _global_parameters,
    "conditional-artifacts.yaml": _conditional_artifacts,
    "dag-conditional-artifacts.yaml": _conditional_artifacts,
    "dag-conditional-parameters.yaml": _conditional_parameters,
    "parallelism-limit.yaml": _parallelism_limit,
    "parallelism-template-limit.yaml": _parallelism_limit,
    "parallelism-nested-workflow.yaml": _parallelism_nested_workflow,
    "dag-targets.yaml": _dag_targets,
    "dag-enhanced-depends.yaml": _dag_enhanced_depends,
    "loops-dag.yaml": _loops_dag,
    "recursive-for-loop.yaml": _recursive_for_loop,
    "status-reference.yaml": _status_reference,
    "scripts-python.yaml": _scripts_python,
    "input-artifact-raw.yaml": _raw,
    "artifact-passing.yaml": _artifact_passing,
    "artifact-passing-subpath.yaml": _subpath,
    "parameter-aggregation-dag.yaml": _aggregation_dag,
    "parameter-aggregation-script.yaml": _aggregation_script,
    "coinflip-recursive.yaml": _coinflip_recursive,
    "key-only-artifact.yaml": _key_only,
    "expression-tag-template-workflow.yaml": _expression_tag,
    "exit-handler-dag-level.yaml": _exit_dag_level,
    "template-on-exit.yaml": _template_on_exit,
    "exit-handler-with-artifacts.yaml": _exit_with_artifacts,
    "continue-on-fail.yaml": _continue_on_fail,
    "timeouts-step.yaml": _timeouts_step,
    "retry-container-to-completion.yaml": _retry_to_completion,
    "retry-conditional.yaml": _retry_conditional,
    "hello-world.yaml": _hello,
    "arguments-parameters.yaml": _arguments_parameters,
    "steps.yaml": _steps,
    "dag-diamond.yaml": _diamond,
    "loops.yaml": _loops,
    "coinflip.yaml": _coinflip,
    "exit-code-output-variable.yaml": _exit_code,
    "global-outputs.yaml": _global_outputs,
    "output-parameter.yaml": _output_parameter,
    "parameter-aggregation.yaml": _param_aggregation,
    "scripts-bash.yaml": _scripts_bash,
    "fibonacci-seq-conditional-param.yaml": _fibonacci,
    "exit-handlers.yaml": _exit_handlers,
    "exit-handler-with-param.yaml": _exit_handler_param,
    "expression-destructure-json.yaml": _destructure,
    "loops-sequence.yaml": _sequence,
    "conditional-parameters.yaml": _conditional_parameters,
    "forever.yaml": _forever,
}


# ---------------------------------------------------------------- verdicts


def expected_phases(name: str) -> set[str]:
    if name in EITHER:
        return {"Succeeded", "Failed"}
    return {"Failed"} if name in FAILED else {"Succeeded"}


def judge(o: Outcome) -> tuple[str, str]:
    """(verdict, detail): ok, refused, invalid, differs, unexpected, timeout or crash."""
    name = o.name
    if o.kind in ("timeout", "crash"):
        return o.kind, (o.message or o.stderr.strip().splitlines()[-1:] or [""])[0][:160]
    if o.kind == "refused":
        expected = REFUSED.get(name) or HOST_PROGRAM.get(name)
        if expected and expected in o.message:
            return "refused", o.message.split("not supported by the local engine: ")[-1][:160]
        return "unexpected", f"refused: {o.message[:160]}"
    if o.kind == "invalid":
        if name in INVALID and INVALID[name] in o.message:
            return "invalid", o.message.split(": ", 1)[-1][:160]
        return "unexpected", f"invalid: {o.message[:160]}"
    if name in REFUSED or name in INVALID:
        return (
            "unexpected",
            f"ran ({o.phase}) but should be refused: {REFUSED.get(name) or INVALID.get(name)}",
        )
    if o.phase not in expected_phases(name):
        return "differs", f"{o.phase}, Argo: {'/'.join(sorted(expected_phases(name)))}: {o.message[:120]}"
    check = VALUES.get(name)
    if check is not None:
        try:
            check(o)
        except (AssertionError, KeyError, ValueError, TypeError) as err:
            return "differs", f"{o.phase}, values: {type(err).__name__} {str(err)[:120]}"
    return "ok", f"{o.phase}" + (" (values checked)" if check is not None else "")


def time_limit(name: str) -> float:
    return LONG.get(name, DEFAULT_LIMIT)


def workers() -> int:
    """Examples at once: most of them sleep, so several per CPU."""
    return max(8, 6 * (os.cpu_count() or 1))


# ---------------------------------------------------------------- the test

_FILES = discover(ARGO_EXAMPLES) if ARGO_EXAMPLES.is_dir() else []
_RUNS: dict[str, Future[Outcome]] = {}


@pytest.fixture(scope="module")
def runs() -> dict[str, Future[Outcome]]:
    """Every example started at once (long ones first); each test waits for its own."""
    if not _RUNS:
        _RUNS.update(
            run_all(
                _FILES,
                workers=workers(),
                timeout=time_limit,
                edits=EDITS,
                first=LONG,
                resumes=RESUME,
                templates=TEMPLATES,
            )
        )
    return _RUNS


def test_examples_are_there() -> None:
    if not ARGO_EXAMPLES.is_dir():
        pytest.skip(f"Argo's examples are absent ({ARGO_EXAMPLES})")
    assert len(_FILES) > 150
    listed = set(FAILED) | set(EITHER) | set(REFUSED) | set(INVALID) | set(VALUES) | set(HOST_PROGRAM)
    assert listed <= {p.name for p in _FILES}, listed - {p.name for p in _FILES}


@pytest.mark.slow
@pytest.mark.timeout(400)
@pytest.mark.parametrize("name", [p.name for p in _FILES] or ["(no examples)"])
def test_example(name: str, runs: dict[str, Future[Outcome]]) -> None:
    if not _FILES:
        pytest.skip(f"Argo's examples are absent ({ARGO_EXAMPLES})")
    outcome = runs[name].result()
    verdict, detail = judge(outcome)
    assert verdict in ("ok", "refused", "invalid"), f"{name}: {verdict}: {detail}\n{outcome.stderr[-800:]}"
