"""S3Store against a real S3 server (moto) with the real minio client.

Argo's layouts: ``<name>.tgz`` (default), ``.zip``, ``archive: none`` file and
directory (key prefix). Faults through a TCP proxy that cuts connections.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from dflowctl.archive import ConflictError, UnsafeArchiveError
from dflowctl.errors import DflowctlError, StorageError
from dflowctl.storage import ProgressEvent, S3Store

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tests.s3server import ProxiedS3, S3Env


POD = "wf-x7k2p/wf-x7k2p-gen-1234567890"


def tgz_of(path: Path) -> bytes:
    """An archive as Argo's executor writes it: the base name as the single root."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        tf.add(path, arcname=path.name)
    return buf.getvalue()


def zip_of(path: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p in sorted(path.rglob("*")):
            zf.write(p, arcname=f"{path.name}/{p.relative_to(path).as_posix()}")
    return buf.getvalue()


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def leftovers(root: Path) -> list[str]:
    return [p.name for p in root.rglob("*") if ".dflowctl-" in p.name]


@pytest.fixture
def sample_dir(tmp_path: Path) -> Path:
    d = tmp_path / "src" / "out"
    (d / "sub" / "deeper").mkdir(parents=True)
    (d / "a.txt").write_text("alpha\n")
    (d / "sub" / "b.bin").write_bytes(os.urandom(70_000))
    (d / "sub" / "deeper" / "c.txt").write_text("gamma\n")
    return d


def test_tgz_file_artifact(s3: S3Env, tmp_path: Path) -> None:
    src = tmp_path / "hello.txt"
    src.write_text("hello world\n")
    s3.put(f"{POD}/message.tgz", tgz_of(src))
    store = S3Store(s3.repo())
    dest = tmp_path / "dl" / "message"
    written = store.fetch(
        {"name": "message", "path": "/tmp/hello.txt", "s3": {"key": f"{POD}/message.tgz"}}, dest
    )
    assert written == [dest] and dest.read_text() == "hello world\n"
    assert leftovers(tmp_path / "dl") == []


def test_tgz_and_zip_directory_artifacts(s3: S3Env, tmp_path: Path, sample_dir: Path) -> None:
    s3.put(f"{POD}/out.tgz", tgz_of(sample_dir))
    s3.put(f"{POD}/out.zip", zip_of(sample_dir))
    store = S3Store(s3.repo())
    store.fetch({"name": "out", "s3": {"key": f"{POD}/out.tgz"}}, tmp_path / "t")
    store.fetch({"name": "out", "archive": {"zip": {}}, "s3": {"key": f"{POD}/out.zip"}}, tmp_path / "z")
    assert tree(tmp_path / "t") == tree(sample_dir) == tree(tmp_path / "z")
    assert leftovers(tmp_path) == []


def test_archive_none_file_and_directory(s3: S3Env, tmp_path: Path, sample_dir: Path) -> None:
    s3.put(f"{POD}/file-none", b"raw bytes")
    for p in sample_dir.rglob("*"):
        if p.is_file():
            s3.put(f"{POD}/dir-none/{p.relative_to(sample_dir).as_posix()}", p.read_bytes())
    store = S3Store(s3.repo())
    none = {"none": {}}
    store.fetch({"name": "f", "archive": none, "s3": {"key": f"{POD}/file-none"}}, tmp_path / "f")
    written = store.fetch({"name": "d", "archive": none, "s3": {"key": f"{POD}/dir-none"}}, tmp_path / "d")
    assert (tmp_path / "f").read_bytes() == b"raw bytes"
    assert tree(tmp_path / "d") == tree(sample_dir) and len(written) == 3
    # a key given with the trailing "/" Argo uses for directories works the same
    store.fetch({"name": "d", "archive": none, "s3": {"key": f"{POD}/dir-none/"}}, tmp_path / "d2")
    assert tree(tmp_path / "d2") == tree(sample_dir)


def test_key_only_artifact_is_sniffed(s3: S3Env, tmp_path: Path, sample_dir: Path) -> None:
    s3.put("inputs/blob", tgz_of(sample_dir))
    S3Store(s3.repo()).fetch({"name": "blob", "s3": {"key": "inputs/blob"}}, tmp_path / "blob")
    assert tree(tmp_path / "blob") == tree(sample_dir)


def test_unsafe_archive_from_s3_is_refused(s3: S3Env, tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        ti = tarfile.TarInfo("../../escaped.txt")
        ti.size = 3
        tf.addfile(ti, io.BytesIO(b"bad"))
    s3.put(f"{POD}/evil.tgz", buf.getvalue())
    dl = tmp_path / "a" / "b"
    with pytest.raises(UnsafeArchiveError, match="'\\.\\.'"):
        S3Store(s3.repo()).fetch({"name": "evil", "s3": {"key": f"{POD}/evil.tgz"}}, dl / "evil")
    assert not list(tmp_path.rglob("escaped.txt"))
    assert list(dl.iterdir()) == []  # staging removed, nothing placed


def test_identical_files_are_skipped(s3_proxy: ProxiedS3, tmp_path: Path, sample_dir: Path) -> None:
    direct, proxy = s3_proxy.direct, s3_proxy.proxy
    for p in sample_dir.rglob("*"):
        if p.is_file():
            direct.put(f"{POD}/d/{p.relative_to(sample_dir).as_posix()}", p.read_bytes())
    store = S3Store(s3_proxy.env.repo())
    art = {"name": "d", "archive": {"none": {}}, "s3": {"key": f"{POD}/d"}}
    assert len(store.fetch(art, tmp_path / "d")) == 3
    first = proxy.bytes_down
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "d").rglob("*") if p.is_file()}
    events: list[ProgressEvent] = []
    store.on_progress = events.append
    assert store.fetch(art, tmp_path / "d") == []
    assert proxy.bytes_down - first < 10_000 < first  # a listing, no object bodies
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes
    assert sum(e.skipped for e in events) == 3
    assert (
        sum(e.advance for e in events)
        == sum(e.total for e in events)
        == sum(len(v) for v in tree(sample_dir).values())
    )


def test_different_existing_file_needs_force(s3: S3Env, tmp_path: Path) -> None:
    s3.put("k/file", b"new content")
    art = {"name": "f", "archive": {"none": {}}, "s3": {"key": "k/file"}}
    (tmp_path / "f").write_bytes(b"old")
    store = S3Store(s3.repo())
    with pytest.raises(ConflictError, match="different content") as info:
        store.fetch(art, tmp_path / "f")
    assert info.value.exit_code == 2 and (tmp_path / "f").read_bytes() == b"old"
    assert store.fetch(art, tmp_path / "f", force=True) == [tmp_path / "f"]
    assert (tmp_path / "f").read_bytes() == b"new content"


def test_multipart_etag_identical_file_skipped(s3_proxy: ProxiedS3, tmp_path: Path) -> None:
    data = os.urandom(11 * 1024 * 1024 + 5)
    src = tmp_path / "big"
    src.write_bytes(data)
    s3_proxy.direct.client.fput_object(s3_proxy.direct.bucket, "mp/big", str(src), part_size=5 * 1024 * 1024)
    store = S3Store(s3_proxy.env.repo())
    obj = store.stat("mp/big")
    assert obj is not None and obj.etag.endswith("-3")
    before = s3_proxy.proxy.bytes_down
    assert store.fetch({"name": "big", "archive": {"none": {}}, "s3": {"key": "mp/big"}}, src) == []
    assert s3_proxy.proxy.bytes_down - before < 10_000


def test_dropped_connection_resumes(s3_proxy: ProxiedS3, tmp_path: Path) -> None:
    data = os.urandom(4 * 1024 * 1024)
    s3_proxy.direct.put("big/file", data)
    s3_proxy.proxy.drop_after(1_500_000, times=2)
    store = S3Store(s3_proxy.env.repo())
    dest = tmp_path / "out" / "file"
    assert store.fetch({"name": "f", "archive": {"none": {}}, "s3": {"key": "big/file"}}, dest) == [dest]
    assert dest.read_bytes() == data
    assert s3_proxy.proxy.connections >= 3 and leftovers(tmp_path) == []


def test_dropped_connection_gives_up_cleanly_then_rerun_finishes(
    s3_proxy: ProxiedS3, tmp_path: Path, sample_dir: Path
) -> None:
    data = os.urandom(2 * 1024 * 1024)
    s3_proxy.direct.put("big/file.tgz", tgz_of_bytes("file", data))
    for i in range(6):
        s3_proxy.direct.put(f"dir/part{i}", data[: 300_000 + i])
    s3_proxy.proxy.drop_after(200_000, times=1000)
    store = S3Store(s3_proxy.env.repo(), retries=2)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(StorageError, match="connection dropped mid-transfer") as info:
        store.fetch({"name": "f", "s3": {"key": "big/file.tgz"}}, out / "file")
    assert info.value.exit_code == 3
    with pytest.raises(StorageError):
        store.fetch({"name": "d", "archive": {"none": {}}, "s3": {"key": "dir"}}, out / "dir")
    assert [p for p in out.rglob("*") if p.is_file()] == []  # no partial file anywhere
    s3_proxy.proxy.drop_after(0, times=0)
    store.fetch({"name": "f", "s3": {"key": "big/file.tgz"}}, out / "file")
    store.fetch({"name": "d", "archive": {"none": {}}, "s3": {"key": "dir"}}, out / "dir")
    assert (out / "file").read_bytes() == data and len(list((out / "dir").iterdir())) == 6
    assert leftovers(tmp_path) == []


def tgz_of_bytes(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def test_stale_part_files_from_a_killed_run_are_removed(s3: S3Env, tmp_path: Path) -> None:
    s3.put("k/file", b"content")
    (tmp_path / ".file.dflowctl-part-deadbeef").write_bytes(b"half")
    stale = tmp_path / ".dflowctl-tmp-killed"  # a staging folder of a killed archive download
    (stale / "root").mkdir(parents=True)
    (stale / "archive").write_bytes(b"half")
    os.utime(stale, (1, 1))
    S3Store(s3.repo()).fetch(
        {"name": "f", "archive": {"none": {}}, "s3": {"key": "k/file"}}, tmp_path / "file"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_missing_bucket_and_key_messages(s3: S3Env, tmp_path: Path) -> None:
    store = S3Store(s3.repo())
    with pytest.raises(StorageError) as info:
        store.fetch({"name": "x", "s3": {"key": f"{POD}/nothing.tgz"}}, tmp_path / "x")
    assert str(info.value) == f"S3 key '{POD}/nothing.tgz' not found in bucket 'dflowctl-test' at {s3.url}"
    with pytest.raises(StorageError, match="S3 key 'none/here' not found"):
        store.fetch({"name": "x", "archive": {"none": {}}, "s3": {"key": "none/here"}}, tmp_path / "x")
    other = S3Store(s3.repo(bucket="no-such-bucket"))
    with pytest.raises(StorageError) as info:
        other.fetch({"name": "x", "s3": {"key": "a.tgz"}}, tmp_path / "x")
    assert str(info.value) == f"S3 bucket 'no-such-bucket' does not exist at {s3.url}"
    assert info.value.exit_code == 3
    with pytest.raises(StorageError, match=r"cannot use s3://b/a\.tgz at .*invalid bucket name b"):
        S3Store(s3.repo(bucket="b")).fetch({"name": "x", "s3": {"key": "a.tgz"}}, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_local_write_problems_are_reported_not_raised(s3: S3Env, tmp_path: Path) -> None:
    s3.put("clash/a", b"file")
    s3.put("clash/a/b", b"under a directory of the same name")
    with pytest.raises(DflowctlError) as info:
        S3Store(s3.repo(), workers=1).fetch(
            {"name": "c", "archive": {"none": {}}, "s3": {"key": "clash"}}, tmp_path / "c"
        )
    assert "c/a" in str(info.value) and info.value.exit_code == 2
    (tmp_path / "blocker").write_text("a file where a directory must go")
    s3.put("k/x.txt", b"x")
    with pytest.raises(DflowctlError, match="cannot write the download"):
        S3Store(s3.repo()).fetch(
            {"name": "x", "archive": {"none": {}}, "s3": {"key": "k/x.txt"}}, tmp_path / "blocker" / "x"
        )


def closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.timeout(60)
def test_unreachable_endpoint(s3: S3Env, tmp_path: Path) -> None:
    store = S3Store(s3.repo(endpoint=f"127.0.0.1:{closed_port()}"))
    with pytest.raises(
        StorageError, match=r"S3 unreachable at http://127\.0\.0\.1:\d+: connection refused"
    ) as info:
        store.fetch({"name": "x", "s3": {"key": "a.tgz"}}, tmp_path / "x")
    assert "DFLOWCTL_S3_ENDPOINT" in (info.value.hint or "")
    internal = S3Store(s3.repo(endpoint="minio:9000", origin="ConfigMap argo/x key y"))
    err = internal.translate(ConnectionRefusedError("refused"), "downloading", "k", "b")
    assert "port-forward svc/minio 9000:9000" in (err.hint or "") and "ConfigMap argo/x" in (err.hint or "")
    other = S3Store(s3.repo(endpoint="store.data.svc.cluster.local:9100"))
    hint = other.translate(ConnectionRefusedError("refused"), "downloading", "k", "b").hint or ""
    assert "kubectl -n data port-forward svc/store 9100:9100" in hint and "localhost:9100" in hint
    for e in (info.value, err):
        assert s3.secret_key not in f"{e} {e.hint}"


def test_uploads_are_content_addressed(s3_proxy: ProxiedS3, tmp_path: Path, sample_dir: Path) -> None:
    from dflowctl.uploads import source_archive

    store = S3Store(s3_proxy.env.repo())
    data, key = source_archive(sample_dir)
    packed = tmp_path / "src.tgz"
    packed.write_bytes(data)
    assert key.startswith("dflowctl/sources/") and key.endswith(".tgz")
    assert store.put_if_absent(packed, key) is True
    up = s3_proxy.proxy.bytes_up
    assert store.put_if_absent(packed, key) is False
    assert s3_proxy.proxy.bytes_up - up < 2_000  # one HEAD, no PUT
    # the archive unpacks (as Argo's executor does) to the directory's contents
    store.fetch({"name": "src", "s3": {"key": key}}, tmp_path / "unpacked")
    assert tree(tmp_path / "unpacked") == tree(sample_dir)
    # a local file as a workflow input artifact travels the same way
    data, key = source_archive(sample_dir / "a.txt")
    packed.write_bytes(data)
    store.put_if_absent(packed, key)
    store.fetch({"name": "in", "s3": {"key": key}}, tmp_path / "in.txt")
    assert (tmp_path / "in.txt").read_text() == "alpha\n"


def test_fetch_many_in_parallel(s3: S3Env, tmp_path: Path) -> None:
    items = []
    for i in range(20):
        s3.put(f"{POD}-{i}/o.tgz", tgz_of_bytes("o.txt", f"item {i}".encode()))
        items.append(({"name": "o", "s3": {"key": f"{POD}-{i}/o.tgz"}}, tmp_path / f"o{i}.txt"))
    for i in range(30):
        s3.put(f"{POD}-dir/d/f{i}", b"x" * i)
    items.append(({"name": "d", "archive": {"none": {}}, "s3": {"key": f"{POD}-dir/d"}}, tmp_path / "d"))
    import threading

    def ours() -> int:
        return sum(t.name.startswith("dflowctl-s3") for t in threading.enumerate())

    peak: list[int] = []
    store = S3Store(s3.repo(), workers=8, on_progress=lambda _e: peak.append(ours()))
    written = store.fetch_many(items)
    assert len(written) == 20 + 30 and (tmp_path / "o7.txt").read_text() == "item 7"
    assert (tmp_path / "d" / "f29").read_bytes() == b"x" * 29
    assert 1 < max(peak) <= 8  # nested directory downloads do not multiply the threads


def test_minio_is_imported_lazily() -> None:
    code = (
        "import sys, dflowctl.storage, dflowctl.archive, dflowctl.repository; print('minio' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_ctrl_c_stops_a_parallel_download_cleanly(s3: S3Env, tmp_path: Path) -> None:
    import signal
    import threading

    for i in range(40):
        s3.put(f"many/f{i:02d}", os.urandom(200_000))
    store = S3Store(s3.repo(), workers=2)
    main = threading.main_thread().ident
    assert main is not None and threading.current_thread() is threading.main_thread()
    sent: list[int] = []

    def hook(event: ProgressEvent) -> None:
        if event.file is not None and not sent:
            sent.append(1)
            signal.pthread_kill(main, signal.SIGINT)  # Ctrl-C, delivered to the main thread
        if sent:
            # Hold the workers (bounded) until the main thread has taken the Ctrl-C, so a loaded
            # machine cannot finish all 40 files before the interrupt is handled.
            store._abort.wait(timeout=30)

    store.on_progress = hook
    with pytest.raises(KeyboardInterrupt):
        store.fetch({"name": "m", "archive": {"none": {}}, "s3": {"key": "many"}}, tmp_path / "d")
    files = [p for p in (tmp_path / "d").rglob("*") if p.is_file()]
    assert 1 <= len(files) < 40 and leftovers(tmp_path) == []
    assert all(p.stat().st_size == 200_000 for p in files)
    store.on_progress = None  # a re-run finishes the rest
    assert len(
        store.fetch({"name": "m", "archive": {"none": {}}, "s3": {"key": "many"}}, tmp_path / "d")
    ) == 40 - len(files)


def test_directory_download_never_writes_through_a_link_out_of_dest(s3: S3Env, tmp_path: Path) -> None:
    s3.put(f"{POD}/dir-none/sub/f.txt", b"artifact")
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "d"
    dest.mkdir()
    (dest / "sub").symlink_to(outside)
    store = S3Store(s3.repo())
    with pytest.raises(UnsafeArchiveError, match="refusing to write through a link leading out of"):
        store.fetch(
            {"name": "d", "archive": {"none": {}}, "s3": {"key": f"{POD}/dir-none"}}, dest, force=True
        )
    assert list(outside.iterdir()) == []


def test_ctrl_c_while_jobs_are_still_handed_out_stops_the_ones_running(s3: S3Env) -> None:
    """The Ctrl-C comes while the main thread is still handing jobs out and the first one
    already runs (as on a loaded machine): the running job is told to stop and waited for."""
    import signal
    import threading

    store = S3Store(s3.repo(), workers=2)
    main = threading.main_thread().ident
    assert main is not None and threading.current_thread() is threading.main_thread()
    started, finished = threading.Event(), threading.Event()

    def first() -> None:
        started.set()
        signal.pthread_kill(main, signal.SIGINT)  # Ctrl-C, delivered to the main thread
        store._abort.wait(timeout=30)  # a transfer stops at its next chunk once told
        finished.set()

    class Jobs:
        """The second job is handed out only once the first runs."""

        def __len__(self) -> int:
            return 2

        def __iter__(self) -> Iterator[Callable[[], None]]:
            yield first
            started.wait(timeout=30)
            yield lambda: None

    with pytest.raises(KeyboardInterrupt):
        store.parallel(Jobs())  # type: ignore[arg-type]
    assert finished.is_set(), "the running job was left behind"
    assert not store._abort.is_set()
