"""``make cluster-up``: etcd, kube-apiserver, S3, the process kubelet and Argo's controller on loopback.

    python -m tests.cluster.up      # prints `export KUBECONFIG=...` last
    python -m tests.cluster.down

Needs the binaries of ``tests/cluster/build.sh`` (``make cluster-build``) and
root (mount namespaces). Everything listens on 127.0.0.1 only; state, logs and
pid files are under ``<cache>/run``. Start-up ends when Argo's own hello-world
example (from the pinned module) has Succeeded.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import time
from pathlib import Path

import requests

from tests.cluster import bootstrap, pki, procs
from tests.cluster.kapi import Api, ApiError
from tests.cluster.layout import BUCKET, HOST, NAMESPACE, REPO, Layout, layout, versions

BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "workflow-controller",
    "argoexec",
    "argo",
    "s3",
)
# The controller-manager's controllers, but not those for nodes (the kubelet keeps its own Node Ready).
CONTROLLERS = "*,-node-lifecycle-controller,-node-ipam-controller,-cloud-node-lifecycle-controller"
ISSUER = "https://kubernetes.default.svc.cluster.local"


def kubeconfig(lay: Layout, user: dict[str, str], path: Path) -> None:
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "dflowctl-test", "cluster": {"server": lay.server}}],
        "users": [{"name": "user", "user": user}],
        "contexts": [{"name": "dflowctl-test", "context": {"cluster": "dflowctl-test", "user": "user"}}],
        "current-context": "dflowctl-test",
    }
    cfg["clusters"][0]["cluster"]["certificate-authority"] = str(lay.pki / "ca.crt")  # type: ignore[index]
    cfg["contexts"][0]["context"]["namespace"] = NAMESPACE  # type: ignore[index]
    path.write_text(json.dumps(cfg, indent=2))
    path.chmod(0o600)


def _no_env() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # loopback: no proxy from the environment
    return session


def start_etcd(lay: Layout) -> None:
    p = lay.ports
    argv = [str(lay.bin / "etcd"), "--data-dir", str(lay.run / "etcd")]
    argv += [
        "--listen-client-url",
        f"http://{HOST}:{p.etcd}",
        "--listen-peer-url",
        f"http://{HOST}:{p.etcd_peer}",
    ]
    procs.start(lay, "etcd", argv)
    procs.wait_for(
        "etcd",
        lambda: _no_env().get(f"http://{HOST}:{p.etcd}/health", timeout=2).json().get("health") == "true",
        60,
        lay.logs / "etcd.log",
        lay,
    )


def start_apiserver(lay: Layout) -> Api:
    k = lay.pki
    flags = {
        "etcd-servers": f"http://{HOST}:{lay.ports.etcd}",
        "bind-address": HOST,
        "advertise-address": HOST,
        "secure-port": str(lay.ports.apiserver),
        "tls-cert-file": k / "apiserver.crt",
        "tls-private-key-file": k / "apiserver.key",
        "client-ca-file": k / "ca.crt",
        "service-account-issuer": ISSUER,
        "service-account-key-file": k / "sa.pub",
        "service-account-signing-key-file": k / "sa.key",
        "authorization-mode": "Node,RBAC",
        "kubelet-client-certificate": k / "apiserver-kubelet-client.crt",
        "kubelet-client-key": k / "apiserver-kubelet-client.key",
        "kubelet-certificate-authority": k / "ca.crt",
        "kubelet-preferred-address-types": "InternalIP",
        "service-cluster-ip-range": "10.96.0.0/24",
        "endpoint-reconciler-type": "none",
        "allow-privileged": "true",
        "profiling": "false",
        "enable-priority-and-fairness": "false",
    }
    argv = [str(lay.bin / "kube-apiserver"), *(f"--{key}={value}" for key, value in flags.items())]
    procs.start(lay, "kube-apiserver", argv)
    api = Api(lay.server, lay.pki)
    procs.wait_for(
        "kube-apiserver",
        lambda: api.session.get(lay.server + "/readyz", timeout=5).ok,
        120,
        lay.logs / "kube-apiserver.log",
        lay,
    )
    return api


def start_controller_manager(lay: Layout) -> None:
    cfg = str(lay.kubeconfig)
    flags = {
        "kubeconfig": cfg,
        "authentication-kubeconfig": cfg,
        "authorization-kubeconfig": cfg,
        "bind-address": HOST,
        "secure-port": str(lay.ports.controller_manager),
        "controllers": CONTROLLERS,
        "root-ca-file": lay.pki / "ca.crt",
        "service-account-private-key-file": lay.pki / "sa.key",
        "leader-elect": "false",
        "use-service-account-credentials": "false",
    }
    argv = [str(lay.bin / "kube-controller-manager"), *(f"--{key}={value}" for key, value in flags.items())]
    procs.start(lay, "kube-controller-manager", argv)


def controller_kubeconfig(api: Api, lay: Layout) -> None:
    body = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": 7 * 86400},
    }
    out = api.create(f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/argo/token", body)
    kubeconfig(lay, {"token": out["status"]["token"]}, lay.controller_kubeconfig)


def hello_world(api: Api, lay: Layout, timeout: float = 240) -> str:
    wf = bootstrap.load(bootstrap.argo_src(lay) / "examples" / "hello-world.yaml")[0]
    out = api.create(f"/apis/argoproj.io/v1alpha1/namespaces/{NAMESPACE}/workflows", wf)
    name = out["metadata"]["name"]
    path = f"/apis/argoproj.io/v1alpha1/namespaces/{NAMESPACE}/workflows/{name}"
    end = time.monotonic() + timeout
    phase = ""
    while time.monotonic() < end:
        procs.ensure_alive(lay)
        phase = api.get(path).get("status", {}).get("phase", "")
        if phase in ("Succeeded", "Failed", "Error"):
            break
        time.sleep(1)
    if phase != "Succeeded":
        status = api.get(path).get("status") or {}
        nodes = [
            f"  node {n.get('displayName')}: {n.get('phase')} {n.get('message') or ''}".rstrip()
            for n in (status.get("nodes") or {}).values()
        ]
        raise RuntimeError(
            "\n".join(
                [f"Argo's hello-world {name} ended {phase or 'not'} after {timeout:.0f}s"]
                + ([f"  message: {status['message']}"] if status.get("message") else [])
                + nodes
            )
        )
    api.delete(path)
    return name


def up(lay: Layout) -> None:
    missing = [b for b in BINARIES if not (lay.bin / b).exists()]
    if missing:
        raise SystemExit(
            f"cluster-up: missing {', '.join(missing)} in {lay.bin}; run `make cluster-build` first"
        )
    if os.geteuid() != 0:
        raise SystemExit("cluster-up: the process kubelet needs root (mount namespaces)")
    if procs.running(lay):
        raise SystemExit(
            f"cluster-up: already running ({', '.join(procs.running(lay))}); `make cluster-down` first"
        )
    shutil.rmtree(lay.run, ignore_errors=True)
    lay.run.mkdir(parents=True)
    t0 = time.monotonic()
    pki.make(lay.pki)
    start_etcd(lay)
    api = start_apiserver(lay)
    kubeconfig(
        lay,
        {"client-certificate": str(lay.pki / "admin.crt"), "client-key": str(lay.pki / "admin.key")},
        lay.kubeconfig,
    )
    start_controller_manager(lay)
    bootstrap.core(api, lay)
    keys = {"access": "dflowctl-" + secrets.token_hex(6), "secret": secrets.token_urlsafe(24)}
    lay.s3_keys.write_text(json.dumps(keys))
    lay.s3_keys.chmod(0o600)
    s3_env = {"S3_ACCESS_KEY": keys["access"], "S3_SECRET_KEY": keys["secret"]}
    s3_argv = [
        str(lay.bin / "s3"),
        "--addr",
        f"{HOST}:{lay.ports.s3}",
        "--dir",
        str(lay.run / "s3"),
        "--bucket",
        BUCKET,
    ]
    procs.start(lay, "s3", s3_argv, env=s3_env)
    bootstrap.argo(api, lay, keys)
    procs.wait_for("Argo CRDs", lambda: bootstrap.crds_established(api), 60, lay=lay)
    controller_kubeconfig(api, lay)
    procs.start(lay, "kubelet", [sys.executable, "-m", "tests.cluster.kubelet"], cwd=REPO)
    controller = [str(lay.bin / "workflow-controller"), "--kubeconfig", str(lay.controller_kubeconfig)]
    controller += ["--executor-image", f"quay.io/argoproj/argoexec:{versions()['ARGO_VERSION']}"]
    procs.start(lay, "workflow-controller", controller, env={"LEADER_ELECTION_DISABLE": "true"})
    name = hello_world(api, lay)
    print(
        f"cluster-up: ready in {time.monotonic() - t0:.0f}s (Argo's {name} Succeeded); logs in {lay.logs}",
        file=sys.stderr,
    )
    print(f"export KUBECONFIG={lay.kubeconfig}")


def main() -> int:
    lay = layout()
    try:
        up(lay)
    except (RuntimeError, TimeoutError, OSError, ApiError, requests.RequestException) as exc:
        print(f"cluster-up: {exc}", file=sys.stderr)
        if lay.pids.exists() and "exited;" not in str(exc):
            print(procs.diagnosis(lay), file=sys.stderr)
        print(
            f"cluster-up: failed; all logs in {lay.logs}; stop what started: make cluster-down",
            file=sys.stderr,
        )
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
