"""The warm fork server ends at once when its runner closes it: what it had to do at its
end (SIGKILL what pods left behind) is done in its loop, and the interpreter's own
teardown of its warm modules (which the runner waited for, at the end of every run) is
skipped."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from dflowctl.engines.local.forkserver import ForkServer

pytestmark = pytest.mark.timeout(60)


def test_closing_the_server_skips_its_interpreters_teardown(tmp_path: Path) -> None:
    mark = tmp_path / "torn-down"
    (tmp_path / "warm_mark.py").write_text(
        f"import atexit\natexit.register(lambda: open({str(mark)!r}, 'w').close())\n",
        encoding="utf-8",
    )
    server = ForkServer(sys.executable, ("json", "warm_mark"), {"PYTHONPATH": str(tmp_path)})
    assert server.alive
    server.close()
    assert server._proc.returncode == 0  # it ended of itself, not killed after the wait
    assert not mark.exists()  # no teardown: its atexit handlers never ran
