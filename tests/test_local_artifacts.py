"""The local artifact repository never writes, moves or deletes outside its own folders.

A folder artifact stored as is (``archive: none``) keeps the links the pod made;
a later key that passes through such a link must not reach the host's files.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from dflowctl.argo import node_id
from dflowctl.engines import RunOptions
from dflowctl.engines.local import LocalEngine
from dflowctl.engines.local import artifacts as artifacts_mod
from dflowctl.engines.local.artifacts import LocalRepository
from dflowctl.settings import load_settings

NONE = {"name": "a", "archive": {"none": {}}}


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("host file\n")
    return victim


@pytest.mark.parametrize("archive", [{"none": {}}, {}, {"zip": {}}])
def test_put_refuses_a_key_through_a_stored_link(tmp_path: Path, archive: dict[str, object]) -> None:
    victim = _victim(tmp_path)
    out = tmp_path / "pod" / "out"
    out.mkdir(parents=True)
    (out / "link").symlink_to(victim)
    (tmp_path / "pod" / "x").write_text("pod file\n")
    repo = LocalRepository(tmp_path / "repo")
    repo.put("wf/p/out", out, NONE)
    assert (tmp_path / "repo" / "wf" / "p" / "out" / "link").is_symlink()
    with pytest.raises(
        OSError, match=r"artifact key 'wf/p/out/link/keep' passes through the link wf/p/out/link"
    ):
        repo.put("wf/p/out/link/keep", tmp_path / "pod" / "x", {"name": "b", "archive": archive})
    with pytest.raises(OSError, match="passes through the link"):
        repo.put("wf/p/out/link/new/deeper", tmp_path / "pod" / "x", NONE)
    assert sorted(p.name for p in victim.iterdir()) == ["keep"]
    assert (victim / "keep").read_text() == "host file\n"
    assert (tmp_path / "pod" / "x").read_text() == "pod file\n"  # not moved away either


def test_put_replaces_a_link_at_the_key_itself_not_its_target(tmp_path: Path) -> None:
    victim = _victim(tmp_path)
    repo = LocalRepository(tmp_path / "repo")
    (tmp_path / "repo" / "k").mkdir(parents=True)
    (tmp_path / "repo" / "k" / "file").symlink_to(victim / "keep")
    (tmp_path / "repo" / "k" / "dir").symlink_to(victim)
    src = tmp_path / "src.txt"
    src.write_text("new\n")
    repo.put("k/file", src, NONE)
    src.write_text("new\n")
    repo.put("k/dir", src, NONE)
    assert (tmp_path / "repo" / "k" / "file").read_text() == "new\n"
    assert not (tmp_path / "repo" / "k" / "dir").is_symlink()
    assert (victim / "keep").read_text() == "host file\n"


def test_put_creates_the_folders_of_a_fresh_key(tmp_path: Path) -> None:
    repo = LocalRepository(tmp_path / "repo")
    src = tmp_path / "a.txt"
    src.write_text("a\n")
    repo.put("/wf/pod/deep/er/a.txt", src, NONE)
    assert (tmp_path / "repo" / "wf" / "pod" / "deep" / "er" / "a.txt").read_text() == "a\n"
    with pytest.raises(Exception, match="invalid artifact key"):
        repo.writable_path("wf/../../outside")


def test_pods_storing_under_one_key_at_once_keep_all_their_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pods of a group step end together and store their items' folders under one key:
    every entry stays, none fails (the check of what is there and the replace are one step;
    the window between them is widened here as a busy machine widens it)."""
    repo = LocalRepository(tmp_path / "store")
    removing = artifacts_mod.remove

    def slow_remove(path: Path) -> None:
        time.sleep(0.01)
        removing(path)

    monkeypatch.setattr(artifacts_mod, "remove", slow_remove)
    sources = []
    for pod in range(6):
        src = tmp_path / f"pod-{pod}" / "out"
        (src / str(pod)).mkdir(parents=True)
        (src / str(pod) / "value.txt").write_text(f"{pod}\n")
        sources.append(src)
    start = threading.Barrier(len(sources))
    errors: list[BaseException] = []

    def store(src: Path) -> None:
        start.wait()
        try:
            repo.put("run/dflowctl/fanin/step/out", src, {"archive": {"none": {}}})
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=store, args=(src,)) for src in sources]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    stored = repo.path_of("run/dflowctl/fanin/step/out")
    assert sorted(p.name for p in stored.iterdir()) == [str(pod) for pod in range(6)]
    assert [(stored / str(pod) / "value.txt").read_text() for pod in range(6)] == [
        f"{pod}\n" for pod in range(6)
    ]


def test_an_artifact_key_with_a_parent_component_is_refused() -> None:
    from dflowctl.engines.local.artifacts import safe_key
    from dflowctl.errors import UsageError

    assert safe_key("  /wf/pod/a..b/x.tgz ") == "wf/pod/a..b/x.tgz"  # `..` inside a name is a name
    assert safe_key("wf/./pod//x") == "wf/./pod//x"  # the same path as wf/pod/x, as on S3
    for bad in ("", "  ", "/", "..", "../x", "wf/..", "wf/../pod", "wf//../x"):
        with pytest.raises(UsageError, match="invalid artifact key"):
            safe_key(bad)


@pytest.mark.timeout(60)
def test_a_run_cannot_write_through_a_link_it_stored(dflowctl_home: Path, tmp_path: Path) -> None:
    victim = _victim(tmp_path)
    script = f"mkdir -p /tmp/out && ln -s {victim} /tmp/out/link && echo pod > /tmp/x"
    tmpl = {
        "name": "make",
        "container": {"image": "alpine:3.19", "command": ["sh", "-c"], "args": [script]},
        "outputs": {
            "artifacts": [
                {"name": "dir", "path": "/tmp/out", "archive": {"none": {}}, "s3": {"key": "x/out"}},
                {"name": "f", "path": "/tmp/x", "archive": {"none": {}}, "s3": {"key": "x/out/link/keep"}},
            ]
        },
    }
    manifest = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "t-"},
        "spec": {"entrypoint": "make", "templates": [tmpl]},
    }
    wf = LocalEngine(load_settings()).submit(manifest, RunOptions(wait=True))
    name = wf["metadata"]["name"]
    node = wf["status"]["nodes"][node_id(name, name)]
    assert node["phase"] == "Error"
    assert node["message"] == (
        "failed to save outputs: artifact key 'x/out/link/keep' passes through the link x/out/link"
    )
    assert (victim / "keep").read_text() == "host file\n"
    assert sorted(p.name for p in victim.iterdir()) == ["keep"]


@pytest.mark.parametrize("name", ["../escape", "a/b", "/abs", ".", "..", ""])
def test_a_run_name_is_one_folder_under_runs(dflowctl_home: Path, name: str) -> None:
    from dflowctl.engines.local.records import RunStore
    from dflowctl.errors import UsageError

    store = RunStore(dflowctl_home / "runs")
    meta = {"name": name} if name else {"generateName": "../up-"}
    with pytest.raises(UsageError, match="invalid run name"):
        store.new_run(meta)
    assert not (dflowctl_home / "escape").exists()
    assert not (dflowctl_home / "up-").exists()
    assert [p.name for p in dflowctl_home.parent.iterdir() if p.name.startswith("up-")] == []


@pytest.mark.timeout(60)
def test_artifact_names_never_lead_out_of_the_pod_folders(dflowctl_home: Path, tmp_path: Path) -> None:
    """The engine takes manifests that did not go through ``argofile``: an artifact name
    naming a folder of its own must not be a way to the host's files."""
    victim = _victim(tmp_path)
    (victim / "out").mkdir()
    (victim / "out" / "kept").write_text("host\n")
    up = "../" * 40 + str(victim).lstrip("/")
    reader = {
        "name": "read",
        "container": {"image": "alpine:3.19", "command": ["true"]},
        "inputs": {"artifacts": [{"name": f"{up}/keep", "path": "/tmp/in", "raw": {"data": "pod\n"}}]},
    }
    writer = {
        "name": "write",
        "container": {"image": "alpine:3.19", "command": ["sh", "-c", "mkdir -p /tmp/out"]},
        "outputs": {"artifacts": [{"name": "a", "path": "/tmp/out"}, {"name": up, "path": "/tmp/out"}]},
    }
    engine = LocalEngine(load_settings())
    messages = []
    for tmpl in (reader, writer):
        manifest = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"generateName": "t-"},
            "spec": {"entrypoint": tmpl["name"], "templates": [tmpl]},
        }
        wf = engine.submit(manifest, RunOptions(wait=True))
        name = wf["metadata"]["name"]
        node = wf["status"]["nodes"][node_id(name, name)]
        assert node["phase"] == "Error"
        messages.append(node["message"])
    assert messages[0] == f"invalid input artifact name {up + '/keep'!r}"
    assert messages[1] == f"failed to save outputs: /tmp/out: invalid output artifact name {up!r}"
    assert (victim / "keep").read_text() == "host file\n"
    assert (victim / "out" / "kept").read_text() == "host\n"
