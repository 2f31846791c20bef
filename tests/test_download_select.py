from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from dflowctl.download import destination, fetch_all, find_steps, loop_place, select, with_item
from dflowctl.errors import NotFoundError, UsageError
from tests import argo_status as st


class DirStore:
    """An ArtifactStore over a folder of keys (the local engine's layout: artifacts/<key>)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.calls: list[str] = []

    def fetch(self, artifact: Mapping[str, Any], dest: Path, *, force: bool = False) -> list[Path]:
        src = self.root / artifact["s3"]["key"]
        self.calls.append(artifact["s3"]["key"])
        if src.is_dir():
            shutil.copytree(src, dest)
            return sorted(p for p in dest.rglob("*") if p.is_file())
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        return [dest]


def picked(items) -> list[tuple[str, str]]:
    return [(i.step, i.name) for i in items]


def test_default_selects_every_work_node_but_not_logs() -> None:
    assert picked(select(st.hello())) == [("write", "out_art"), ("shout", "loud")]


def test_step_and_artifact_narrow_the_selection() -> None:
    assert picked(select(st.hello(), step="shout")) == [("shout", "loud")]
    assert picked(select(st.hello(), artifact="main-logs")) == [("write", "main-logs")]
    assert picked(select(st.hello(), step="write", artifact="out_art")) == [("write", "out_art")]


def test_fan_out_items_and_retries_are_taken_once() -> None:
    items = select(st.fanout(3))
    assert picked(items) == [("square(0:0)", "out"), ("square(1:1)", "out"), ("square(2:2)", "out")]
    assert picked(select(st.fanout(3), step="square")) == picked(items)
    assert picked(select(st.fanout(3), step="square(1:1)")) == [("square(1:1)", "out")]
    assert destination(Path("d"), items[1]) == Path("d/square/out/1")


def test_an_item_is_selected_by_index() -> None:
    assert picked(select(st.fanout(3), step="square[2]")) == [("square(2:2)", "out")]
    assert with_item("square", 1) == "square[1]" and with_item("square", None) == "square"
    with pytest.raises(NotFoundError) as info:
        select(st.fanout(3), step="square[3]")
    assert info.value.message == "run 'fan-xyz12' has no step 'square[3]'"
    with pytest.raises(UsageError) as err:
        with_item(None, 1)
    assert err.value.message == "--item needs --step"


def test_nested_loop_items_nest_their_indices() -> None:
    assert loop_place('outer(2:x)/square(10:{"a":1})') == ("outer/square", ["2", "10"])
    assert loop_place("retried(1)") == ("retried(1)", [])  # a retry attempt is no loop item


def test_steps_are_found_inside_composites() -> None:
    wf = st.nested_running()
    assert [p for p, _ in find_steps(wf, "b")] == ["inner/b"]
    assert [p for p, _ in find_steps(wf, "inner")] == ["inner"]


def test_unknown_step_suggests_the_closest() -> None:
    with pytest.raises(NotFoundError) as info:
        select(st.hello(), step="shuot")
    assert info.value.message == "run 'hello-abcde' has no step 'shuot'"
    assert info.value.hint == "did you mean 'shout'?"
    assert info.value.exit_code == 2


def test_unknown_artifact_lists_the_ones_there() -> None:
    with pytest.raises(NotFoundError) as info:
        select(st.hello(), step="shout", artifact="lod")
    assert info.value.message == "step 'shout' of run 'hello-abcde' has no output artifact 'lod'"
    assert info.value.hint == "did you mean 'loud'?"
    with pytest.raises(NotFoundError, match="has no output artifacts"):
        select(st.fanout(2), step="split")


@pytest.fixture
def store(tmp_path: Path) -> DirStore:
    root = tmp_path / "repo"
    wf = "hello-abcde"
    art = root / wf / f"{wf}-write-file-2" / "out_art.tgz"
    art.mkdir(parents=True)
    (art / "msg.txt").write_text("HelloWorld!\n")
    (art / "sub").mkdir()
    (art / "sub" / "results.txt").write_text("1\n")
    loud = root / wf / f"{wf}-shout-1" / "loud.tgz"
    loud.parent.mkdir(parents=True)
    loud.write_text("HELLOWORLD!\n")
    return DirStore(root)


def test_fetch_writes_then_skips_identical(tmp_path: Path, store: DirStore) -> None:
    base = tmp_path / "out"
    items = select(st.hello())
    res = fetch_all(store, items, base)
    assert sorted(p.relative_to(base).as_posix() for p in res.written) == [
        "shout/loud/loud",  # a file keeps the name of the path it was saved from (/tmp/loud)
        "write/out_art/msg.txt",
        "write/out_art/sub/results.txt",
    ]
    assert (base / "write/out_art/msg.txt").read_text() == "HelloWorld!\n"
    again = fetch_all(store, items, base)
    assert again.written == [] and len(again.unchanged) == 3
    assert not [p for p in tmp_path.rglob(".dflowctl-download-*")]


def test_different_existing_file_is_refused_without_force(tmp_path: Path, store: DirStore) -> None:
    base = tmp_path / "out"
    mine = base / "shout" / "loud" / "loud"
    mine.parent.mkdir(parents=True)
    mine.write_text("mine\n")
    with pytest.raises(UsageError) as info:
        fetch_all(store, select(st.hello(), step="shout"), base)
    assert info.value.message == f"{mine} already exists with different content"
    assert "--force" in (info.value.hint or "")
    assert mine.read_text() == "mine\n"
    assert not [p for p in tmp_path.rglob(".dflowctl-download-*")]
    res = fetch_all(store, select(st.hello(), step="shout"), base, force=True)
    assert res.written == [mine]
    assert mine.read_text() == "HELLOWORLD!\n"


def test_a_file_where_a_directory_goes_is_a_conflict(tmp_path: Path, store: DirStore) -> None:
    base = tmp_path / "out"
    (base / "write").mkdir(parents=True)
    (base / "write" / "out_art").write_text("x")
    with pytest.raises(UsageError, match="already exists with different content"):
        fetch_all(store, select(st.hello(), step="write"), base)
    fetch_all(store, select(st.hello(), step="write"), base, force=True)
    assert (base / "write/out_art/sub/results.txt").read_text() == "1\n"


def test_one_conflict_means_nothing_is_written(tmp_path: Path, store: DirStore) -> None:
    base = tmp_path / "out"
    (base / "shout" / "loud").mkdir(parents=True)
    (base / "shout" / "loud" / "loud").write_text("mine\n")
    with pytest.raises(UsageError, match="already exists with different content"):
        fetch_all(store, select(st.hello()), base)
    assert not (base / "write").exists()  # the other artifact was not placed either
    assert sorted(p.name for p in base.iterdir()) == ["shout"]


def test_a_failing_fetch_leaves_nothing_behind(tmp_path: Path, store: DirStore) -> None:
    from dflowctl.errors import StorageError

    class Broken(DirStore):
        def fetch(self, artifact: Mapping[str, Any], dest: Path, *, force: bool = False) -> list[Path]:
            if artifact["name"] == "loud":
                dest.write_text("half")  # a partial file, then the connection drops
                raise StorageError("S3 connection dropped")
            return super().fetch(artifact, dest, force=force)

    base = tmp_path / "out"
    arrived: list[str] = []
    with pytest.raises(StorageError, match="connection dropped"):
        fetch_all(Broken(store.root), select(st.hello()), base, on_fetched=lambda i: arrived.append(i.name))
    assert not base.exists() or not any(base.rglob("*"))
    assert not list(tmp_path.rglob(".dflowctl-download-*"))
    assert set(arrived) <= {"out_art"}


def test_many_artifacts_are_fetched_concurrently(tmp_path: Path) -> None:
    import threading
    import time

    wf = st.fanout(16)
    for raw in wf["status"]["nodes"].values():
        for art in (raw.get("outputs") or {}).get("artifacts") or []:
            key = tmp_path / "repo" / art["s3"]["key"]
            key.parent.mkdir(parents=True, exist_ok=True)
            key.write_text(art["s3"]["key"])
    active, peak, lock = [0], [0], threading.Lock()

    class Slow(DirStore):
        def fetch(self, artifact: Mapping[str, Any], dest: Path, *, force: bool = False) -> list[Path]:
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            time.sleep(0.05)
            with lock:
                active[0] -= 1
            return super().fetch(artifact, dest, force=force)

    res = fetch_all(Slow(tmp_path / "repo"), select(wf, step="square"), tmp_path / "out", workers=4)
    assert len(res.written) == 16 + 1 and peak[0] == 4  # and square/items.json
    assert (tmp_path / "out" / "square" / "out" / "7" / "out").read_text() == "fan-xyz12/sq-7/out.tgz"

    class OneAtATime(Slow):  # a store that copies on this machine (the local engine's) says so
        fetch_workers = 1

    peak[0] = 0
    res = fetch_all(OneAtATime(tmp_path / "repo"), select(wf, step="square"), tmp_path / "one")
    assert len(res.written) == 16 + 1 and peak[0] == 1
    peak[0] = 0
    res = fetch_all(Slow(tmp_path / "repo"), select(wf, step="square"), tmp_path / "default")
    assert len(res.written) == 16 + 1 and peak[0] == 8  # a store that does not say: 8 threads


def test_fan_out_items_land_by_index_with_items_json(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    wf = st.fanout(3)
    for item in select(wf):
        key = root / item.artifact["s3"]["key"]
        key.parent.mkdir(parents=True, exist_ok=True)
        key.write_text(item.step)
    base = tmp_path / "out"
    res = fetch_all(DirStore(root), select(wf), base)
    assert sorted(p.relative_to(base).as_posix() for p in res.written) == [
        "square/items.json",
        "square/out/0/out",
        "square/out/1/out",
        "square/out/2/out",
    ]
    assert (base / "square/out/2/out").read_text() == "square(2:2)"
    assert json.loads((base / "square/items.json").read_text()) == {"0": 0, "1": 1, "2": 2}
    again = fetch_all(DirStore(root), select(wf), base)
    assert again.written == [] and len(again.unchanged) == 4
