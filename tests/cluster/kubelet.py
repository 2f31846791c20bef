"""The process kubelet: one Node on loopback whose pods are host processes (there is no container runtime).

    python -m tests.cluster.kubelet

It registers Node ``dflowctl-node`` (Ready, InternalIP 127.0.0.1, kubelet port),
binds every unscheduled pod to itself (there is no scheduler), runs the pods
bound to it (``kubelet_pod.py``), honours deletion (stop the processes, then
remove the pod object) and serves container logs on the kubelet port
(``kubelet_logs.py``) so ``pods/log`` works through the API server. It talks to
the API server as the cluster admin.
"""

from __future__ import annotations

import sys
import threading
import time

from tests.cluster.kapi import Api, ApiError, Obj
from tests.cluster.kubelet_logs import serve_logs
from tests.cluster.kubelet_pod import PodRunner, now
from tests.cluster.layout import HOST, NODE_NAME, Layout, layout


class Kubelet:
    def __init__(self, lay: Layout) -> None:
        self.lay = lay
        self.api = Api(lay.server, lay.pki)
        self.pods: dict[str, PodRunner] = {}  # by uid
        self.lock = threading.Lock()

    # ------------------------------------------------------------ node
    def node_status(self) -> Obj:
        t = now()
        capacity = {"cpu": "2", "memory": "8Gi", "pods": "1000", "ephemeral-storage": "100Gi"}
        return {
            "capacity": capacity,
            "allocatable": capacity,
            "addresses": [
                {"type": "InternalIP", "address": HOST},
                {"type": "Hostname", "address": NODE_NAME},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.lay.ports.kubelet}},
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": "linux",
                "kubeletVersion": "dflowctl-process-kubelet",
                "containerRuntimeVersion": "process://host",
                "kernelVersion": "",
                "osImage": "host",
                "bootID": "",
                "machineID": "",
                "systemUUID": "",
                "kubeProxyVersion": "",
            },
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "process kubelet is posting ready status",
                    "lastHeartbeatTime": t,
                    "lastTransitionTime": t,
                }
            ],
        }

    def register(self) -> None:
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": NODE_NAME,
                "labels": {"kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux"}
                | {"kubernetes.io/arch": "amd64"},
            },
        }
        self.api.create("/api/v1/nodes", node, exist_ok=True)
        self.api.merge_patch(f"/api/v1/nodes/{NODE_NAME}/status", {"status": self.node_status()})

    def heartbeat(self) -> None:
        while True:
            time.sleep(20)
            try:
                self.api.merge_patch(f"/api/v1/nodes/{NODE_NAME}/status", {"status": self.node_status()})
            except Exception as exc:
                print(f"kubelet: heartbeat: {exc}", file=sys.stderr)

    # ------------------------------------------------------------ pods
    def find(self, ns: str, name: str) -> PodRunner | None:
        with self.lock:
            for runner in self.pods.values():
                if runner.ns == ns and runner.name == name:
                    return runner
        return None

    def bind(self, pod: Obj) -> None:
        meta = pod["metadata"]
        body = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
            "target": {"apiVersion": "v1", "kind": "Node", "name": NODE_NAME},
        }
        try:
            self.api.create(f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/binding", body)
        except ApiError as err:
            if err.status not in (404, 409):
                print(f"kubelet: bind {meta['namespace']}/{meta['name']}: {err}", file=sys.stderr)

    def handle(self, pod: Obj) -> None:
        spec, meta = pod["spec"], pod["metadata"]
        if not spec.get("nodeName"):
            if not meta.get("deletionTimestamp"):
                self.bind(pod)
            return
        if spec["nodeName"] != NODE_NAME:
            return
        uid = meta["uid"]
        with self.lock:
            runner = self.pods.get(uid)
            if runner is None and not meta.get("deletionTimestamp"):
                phase = (pod.get("status") or {}).get("phase")
                if phase in ("Succeeded", "Failed"):
                    return  # finished before this kubelet started
                runner = PodRunner(self.api, pod, self.lay.pods, self.lay.bin, self.lay.ports.apiserver)
                self.pods[uid] = runner
                threading.Thread(target=runner.run, name=f"pod-{meta['name']}", daemon=True).start()
                return
        if meta.get("deletionTimestamp"):
            grace = int(meta.get("deletionGracePeriodSeconds") or 0)
            threading.Thread(target=self.remove, args=(pod, runner, grace), daemon=True).start()

    def remove(self, pod: Obj, runner: PodRunner | None, grace: int) -> None:
        meta = pod["metadata"]
        if runner is not None and not runner.killed.is_set():
            runner.kill(grace)
            runner.finished.wait(30)
        if meta.get("finalizers"):
            return  # removed by whoever owns the finalizer; we come back on the next event
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0}
        body["preconditions"] = {"uid": meta["uid"]}
        try:
            self.api.delete(f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}", body)
        except ApiError as err:
            if err.status not in (404, 409):
                print(f"kubelet: delete {meta['namespace']}/{meta['name']}: {err}", file=sys.stderr)
                return
        with self.lock:
            self.pods.pop(meta["uid"], None)
        if runner is not None:
            runner.cleanup()

    def loop(self) -> None:
        while True:
            try:
                listing = self.api.get("/api/v1/pods")
                for pod in listing.get("items") or []:
                    self.handle(pod)
                rv = listing["metadata"]["resourceVersion"]
                for event in self.api.watch("/api/v1/pods", {"resourceVersion": rv}):
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self.handle(event["object"])
                    elif event["type"] == "ERROR":
                        break
            except Exception as exc:
                print(f"kubelet: watch: {exc}", file=sys.stderr)
                time.sleep(1)


def main() -> int:
    lay = layout()
    kubelet = Kubelet(lay)
    kubelet.register()
    serve_logs(kubelet.find, lay)
    threading.Thread(target=kubelet.heartbeat, daemon=True).start()
    print(f"kubelet: node {NODE_NAME} registered; logs on https://{HOST}:{lay.ports.kubelet}", flush=True)
    kubelet.loop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
