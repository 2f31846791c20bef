"""Open pages in real headless Chromium (Debian's ``chromium``): the DOM after scripts
ran, what the console said, and screenshots. Tests skip when it is not installed."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: list[str] = field(default_factory=list)

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.texts: list[str] = []
        self.stack: list[Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        el = Element(tag, {k: v or "" for k, v in attrs})
        self.elements.append(el)
        if tag not in ("img", "br", "meta", "input", "link", "path", "rect"):
            self.stack.append(el)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                break

    def handle_data(self, data: str) -> None:
        self.texts.append(data)
        for el in self.stack:
            el.text.append(data)


@dataclass
class Page:
    dom: str
    console: list[str]
    elements: list[Element]
    text: str

    def find(self, tag: str, cls: str | None = None) -> list[Element]:
        return [e for e in self.elements if e.tag == tag and (cls is None or cls in e.classes)]


def _run(args: list[str], timeout: float = 90) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="dflowctl-chromium-") as profile:
        return subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def open_page(url: str, screenshot: Path | None = None, *, height: int = 2400, wait_ms: int = 0) -> Page:
    """The DOM after load (and ``wait_ms`` of virtual time), console lines, optional screenshot."""
    extra = [f"--virtual-time-budget={wait_ms}"] if wait_ms else []
    res = _run(["--enable-logging=stderr", "--v=0", *extra, "--dump-dom", url])
    assert res.returncode == 0, res.stderr[-2000:]
    console = [line for line in res.stderr.splitlines() if ":CONSOLE" in line]
    if screenshot is not None:
        shot = _run([f"--window-size=1280,{height}", "--hide-scrollbars", f"--screenshot={screenshot}", url])
        assert shot.returncode == 0 and screenshot.is_file(), shot.stderr[-2000:]
    parser = _Collect()
    parser.feed(res.stdout)
    return Page(res.stdout, console, parser.elements, "".join(parser.texts))
