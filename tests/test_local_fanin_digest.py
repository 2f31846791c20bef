"""A fan-in's key takes the digests of its items' outputs that the run just stored
(engines/local/podcache.py, issue 16): they are not read and hashed a second time."""

from __future__ import annotations

from pathlib import Path

import pytest

from dflowctl import stepkey
from dflowctl.engines.local.artifacts import LocalRepository
from dflowctl.engines.local.cache import ReusePolicy, StepCache
from dflowctl.engines.local.podcache import StepReuse

RUN = "fan-abc12"
FANIN = f"{RUN}/dflowctl/fanin/square/result"
TMPL = {
    "name": "sum",
    "inputs": {"artifacts": [{"name": "files", "path": "/in", "s3": {"key": FANIN}}]},
    "script": {"image": "python:3.12", "command": ["python3"], "source": "print(1)"},
}


def test_a_fan_in_key_uses_the_stored_items_digests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = LocalRepository(tmp_path / "artifacts")
    reuse = StepReuse(StepCache(tmp_path / "cache"), ReusePolicy(enabled=True), RUN, repo)
    for i in range(4):
        item = repo.writable_path(f"{FANIN}/{i}")
        item.mkdir()
        (item / "square.txt").write_text(f"{i * i}\n")
        outputs = {"artifacts": [{"name": "result", "s3": {"key": f"{FANIN}/{i}"}}]}
        assert reuse.keep(f"key-{i}", f"{RUN}-{i}", outputs) == {"result": stepkey.path_digest(item)}
    (tmp_path / "artifacts" / FANIN / "late").write_text("not an item's stored output\n")
    expected = stepkey.folder_digest(repo.path_of(FANIN), RUN)

    read: list[str] = []
    digest = stepkey.path_digest

    def counting(path: Path) -> str:
        read.append(str(path))
        return digest(path)

    monkeypatch.setattr(stepkey, "path_digest", counting)
    keyed = reuse.key(TMPL, [("files", "/in", repo.path_of(FANIN), FANIN)])
    assert keyed is not None
    assert keyed[1] == {"files": expected}  # the same digest as read from disk
    assert read == [str(repo.path_of(FANIN) / "late")]  # only the entry no item stored
