"""What `download` checks at its destination before writing (dflowctl/download/checks.py):
each path looked at once however many items share its folders, links inside the
destination never written through, files in the way never replaced without --force."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dflowctl.download import checks, fetch_all, select
from dflowctl.errors import UsageError
from tests import argo_status as st
from tests.test_download_select import DirStore


def fanout_store(tmp_path: Path, n: int) -> tuple[dict, DirStore]:
    wf = st.fanout(n)
    root = tmp_path / "repo"
    for item in select(wf):
        key = root / item.artifact["s3"]["key"]
        key.parent.mkdir(parents=True, exist_ok=True)
        key.write_text(item.step)
    return wf, DirStore(root)


def counting(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    looked: list[Path] = []
    real = checks._kind_of

    def kind_of(path: Path) -> checks.Kind:
        looked.append(path)
        return real(path)

    monkeypatch.setattr(checks, "_kind_of", kind_of)
    return looked


def test_each_path_is_looked_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wf, store = fanout_store(tmp_path, 200)
    base = tmp_path / "out"
    looked = counting(monkeypatch)
    res = fetch_all(store, select(wf), base)
    assert len(res.written) == 200 + 1  # and square/items.json
    # the items' shared folder out/square/out is new: staged as one folder and moved there
    # in one rename; looked at once each: out (missing: nothing under it is looked at)
    # and tmp_path (the nearest folder that exists)
    assert sorted(looked) == [tmp_path, tmp_path / "out"]
    looked.clear()
    again = fetch_all(store, select(wf), base)  # everything there: each file compared, once
    assert again.written == [] and len(again.unchanged) == 201
    assert len(looked) == len(set(looked)) and len(looked) <= 2 * 200 + 5


def test_a_link_to_one_item_refuses_the_whole_download(tmp_path: Path) -> None:
    wf, store = fanout_store(tmp_path, 5)
    base, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    (base / "square" / "out").mkdir(parents=True)
    elsewhere.mkdir()
    (base / "square" / "out" / "3").symlink_to(elsewhere)
    with pytest.raises(UsageError) as info:
        fetch_all(store, select(wf), base)
    assert info.value.message == f"{base}/square/out/3 is a symbolic link; download never writes through one"
    assert list(elsewhere.iterdir()) == [] and sorted(
        p.name for p in (base / "square" / "out").iterdir()
    ) == ["3"]
    res = fetch_all(store, select(wf), base, force=True)
    assert len(res.written) == 6 and list(elsewhere.iterdir()) == []
    assert (base / "square/out/3/out").read_text() == "square(3:3)"


def test_a_file_where_a_folder_of_the_artifact_goes(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    wf = "hello-abcde"
    art = root / wf / f"{wf}-write-file-2" / "out_art.tgz"
    (art / "sub").mkdir(parents=True)
    (art / "msg.txt").write_text("HelloWorld!\n")
    (art / "sub" / "results.txt").write_text("1\n")
    base = tmp_path / "out"
    (base / "write" / "out_art").mkdir(parents=True)
    mine = base / "write" / "out_art" / "sub"
    mine.write_text("mine\n")  # a file where the artifact has a folder
    with pytest.raises(UsageError) as info:
        fetch_all(DirStore(root), select(st.hello(), step="write"), base)
    assert info.value.message == f"{mine} already exists with different content"
    assert mine.read_text() == "mine\n" and not (base / "write/out_art/msg.txt").exists()
    fetch_all(DirStore(root), select(st.hello(), step="write"), base, force=True)
    assert (base / "write/out_art/sub/results.txt").read_text() == "1\n"


def test_a_local_fanout_downloaded_again(tmp_path: Path) -> None:
    """The real CLI on a local run: items already there with the same content are
    compared where the run keeps them (not fetched again); an edited one is refused,
    a removed one fetched again."""
    from tests.conftest import SPECS, run_cli

    env = {"DFLOWCTL_HOME": str(tmp_path / "home"), "DFLOWCTL_CONFIG": str(tmp_path / "no-config.yaml")}
    res = run_cli("run", str(SPECS / "fanout.yaml"), "-p", "n=5", cwd=tmp_path, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    name = res.stdout.splitlines()[0].removeprefix("Name: ").strip()
    out = tmp_path / "out"
    first = run_cli("download", name, "-d", str(out), env=env)
    assert first.returncode == 0, first.stderr
    assert first.stderr.splitlines()[-1] == f"5 artifact(s) of {name}: 6 file(s) written in {out}"
    assert (out / "square/result/4/square.txt").read_text().strip() == "16"
    again = run_cli("download", name, "-d", str(out), env=env)
    assert again.returncode == 0, again.stderr
    assert again.stderr.splitlines()[-1] == (
        f"5 artifact(s) of {name}: 0 file(s) written, 6 already up to date in {out}"
    )
    assert sorted(again.stdout.splitlines()) == sorted(first.stdout.splitlines())
    edited = out / "square/result/2/square.txt"
    edited.write_text("5\n")
    shutil.rmtree(out / "square/result/3")
    refused = run_cli("download", name, "-d", str(out), env=env)
    assert refused.returncode == 2
    assert refused.stderr.splitlines()[0] == f"error: {edited} already exists with different content"
    assert edited.read_text() == "5\n" and not (out / "square/result/3").exists()
    forced = run_cli("download", name, "-d", str(out), "--force", env=env)
    assert forced.returncode == 0, forced.stderr
    assert forced.stderr.splitlines()[-1] == (
        f"5 artifact(s) of {name}: 2 file(s) written, 4 already up to date in {out}"
    )
    assert (
        edited.read_text().strip() == "4" and (out / "square/result/3/square.txt").read_text().strip() == "9"
    )
    assert not list(tmp_path.rglob(".dflowctl-download-*"))


def test_a_failing_item_of_a_fanout_leaves_nothing_behind(tmp_path: Path) -> None:
    from collections.abc import Mapping
    from typing import Any

    from dflowctl.errors import StorageError

    wf, store = fanout_store(tmp_path, 20)

    class Broken(DirStore):
        def fetch(self, artifact: Mapping[str, Any], dest: Path, *, force: bool = False) -> list[Path]:
            if artifact["s3"]["key"].endswith("sq-13/out.tgz"):
                raise StorageError("S3 connection dropped")
            return super().fetch(artifact, dest, force=force)

    base = tmp_path / "out"
    with pytest.raises(StorageError, match="connection dropped"):
        fetch_all(Broken(store.root), select(wf), base, workers=3)
    assert not base.exists() or not any(base.rglob("*"))
    assert not list(tmp_path.rglob(".dflowctl-download-*"))


def test_a_stored_folder_is_copied_as_copytree_copies_it(tmp_path: Path) -> None:
    import os

    from dflowctl.engines.local.artifacts import copy_folder

    src = tmp_path / "src"
    (src / "sub" / "deeper").mkdir(parents=True)
    (src / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (src / "run.sh").chmod(0o750)
    (src / "sub" / "empty").write_bytes(b"")
    (src / "sub" / "deeper" / "big.bin").write_bytes(os.urandom(3 << 20))
    (src / "link").symlink_to("run.sh")
    os.utime(src / "run.sh", ns=(1_000_000_000, 2_000_000_000))
    (src / "sub").chmod(0o700)
    (src / "shared.txt").write_text("all may write\n")
    (src / "shared.txt").chmod(0o666)  # bits the umask (022) takes away: set again
    (src / "sub" / "private").write_text("mine\n")
    (src / "sub" / "private").chmod(0o600)
    (src / "sub" / "frozen").write_text("read only\n")
    (src / "sub" / "frozen").chmod(0o444)  # created read-only, written all the same
    copy_folder(src, tmp_path / "mine", src.stat().st_mode)
    shutil.copytree(src, tmp_path / "theirs", symlinks=True)

    def tree(root: Path) -> list[tuple[str, int, int, bytes | str]]:
        found = []
        for p in sorted(root.rglob("*")):
            info = p.lstat()
            body = os.readlink(p) if p.is_symlink() else p.read_bytes() if p.is_file() else ""
            found.append(
                (p.relative_to(root).as_posix(), info.st_mode, info.st_mtime_ns if p.is_file() else 0, body)
            )
        return found

    assert tree(tmp_path / "mine") == tree(tmp_path / "theirs")
    assert (tmp_path / "mine" / "shared.txt").stat().st_mode & 0o777 == 0o666


def test_a_copied_file_keeps_its_mode_whatever_the_umask(tmp_path: Path) -> None:
    import os

    from dflowctl.engines.local import artifacts

    src = tmp_path / "src"
    src.write_bytes(b"x" * 100)
    src.chmod(0o644)
    old = os.umask(0o077)
    artifacts._umask.cache_clear()  # read again: 077 takes the group's and others' bits away
    try:
        artifacts.copy_file(str(src), str(tmp_path / "copy"))
    finally:
        os.umask(old)
        artifacts._umask.cache_clear()
    info = (tmp_path / "copy").stat()
    assert (info.st_mode & 0o7777, info.st_size, info.st_mtime_ns) == (0o644, 100, src.stat().st_mtime_ns)
    with pytest.raises(FileExistsError):  # never replaces a file
        artifacts.copy_file(str(src), str(tmp_path / "copy"))


def test_items_are_grouped_only_when_nothing_else_goes_in_their_folder(tmp_path: Path) -> None:
    from dflowctl.download.checks import Destination
    from dflowctl.download.fetch import _sibling_groups

    base = tmp_path / "out"
    square = base / "square" / "out"
    dests = {i: square / str(i) for i in range(3)}
    assert _sibling_groups(dests, [base / "square" / "items.json"], Destination(base)) == {square: [0, 1, 2]}
    deeper = {**dests, 3: square / "x" / "y"}  # a destination under the folder, not one of its items
    assert _sibling_groups(deeper, [], Destination(base)) == {}
    listing = [square / "items.json"]  # a listing written into the folder
    assert _sibling_groups(dests, listing, Destination(base)) == {}
    square.mkdir(parents=True)  # the folder exists: each item on its own
    assert _sibling_groups(dests, [], Destination(base)) == {}


def test_archived_folders_of_one_step_download_as_argo_gives_them(tmp_path: Path) -> None:
    """A step's artifacts go to DIR/<step>/ together (one rename); a tgz or zip of a folder
    holds that folder at its top, and the download holds its contents, as on Argo
    (tests/test_argo_cluster_archives.py compares the two)."""
    import json

    from tests.conftest import run_cli
    from tests.test_argo_cluster_archives import WORKFLOW

    spec = tmp_path / "wf.yaml"
    spec.write_text(WORKFLOW, encoding="utf-8")
    env = {"DFLOWCTL_HOME": str(tmp_path / "home"), "DFLOWCTL_CONFIG": str(tmp_path / "none.yaml")}
    res = run_cli("run", str(spec), "-o", "json", cwd=tmp_path, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    name = json.loads(res.stdout)["metadata"]["name"]
    got = run_cli("download", name, "--step", "make", "-d", str(tmp_path / "out"), env=env)
    assert got.returncode == 0, got.stderr
    files = sorted(
        p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file()
    )
    assert files == [
        f"make/{kind}/{name}"
        for kind in ("none-dir", "none-file", "tgz", "zip")
        for name in (["f.txt"] if kind == "none-file" else ["a.txt", "sub/b.txt", "sub/big.txt"])
    ]
