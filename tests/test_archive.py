"""dflowctl.archive: Argo's archive layout, refusal of unsafe archives, placing by rename."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from dflowctl import archive
from dflowctl.archive import ConflictError, UnsafeArchiveError


def make_tgz(path: Path, entries: list[tarfile.TarInfo | tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for e in entries:
            if isinstance(e, tuple):
                ti = tarfile.TarInfo(e[0])
                ti.size = len(e[1])
                tf.addfile(ti, io.BytesIO(e[1]))
            else:
                tf.addfile(e)
    return path


def tinfo(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.linkname = linkname
    return ti


def unpack_into(tmp_path: Path, packed: Path) -> Path:
    staging = tmp_path / "staging"
    staging.mkdir()
    return archive.unpack(packed, staging, what="test")


def outside_is_clean(tmp_path: Path) -> None:
    """Nothing was written next to the staging directory."""
    assert not (tmp_path / "evil").exists()
    assert not (tmp_path.parent / "evil").exists()


def test_argo_file_archive_unpacks_to_the_file(tmp_path: Path) -> None:
    packed = make_tgz(tmp_path / "a.tgz", [("hello.txt", b"hi\n")])
    item = unpack_into(tmp_path, packed)
    assert item.is_file() and item.read_bytes() == b"hi\n"


def test_argo_dir_archive_unpacks_to_the_dir(tmp_path: Path) -> None:
    src = tmp_path / "out"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("a")
    (src / "sub" / "b.txt").write_text("b")
    os.symlink("a.txt", src / "sub" / "link-in")  # wrong target level, but inside: ../a.txt
    os.remove(src / "sub" / "link-in")
    os.symlink("../a.txt", src / "sub" / "link-in")
    with tarfile.open(tmp_path / "a.tgz", "w:gz") as tf:
        tf.add(src, arcname="out")
    item = unpack_into(tmp_path, tmp_path / "a.tgz")
    assert item.name == "out" and item.is_dir()
    assert (item / "sub" / "b.txt").read_text() == "b"
    assert (item / "sub" / "link-in").is_symlink() and (item / "sub" / "link-in").read_text() == "a"


def test_several_top_level_items_make_a_directory(tmp_path: Path) -> None:
    packed = make_tgz(tmp_path / "a.tgz", [("x", b"1"), ("y", b"2")])
    item = unpack_into(tmp_path, packed)
    assert sorted(p.name for p in item.iterdir()) == ["x", "y"]


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([("/etc/evil", b"x")], "absolute path"),
        ([("../evil", b"x")], "'..'"),
        ([("ok/../../evil", b"x")], "'..'"),
        ([tinfo("link", tarfile.SYMTYPE, "/etc/passwd")], "absolute path"),
        ([tinfo("d/link", tarfile.SYMTYPE, "../../evil")], "pointing outside"),
        ([tinfo("hard", tarfile.LNKTYPE, "/etc/passwd")], "absolute path"),
        ([tinfo("dev", tarfile.CHRTYPE)], "device or fifo"),
        ([tinfo("blk", tarfile.BLKTYPE)], "device or fifo"),
        ([tinfo("fifo", tarfile.FIFOTYPE)], "device or fifo"),
    ],
)
def test_unsafe_tar_is_refused(tmp_path: Path, entries: list, message: str) -> None:
    packed = make_tgz(tmp_path / "a.tgz", entries)
    with pytest.raises(UnsafeArchiveError, match=message) as info:
        unpack_into(tmp_path, packed)
    assert info.value.exit_code == 2
    outside_is_clean(tmp_path)
    assert not Path("/etc/evil").exists()


def test_write_through_an_inside_link_to_outside_is_refused(tmp_path: Path) -> None:
    # link -> . is inside; then a second link hops out via the first: refused lexically
    packed = make_tgz(
        tmp_path / "a.tgz",
        [tinfo("l1", tarfile.SYMTYPE, "."), tinfo("l2", tarfile.SYMTYPE, "l1/.."), ("l2/evil", b"x")],
    )
    with pytest.raises(UnsafeArchiveError):
        unpack_into(tmp_path, packed)
    assert not (tmp_path / "evil").exists()


def test_link_then_file_through_link_outside_refused(tmp_path: Path) -> None:
    target = tmp_path / "victim"
    target.mkdir()
    packed = make_tgz(tmp_path / "a.tgz", [tinfo("d", tarfile.SYMTYPE, str(target)), ("d/evil", b"x")])
    with pytest.raises(UnsafeArchiveError):
        unpack_into(tmp_path, packed)
    assert list(target.iterdir()) == []


def make_zip(path: Path, entries: list[tuple[str, bytes, int]]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            zf.writestr(info, data)
    return path


def test_zip_unpacks_and_refuses_unsafe(tmp_path: Path) -> None:
    good = make_zip(tmp_path / "g.zip", [("out/a.txt", b"a", 0o100644), ("out/b/c.txt", b"c", 0o100755)])
    staging = tmp_path / "s1"
    staging.mkdir()
    item = archive.unpack(good, staging, what="t")
    assert item.name == "out" and (item / "b" / "c.txt").read_bytes() == b"c"
    assert os.stat(item / "b" / "c.txt").st_mode & 0o111
    for i, entries in enumerate(
        [
            [("../evil", b"x", 0o100644)],
            [("/abs", b"x", 0o100644)],
            [("l", b"../../evil", stat.S_IFLNK | 0o777)],
            [("fifo", b"", stat.S_IFIFO | 0o644)],
        ]
    ):
        bad = make_zip(tmp_path / f"b{i}.zip", entries)
        staging = tmp_path / f"bs{i}"
        staging.mkdir()
        with pytest.raises(UnsafeArchiveError):
            archive.unpack(bad, staging, what="t")
    assert not (tmp_path / "evil").exists() and not (tmp_path.parent / "evil").exists()


def test_corrupt_archive_is_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "a.tgz"
    bad.write_bytes(b"\x1f\x8b" + os.urandom(100))
    with pytest.raises(UnsafeArchiveError, match="tar archive"):
        unpack_into(tmp_path, bad)


def test_place_tree_skips_identical_and_refuses_different(tmp_path: Path) -> None:
    def staged(content: str) -> Path:
        d = archive.staging_dir(tmp_path / "dest")
        (d / "art").mkdir()
        (d / "art" / "f.txt").write_text(content)
        (d / "art" / "g.txt").write_text("same")
        return d / "art"

    written, skipped = archive.place_tree(staged("one"), tmp_path / "dest", force=False)
    assert sorted(p.name for p in written) == ["f.txt", "g.txt"] and skipped == []
    mtime = (tmp_path / "dest" / "g.txt").stat().st_mtime_ns
    written, skipped = archive.place_tree(staged("one"), tmp_path / "dest", force=False)
    assert written == [] and len(skipped) == 2
    assert (tmp_path / "dest" / "g.txt").stat().st_mtime_ns == mtime
    with pytest.raises(ConflictError, match="different content"):
        archive.place_tree(staged("two"), tmp_path / "dest", force=False)
    assert (tmp_path / "dest" / "f.txt").read_text() == "one"
    written, _ = archive.place_tree(staged("two"), tmp_path / "dest", force=True)
    assert (tmp_path / "dest" / "f.txt").read_text() == "two"


@pytest.mark.parametrize("name", ["a/b", "./a", "a//b"])
def test_safe_relpath_accepts_plain_names(name: str) -> None:
    assert ".." not in archive.safe_relpath(name, what="t").parts


def test_place_tree_never_writes_through_a_link_out_of_the_destination(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f.txt").write_text("host\n")
    dest = tmp_path / "dest"
    (dest / "real").mkdir(parents=True)
    (dest / "sub").symlink_to(outside)  # left there by an earlier download, say
    (dest / "in").symlink_to("real")  # a link that stays inside is fine
    item = tmp_path / "item"
    (item / "sub").mkdir(parents=True)
    (item / "sub" / "f.txt").write_text("artifact\n")
    with pytest.raises(UnsafeArchiveError, match="refusing to write through a link leading out of"):
        archive.place_tree(item, dest, force=True)
    assert (outside / "f.txt").read_text() == "host\n"
    assert sorted(p.name for p in outside.iterdir()) == ["f.txt"]
    ok = tmp_path / "ok"
    (ok / "in").mkdir(parents=True)
    (ok / "in" / "g.txt").write_text("g\n")
    written, _ = archive.place_tree(ok, dest, force=False)
    assert written == [dest / "in" / "g.txt"] and (dest / "real" / "g.txt").read_text() == "g\n"


@pytest.mark.parametrize("fmt", ["tar", "zip"])
def test_pack_writes_one_top_level_item_that_unpack_returns(tmp_path: Path, fmt: str) -> None:
    src = tmp_path / "out"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("a\n")
    (src / "sub" / "b.txt").write_text("b\n")
    (tmp_path / "repo").mkdir()
    packed = tmp_path / "repo" / "out.pkg"
    archive.pack(src, packed, fmt=fmt)
    archive.pack(src / "a.txt", tmp_path / "repo" / "a.pkg", fmt=fmt)
    assert sorted(p.name for p in (tmp_path / "repo").iterdir()) == ["a.pkg", "out.pkg"]  # no temporaries
    assert archive.is_tgz(packed) is (fmt == "tar") and archive.is_zip(packed) is (fmt == "zip")
    (tmp_path / "s1").mkdir()
    item = archive.unpack(packed, tmp_path / "s1", what="t")
    assert item.name == "out" and (item / "sub" / "b.txt").read_text() == "b\n"
    (tmp_path / "s2").mkdir()
    single = archive.unpack(tmp_path / "repo" / "a.pkg", tmp_path / "s2", what="t")
    assert single.name == "a.txt" and single.read_text() == "a\n"
    assert (src / "a.txt").read_text() == "a\n"  # the source is left as it was
