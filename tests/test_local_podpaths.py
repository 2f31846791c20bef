"""The shortcuts a pod's paths take for speed (issue 16 item 3) give the answers of the
long way: real paths, container paths on the host, "inside the pod's root", the host's
environment as it is now."""

from __future__ import annotations

import os
import posixpath
from pathlib import Path, PurePosixPath

import pytest

from dflowctl.engines.local import isolation, podfs
from dflowctl.engines.local.hostenv import EnvPolicy
from dflowctl.engines.local.podplan import PodPlan, real_path

pytestmark = pytest.mark.timeout(60)


def test_real_path_is_resolve(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "work" / "scratch").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (run / "work" / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "elsewhere" / "pod").mkdir()
    (run / "work" / "scratch" / "podlink").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "alias").symlink_to(run, target_is_directory=True)
    cases = [
        run / "work" / "scratch" / "pod",  # not there yet
        run / "work" / "linked" / "pod",  # the middle one a link
        run / "work" / "scratch" / "podlink",  # the last one a link
        tmp_path / "alias" / "work" / "scratch" / "pod",  # a link above: remembered
        tmp_path / "alias" / "work" / "linked" / "pod",
        Path(f"{run}/work/../work/scratch/pod"),  # not normalized
        Path("relative/scratch/pod"),
    ]
    for path in cases:
        assert real_path(path) == path.resolve(), path
    for path in cases:  # again, with the grandparents remembered
        assert real_path(path) == path.resolve(), path


def test_host_path_as_before(tmp_path: Path) -> None:
    def before(root: Path, container_path: str) -> Path:
        rel = PurePosixPath(posixpath.normpath("/" + container_path.lstrip("/"))).relative_to("/")
        return root / rel if str(rel) != "." else root

    paths = ["/", "", "/tmp", "tmp/x", "//a//b/", "/a/./b/../c", "/..", "/a/../..", "/tmp/dflowctl/outputs"]
    for cp in paths:
        assert isolation.host_path(tmp_path, cp) == before(tmp_path, cp), cp


def _plan(root: Path) -> PodPlan:
    return PodPlan([], {}, "/", "/", None, isolation.REMAP, root, None, None, None)


def test_in_root_follows_links_below_root(tmp_path: Path) -> None:
    root = tmp_path / "pod" / "root"
    (root / "tmp" / "out").mkdir(parents=True)
    (tmp_path / "host").mkdir()
    (root / "tmp" / "away").symlink_to(tmp_path / "host", target_is_directory=True)
    (root / "tmp" / "here").symlink_to(root / "tmp" / "out", target_is_directory=True)
    plan = _plan(root)
    assert podfs._in_root(plan, root / "tmp" / "out" / "file")
    assert podfs._in_root(plan, root / "tmp" / "missing" / "deeper" / "file")
    assert podfs._in_root(plan, root / "tmp" / "here" / "file")  # a link that stays inside
    assert not podfs._in_root(plan, root / "tmp" / "away" / "file")  # one that leads out
    assert not podfs._in_root(plan, tmp_path / "host" / "file")
    assert not podfs._in_root(plan, Path(f"{root}/tmp/../../outside/file"))


def test_locate_as_text_walks_links_inside_the_view(tmp_path: Path) -> None:
    root = tmp_path / "pod" / "root"
    (root / "tmp" / "out").mkdir(parents=True)
    (root / "tmp" / "out" / "value").write_text("7")
    (root / "tmp" / "rel").symlink_to("out", target_is_directory=True)
    (root / "tmp" / "abs").symlink_to(root / "tmp" / "out", target_is_directory=True)  # remap: a host path
    (root / "tmp" / "loop").symlink_to("loop")
    plan = _plan(root)
    for cp in ["/tmp/out/value", "/tmp/rel/value", "/tmp/abs/value", "tmp//./out/../out/value"]:
        assert podfs.resolve_in_view(plan, cp) == (PurePosixPath("/tmp/out/value"), None), cp
    assert podfs.resolve_in_view(plan, "/tmp/missing") is None
    assert podfs.resolve_in_view(plan, "/tmp/loop/x") is None
    assert podfs.resolve_in_view(plan, "/") == (PurePosixPath("/"), None)


def test_host_env_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    policy = EnvPolicy()
    monkeypatch.setenv("LC_PODPATHS_TEST", "one")
    assert policy.host_env()["LC_PODPATHS_TEST"] == "one"
    monkeypatch.setenv("LC_PODPATHS_TEST", "two")
    assert policy.host_env()["LC_PODPATHS_TEST"] == "two"
    monkeypatch.delenv("LC_PODPATHS_TEST")
    assert "LC_PODPATHS_TEST" not in policy.host_env()
    assert policy.host_env() == {k: v for k, v in os.environ.items() if policy.allows(k, v)}
    assert policy.host_env({"LANG": "C", "AWS_SECRET": "x"}) == {"LANG": "C"}
