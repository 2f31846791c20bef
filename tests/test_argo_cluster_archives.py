"""Artifact archive strategies on a REAL Argo: tgz (the default), none (a file; a folder) and zip.

One Argo Workflow file makes a folder and a file and saves them each way; a
second step takes every one back as an input artifact (Argo's executor unpacks
them) and reports what it sees. It runs on the cluster of ``make cluster-up``
and on the local engine: the consumer's report and ``dflowctl download``'s files
must be the same on both, byte for byte. ``make test-cluster``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cluster.fixtures import cli, cluster_env, tree

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]
__all__ = ["cluster_env"]

WORKFLOW = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: archives-}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: make, template: make}
    - - name: use
        template: use
        arguments:
          artifacts:
          - {name: tgz, from: "{{steps.make.outputs.artifacts.tgz}}"}
          - {name: none-file, from: "{{steps.make.outputs.artifacts.none-file}}"}
          - {name: none-dir, from: "{{steps.make.outputs.artifacts.none-dir}}"}
          - {name: zip, from: "{{steps.make.outputs.artifacts.zip}}"}
  - name: make
    script:
      image: alpine:3.20
      command: [sh]
      source: |
        mkdir -p /tmp/d/sub
        printf 'one\\n' > /tmp/d/a.txt
        printf 'two\\n' > /tmp/d/sub/b.txt
        head -c 3000 /dev/zero | tr '\\0' x > /tmp/d/sub/big.txt
        printf 'single file\\n' > /tmp/f.txt
    outputs:
      artifacts:
      - {name: tgz, path: /tmp/d}
      - {name: none-file, path: /tmp/f.txt, archive: {none: {}}}
      - {name: none-dir, path: /tmp/d, archive: {none: {}}}
      - {name: zip, path: /tmp/d, archive: {zip: {}}}
  - name: use
    inputs:
      artifacts:
      - {name: tgz, path: /in/tgz}
      - {name: none-file, path: /in/none-file.txt}
      - {name: none-dir, path: /in/none-dir}
      - {name: zip, path: /in/zip}
    script:
      image: alpine:3.20
      command: [sh]
      source: |
        cd /in && find . -type f | sort | while read f; do echo "$f $(wc -c < "$f")"; done > /tmp/seen.txt
        cat /tmp/seen.txt
    outputs:
      parameters:
      - name: seen
        valueFrom: {path: /tmp/seen.txt}
"""


def seen(wf: dict[str, object]) -> str:
    nodes = wf["status"]["nodes"].values()  # type: ignore[index]
    node = next(n for n in nodes if n["displayName"] == "use")
    return str(next(p["value"] for p in node["outputs"]["parameters"] if p["name"] == "seen"))


def test_archive_strategies_agree_with_the_local_engine(cluster_env: dict[str, str], tmp_path: Path) -> None:
    spec = tmp_path / "archives.yaml"
    spec.write_text(WORKFLOW)
    env = {**cluster_env, "DFLOWCTL_HOME": str(tmp_path / "home")}
    local_env = {"DFLOWCTL_HOME": str(tmp_path / "local-home"), "DFLOWCTL_ENGINE": "local"}
    argo = cli("run", "-e", "argo", "--wait", "-o", "json", str(spec), env=env, timeout=600)
    assert argo.returncode == 0, argo.stdout + argo.stderr
    argo_wf = json.loads(argo.stdout)
    name = argo_wf["metadata"]["name"]
    try:
        local = cli("run", "--wait", "-o", "json", str(spec), env=local_env, timeout=300)
        assert local.returncode == 0, local.stdout + local.stderr
        local_wf = json.loads(local.stdout)
        expected = [
            "./none-dir/a.txt 4",
            "./none-dir/sub/b.txt 4",
            "./none-dir/sub/big.txt 3000",
            "./none-file.txt 12",
            "./tgz/a.txt 4",
            "./tgz/sub/b.txt 4",
            "./tgz/sub/big.txt 3000",
            "./zip/a.txt 4",
            "./zip/sub/b.txt 4",
            "./zip/sub/big.txt 3000",
        ]
        assert seen(argo_wf).splitlines() == expected
        assert seen(local_wf) == seen(argo_wf)
        got = cli("download", name, "--step", "make", "-d", str(tmp_path / "argo"), env=env)
        assert got.returncode == 0, got.stderr
        mine = cli(
            "download",
            local_wf["metadata"]["name"],
            "--step",
            "make",
            "-d",
            str(tmp_path / "local"),
            env=local_env,
        )
        assert mine.returncode == 0, mine.stderr
        files = tree(tmp_path / "argo")
        assert sorted(files) == [
            "make/none-dir/a.txt",
            "make/none-dir/sub/b.txt",
            "make/none-dir/sub/big.txt",
            "make/none-file/f.txt",
            "make/tgz/a.txt",
            "make/tgz/sub/b.txt",
            "make/tgz/sub/big.txt",
            "make/zip/a.txt",
            "make/zip/sub/b.txt",
            "make/zip/sub/big.txt",
        ], sorted(files)
        assert files == tree(tmp_path / "local")
    finally:
        cli("delete", name, env=env)
