"""``run -e argo --reuse RUN`` on the stand-in (tests/k8s): reused steps run no pod, their
outputs are the earlier run's (download gives its files byte for byte), and the key is
``stepkey.step_key`` as on the local engine (docs/reuse.md, "Reuse on Argo")."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SPECS, run_cli
from tests.k8s import fixtures
from tests.k8s.fixtures import NAMESPACE, ArgoCluster

argo_cluster = fixtures.argo_cluster
fake_kube = fixtures.fake_kube
s3 = fixtures.s3
s3_server = fixtures.s3_server

pytestmark = pytest.mark.timeout(240)

SPEC = """apiVersion: dflowctl/v1alpha1
kind: Workflow
metadata: {name: relax}
spec:
  parameters:
    n: {type: int, default: 3}
  ops:
    square:
      image: python:3.12-slim
      python: numbers:square
      source: ./square
      inputs: {parameters: {x: int}}
      outputs: {artifacts: {result: {}}}
    energy:
      image: python:3.12-slim
      python: numbers:energy
      source: ./energy
      inputs: {parameters: {x: int}}
      outputs: {parameters: {e: int}}
    sum-files:
      image: python:3.12-slim
      python: numbers:sum_files
      source: ./analyse
      inputs: {artifacts: {files: {}}}
      outputs: {parameters: {total: int}}
  steps:
    - name: square
      op: square
      parameters: {x: "{{item}}"}
      foreach: {range: {count: "{{workflow.parameters.n}}"}}
    - name: energy
      op: energy
      parameters: {x: "{{item}}"}
      foreach: {range: {count: "{{workflow.parameters.n}}"}}
    - name: total
      op: sum-files
      artifacts: {files: "{{steps.square.outputs.artifacts.result}}"}
"""

SQUARE = """from pathlib import Path


def square(x: int) -> Path:
    out = Path("square.txt")
    out.write_text(f"{x * x}\\n", encoding="utf-8")
    return out
"""

ENERGY = """def energy(x: int) -> int:
    return 10 * x + 1
"""

ANALYSE = """from pathlib import Path


def sum_files(files: Path) -> int:
    paths = [files] if files.is_file() else sorted(p for p in files.rglob("*") if p.is_file())
    total = sum(int(p.read_text(encoding="utf-8").strip()) for p in paths)
    return total
"""


def project(root: Path) -> Path:
    for folder, text in (("square", SQUARE), ("energy", ENERGY), ("analyse", ANALYSE)):
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / "numbers.py").write_text(text, encoding="utf-8")
    spec = root / "relax.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    return spec


def cli(cluster: ArgoCluster, *args: str) -> Any:
    return run_cli(*args, env=cluster.env, timeout=180)


def workflow(cluster: ArgoCluster, name: str) -> dict[str, Any]:
    found = cluster.kube.store.get("workflows", NAMESPACE, name)
    assert found is not None
    return found


def newest(cluster: ArgoCluster) -> str:
    items = cluster.kube.store.items("workflows", NAMESPACE)
    items.sort(key=lambda w: int(w["metadata"]["resourceVersion"]))
    return str(items[-1]["metadata"]["name"])


def pods(wf: dict[str, Any]) -> list[str]:
    """The display names of the run's Pod nodes: what ran in a pod."""
    return sorted(n["displayName"] for n in wf["status"]["nodes"].values() if n["type"] == "Pod")


def outputs(wf: dict[str, Any], display: str) -> dict[str, str]:
    node = next(n for n in wf["status"]["nodes"].values() if n["displayName"] == display)
    return {
        p["name"]: p["value"] for p in node["outputs"]["parameters"] if not p["name"].startswith("dflowctl-")
    }


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_reuse_of_a_finished_workflow_runs_no_pod_and_downloads_the_same_files(
    argo_cluster: ArgoCluster, tmp_path: Path
) -> None:
    spec = project(tmp_path / "p")
    first = cli(argo_cluster, "run", "-e", "argo", "--wait", str(spec))
    assert first.returncode == 0, first.stdout + first.stderr
    old_name = newest(argo_cluster)
    old = workflow(argo_cluster, old_name)
    assert pods(old) == [
        *(f"energy({i}:{i})" for i in range(3)),
        *(f"square({i}:{i})" for i in range(3)),
        "total",
    ]

    again = cli(argo_cluster, "run", "-e", "argo", "--wait", str(spec), "--reuse", old_name)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"reusing 7 pod(s) of {old_name}: square, energy, total" in again.stderr
    assert "  reused: 7 of 7 steps from earlier runs (run --reuse)" in again.stdout
    new_name = newest(argo_cluster)
    assert new_name != old_name
    new = workflow(argo_cluster, new_name)
    assert new["status"]["phase"] == "Succeeded"
    assert pods(new) == []  # nothing ran in a pod
    assert argo_cluster.kube.pruned == []
    assert outputs(new, "total") == outputs(old, "total") == {"total": "5"}
    for i in range(3):
        assert outputs(new, f"energy({i}:{i})") == {"e": str(10 * i + 1)}
    assert new["metadata"]["annotations"]["dflowctl.io/reuses"] == old_name
    shown = cli(argo_cluster, "status", new_name)
    assert shown.returncode == 0 and shown.stdout.count(f"reused from {old_name}") == 7, shown.stdout

    got_old, got_new = tmp_path / "old", tmp_path / "new"
    assert cli(argo_cluster, "download", old_name, "-d", str(got_old)).returncode == 0
    down = cli(argo_cluster, "download", new_name, "-d", str(got_new))
    assert down.returncode == 0, down.stderr
    assert tree(got_new) == tree(got_old)
    assert "square/result/2/square.txt" in tree(got_new)

    # deleting the earlier run keeps what the new one reads
    gone = cli(argo_cluster, "delete", old_name)
    assert gone.returncode == 0, gone.stderr
    assert gone.stderr.strip().splitlines()[-1] == f"its artifacts are kept: {new_name} reuse(s) them"
    again_dir = tmp_path / "again"
    assert cli(argo_cluster, "download", new_name, "-d", str(again_dir)).returncode == 0
    assert tree(again_dir) == tree(got_old)


def test_after_editing_the_analysis_only_it_runs_reading_the_reused_fan_in(
    argo_cluster: ArgoCluster, tmp_path: Path
) -> None:
    spec = project(tmp_path / "p")
    assert cli(argo_cluster, "run", "-e", "argo", "--wait", str(spec)).returncode == 0
    old_name = newest(argo_cluster)
    (tmp_path / "p" / "analyse" / "numbers.py").write_text(
        ANALYSE.replace("total = sum(", "total = 100 + sum("), encoding="utf-8"
    )
    again = cli(argo_cluster, "run", "-e", "argo", "--wait", str(spec), "--reuse", old_name)
    assert again.returncode == 0, again.stdout + again.stderr
    new = workflow(argo_cluster, newest(argo_cluster))
    assert pods(new) == ["total"]  # exactly one step ran
    assert "  reused: 6 of 7 steps from earlier runs (run --reuse)" in again.stdout
    assert outputs(new, "total") == {"total": "105"}  # over the earlier run's squares: 0 + 1 + 4

    # n=2: items 0 and 1 keep their keys, but the earlier fan-in folder holds 3 items, so
    # `square` runs, and `total`, which reads it; `energy` reads neither: its 2 items are reused
    third = cli(argo_cluster, "run", "-e", "argo", "--wait", str(spec), "-p", "n=2", "--reuse", old_name)
    assert third.returncode == 0, third.stdout + third.stderr
    assert f"reusing 2 pod(s) of {old_name}: energy" in third.stderr
    wf = workflow(argo_cluster, newest(argo_cluster))
    assert pods(wf) == ["square(0:0)", "square(1:1)", "total"]
    assert [outputs(wf, f"energy({i}:{i})") for i in range(2)] == [{"e": "1"}, {"e": "11"}]
    assert outputs(wf, "total") == {"total": "101"}


def test_rerun_forces_a_step_and_a_chain_of_reuses_finds_the_keys_again(
    argo_cluster: ArgoCluster, tmp_path: Path
) -> None:
    spec = project(tmp_path / "p")
    assert cli(argo_cluster, "run", "-e", "argo", "--wait", str(spec)).returncode == 0
    first = newest(argo_cluster)
    second = cli(
        argo_cluster, "run", "-e", "argo", "--wait", str(spec), "--reuse", first, "--rerun", "energy"
    )
    assert second.returncode == 0, second.stdout + second.stderr
    wf = workflow(argo_cluster, newest(argo_cluster))
    # `--rerun energy` runs it; `total` does not read it and is reused all the same
    assert pods(wf) == [f"energy({i}:{i})" for i in range(3)]
    middle = newest(argo_cluster)
    third = cli(argo_cluster, "run", "-e", "argo", "--wait", str(spec), "--reuse", middle)
    assert third.returncode == 0, third.stdout + third.stderr
    wf = workflow(argo_cluster, newest(argo_cluster))
    assert pods(wf) == []  # reused steps of a run that reused them are found again
    assert outputs(wf, "total") == {"total": "5"}
    assert wf["metadata"]["annotations"]["dflowctl.io/reuses"] == first  # whose artifacts it reads


def test_reuse_on_argo_needs_a_run(argo_cluster: ArgoCluster, tmp_path: Path) -> None:
    spec = project(tmp_path / "p")
    got = cli(argo_cluster, "run", "-e", "argo", str(spec), "--reuse")
    assert got.returncode == 2
    assert (
        got.stderr.splitlines()[0]
        == "error: on Argo, --reuse needs the run to take results from: --reuse RUN"
    )
    missing = cli(argo_cluster, "run", "-e", "argo", str(spec), "--reuse", "no-such-run")
    assert missing.returncode != 0 and "Traceback" not in missing.stderr


class FakeKube:
    """What ``ArgoEngine.delete`` asks of the cluster, recorded."""

    namespace = NAMESPACE

    def __init__(self, workflows: list[dict[str, Any]]) -> None:
        self.workflows = {w["metadata"]["name"]: w for w in workflows}
        self.calls: list[tuple[str, Any]] = []

    def list_workflows(self, label_selector: str = "") -> dict[str, Any]:
        return {"items": list(self.workflows.values())}

    def get_workflow(self, name: str) -> dict[str, Any]:
        return self.workflows[name]

    def patch_workflow(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("patch", patch))
        return self.workflows[name]

    def delete_workflow(self, name: str) -> dict[str, Any]:
        self.calls.append(("delete", name))
        return {}


def test_delete_turns_off_artifact_gc_of_a_run_another_reuses() -> None:
    from dflowctl.engines.argo import ArgoEngine

    old = {
        "metadata": {
            "name": "a",
            "resourceVersion": "7",
            "finalizers": ["workflows.argoproj.io/artifact-gc"],
        },
        "spec": {"artifactGC": {"strategy": "OnWorkflowDeletion"}},
    }
    reader = {"metadata": {"name": "b", "annotations": {"dflowctl.io/reuses": "a"}}, "spec": {}}
    kube = FakeKube([old, reader])
    engine = ArgoEngine(kube=kube)  # type: ignore[arg-type]
    assert engine.reused_by("a") == ["b"] and engine.reused_by("b") == []
    engine.delete("a")
    assert kube.calls == [
        (
            "patch",
            {
                "metadata": {"resourceVersion": "7", "finalizers": []},
                "spec": {"artifactGC": {"strategy": "Never"}},
            },
        ),
        ("delete", "a"),
    ]
    kube.calls.clear()
    engine.delete("b")  # nobody reads b's artifacts: deleted as it is
    assert kube.calls == [("delete", "b")]


def test_an_artifact_gone_from_the_repository_is_a_miss(argo_cluster: ArgoCluster, tmp_path: Path) -> None:
    spec = project(tmp_path / "p")
    assert cli(argo_cluster, "run", "-e", "argo", "--wait", str(spec)).returncode == 0
    old_name = newest(argo_cluster)
    client, bucket = argo_cluster.s3.client, argo_cluster.s3.bucket
    item = f"{old_name}/dflowctl/fanin/square/result/1"
    gone = [o.object_name for o in client.list_objects(bucket, item + "/", recursive=True)]
    assert gone
    for key in gone:
        client.remove_object(bucket, key)
    again = cli(argo_cluster, "run", "-e", "argo", "--wait", str(spec), "--reuse", old_name)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"reusing 3 pod(s) of {old_name}: energy" in again.stderr
    wf = workflow(argo_cluster, newest(argo_cluster))
    assert pods(wf) == ["square(0:0)", "square(1:1)", "square(2:2)", "total"]
    assert outputs(wf, "total") == {"total": "5"}


def test_stored_keys_are_objects_and_their_folders() -> None:
    from dflowctl.engines.argoreuse import StoredKeys

    listed: list[str] = []

    def list_prefix(prefix: str) -> list[str]:
        listed.append(prefix)
        return {"wf-1/": ["wf-1/pod-a/out.tgz", "wf-1/dflowctl/fanin/sq/result/0/x.txt"]}.get(prefix, [])

    present = StoredKeys(list_prefix)
    assert present("wf-1/pod-a/out.tgz") and present("wf-1/dflowctl/fanin/sq/result/0")
    assert present("wf-1/dflowctl/fanin/sq/result/") and not present("wf-1/dflowctl/fanin/sq/result/1")
    assert not present("wf-2/pod-b/out.tgz") and not present("wf-1/pod")
    assert listed == ["wf-1/", "wf-2/"]  # one listing per run


def results(wf: dict[str, Any]) -> dict[str, tuple[str, dict[str, str]]]:
    """Each step's phase and visible output parameters, by node name without the run's (pods or not)."""
    out = {}
    for n in wf["status"]["nodes"].values():
        if n["type"] in ("StepGroup", "TaskGroup") or n["name"] == wf["metadata"]["name"]:
            continue
        params = (n.get("outputs") or {}).get("parameters") or []
        visible = {p["name"]: p.get("value", "") for p in params if not p["name"].startswith("dflowctl-")}
        out[n["name"][len(wf["metadata"]["name"]) :]] = (n["phase"], visible)  # display names repeat
    return out


@pytest.mark.slow
@pytest.mark.parametrize(
    "example",
    [
        "conditional.yaml",
        "retry.yaml",
        "dag-diamond.yaml",
        "composite.yaml",  # a composite op used twice: each call reuses in a copy of its own
        "slices.yaml",  # entries, an items check, a reducer: in wrapper templates
    ],
)
def test_an_example_reused_gives_what_it_gave(
    argo_cluster: ArgoCluster, tmp_path: Path, example: str
) -> None:
    spec = str(SPECS / example)
    assert cli(argo_cluster, "run", "-e", "argo", "--wait", spec).returncode == 0
    old_name = newest(argo_cluster)
    again = cli(argo_cluster, "run", "-e", "argo", "--wait", spec, "--reuse", old_name)
    assert again.returncode == 0, again.stdout + again.stderr
    assert argo_cluster.kube.pruned == []
    old, new = workflow(argo_cluster, old_name), workflow(argo_cluster, newest(argo_cluster))
    before, after = results(old), results(new)
    for step, (phase, params) in before.items():  # the reused steps give what they gave
        if step in after:
            assert after[step] == (phase, params), step
    reused = [
        n
        for n in new["status"]["nodes"].values()
        if any(p["name"] == "dflowctl-reused" for p in (n.get("outputs") or {}).get("parameters") or [])
    ]
    assert reused and pods(old) and pods(new) == [], again.stderr


def test_a_step_reading_a_reused_steps_artifact_is_reused(argo_cluster: ArgoCluster, tmp_path: Path) -> None:
    """specs/hello.yaml: `shout` reads `write`'s artifact, an S3 key under the first run's
    name. Its key counts that key as it is on both sides (the run's name in it is not the
    planned run's): both steps are reused, and the new run has no pod."""
    spec = str(SPECS / "hello.yaml")
    assert cli(argo_cluster, "run", "-e", "argo", "--wait", spec).returncode == 0
    old_name = newest(argo_cluster)
    again = cli(argo_cluster, "run", "-e", "argo", "--wait", spec, "--reuse", old_name)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"reusing 2 pod(s) of {old_name}: write, shout" in again.stderr
    new = workflow(argo_cluster, newest(argo_cluster))
    assert pods(new) == [] and outputs(new, "shout") == {"size": "12"}


CHEM_SPEC = """apiVersion: dflowctl/v1alpha1
kind: Workflow
metadata: {name: chem}
spec:
  ops:
    prepare: {image: python:3.12-slim, python: "chem:Prepare", source: ./ops}
    relax: {image: python:3.12-slim, python: "chem:Relax", source: ./ops}
    collect: {image: python:3.12-slim, python: "reduce:collect", source: ./reduce}
  steps:
    - name: prepare
      op: prepare
      parameters: {n: 4}
    - name: relax
      op: relax
      parameters: {scale: 0.5}
      artifacts: {struct: "{{steps.prepare.outputs.artifacts.structs}}"}
      foreach: {entries: struct, parallelism: 2}
    - name: collect
      op: collect
      parameters: {energies: "{{steps.relax.outputs.parameters.energy}}"}
      artifacts: {relaxed: "{{steps.relax.outputs.artifacts.relaxed}}"}
"""

CHEM_OPS = """from pathlib import Path
from typing import List

from dflow.python import OP, OPIO, Artifact, OPIOSign


class Prepare(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"n": int})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"structs": Artifact(List[Path])})

    @OP.exec_sign_check
    def execute(self, op_in: OPIO) -> OPIO:
        out = []
        for i in range(op_in["n"]):
            out.append(Path(f"struct_{i}.xyz"))
            out[-1].write_text(f"Si {i}\\n")
        return OPIO({"structs": out})


class Relax(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"struct": Artifact(Path), "scale": float})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"relaxed": Artifact(Path), "energy": float})

    @OP.exec_sign_check
    def execute(self, op_in: OPIO) -> OPIO:
        text = op_in["struct"].read_text()
        e = float(text.split()[1]) * op_in["scale"] + 100
        out = Path("relaxed") / op_in["struct"].name
        out.parent.mkdir()
        out.write_text(text + f"E={e}\\n")
        return OPIO({"relaxed": out, "energy": e})
"""

REDUCE_OPS = """from pathlib import Path
from typing import List

from dflow.python import OP, Artifact


@OP.function
def collect(energies: List[float], relaxed: Artifact(List[Path])) -> {"best": float, "count": int}:
    return {"best": min(energies), "count": len(relaxed)}
"""


@pytest.mark.parametrize(("shape", "relax_pods"), [("parallelism: 2", 4), ("group: 3", 2)])
def test_fan_out_then_reduce_over_a_folder_is_reused_after_fixing_the_reducer(
    argo_cluster: ArgoCluster, tmp_path: Path, shape: str, relax_pods: int
) -> None:
    """dflow's habit on Argo: prepare files, relax each (`foreach: entries`, with
    `parallelism`, or `group:` pods of several items: the loop sits in wrapper templates),
    collect. `--reuse` takes the pods inside the wrappers too; after the reducer is fixed
    only it runs, also when the run reused is itself one that reused everything (a chain)."""
    for folder, name, text in (("ops", "chem.py", CHEM_OPS), ("reduce", "reduce.py", REDUCE_OPS)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / name).write_text(text, encoding="utf-8")
    spec = tmp_path / "chem.yaml"
    spec.write_text(CHEM_SPEC.replace("parallelism: 2", shape), encoding="utf-8")
    assert cli(argo_cluster, "run", "-e", "argo", "--wait", str(spec)).returncode == 0
    first = newest(argo_cluster)
    assert len(pods(workflow(argo_cluster, first))) == 3 + relax_pods  # prepare, entries, relax, collect
    again = cli(argo_cluster, "run", "-e", "argo", "--wait", str(spec), "--reuse", first)
    assert again.returncode == 0, again.stdout + again.stderr
    reused = f"{3 + relax_pods} pod(s) of {first}: prepare, dflowctl-entries, relax, collect"
    assert f"reusing {reused}" in again.stderr
    second = newest(argo_cluster)
    assert pods(workflow(argo_cluster, second)) == []
    assert outputs(workflow(argo_cluster, second), "collect") == {"best": "100.0", "count": "4"}
    for name, where in ((first, "first"), (second, "second")):
        got = cli(argo_cluster, "download", name, "-d", str(tmp_path / where))
        assert got.returncode == 0, got.stderr
    assert tree(tmp_path / "second") == tree(tmp_path / "first") != {}

    fixed = REDUCE_OPS.replace('"best": min(energies)', '"best": max(energies)')
    (tmp_path / "reduce" / "reduce.py").write_text(fixed, encoding="utf-8")
    third = cli(argo_cluster, "run", "-e", "argo", "--wait", str(spec), "--reuse", second)
    assert third.returncode == 0, third.stdout + third.stderr
    assert f"reusing {2 + relax_pods} pod(s) of {second}: prepare, dflowctl-entries, relax" in third.stderr
    wf = workflow(argo_cluster, newest(argo_cluster))
    assert pods(wf) == ["collect"] and outputs(wf, "collect") == {"best": "101.5", "count": "4"}


RECURSIVE_SPEC = """apiVersion: dflowctl/v1alpha1
kind: Workflow
metadata: {name: countdown}
spec:
  ops:
    add:
      image: python:3.12-slim
      python: numbers:add
      source: ./ops
      inputs: {parameters: {a: int, b: int}}
      outputs: {parameters: {sum: int}}
    countdown:
      inputs: {parameters: {n: int}}
      steps:
        - name: work
          op: add
          parameters: {a: "{{inputs.parameters.n}}", b: -1}
        - name: again
          op: countdown
          parameters: {n: "{{steps.work.outputs.parameters.sum}}"}
          when: "{{steps.work.outputs.parameters.sum}} > 0"
  steps:
    - name: top
      op: countdown
      parameters: {n: 3}
"""


def test_a_composite_op_that_uses_itself_is_reused_at_every_depth(
    argo_cluster: ArgoCluster, tmp_path: Path
) -> None:
    """dflow's recursion (a Steps that uses itself under `when`): each depth's call gets a copy
    of the composite op's template of its own, in which its step is reused."""
    shutil.copytree(SPECS / "ops", tmp_path / "ops")
    spec = tmp_path / "countdown.yaml"
    spec.write_text(RECURSIVE_SPEC, encoding="utf-8")
    assert cli(argo_cluster, "run", "-e", "argo", "--wait", str(spec)).returncode == 0
    old_name = newest(argo_cluster)
    assert pods(workflow(argo_cluster, old_name)) == ["work", "work", "work"]
    again = cli(argo_cluster, "run", "-e", "argo", "--wait", str(spec), "--reuse", old_name)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"reusing 3 pod(s) of {old_name}: work, work, work" in again.stderr
    new = workflow(argo_cluster, newest(argo_cluster))
    assert pods(new) == [] and new["status"]["phase"] == "Succeeded"
    assert results(new) == results(workflow(argo_cluster, old_name))
