"""A report previews an artifact where the local engine keeps it (report/peek.py): a
folder, a plain file, or a tgz/zip archive read as a stream; nothing copied, links
never followed; the names as `download` gives them."""

from __future__ import annotations

from pathlib import Path

from dflowctl.archive import pack
from dflowctl.engines.local.artifacts import LocalArtifactStore
from dflowctl.report.collect import MAX_FILES, head_size, preview_of
from dflowctl.report.peek import peek

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


def sample(tmp_path: Path) -> Path:
    art = tmp_path / "plots"
    (art / "sub").mkdir(parents=True)
    (art / "b.csv").write_text("x,y\n1,2\n")
    (art / "a.png").write_bytes(PNG)
    (art / "sub" / "c.txt").write_text("deep\n")
    secret = tmp_path / "secret.txt"
    secret.write_text("do not show\n")
    (art / "0-link.txt").symlink_to(secret)  # sorts first: left out, not followed
    return art


def test_a_folder_is_read_in_place_without_following_links(tmp_path: Path) -> None:
    files, count = peek(sample(tmp_path), False, MAX_FILES, head_size)
    assert [(f.name, f.suffix, f.size) for f in files] == [
        ("a.png", ".png", len(PNG)),
        ("b.csv", ".csv", 8),
        ("sub/c.txt", ".txt", 5),
    ]
    assert count == 3 and all(b"do not show" not in f.head for f in files)
    shown = preview_of(files[1].head, files[1].size, files[1].name, files[1].suffix)
    assert shown.kind == "csv" and shown.rows == [["x", "y"], ["1", "2"]]
    assert preview_of(files[0].head, files[0].size, "a.png", ".png").kind == "image"


def test_archives_are_read_as_streams_with_download_names(tmp_path: Path) -> None:
    art = sample(tmp_path)
    (art / "0-link.txt").unlink()
    for fmt, name in (("tar", "plots.tgz"), ("zip", "plots.zip")):
        packed = tmp_path / name
        pack(art, packed, fmt=fmt)
        files, count = peek(packed, True, 2, head_size)
        assert [(f.name, f.size) for f in files] == [("a.png", len(PNG)), ("b.csv", 8)], fmt
        assert count == 3 and files[0].head == PNG
    one = tmp_path / "one.tgz"
    pack(art / "a.png", one)  # a file artifact: its single file, named "" as download places it
    files, count = peek(one, True, MAX_FILES, head_size)
    assert [(f.name, f.suffix, f.head) for f in files] == [("", ".png", PNG)] and count == 1


def test_the_local_store_says_where_an_artifact_is_kept(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    (root / "wf" / "pod").mkdir(parents=True)
    pack(sample(tmp_path), root / "wf" / "pod" / "plots.tgz")
    (root / "wf" / "pod" / "plain.txt").write_text("plain\n")
    store = LocalArtifactStore(root)
    assert store.stored({"name": "plots", "s3": {"key": "wf/pod/plots.tgz"}}) == (
        root / "wf" / "pod" / "plots.tgz",
        True,
    )
    path, is_archive = store.stored({"name": "p", "archive": {"none": {}}, "s3": {"key": "wf/pod/plain.txt"}})
    assert not is_archive
    files, count = peek(path, is_archive, MAX_FILES, head_size)
    assert [(f.name, f.suffix, f.head) for f in files] == [("", ".txt", b"plain\n")] and count == 1


def test_only_the_logs_the_page_shows_are_read() -> None:
    from collections.abc import Iterator

    from dflowctl.engines import LogLine
    from dflowctl.errors import NotFoundError
    from dflowctl.report import run_report
    from dflowctl.report.html import LOG_PODS
    from tests import argo_status as st

    wf = st.fanout(LOG_PODS + 50)
    asked: list[list[str] | None] = []

    class Engine:
        name = "local"

        def logs(
            self, name: str, node_ids: list[str] | None = None, follow: bool = False, timestamps: bool = False
        ) -> Iterator[LogLine]:
            asked.append(node_ids)
            return iter([LogLine(n, "square", f"log of {n}") for n in node_ids or []])

        def artifact_store(self, name: str) -> object:
            return Missing()

    class Missing:
        def fetch(self, artifact: object, dest: Path, *, force: bool = False) -> list[Path]:
            raise NotFoundError("not kept here")

    page = run_report(Engine(), wf)  # type: ignore[arg-type]
    pods = [nid for nid, raw in wf["status"]["nodes"].items() if raw.get("type") == "Pod"]
    assert len(asked) == 1 and asked[0] is not None and len(asked[0]) == LOG_PODS < len(pods)
    assert all(f"log of {n}" in page for n in asked[0])
    assert f"… {len(pods) - LOG_PODS} more pods" in page and "not kept here" in page
