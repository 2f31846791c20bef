"""The Kubernetes stand-in answers like the API server (raw HTTP, no client library).

What is checked here is what the real kube-apiserver does for the same requests:
status codes, ``Status`` bodies, resourceVersion semantics of watches.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dflowctl.kube import DEFAULT_NAMESPACE
from tests.k8s import fixtures
from tests.k8s.server import FakeKube

pytestmark = pytest.mark.timeout(30)
fake_kube = fixtures.fake_kube  # the fixture

WF = "/apis/argoproj.io/v1alpha1/namespaces/argo/workflows"
BODY = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"generateName": "x-", "labels": {"team": "a", "tier": "gold"}},
    "spec": {"entrypoint": "main", "templates": [{"name": "main", "container": {"image": "alpine"}}]},
}


def call(
    kube: FakeKube,
    method: str,
    path: str,
    body: Any = None,
    *,
    token: str | None = None,
    ctype: str = "application/json",
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(kube.url + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token or kube.token}")
    if data is not None:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def events(kube: FakeKube, query: str) -> Iterator[dict[str, Any]]:
    req = urllib.request.Request(f"{kube.url}{WF}?watch=true&{query}")
    req.add_header("Authorization", f"Bearer {kube.token}")
    with urllib.request.urlopen(req, timeout=10) as resp:
        for line in resp:
            if line.strip():
                yield json.loads(line)


def test_create_get_list_patch_delete(fake_kube: FakeKube) -> None:
    code, obj = call(fake_kube, "POST", WF, BODY)
    assert code == 201 and re.fullmatch(r"x-[bcdfghjklmnpqrstvwxz2456789]{5}", obj["metadata"]["name"])
    name, rv = obj["metadata"]["name"], int(obj["metadata"]["resourceVersion"])
    assert obj["metadata"]["namespace"] == DEFAULT_NAMESPACE and obj["metadata"]["uid"]
    code, again = call(fake_kube, "POST", WF, {**BODY, "metadata": {"name": name}})
    assert code == 409 and again["reason"] == "AlreadyExists"
    assert again["message"] == f'workflows.argoproj.io "{name}" already exists'
    code, listing = call(fake_kube, "GET", f"{WF}?labelSelector=team%3Da,tier%20in%20(gold,silver)")
    assert code == 200 and listing["kind"] == "WorkflowList" and len(listing["items"]) == 1
    assert call(fake_kube, "GET", f"{WF}?labelSelector=team!%3Da")[1]["items"] == []
    code, patched = call(
        fake_kube,
        "PATCH",
        f"{WF}/{name}",
        {"spec": {"shutdown": "Stop"}},
        ctype="application/merge-patch+json",
    )
    assert code == 200 and patched["spec"]["shutdown"] == "Stop"
    assert int(patched["metadata"]["resourceVersion"]) > rv
    code, smp = call(fake_kube, "PATCH", f"{WF}/{name}", {}, ctype="application/strategic-merge-patch+json")
    assert code == 415 and smp["reason"] == "UnsupportedMediaType"
    code, gone = call(fake_kube, "DELETE", f"{WF}/{name}")
    assert code == 200 and gone["status"] == "Success" and gone["details"]["name"] == name
    code, missing = call(fake_kube, "GET", f"{WF}/{name}")
    assert (code, missing["reason"], missing["details"]["kind"]) == (404, "NotFound", "workflows")
    assert missing == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f'workflows.argoproj.io "{name}" not found',
        "reason": "NotFound",
        "details": {"name": name, "group": "argoproj.io", "kind": "workflows"},
        "code": 404,
    }


def test_auth_and_forbidden(fake_kube: FakeKube) -> None:
    code, body = call(fake_kube, "GET", WF, token="nope")
    assert (code, body["reason"], body["message"]) == (401, "Unauthorized", "Unauthorized")
    fake_kube.add_user("t", "jane", {("get", "workflows")})
    code, body = call(fake_kube, "GET", f"{WF}/abc", token="t")
    assert code == 404  # allowed to get; there is none
    code, body = call(fake_kube, "DELETE", f"{WF}/abc", token="t")
    assert code == 403 and body["message"] == (
        'workflows.argoproj.io "abc" is forbidden: User "jane" cannot delete resource "workflows" '
        'in API group "argoproj.io" in the namespace "argo"'
    )


def test_missing_namespace_and_crd(fake_kube: FakeKube) -> None:
    code, body = call(fake_kube, "POST", WF.replace("/argo/", "/nope/"), BODY)
    assert (code, body["message"], body["details"]["kind"]) == (
        404,
        'namespaces "nope" not found',
        "namespaces",
    )
    code, body = call(fake_kube, "GET", WF.replace("/argo/", "/nope/"))
    assert code == 200 and body["items"] == []  # as the API server: listing needs no namespace
    fake_kube.crd_installed = False
    code, body = call(fake_kube, "GET", WF)
    assert (code, body["message"]) == (404, "the server could not find the requested resource")


def test_watch_replays_from_a_resource_version_and_expires_old_ones(fake_kube: FakeKube) -> None:
    _, first = call(fake_kube, "POST", WF, BODY)
    rv0 = first["metadata"]["resourceVersion"]
    _, second = call(fake_kube, "POST", WF, BODY)
    stream = events(fake_kube, f"resourceVersion={rv0}&timeoutSeconds=1")
    ev = next(stream)
    assert ev["type"] == "ADDED" and ev["object"]["metadata"]["name"] == second["metadata"]["name"]
    fake_kube.store.compact()
    expired = list(events(fake_kube, f"resourceVersion={rv0}&timeoutSeconds=1"))
    assert len(expired) == 1 and expired[0]["type"] == "ERROR"
    assert expired[0]["object"]["code"] == 410 and expired[0]["object"]["reason"] == "Expired"
    fresh = list(
        events(fake_kube, "timeoutSeconds=1&fieldSelector=metadata.name%3D" + first["metadata"]["name"])
    )
    assert [e["type"] for e in fresh] == ["ADDED"]


def test_watch_sends_bookmarks_when_asked(fake_kube: FakeKube) -> None:
    _, obj = call(fake_kube, "POST", WF, BODY)
    got = list(events(fake_kube, f"resourceVersion={obj['metadata']['resourceVersion']}&timeoutSeconds=1"))
    assert got == []
    got = list(
        events(
            fake_kube,
            f"resourceVersion={obj['metadata']['resourceVersion']}&timeoutSeconds=1&allowWatchBookmarks=true",
        )
    )
    assert got and all(e["type"] == "BOOKMARK" for e in got)
    assert got[0]["object"]["metadata"]["resourceVersion"] == str(fake_kube.store.rv)


def test_secrets_configmaps_and_pod_logs(fake_kube: FakeKube, tmp_path: Path) -> None:
    from tests.k8s.server import PodLog

    fake_kube.put_secret("argo", "s", {"k": b"v"})
    code, sec = call(fake_kube, "GET", "/api/v1/namespaces/argo/secrets/s")
    assert code == 200 and sec["data"] == {"k": "dg=="}
    code, cm = call(fake_kube, "GET", "/api/v1/namespaces/argo/configmaps/none")
    assert (code, cm["message"]) == (404, 'configmaps "none" not found')
    log = tmp_path / "p.log"
    log.write_text("a\nb\n")
    fake_kube.pods[("argo", "p")] = PodLog(log, lambda: True)
    req = urllib.request.Request(
        f"{fake_kube.url}/api/v1/namespaces/argo/pods/p/log?container=main&follow=true"
    )
    req.add_header("Authorization", f"Bearer {fake_kube.token}")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.read() == b"a\nb\n"


def test_kubernetes_is_imported_only_by_kube_py() -> None:
    pkg = Path(__file__).resolve().parent.parent / "dflowctl"
    users = sorted(
        str(p.relative_to(pkg))
        for p in pkg.rglob("*.py")
        if re.search(r"^\s*(from|import) kubernetes\b", p.read_text(encoding="utf-8"), re.M)
    )
    assert users == ["kube.py"]
