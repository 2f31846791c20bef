"""RBAC on a REAL API server: a read-only account gets clear refusals (exit 3), and can still look.

A ServiceAccount with a Role of get/list/watch on workflows, pods and pods/log
(what a viewer gets) is made through the current (admin) kubeconfig; a
kubeconfig with its token (TokenRequest) is what dflowctl then runs under. The
real API server's RBAC answers, not a stand-in's: ``run`` and ``delete`` are
refused with the server's own message, ``status`` works. ``make test-cluster``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.fixtures import cli, cluster_env
from tests.conftest import REPO, SPECS

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]
__all__ = ["cluster_env"]

READ_VERBS = {"get", "list", "watch"}


def documented_rules() -> list[dict[str, Any]]:
    """The rules of the Role that docs/argo.md (section 3) says dflowctl needs."""
    import yaml

    text = (REPO / "docs" / "argo.md").read_text()
    block = text.split("## 3. What dflowctl needs to be allowed (RBAC)", 1)[1].split("```yaml", 1)[1]
    docs = yaml.safe_load_all(block.split("```", 1)[0])
    role = next(d for d in docs if d["kind"] == "Role")
    return list(role["rules"])


def read_only(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same rules with only the verbs that read (a viewer's account)."""
    out = []
    for rule in rules:
        verbs = [v for v in rule["verbs"] if v in READ_VERBS]
        if verbs:
            out.append(rule | {"verbs": verbs})
    return out


def _admin() -> tuple[Any, str]:
    from dflowctl.kube import KubeClient
    from dflowctl.settings import load_settings

    kube = KubeClient(load_settings({"engine": "argo"}))
    return kube._ensure(), kube.namespace


@contextmanager
def account(name: str, rules: list[dict[str, Any]], folder: Path) -> Iterator[Path]:
    """A ServiceAccount bound to a Role of ``rules``; yields a kubeconfig with its token."""
    from kubernetes import client

    api, ns = _admin()
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    meta = {"name": name, "namespace": ns}
    binding = {
        "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}],
    }
    made = [
        (core.create_namespaced_service_account, core.delete_namespaced_service_account, {"metadata": meta}),
        (rbac.create_namespaced_role, rbac.delete_namespaced_role, {"metadata": meta, "rules": rules}),
        (rbac.create_namespaced_role_binding, rbac.delete_namespaced_role_binding, binding),
    ]
    for create, delete, body in made:
        try:
            delete(name, ns)
        except client.ApiException:
            pass
        create(ns, body)
    try:
        request = {"spec": {"expirationSeconds": 3600}}
        token = core.create_namespaced_service_account_token(name, ns, request).status.token
        cfg = api.configuration
        cluster = {"server": cfg.host, "certificate-authority": cfg.ssl_ca_cert}
        kubeconfig = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": cluster}],
            "users": [{"name": name, "user": {"token": token}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": name, "namespace": ns}}],
            "current-context": "c",
        }
        path = folder / f"{name}.kubeconfig"
        path.write_text(json.dumps(kubeconfig))
        path.chmod(0o600)
        yield path
    finally:
        for _create, delete, _body in reversed(made):
            try:
                delete(name, ns)
            except client.ApiException:
                pass


def forbidden(user: str, ns: str, verb: str, name: str = "") -> str:
    """The real API server's refusal, as dflowctl prints it (first line)."""
    what = f'workflows.argoproj.io "{name}"' if name else "workflows.argoproj.io"
    return (
        f'error: {what} is forbidden: User "{user}" cannot {verb} resource "workflows" '
        f'in API group "argoproj.io" in the namespace "{ns}"'
    )


HELD = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: held-}
spec:
  entrypoint: hold
  templates:
  - name: hold
    suspend: {}
"""


def test_read_only_account_is_refused_clearly(cluster_env: dict[str, str], tmp_path: Path) -> None:
    """Read verbs of the documented Role only: run, stop, delete refused (exit 3); status, logs, download."""
    admin = {**cluster_env, "DFLOWCTL_HOME": str(tmp_path / "home")}
    ns = _admin()[1]
    user = f"system:serviceaccount:{ns}:dflowctl-viewer"
    made = cli("run", "-e", "argo", "--no-wait", str(SPECS / "hello.yaml"), env=admin)
    assert made.returncode == 0, made.stdout + made.stderr
    name = made.stdout.split()[-1]
    try:
        with account("dflowctl-viewer", read_only(documented_rules()), tmp_path) as kubeconfig:
            viewer = {**admin, "KUBECONFIG": str(kubeconfig)}
            run = cli("run", "-e", "argo", "--wait", str(SPECS / "hello.yaml"), env=viewer, timeout=120)
            assert run.returncode == 3, run.stdout + run.stderr
            assert run.stderr.splitlines() == [
                forbidden(user, ns, "create"),
                f"  hint: grant this account the role in docs/argo.md "
                f"(check: kubectl auth can-i create workflows.argoproj.io -n {ns})",
            ], run.stderr
            held = tmp_path / "held.yaml"  # running until stopped: hello may be done already
            held.write_text(HELD, encoding="utf-8")
            made_held = cli("run", "-e", "argo", "--no-wait", str(held), env=admin)
            assert made_held.returncode == 0, made_held.stdout + made_held.stderr
            held_name = made_held.stdout.split()[-1]
            try:
                stop = cli("stop", held_name, env=viewer)
                assert (stop.returncode, stop.stderr.splitlines()[0]) == (
                    3,
                    forbidden(user, ns, "patch", held_name),
                ), stop.stderr
            finally:
                cli("delete", held_name, env=admin)
            watched = cli("status", name, "--watch", "-o", "json", env=viewer, timeout=300)
            assert watched.returncode == 0, watched.stderr
            assert json.loads(watched.stdout)["status"]["phase"] == "Succeeded"
            logs = cli("logs", name, env=viewer)
            assert logs.returncode == 0 and logs.stdout.startswith("write: "), logs.stdout + logs.stderr
            got = cli("download", name, "-d", str(tmp_path / "got"), env=viewer)
            assert got.returncode == 0, got.stderr
            assert (tmp_path / "got" / "shout" / "loud" / "out.txt").read_text() == "HELLOWORLD!\n"
            gone = cli("delete", name, env=viewer)
            assert (gone.returncode, gone.stderr.splitlines()[0]) == (3, forbidden(user, ns, "delete", name))
            assert cli("status", name, env=viewer).returncode == 0  # still there
            for out in (run, stop, gone):
                assert "Traceback" not in out.stderr
    finally:
        cli("delete", name, env=admin)


def test_the_documented_role_is_enough(cluster_env: dict[str, str], tmp_path: Path) -> None:
    """docs/argo.md's Role, nothing more: run, status, logs, download, retry (deletes pods), stop, delete."""
    home = {**cluster_env, "DFLOWCTL_HOME": str(tmp_path / "home")}
    with account("dflowctl-doc-role", documented_rules(), tmp_path) as kubeconfig:
        env = {**home, "KUBECONFIG": str(kubeconfig)}
        run = cli(
            "run", "-e", "argo", "--wait", "-o", "json", str(SPECS / "hello.yaml"), env=env, timeout=300
        )
        assert run.returncode == 0, run.stdout + run.stderr
        name = json.loads(run.stdout)["metadata"]["name"]
        assert cli("logs", name, env=env).returncode == 0
        got = cli("download", name, "-d", str(tmp_path / "got"), env=env)
        assert got.returncode == 0, got.stderr
        assert (tmp_path / "got" / "shout" / "loud" / "out.txt").read_text() == "HELLOWORLD!\n"
        assert cli("delete", name, env=env).returncode == 0
        failing = cli(
            "run", "-e", "argo", "--wait", str(SPECS / "retry.yaml"), "-p", "failures=9", env=env, timeout=600
        )
        assert failing.returncode == 1, failing.stdout + failing.stderr
        failed = next(w for w in failing.stdout.split() if w.startswith("retry-"))
        retried = cli("retry", failed, "--no-wait", env=env)
        assert retried.returncode == 0, retried.stdout + retried.stderr
        stopped = cli("stop", failed, env=env)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert cli("status", failed, "--watch", env=env, timeout=300).returncode == 1
        assert cli("delete", failed, env=env).returncode == 0
