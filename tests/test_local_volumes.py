"""``emptyDir`` volumes and ``initContainers`` on the local engine (issue 14): a fresh
folder per pod at each mount path (bind-mounted in an overlay view, so the pod sees a
mount, as in a container), shared by the pod's init containers; outputs read from it.
Through the real CLI; other volume kinds stay refused."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from dflowctl.engines.local import isolation

from .conftest import run_cli

pytestmark = pytest.mark.timeout(120)

WORKFLOW = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: vols
spec:
  entrypoint: main
  volumes:
  - name: shared
    emptyDir: {}
  templates:
  - name: main
    steps:
    - - name: write
        template: write
    - - name: fresh
        template: fresh
  - name: write
    initContainers:
    - name: prepare
      image: busybox
      command: [sh, -c, "echo from-init > /work/greeting"]
      mirrorVolumeMounts: true
    container:
      image: alpine:3.20
      command: [sh, -c]
      args: ["cat /work/greeting; grep -c ' /work ' /proc/mounts; echo out > /work/sub/out.txt"]
      volumeMounts:
      - {name: shared, mountPath: /work}
      - {name: shared, mountPath: /work/sub, subPath: deeper}
    outputs:
      artifacts:
      - {name: out, path: /work/sub/out.txt, archive: {none: {}}}
      parameters:
      - name: greeting
        valueFrom: {path: /work/greeting}
  - name: fresh
    volumes:
    - name: own
      emptyDir: {medium: Memory}
    container:
      image: busybox
      command: [sh, -c, "ls -A /scratch | wc -l; test ! -e /scratch/greeting"]
      volumeMounts:
      - {name: own, mountPath: /scratch}
"""


def run(tmp_path: Path, text: str) -> tuple[int, dict[str, Any], str]:
    path = tmp_path / "wf.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    res = run_cli("run", str(path), "-o", "json", cwd=tmp_path)
    return res.returncode, (json.loads(res.stdout) if res.stdout.strip() else {}), res.stderr


def nodes(wf: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["displayName"]: n for n in wf["status"]["nodes"].values()}


def test_emptydir_shared_with_init_containers(tmp_path: Path, dflowctl_home: Path) -> None:
    code, wf, err = run(tmp_path, WORKFLOW)
    assert code == 0, err
    write = nodes(wf)["write"]
    lines = write["outputs"]["result"].splitlines()
    assert lines[0] == "from-init"  # the init container wrote into the shared volume
    if isolation.method_for(dflowctl_home) == isolation.OVERLAY:
        assert lines[1] == "1"  # a mount, as in a container
    params = {p["name"]: p["value"] for p in write["outputs"]["parameters"]}
    assert params["greeting"] == "from-init"
    # the artifact written under the subPath mount was read from the volume
    got = run_cli("download", "vols", "--step", "write", "-d", str(tmp_path / "dl"), cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    assert [p.read_text() for p in (tmp_path / "dl").rglob("out.txt")] == ["out\n"]
    # a volume lives as long as its pod: the next pod's is empty
    fresh = nodes(wf)["fresh"]
    assert fresh["phase"] == "Succeeded" and fresh["outputs"]["result"] == "0"
    init_log = list((dflowctl_home / "runs" / "vols" / "logs").glob("*.init-prepare.log"))
    assert len(init_log) == 1


def test_a_failing_init_container_fails_the_pod(tmp_path: Path, dflowctl_home: Path) -> None:
    code, wf, err = run(
        tmp_path,
        """\
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata:
          name: init-fails
        spec:
          entrypoint: main
          templates:
          - name: main
            initContainers:
            - name: check
              image: busybox
              command: [sh, -c, "exit 3"]
            container:
              image: busybox
              command: [sh, -c, "echo main ran"]
        """,
    )
    assert code == 1, err
    node = nodes(wf)["init-fails"]
    assert node["phase"] == "Failed" and "exit code 3" in node["message"]
    assert "main ran" not in (node.get("outputs") or {}).get("result", "")


def test_other_volumes_are_refused(tmp_path: Path, dflowctl_home: Path) -> None:
    code, _wf, err = run(
        tmp_path,
        """\
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata:
          name: pvc
        spec:
          entrypoint: main
          volumes:
          - name: data
            persistentVolumeClaim: {claimName: mine}
          templates:
          - name: main
            container:
              image: busybox
              command: ["true"]
              volumeMounts:
              - {name: data, mountPath: /data}
        """,
    )
    assert code == 2
    path = tmp_path / "wf.yaml"
    assert [line for line in err.splitlines() if "not supported" in line] == [
        f"{path}:8:5: not supported by the local engine: persistentVolumeClaim volumes "
        "(Kubernetes volumes are not mounted on the host; emptyDir is)",
        f"{path}:16:9: not supported by the local engine: volumeMounts of volume 'data' "
        "(only emptyDir volumes and volumeClaimTemplates are mounted on the host)",
    ]


def test_sidecars_run_beside_the_main_container_and_stop_with_it(tmp_path: Path, dflowctl_home: Path) -> None:
    code, wf, err = run(
        tmp_path,
        """\
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata:
          name: sidecars
        spec:
          entrypoint: main
          templates:
          - name: main
            volumes:
            - {name: talk, emptyDir: {}}
            container:
              image: busybox
              command: [sh, -c]
              args: ["until [ -e /talk/ready ]; do sleep 0.1; done; cat /talk/ready"]
              volumeMounts:
              - {name: talk, mountPath: /talk}
            sidecars:
            - name: helper
              image: busybox
              command: [sh, -c, "echo hello from the sidecar > /talk/ready; sleep 300"]
              mirrorVolumeMounts: true
        """,
    )
    assert code == 0, err
    node = nodes(wf)["sidecars"]
    assert node["outputs"]["result"] == "hello from the sidecar"
    from datetime import datetime

    def ts(text: str) -> float:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

    assert ts(wf["status"]["finishedAt"]) - ts(wf["status"]["startedAt"]) < 60  # the sidecar was stopped
    assert len(list((dflowctl_home / "runs" / "sidecars" / "logs").glob("*.sidecar-helper.log"))) == 1


def test_volume_claim_templates_are_a_folder_of_the_run(tmp_path: Path, dflowctl_home: Path) -> None:
    code, wf, err = run(
        tmp_path,
        """\
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata:
          name: claims
        spec:
          entrypoint: main
          volumeClaimTemplates:
          - metadata: {name: workdir}
            spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
          templates:
          - name: main
            steps:
            - - name: write
                template: write
            - - name: read
                template: read
          - name: write
            container:
              image: busybox
              command: [sh, -c, "echo kept > /mnt/vol/file.txt"]
              volumeMounts: [{name: workdir, mountPath: /mnt/vol}]
            outputs:
              artifacts: [{name: file, path: /mnt/vol/file.txt, archive: {none: {}}}]
          - name: read
            container:
              image: alpine:3.20
              command: [cat, /data/file.txt]
              volumeMounts: [{name: workdir, mountPath: /data}]
        """,
    )
    assert code == 0, err
    # the artifact was copied out of the claim: the next pod still finds the file
    assert nodes(wf)["read"]["outputs"]["result"] == "kept"
    assert nodes(wf)["write"]["outputs"]["artifacts"][0]["name"] == "file"
