"""The Argo engine against the Kubernetes stand-in, through the real ``kubernetes`` client.

Here the test itself plays Argo's controller (it writes ``status`` into the
stand-in's store, as the controller does through the API), so that watch
resilience, errors, stop/retry patches and logs are checked in isolation.
End to end with the local-engine controller: ``test_argo_engine_e2e.py``.
"""

from __future__ import annotations

import base64
import gzip
import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from dflowctl.engines import RunOptions
from dflowctl.engines.argo import ArgoEngine, WorkflowRejectedError, decode_nodes, retry_patch
from dflowctl.errors import EXIT_UNREACHABLE, ClusterError, EngineError, NotFoundError, UsageError
from dflowctl.kube import NoArgoError
from dflowctl.settings import Settings
from tests.conftest import Within
from tests.k8s import fixtures
from tests.k8s.fixtures import NAMESPACE
from tests.k8s.server import FakeKube, PodLog

pytestmark = pytest.mark.timeout(60)
fake_kube = fixtures.fake_kube  # the fixtures used here
s3 = fixtures.s3
s3_server = fixtures.s3_server

MANIFEST: dict[str, Any] = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"generateName": "hello-", "labels": {"dflowctl.io/spec": "hello"}},
    "spec": {
        "entrypoint": "main",
        "templates": [
            {"name": "main", "script": {"image": "python:3.12", "command": ["python3"], "source": "1"}}
        ],
    },
}


def engine_for(kube: FakeKube, **settings: Any) -> ArgoEngine:
    return ArgoEngine(Settings(kubeconfig=str(kube.kubeconfig_path), **settings))


def node(wf: str, name: str, phase: str, **extra: Any) -> dict[str, Any]:
    from dflowctl.argo import node_id

    nid = node_id(wf, name)
    return {"id": nid, "name": name, "displayName": name.split(".")[-1], "phase": phase, **extra}


def write_status(kube: FakeKube, name: str, status: dict[str, Any], *, done: bool = False) -> None:
    def apply(cur: dict[str, Any]) -> dict[str, Any]:
        labels = cur["metadata"].setdefault("labels", {})
        labels["workflows.argoproj.io/phase"] = status.get("phase", "Running")
        labels["workflows.argoproj.io/completed"] = "true" if done else "false"
        cur["status"] = status
        return cur

    kube.store.update("workflows", NAMESPACE, name, apply)


def play(
    kube: FakeKube, name: str, steps: int, final: str = "Succeeded", pause: float = 0.05
) -> threading.Thread:
    """Act as the controller: ``steps`` status changes, then the final phase."""

    def run() -> None:
        time.sleep(0.2)
        nodes: dict[str, Any] = {name: node(name, name, "Running", type="Steps", templateName="main")}
        for i in range(steps):
            n = node(name, f"{name}[{i}].step", "Succeeded", type="Pod", templateName="main")
            nodes[n["id"]] = n
            nodes[name]["children"] = [*nodes[name].get("children", []), n["id"]]
            write_status(
                kube, name, {"phase": "Running", "startedAt": "2026-01-01T00:00:00Z", "nodes": nodes}
            )
            time.sleep(pause)
        nodes[name]["phase"] = final
        status = {
            "phase": final,
            "startedAt": "2026-01-01T00:00:00Z",
            "finishedAt": "2026-01-01T00:01:00Z",
            "nodes": nodes,
        }
        write_status(kube, name, status, done=True)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def follow(engine: ArgoEngine, name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []
    final = engine.watch(name, seen.append)
    return final, seen


# ------------------------------------------------------------------------------------ basics


def test_submit_creates_the_workflow_and_lists_it(fake_kube: FakeKube) -> None:
    eng = engine_for(fake_kube)
    created = eng.submit(MANIFEST, RunOptions(wait=False))
    name = created["metadata"]["name"]
    assert name.startswith("hello-") and len(name) == len("hello-") + 5
    assert created["metadata"]["namespace"] == "argo"
    assert created["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "dflowctl"
    assert fake_kube.requests_matching("POST /apis/argoproj.io/v1alpha1/namespaces/argo/workflows") == 1
    assert [w["metadata"]["name"] for w in eng.list_runs()] == [name]
    assert eng.get_run(name)["spec"] == MANIFEST["spec"]
    assert "namespace" not in MANIFEST["metadata"]  # the caller's manifest is not changed


def test_a_workflow_over_argos_size_limit_is_refused_before_it_is_created(fake_kube: FakeKube) -> None:
    """Argo's controller stops a Workflow over 1 MiB at once ("workflow is longer than maximum
    allowed size"): the engine says so before creating it; one just under it is created. (Only
    dflowctl's own bootstrap is shipped once per Workflow, tests/test_bootship.py: a user's
    script stays where it is.)"""
    from dflowctl.errors import UsageError

    eng = engine_for(fake_kube)
    script = {"image": "python:3.12", "command": ["python3"], "source": "x" * 40_000}
    big = json.loads(json.dumps(MANIFEST))
    big["spec"]["templates"] += [{"name": f"op{i}", "script": script} for i in range(27)]
    with pytest.raises(UsageError, match=r"the Workflow is 1\.0[0-9] MiB \(28 templates\): Argo's"):
        eng.submit(big, RunOptions(wait=False))
    assert fake_kube.requests_matching("POST") == 0
    big["spec"]["templates"] = big["spec"]["templates"][:25]
    assert eng.submit(big, RunOptions(wait=False))["metadata"]["name"].startswith("hello-")


def test_list_uses_a_label_selector_and_ignores_other_workflows(fake_kube: FakeKube) -> None:
    eng = engine_for(fake_kube)
    mine = eng.submit(MANIFEST, RunOptions(wait=False))["metadata"]["name"]
    other = {**MANIFEST, "metadata": {"name": "not-ours"}}
    fake_kube.store.put("workflows", NAMESPACE, other)
    assert [w["metadata"]["name"] for w in eng.list_runs()] == [mine]
    assert fake_kube.requests_matching("labelSelector=app.kubernetes.io/managed-by=dflowctl") == 1


def test_dry_run_creates_nothing_and_server_dry_run_asks_the_server(fake_kube: FakeKube) -> None:
    eng = engine_for(fake_kube)
    local = eng.submit(MANIFEST, RunOptions(wait=False, dry_run=True))
    assert local["metadata"]["namespace"] == "argo" and "name" not in local["metadata"]
    assert fake_kube.requests_matching("POST") == 0
    server = eng.submit(MANIFEST, RunOptions(wait=False, server_dry_run=True))
    assert server["metadata"]["name"].startswith("hello-")
    assert fake_kube.requests_matching("dryRun=All") == 1
    assert fake_kube.store.items("workflows", NAMESPACE) == []


def test_namespace_flag_beats_the_context(fake_kube: FakeKube) -> None:
    fake_kube.add_namespace("team")
    eng = engine_for(fake_kube, namespace="team")
    created = eng.submit(MANIFEST, RunOptions(wait=False))
    assert created["metadata"]["namespace"] == "team"


def test_the_manifest_namespace_is_kept_and_the_flag_wins(fake_kube: FakeKube) -> None:
    """`metadata.namespace` of the spec is where the run goes (the flag, when given, wins)."""
    fake_kube.add_namespace("team")
    fake_kube.add_namespace("other")
    manifest = {**MANIFEST, "metadata": {**MANIFEST["metadata"], "namespace": "team"}}
    eng = engine_for(fake_kube)
    created = eng.submit(manifest, RunOptions(wait=False))
    assert created["metadata"]["namespace"] == "team"
    assert fake_kube.requests_matching("POST /apis/argoproj.io/v1alpha1/namespaces/team/workflows") == 1
    assert eng.get_run(created["metadata"]["name"])["metadata"]["namespace"] == "team"
    flagged = engine_for(fake_kube, namespace="other").submit(manifest, RunOptions(wait=False))
    assert flagged["metadata"]["namespace"] == "other"


def test_get_decodes_compressed_nodes(fake_kube: FakeKube) -> None:
    nodes = {"w-1": {"id": "w-1", "name": "w", "phase": "Succeeded", "type": "Steps"}}
    packed = base64.b64encode(gzip.compress(json.dumps(nodes).encode())).decode()
    wf = {**MANIFEST, "metadata": {"name": "w"}, "status": {"phase": "Succeeded", "compressedNodes": packed}}
    fake_kube.store.put("workflows", NAMESPACE, wf)
    got = engine_for(fake_kube).get_run("w")
    assert got["status"]["nodes"] == nodes and "compressedNodes" not in got["status"]


def test_unknown_run_is_not_found(fake_kube: FakeKube) -> None:
    with pytest.raises(NotFoundError, match=r'workflows\.argoproj\.io "nope"'):
        engine_for(fake_kube).get_run("nope")


# ------------------------------------------------------------------------------------ following


def test_watch_follows_to_the_end_with_one_request_per_stream(fake_kube: FakeKube) -> None:
    eng = engine_for(fake_kube)
    name = eng.submit(MANIFEST, RunOptions(wait=False))["metadata"]["name"]
    play(fake_kube, name, steps=5)
    final, seen = follow(eng, name)
    assert final["status"]["phase"] == "Succeeded"
    assert len(seen) == 7  # the first get, 5 steps, the end
    assert [len(s.get("status", {}).get("nodes", {})) for s in seen] == [0, 2, 3, 4, 5, 6, 6]
    assert fake_kube.requests_matching("watch=true") == 1
    assert fake_kube.requests_matching("allowWatchBookmarks=true") == 1


def test_submit_with_wait_returns_the_final_object(fake_kube: FakeKube) -> None:
    eng = engine_for(fake_kube)
    seen: list[dict[str, Any]] = []
    orig = fake_kube.store.put

    def put(kind: str, ns: str, obj: dict[str, Any], **kw: Any) -> dict[str, Any]:
        out = orig(kind, ns, obj, **kw)
        if kind == "workflows" and "status" not in obj:
            play(fake_kube, out["metadata"]["name"], steps=2, final="Failed")
        return out

    fake_kube.store.put = put  # type: ignore[method-assign]
    final = eng.submit(MANIFEST, RunOptions(wait=True, on_update=seen.append))
    assert final["status"]["phase"] == "Failed" and seen[-1] is final


@pytest.mark.parametrize(
    "fault",
    ["cut stream", "burst of 500s", "410 gone", "compacted history", "slow api"],
)
def test_watch_survives_faults(fake_kube: FakeKube, fault: str) -> None:
    eng = engine_for(fake_kube)
    name = eng.submit(MANIFEST, RunOptions(wait=False))["metadata"]["name"]
    if fault == "cut stream":
        fake_kube.cut_watch_after, fake_kube.cut_watches = 1, 3
    elif fault == "burst of 500s":
        fake_kube.fail_next, fake_kube.fail_match = 4, "GET /apis/argoproj.io"
    elif fault == "410 gone":
        fake_kube.expire_next_watch = 2
    elif fault == "slow api":
        fake_kube.delay = 0.3
    if fault == "compacted history":
        # between the client's GET and its watch, the object moves on and etcd compacts
        def compact_once() -> None:
            fake_kube.before_watch = None
            write_status(fake_kube, name, {"phase": "Running"})
            fake_kube.store.compact()

        fake_kube.before_watch = compact_once
    t = play(fake_kube, name, steps=6, pause=0.1)
    final, seen = follow(eng, name)
    t.join()
    assert final["status"]["phase"] == "Succeeded"
    assert len(final["status"]["nodes"]) == 7
    rvs = [int(s["metadata"]["resourceVersion"]) for s in seen]
    assert rvs == sorted(set(rvs)), "updates arrive once each, in order"
    watches = fake_kube.requests_matching("watch=true")
    if fault == "cut stream":
        assert watches >= 4
    if fault in ("410 gone", "compacted history"):
        assert (
            fake_kube.requests_matching(f"GET /apis/argoproj.io/v1alpha1/namespaces/argo/workflows/{name}")
            >= 2
        )


def test_watch_resumes_from_the_last_bookmark(fake_kube: FakeKube) -> None:
    eng = engine_for(fake_kube)
    name = eng.submit(MANIFEST, RunOptions(wait=False))["metadata"]["name"]
    noise_rv = {"rv": 0}

    def later() -> None:
        time.sleep(0.3)
        for i in range(5):  # other objects move the resourceVersion while ours is quiet
            fake_kube.put_configmap(NAMESPACE, f"noise-{i}", {"a": "b"})
        noise_rv["rv"] = fake_kube.store.rv
        deadline = time.monotonic() + 30  # until a bookmark past the noise was sent (every 0.5 s)
        while not any(rv >= noise_rv["rv"] for rv in fake_kube.bookmarks) and time.monotonic() < deadline:
            time.sleep(0.05)
        fake_kube.drop_streams()
        time.sleep(0.3)
        play(fake_kube, name, steps=1).join()

    threading.Thread(target=later, daemon=True).start()
    final, _ = follow(eng, name)
    assert final["status"]["phase"] == "Succeeded"
    watches = [r for r in fake_kube.request_log if "watch=true" in r]
    rvs = [int(w.split("resourceVersion=")[1].split("&")[0]) for w in watches]
    assert len(rvs) >= 2 and rvs[1] >= noise_rv["rv"] > rvs[0]


def test_deleted_while_followed(fake_kube: FakeKube) -> None:
    eng = engine_for(fake_kube)
    name = eng.submit(MANIFEST, RunOptions(wait=False))["metadata"]["name"]
    threading.Timer(0.3, lambda: fake_kube.store.remove("workflows", NAMESPACE, name)).start()
    with pytest.raises(NotFoundError, match="deleted"):
        follow(eng, name)


# ------------------------------------------------------------------------------------ errors


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_api_is_exit_3_quickly(tmp_path: Path) -> None:
    kube = FakeKube()
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{_free_port()}"}}],
        "users": [{"name": "u", "user": {"token": kube.token}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    (tmp_path / "kc").write_text(json.dumps(cfg))
    with (
        Within(5.0, "giving up on a refused connection") as took,
        pytest.raises(
            ClusterError, match=r"cannot reach the Kubernetes API at http://127\.0\.0\.1:.*refused"
        ) as err,
    ):
        ArgoEngine(Settings(kubeconfig=str(tmp_path / "kc"))).list_runs()
    assert err.value.exit_code == EXIT_UNREACHABLE
    took.check()


def test_missing_kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ClusterError, match="no Kubernetes configuration"):
        ArgoEngine(Settings(kubeconfig=str(tmp_path / "none"))).list_runs()


def test_bad_token_is_401(fake_kube: FakeKube, tmp_path: Path) -> None:
    cfg = fake_kube.kubeconfig(tmp_path / "kc-bad", token="wrong")
    with pytest.raises(ClusterError, match=r"rejected our credentials \(401 Unauthorized\)"):
        ArgoEngine(Settings(kubeconfig=str(cfg))).list_runs()


def test_forbidden_names_verb_and_resource(fake_kube: FakeKube, tmp_path: Path) -> None:
    fake_kube.add_user("viewer-token", "system:serviceaccount:argo:viewer", {("list", "workflows")})
    cfg = fake_kube.kubeconfig(tmp_path / "kc-viewer", token="viewer-token")
    eng = ArgoEngine(Settings(kubeconfig=str(cfg)))
    assert eng.list_runs() == []
    with pytest.raises(ClusterError) as err:
        eng.submit(MANIFEST, RunOptions(wait=False))
    assert str(err.value) == (
        'workflows.argoproj.io is forbidden: User "system:serviceaccount:argo:viewer" cannot create '
        'resource "workflows" in API group "argoproj.io" in the namespace "argo"'
    )
    assert err.value.hint and "kubectl auth can-i create workflows.argoproj.io -n argo" in err.value.hint


def test_missing_namespace(fake_kube: FakeKube) -> None:
    eng = engine_for(fake_kube, namespace="nowhere")
    with pytest.raises(ClusterError, match='namespace "nowhere" does not exist'):
        eng.submit(MANIFEST, RunOptions(wait=False))
    with pytest.raises(ClusterError, match='namespace "nowhere" does not exist'):
        eng.list_runs()


def test_missing_crd(fake_kube: FakeKube) -> None:
    fake_kube.crd_installed = False
    eng = engine_for(fake_kube)
    for action in (
        lambda: eng.submit(MANIFEST, RunOptions(wait=False)),
        eng.list_runs,
        lambda: eng.get_run("x"),
    ):
        with pytest.raises(
            NoArgoError, match=r"^Argo Workflows is not installed in this cluster \(no workflows"
        ):
            action()


def test_api_server_rejects_invalid_object(fake_kube: FakeKube) -> None:
    bad = {**MANIFEST, "metadata": {"labels": {}}}
    with pytest.raises(ClusterError, match="name or generateName is required"):
        engine_for(fake_kube).submit(bad, RunOptions(wait=False))


def test_controller_rejection_is_shown_as_such(fake_kube: FakeKube) -> None:
    eng = engine_for(fake_kube)
    orig = fake_kube.store.put

    def put(kind: str, ns: str, obj: dict[str, Any], **kw: Any) -> dict[str, Any]:
        out = orig(kind, ns, obj, **kw)
        if kind == "workflows" and "status" not in obj:
            msg = "invalid spec: templates.main.steps[0].x: template or templateRef must be provided"
            status = {"phase": "Failed", "finishedAt": "2026-01-01T00:00:00Z", "message": msg}
            threading.Timer(
                0.2, write_status, (fake_kube, out["metadata"]["name"], status), {"done": True}
            ).start()
        return out

    fake_kube.store.put = put  # type: ignore[method-assign]
    with pytest.raises(
        WorkflowRejectedError, match=r"rejected workflow hello-.*: invalid spec: templates\.main"
    ) as e:
        eng.submit(MANIFEST, RunOptions(wait=True))
    assert e.value.exit_code == EXIT_UNREACHABLE


def test_a_500_on_create_does_not_create_twice(fake_kube: FakeKube) -> None:
    orig = fake_kube.store.put
    calls = {"n": 0}

    def put(kind: str, ns: str, obj: dict[str, Any], **kw: Any) -> dict[str, Any]:
        out = orig(kind, ns, obj, **kw)
        if kind == "workflows" and calls["n"] == 0:
            calls["n"] += 1
            fake_kube.fail_next, fake_kube.fail_match = 1, ""  # the answer is lost, the object exists
        return out

    fake_kube.store.put = put  # type: ignore[method-assign]
    fake_kube.fail_next, fake_kube.fail_match = 1, "POST"
    created = engine_for(fake_kube).submit(MANIFEST, RunOptions(wait=False))
    assert [w["metadata"]["name"] for w in fake_kube.store.items("workflows", NAMESPACE)] == [
        created["metadata"]["name"]
    ]


# ------------------------------------------------------------------------------------ control


def test_stop_and_terminate_set_spec_shutdown(fake_kube: FakeKube) -> None:
    eng = engine_for(fake_kube)
    name = eng.submit(MANIFEST, RunOptions(wait=False))["metadata"]["name"]
    assert eng.stop(name)["spec"]["shutdown"] == "Stop"
    assert eng.stop(name, terminate=True)["spec"]["shutdown"] == "Terminate"
    assert (
        fake_kube.requests_matching(f"PATCH /apis/argoproj.io/v1alpha1/namespaces/argo/workflows/{name}") == 2
    )
    write_status(fake_kube, name, {"phase": "Failed", "finishedAt": "2026-01-01T00:00:00Z"}, done=True)
    with pytest.raises(UsageError, match="already finished"):
        eng.stop(name)


def failed_run() -> dict[str, Any]:
    w = "r"
    root = node(w, w, "Failed", type="Steps", templateName="main")
    g0 = node(w, "r[0]", "Succeeded", type="StepGroup", templateName="main")
    a = node(w, "r[0].a", "Succeeded", type="Pod", templateName="a", outputs={"parameters": []})
    g1 = node(w, "r[1]", "Failed", type="StepGroup", templateName="main")
    b = node(w, "r[1].b", "Failed", type="Pod", templateName="b", message="exit code 1")
    c = node(w, "r[1].c", "Succeeded", type="Pod", templateName="c")
    root["children"], g0["children"], g1["children"] = [g0["id"]], [a["id"]], [b["id"], c["id"]]
    g0["outboundNodes"] = [a["id"]]
    nodes = {n["id"]: n for n in (root, g0, a, g1, b, c)}
    return {
        **MANIFEST,
        "metadata": {
            "name": w,
            "labels": {"workflows.argoproj.io/completed": "true", "workflows.argoproj.io/phase": "Failed"},
        },
        "spec": {**MANIFEST["spec"], "shutdown": "Stop"},
        "status": {
            "phase": "Failed",
            "finishedAt": "2026-01-01T00:00:00Z",
            "message": "child failed",
            "nodes": nodes,
        },
    }


def test_retry_patch_resets_failed_nodes_and_keeps_succeeded() -> None:
    wf = failed_run()
    wf["metadata"]["resourceVersion"] = "42"
    patch = retry_patch(wf)
    nodes = wf["status"]["nodes"]
    ids = {n["name"]: nid for nid, n in nodes.items()}
    changes = patch["status"]["nodes"]
    assert changes[ids["r[1].b"]] is None  # the failed pod is dropped, Argo runs it again
    assert changes[ids["r"]]["phase"] == "Running" and changes[ids["r[1]"]]["phase"] == "Running"
    assert changes[ids["r[1]"]]["children"] == [ids["r[1].c"]]
    assert ids["r[0].a"] not in changes and ids["r[1].c"] not in changes and ids["r[0]"] not in changes
    assert patch["status"]["phase"] == "Running" and patch["status"]["finishedAt"] is None
    assert patch["metadata"]["labels"]["workflows.argoproj.io/completed"] == "false"
    assert patch["metadata"]["resourceVersion"] == "42"
    assert patch["spec"] == {"shutdown": None}


def test_retry_through_the_api(fake_kube: FakeKube) -> None:
    fake_kube.store.put("workflows", NAMESPACE, failed_run())
    eng = engine_for(fake_kube)
    out = eng.retry("r", RunOptions(wait=False))
    assert out["status"]["phase"] == "Running" and "finishedAt" not in out["status"]
    assert out["metadata"]["labels"]["workflows.argoproj.io/completed"] == "false"
    assert "shutdown" not in out["spec"]
    phases = {n["name"]: n["phase"] for n in out["status"]["nodes"].values()}
    assert phases == {"r": "Running", "r[0]": "Succeeded", "r[0].a": "Succeeded", "r[1]": "Running",
                      "r[1].c": "Succeeded"}  # fmt: skip
    with pytest.raises(UsageError, match="only a Failed or Error run can be retried"):
        eng.retry("r", RunOptions(wait=False))


def test_a_retry_the_controller_does_not_take_up_is_touched_until_it_does(
    fake_kube: FakeKube, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Argo v4.0.5 can lose a workflow re-opened right after it completed (its throttler:
    "postponed due to max parallelism limit" for good): `retry --wait` touches it while the
    controller writes nothing, and stops touching once it does."""
    from dflowctl.engines import argo as argo_engine

    monkeypatch.setattr(argo_engine, "NUDGE_AFTER", 0.3)
    monkeypatch.setattr(argo_engine, "NUDGES", 3)
    fake_kube.store.put("workflows", NAMESPACE, failed_run())
    eng = engine_for(fake_kube)
    version = eng.retry("r", RunOptions(wait=False))["metadata"]["resourceVersion"]
    eng._until_taken_up("r", version)  # nobody answers: touched each time, then given up
    raw = fake_kube.store.get("workflows", NAMESPACE, "r")
    assert raw is not None and raw["metadata"]["annotations"] == {argo_engine.RETRY_NUDGE: "3"}

    monkeypatch.setattr(argo_engine, "NUDGE_AFTER", 5.0)
    version = raw["metadata"]["resourceVersion"]

    def controller() -> None:  # takes it up after a second
        time.sleep(1.0)
        fake_kube.store.put("workflows", NAMESPACE, {**raw, "status": {**raw["status"], "progress": "1/2"}})

    thread = threading.Thread(target=controller)
    thread.start()
    t0 = time.monotonic()
    eng._until_taken_up("r", version)
    thread.join()
    assert time.monotonic() - t0 < 4.0
    after = fake_kube.store.get("workflows", NAMESPACE, "r")
    assert after is not None  # not touched again: the count is the first round's
    assert after["metadata"]["annotations"] == {argo_engine.RETRY_NUDGE: "3"}


def test_retry_keeps_compressed_nodes_compressed(fake_kube: FakeKube) -> None:
    wf = failed_run()
    nodes = wf["status"].pop("nodes")
    wf["status"]["compressedNodes"] = base64.b64encode(gzip.compress(json.dumps(nodes).encode())).decode()
    fake_kube.store.put("workflows", NAMESPACE, wf)
    out = engine_for(fake_kube).retry("r", RunOptions(wait=False))
    raw = fake_kube.store.get("workflows", NAMESPACE, "r")
    assert raw is not None and "nodes" not in raw["status"]
    assert len(decode_nodes(raw)["status"]["nodes"]) == 5 == len(out["status"]["nodes"])


def suspended_run(*, held: bool = False) -> dict[str, Any]:
    w = "s"
    root = node(w, w, "Running", type="Steps", templateName="main")
    approve = node(
        w,
        "s[0].approve",
        "Running",
        type="Suspend",
        templateName="approve",
        outputs={"parameters": [{"name": "msg", "globalName": "g", "valueFrom": {"supplied": {}}}]},
    )
    wait = node(w, "s[0].wait", "Running", type="Suspend", templateName="wait")
    spec = {**MANIFEST["spec"], **({"suspend": True} if held else {})}
    nodes = {n["id"]: n for n in (root, approve, wait)}
    return {**MANIFEST, "metadata": {"name": w}, "spec": spec, "status": {"phase": "Running", "nodes": nodes}}


def test_resume_through_the_api(fake_kube: FakeKube) -> None:
    """`argo resume` / `argo node set` as one merge patch: Argo's util.ResumeWorkflow rules."""
    fake_kube.store.put("workflows", NAMESPACE, suspended_run(held=True))
    eng = engine_for(fake_kube)
    with pytest.raises(UsageError, match="raw output parameter 'msg' has not been set"):
        eng.resume("s")
    with pytest.raises(UsageError, match="no suspended node matches 'nope'"):
        eng.resume("s", "nope")
    out = eng.resume("s", "displayName=approve", {"msg": "hi"})
    phases = {n["displayName"]: n["phase"] for n in out["status"]["nodes"].values()}
    assert phases == {"s": "Running", "approve": "Succeeded", "wait": "Running"}
    approve = next(n for n in out["status"]["nodes"].values() if n["displayName"] == "approve")
    assert approve["outputs"]["parameters"] == [{"name": "msg", "globalName": "g", "value": "hi"}]
    assert out["status"]["outputs"]["parameters"] == [{"name": "g", "value": "hi"}]
    assert out["spec"]["suspend"] is True  # a node's resume leaves spec.suspend
    out = eng.resume("s")
    assert "suspend" not in out["spec"]
    assert {n["displayName"]: n["phase"] for n in out["status"]["nodes"].values()}["wait"] == "Succeeded"
    with pytest.raises(UsageError, match="nothing is suspended"):
        eng.resume("s")


def test_resubmit_creates_a_new_run(fake_kube: FakeKube) -> None:
    fake_kube.store.put("workflows", NAMESPACE, failed_run())
    out = engine_for(fake_kube).retry("r", RunOptions(wait=False, resubmit=True))
    assert out["metadata"]["name"].startswith("r-") and "status" not in out
    assert out["metadata"]["labels"]["workflows.argoproj.io/resubmitted-from-workflow"] == "r"
    assert "shutdown" not in out["spec"]


def test_delete(fake_kube: FakeKube) -> None:
    eng = engine_for(fake_kube)
    name = eng.submit(MANIFEST, RunOptions(wait=False))["metadata"]["name"]
    eng.delete(name)
    with pytest.raises(NotFoundError):
        eng.get_run(name)
    with pytest.raises(NotFoundError):
        eng.delete(name)


# ------------------------------------------------------------------------------------ logs


def test_logs_read_each_pod_by_its_v2_name(fake_kube: FakeKube, tmp_path: Path) -> None:
    from dflowctl.argo import pod_name

    wf = failed_run()
    fake_kube.store.put("workflows", NAMESPACE, wf)
    for nid, n in wf["status"]["nodes"].items():
        if n["type"] == "Pod":
            log = tmp_path / f"{nid}.log"
            log.write_text(f"hello from {n['name']}\nbye\n")
            fake_kube.pods[(NAMESPACE, pod_name("r", n["templateName"], n["name"]))] = PodLog(
                log, lambda: True
            )
    lines = list(engine_for(fake_kube).logs("r"))
    assert {(ln.node_name, ln.text) for ln in lines} == {
        (d, t) for d in ("a", "b", "c") for t in (f"hello from r[{'0' if d == 'a' else '1'}].{d}", "bye")
    }
    b_id = next(nid for nid, n in wf["status"]["nodes"].items() if n["name"] == "r[1].b")
    only = list(engine_for(fake_kube).logs("r", [b_id]))
    assert [ln.text for ln in only] == ["hello from r[1].b", "bye"]
    assert fake_kube.requests_matching("/log?container=main") >= 4


def test_logs_follow_streams_until_the_run_ends(fake_kube: FakeKube, tmp_path: Path) -> None:
    from dflowctl.argo import pod_name

    eng = engine_for(fake_kube)
    name = eng.submit(MANIFEST, RunOptions(wait=False))["metadata"]["name"]
    step = node(
        name, f"{name}[0].step", "Running", type="Pod", templateName="main", startedAt="2026-01-01T00:00:00Z"
    )
    log = tmp_path / "step.log"
    log.write_text("first\n")
    finished = threading.Event()
    fake_kube.pods[(NAMESPACE, pod_name(name, "main", step["name"]))] = PodLog(log, finished.is_set)
    write_status(fake_kube, name, {"phase": "Running", "nodes": {step["id"]: step}})

    def produce() -> None:
        time.sleep(0.5)
        with log.open("a") as f:
            f.write("second\n")
        time.sleep(0.3)
        finished.set()
        done = dict(step, phase="Succeeded")
        status = {"phase": "Succeeded", "finishedAt": "2026-01-01T00:00:09Z", "nodes": {step["id"]: done}}
        write_status(fake_kube, name, status, done=True)

    threading.Thread(target=produce, daemon=True).start()
    got = [ln.text for ln in eng.logs(name, follow=True)]
    assert got == ["first", "second"]
    assert fake_kube.requests_matching("follow=true") >= 1


# ------------------------------------------------------------------------------------ configuration


def _two_contexts(kube: FakeKube, path: Path) -> Path:
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": kube.url}}],
        "users": [{"name": "fake", "user": {"token": kube.token}}],
        "contexts": [
            {"name": "plain", "context": {"cluster": "fake", "user": "fake"}},
            {"name": "team", "context": {"cluster": "fake", "user": "fake", "namespace": "team"}},
        ],
        "current-context": "team",
    }
    path.write_text(json.dumps(cfg))
    return path


def test_namespace_comes_from_the_context_else_argo(fake_kube: FakeKube, tmp_path: Path) -> None:
    from dflowctl.kube import KubeClient

    cfg = str(_two_contexts(fake_kube, tmp_path / "kc"))
    assert KubeClient(Settings(kubeconfig=cfg)).namespace == "team"
    assert KubeClient(Settings(kubeconfig=cfg, context="plain")).namespace == "argo"
    assert KubeClient(Settings(kubeconfig=cfg, context="plain", namespace="x")).namespace == "x"


def test_unknown_context_is_a_cluster_error(fake_kube: FakeKube, tmp_path: Path) -> None:
    cfg = str(_two_contexts(fake_kube, tmp_path / "kc"))
    with pytest.raises(ClusterError, match="cannot use kubeconfig"):
        ArgoEngine(Settings(kubeconfig=cfg, context="nope")).list_runs()


def test_kubeconfig_env_var_is_used(fake_kube: FakeKube, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(fake_kube.kubeconfig_path))  # type: ignore[attr-defined]
    assert ArgoEngine(Settings()).list_runs() == []


def test_unknown_run_suggests_a_close_name(fake_kube: FakeKube) -> None:
    eng = engine_for(fake_kube)
    name = eng.submit(MANIFEST, RunOptions(wait=False))["metadata"]["name"]
    with pytest.raises(NotFoundError) as err:
        eng.get_run(name[:-1] + ("x" if name[-1] != "x" else "y"))
    assert err.value.hint == f"did you mean {name!r}?"


def test_unreadable_node_status_is_explained(fake_kube: FakeKube) -> None:
    zstd = base64.b64encode(b"\x28\xb5\x2f\xfd rest").decode()
    fake_kube.store.put(
        "workflows", NAMESPACE, {**MANIFEST, "metadata": {"name": "z"}, "status": {"compressedNodes": zstd}}
    )
    fake_kube.store.put(
        "workflows",
        NAMESPACE,
        {**MANIFEST, "metadata": {"name": "o"}, "status": {"offloadNodeStatusVersion": "fnv:1"}},
    )
    eng = engine_for(fake_kube)
    with pytest.raises(EngineError, match="not gzip"):
        eng.get_run("z")
    with pytest.raises(EngineError, match="offloaded to Argo's database"):
        eng.get_run("o")


def test_logs_of_a_deleted_pod_come_from_the_archived_log(fake_kube: FakeKube, s3: Any) -> None:
    fixtures.artifact_repository(fake_kube, s3)
    wf = failed_run()
    b_id = next(nid for nid, n in wf["status"]["nodes"].items() if n["name"] == "r[1].b")
    key = f"r/r-b-{b_id.split('-')[-1]}/main.log"
    wf["status"]["nodes"][b_id]["outputs"] = {"artifacts": [{"name": "main-logs", "s3": {"key": key}}]}
    wf["status"]["artifactRepositoryRef"] = {"configMap": "artifact-repositories", "key": "default-v1"}
    fake_kube.store.put("workflows", NAMESPACE, wf)
    s3.put(key, b"archived one\narchived two\n")
    lines = list(engine_for(fake_kube).logs("r", [b_id]))
    assert [(ln.node_name, ln.text) for ln in lines] == [("b", "archived one"), ("b", "archived two")]


def test_the_api_server_prunes_and_validates_with_argos_crd(fake_kube: FakeKube) -> None:
    if fake_kube.crd is None:
        pytest.skip("../shared (Argo's CRD) is absent")
    eng = engine_for(fake_kube)
    odd = json.loads(json.dumps(MANIFEST))
    odd["spec"]["templates"][0]["retryStrategy"] = {
        "limit": 2,
        "policy": "OnFailure",
    }  # `policy` is not Argo's
    created = eng.submit(odd, RunOptions(wait=False))
    assert created["spec"]["templates"][0]["retryStrategy"] == {"limit": 2}
    assert fake_kube.pruned == ["spec.templates[0].retryStrategy.policy"]
    bad = json.loads(json.dumps(MANIFEST))
    bad["spec"]["parallelism"] = "many"
    with pytest.raises(
        ClusterError, match=r"the API server rejected the workflows\.argoproj\.io: .*spec\.parallelism"
    ):
        eng.submit(bad, RunOptions(wait=False))
