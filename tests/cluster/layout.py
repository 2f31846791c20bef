"""Where the test cluster's parts live: versions, the cache and run folders, loopback ports.

Everything is keyed by the pinned versions in ``versions.env``; the cache folder
is ``$DFLOWCTL_CLUSTER_CACHE`` (default ``~/.cache/dflowctl-cluster``), never the repo.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
HOST = "127.0.0.1"
NAMESPACE = "argo"
NODE_NAME = "dflowctl-node"
BUCKET = "my-bucket"
S3_SECRET = "my-minio-cred"


def versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for line in (HERE / "versions.env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            out[key] = value
    return out


@dataclass(frozen=True)
class Ports:
    etcd: int = 23790
    etcd_peer: int = 23800
    apiserver: int = 16443
    kubelet: int = 10250
    controller_manager: int = 10257
    s3: int = 19000


@dataclass(frozen=True)
class Layout:
    cache: Path
    ports: Ports

    @property
    def bin(self) -> Path:
        return self.cache / "bin"

    @property
    def run(self) -> Path:
        return self.cache / "run"

    @property
    def pki(self) -> Path:
        return self.run / "pki"

    @property
    def logs(self) -> Path:
        return self.run / "logs"

    @property
    def pids(self) -> Path:
        return self.run / "pids"

    @property
    def pods(self) -> Path:
        return self.run / "pods"

    @property
    def kubeconfig(self) -> Path:
        return self.run / "kubeconfig"

    @property
    def controller_kubeconfig(self) -> Path:
        return self.run / "controller.kubeconfig"

    @property
    def s3_keys(self) -> Path:
        return self.run / "s3-keys.json"

    @property
    def server(self) -> str:
        return f"https://{HOST}:{self.ports.apiserver}"


def layout() -> Layout:
    v = versions()
    base = Path(os.environ.get("DFLOWCTL_CLUSTER_CACHE") or Path.home() / ".cache" / "dflowctl-cluster")
    key = f"k8s-{v['K8S_VERSION']}-argo-{v['ARGO_VERSION']}-etcd-{v['ETCD_VERSION']}"
    return Layout(cache=base / key, ports=Ports())
