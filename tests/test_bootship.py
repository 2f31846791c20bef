"""The Python bootstrap shipped once per Workflow (render/bootship.py): what ``run -e argo``
does to a Workflow over a quarter of Argo's 1 MiB. The loader runs an op as the bootstrap
does (real processes, as tests/test_bootstrap.py runs them); ``inline`` gives every
template back, so a step's key does not depend on it; the engine stores the texts once."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from dflowctl.actions import render_file
from dflowctl.engines import RunOptions
from dflowctl.engines.argoobjects import SHIP_BOOTSTRAP_OVER, ship_bootstrap, workflow_size
from dflowctl.engines.argoreuse import reuse_manifest
from dflowctl.render import bootship
from dflowctl.spec import model as m
from tests.conftest import SPECS
from tests.k8s import fixtures
from tests.k8s.fixtures import NAMESPACE
from tests.k8s.server import FakeKube
from tests.s3server import S3Env
from tests.test_argo_reuse_plan import validate
from tests.test_bootstrap import describe_op, python_op, run_op, script_of
from tests.test_bootstrap import user_src as user_src  # the fixture, used here too
from tests.test_dflow_ops import OK_SPEC, OPS

fake_kube = fixtures.fake_kube
s3 = fixtures.s3
s3_server = fixtures.s3_server

P = m.Param
A = m.ArtifactDecl


@pytest.fixture(scope="module")
def dflow_manifest(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """tests/test_dflow_ops.py's spec rendered: 27 Python op templates, with dflow.python."""
    root = tmp_path_factory.mktemp("dflow")
    shutil.copytree(OPS, root / "ops", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "spec.yaml").write_text(OK_SPEC, encoding="utf-8")
    manifest, _warnings = render_file(root / "spec.yaml")
    return manifest


def test_shipping_moves_the_bootstrap_out_and_inline_gives_every_template_back(
    dflow_manifest: dict[str, Any], tmp_path: Path
) -> None:
    body = copy.deepcopy(dflow_manifest)
    before = workflow_size(body)
    texts = bootship.ship(body)
    assert before > 1024 * 1024 > 4 * workflow_size(body)  # over Argo's limit; then a quarter of it
    assert len(texts) == 1 and set(texts) <= set(bootship._shipped_texts())
    ((key, text),) = texts.items()
    assert key.startswith("dflowctl/bootstrap/") and bootship.SHIPPED_CONFIG_LINE in text
    shipped = 0
    for old, new in zip(dflow_manifest["spec"]["templates"], body["spec"]["templates"], strict=True):
        assert bootship.inline(new) == old
        if new != old:
            shipped += 1
            assert new["script"]["source"].startswith(bootship.LOADER_MARK)
            assert len(new["script"]["source"]) < 2000
            assert {"name": "dflowctl-bootstrap", "path": bootship.PATH, "s3": {"key": key}} in new["inputs"][
                "artifacts"
            ]
    assert shipped == 27
    assert bootship.ship(body) == {}  # a loader is not shipped again
    from dflowctl.results import declared_types

    assert declared_types(body) == declared_types(dflow_manifest) != {}  # what `outputs` decodes by
    validate(body, tmp_path)  # Argo's schema and `argo lint`


def test_group_and_plain_bootstraps_are_shipped_as_their_own_texts() -> None:
    """specs/slices.yaml: Python ops run one item per pod and a group of items per pod."""
    manifest, _ = render_file(SPECS / "slices.yaml")
    body = copy.deepcopy(manifest)
    texts = bootship.ship(body)
    assert len(texts) == 2 and set(texts) <= set(bootship._shipped_texts())
    assert [bootship.inline(t) for t in body["spec"]["templates"]] == manifest["spec"]["templates"]


def test_a_steps_key_is_the_same_shipped_or_carried(dflow_manifest: dict[str, Any]) -> None:
    from dflowctl.engines.argokeys import leaf_key
    from dflowctl.engines.local.scope import TemplateError

    body = copy.deepcopy(dflow_manifest)
    key = next(iter(bootship.ship(body)))
    compared = 0
    for old, new in zip(dflow_manifest["spec"]["templates"], body["spec"]["templates"], strict=True):
        if new == old:
            continue
        declared = (old.get("inputs") or {}).get("parameters") or []
        inputs = {
            "parameters": [{"name": p["name"], "value": "1"} for p in declared],
            "artifacts": [
                {"name": a["name"], "s3": {"key": f"wf/{a['name']}.tgz"}}
                for a in (old.get("inputs") or {}).get("artifacts") or []
            ],
        }
        shipped_inputs = {
            **inputs,
            "artifacts": [*inputs["artifacts"], {"name": bootship.ARTIFACT, "s3": {"key": key}}],
        }
        try:
            carried = leaf_key(old, inputs, {}, "wf", {})
        except TemplateError:
            continue
        assert carried is not None and leaf_key(new, shipped_inputs, {}, "wf", {}) == carried
        compared += 1
    assert compared >= 20
    # a shipped text this package does not make (an older bootstrap) keeps its own key
    other = copy.deepcopy(new)
    other["inputs"]["artifacts"][-1]["s3"]["key"] = "dflowctl/bootstrap/" + "0" * 64 + ".py"
    assert bootship.inline(other) is other


def _both(op: m.Op, tmp_path: Path, params: dict[str, str]) -> list[tuple[int, dict[str, str], str]]:
    """Run ``op`` carried and shipped; per run: exit code, output files, termination log."""
    inline = script_of(op)
    body: dict[str, Any] = {"spec": {"templates": [{"name": op.name, "script": {"source": inline}}]}}
    ((_key, text),) = bootship.ship(body).items()
    loader = body["spec"]["templates"][0]["script"]["source"]
    out = []
    for how, script, files in (("carried", inline, {}), ("shipped", loader, {"bootstrap.py": text})):
        log = tmp_path / how / "termination-log"
        res = run_op(
            op,
            tmp_path / how,
            params,
            extra_env={"DFLOWCTL_TERMINATION_LOG": str(log)},
            script=script,
            root_files=files,
        )
        written = {
            str(p.relative_to(res.root / "outputs")): p.read_text()
            for p in sorted((res.root / "outputs").rglob("*"))
            if p.is_file()
        }
        out.append((res.code, written, log.read_text() if log.exists() else ""))
    return out


def test_the_loader_runs_a_function_op_as_the_bootstrap_does(user_src: Path, tmp_path: Path) -> None:
    params = {"flag": "true", "ratio": "0.5", "cfg": '{"a": 1}', "tags": "[1, 2]", "anything": "x"}
    carried, shipped = _both(describe_op(user_src), tmp_path, params)
    assert carried == shipped
    assert carried[0] == 0 and json.loads(carried[1]["parameters/cfg"]) == {"a": 1, "n": 2}


def test_the_loader_fails_an_op_with_the_same_one_line_reason(user_src: Path, tmp_path: Path) -> None:
    op = python_op("boom", "userops:boom", user_src, inputs_parameters=(P("x", "int"),))
    carried, shipped = _both(op, tmp_path, {"x": "3"})
    assert carried == shipped
    assert carried[0] == 1 and carried[2].startswith("ValueError: cannot handle 3 (source/userops.py:")


def test_the_loader_runs_a_dflow_op_class_with_the_bundled_dflow_python(tmp_path: Path) -> None:
    op = python_op(
        "split",
        "dflow_ops:Split",
        OPS,
        uses_dflow=True,
        inputs_parameters=(P("text"),),
        outputs_parameters=(P("n", "int"),),
        outputs_artifacts=(A("parts"),),
    )
    carried, shipped = _both(op, tmp_path, {"text": "a b c"})
    assert carried == shipped and carried[0] == 0, carried
    assert carried[1]["parameters/n"] == "3" and len(carried[1]) == 4  # n and three parts


def test_the_argo_engine_ships_and_stores_the_bootstrap_over_a_quarter_of_the_limit(
    fake_kube: FakeKube, s3: S3Env, dflow_manifest: dict[str, Any]
) -> None:
    from dflowctl.engines.argo import ArgoEngine
    from dflowctl.settings import Settings

    fixtures.artifact_repository(fake_kube, s3)
    eng = ArgoEngine(Settings(kubeconfig=str(fake_kube.kubeconfig_path)))  # type: ignore[attr-defined]
    created = eng.submit(dflow_manifest, RunOptions(wait=False))
    stored = fake_kube.store.get("workflows", NAMESPACE, created["metadata"]["name"])
    assert stored is not None
    sources = [t["script"]["source"] for t in stored["spec"]["templates"] if "script" in t]
    assert len(sources) == 27 and all(s.startswith(bootship.LOADER_MARK) for s in sources)
    keys = {
        a["s3"]["key"]
        for t in stored["spec"]["templates"]
        for a in (t.get("inputs") or {}).get("artifacts") or []
        if a["name"] == bootship.ARTIFACT
    }
    (key,) = keys
    body = s3.client.get_object(s3.bucket, key).read().decode()
    assert body == bootship._shipped_texts()[key]
    assert dflow_manifest["spec"]["templates"][1]["script"]["source"].startswith(
        "# dflowctl bootstrap"
    )  # not changed
    # under a quarter of the limit a Workflow is created as it was rendered
    small = copy.deepcopy(dflow_manifest)
    small["spec"]["templates"] = [t for t in small["spec"]["templates"] if "script" not in t][:1]
    assert workflow_size(small) <= SHIP_BOOTSTRAP_OVER and ship_bootstrap(small) == (small, {})


argo_cluster = fixtures.argo_cluster


@pytest.mark.timeout(400)
def test_a_shipped_workflow_runs_through_the_argo_engine_as_locally(
    argo_cluster: fixtures.ArgoCluster, tmp_path: Path
) -> None:
    """tests/test_dflow_ops.py's spec (1.06 MiB as rendered) on the stand-in cluster, whose
    controller runs each pod's loader with the bootstrap from S3: the same outputs as a
    local run, which carries the bootstrap in each template."""
    from tests.conftest import run_cli
    from tests.test_argo_cluster import outputs

    shutil.copytree(OPS, tmp_path / "ops", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "spec.yaml").write_text(OK_SPEC, encoding="utf-8")
    argo = run_cli(
        "run",
        "-e",
        "argo",
        "--wait",
        "-o",
        "json",
        "spec.yaml",
        cwd=tmp_path,
        env=argo_cluster.env,
        timeout=300,
    )
    local_env = {"DFLOWCTL_HOME": str(tmp_path / "local"), "DFLOWCTL_CONFIG": str(tmp_path / "none.yaml")}
    local = run_cli("run", "--wait", "-o", "json", "spec.yaml", cwd=tmp_path, env=local_env, timeout=300)
    argo_wf, local_wf = json.loads(argo.stdout), json.loads(local.stdout)
    assert argo_wf["status"]["phase"] == local_wf["status"]["phase"] == "Succeeded", argo.stderr
    assert outputs(argo_wf) == outputs(local_wf) and len(outputs(argo_wf)) >= 25
    sources = [t["script"]["source"] for t in argo_wf["spec"]["templates"] if "script" in t]
    assert sources and all(s.startswith(bootship.LOADER_MARK) for s in sources)
    # `--reuse` of it plans with the bootstrap in each template: the steps reused are those a
    # run that carried it would give (25 of them: the planner's own limits keep the rest)
    name = argo_wf["metadata"]["name"]
    again = run_cli(
        "run", "-e", "argo", "--wait", "-o", "json", "spec.yaml", "--reuse", name,
        cwd=tmp_path, env=argo_cluster.env, timeout=300,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    inlined = [bootship.inline(t) for t in argo_wf["spec"]["templates"]]
    carried = {**argo_wf, "spec": {**argo_wf["spec"], "templates": inlined}}
    assert not any(bootship.LOADER_MARK in json.dumps(t) for t in carried["spec"]["templates"])
    expected = reuse_manifest(render_file(tmp_path / "spec.yaml")[0], carried)
    assert len(expected.steps) >= 25
    assert f"reusing {expected.pods} pod(s) of {name}: {', '.join(expected.steps)}" in again.stderr
    reused = [n for n in json.loads(again.stdout)["status"]["nodes"].values() if n["type"] == "Pod"]
    assert not {n["displayName"] for n in reused} & set(expected.steps)


def test_without_an_artifact_repository_the_bootstrap_stays_in_each_template(
    fake_kube: FakeKube, dflow_manifest: dict[str, Any]
) -> None:
    """Shipping needs the artifact repository; a cluster without one gets the Workflow as
    rendered while it is under Argo's 1 MiB, and the size refusal over it."""
    from dflowctl.engines.argo import ArgoEngine
    from dflowctl.errors import UsageError
    from dflowctl.settings import Settings

    eng = ArgoEngine(Settings(kubeconfig=str(fake_kube.kubeconfig_path)))  # type: ignore[attr-defined]
    with pytest.raises(UsageError, match=r"the Workflow is 1\.0[0-9] MiB"):
        eng.submit(dflow_manifest, RunOptions(wait=False))
    assert fake_kube.requests_matching("POST") == 0
    mid = copy.deepcopy(dflow_manifest)
    scripts = [t for t in mid["spec"]["templates"] if "script" in t]
    mid["spec"]["templates"] = [t for t in mid["spec"]["templates"] if "script" not in t] + scripts[:12]
    assert SHIP_BOOTSTRAP_OVER < workflow_size(mid) < 1024 * 1024
    created = eng.submit(mid, RunOptions(wait=False))
    stored = fake_kube.store.get("workflows", NAMESPACE, created["metadata"]["name"])
    assert stored is not None
    sources = [t["script"]["source"] for t in stored["spec"]["templates"] if "script" in t]
    assert len(sources) == 12 and not any(s.startswith(bootship.LOADER_MARK) for s in sources)
