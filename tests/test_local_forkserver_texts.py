"""A pod's script text goes to the warm fork server once: later pods of the same script
name it by number (forkserver.ForkServer._by_reference, _podcode.restore_text)."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from dflowctl.engines.local import _podcode, forkserver
from dflowctl.engines.local.pods import PodRequest, PodRunner

pytestmark = pytest.mark.timeout(60)

# a script long enough to go by number, whose output tells which item ran it
SCRIPT = "import os\n" + "# padding\n" * 200 + "print('item', os.environ['ITEM'])\n"


def _template(item: int) -> dict[str, Any]:
    return {
        "name": "t",
        "script": {
            "image": "python:3.11",
            "command": ["python3"],
            "source": SCRIPT,
            "env": [{"name": "ITEM", "value": str(item)}],
        },
    }


def _run(runner: PodRunner, tmp_path: Path, item: int) -> str:
    req = PodRequest(
        pod_name=f"p{item}",
        template=_template(item),
        work_dir=tmp_path / f"p{item}",
        input_artifacts=[],
        log_path=tmp_path / "logs" / f"p{item}.log",
    )
    result = runner.run(req, threading.Event())
    assert result.phase == "Succeeded", result.message
    return str(result.result)


def test_pods_of_one_script_send_its_text_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[dict[str, Any]] = []
    real_send = socket.send_fds

    def spy(sock: socket.socket, buffers: list[bytes], fds: list[int], *rest: Any) -> int:
        msg = json.loads(buffers[0])
        if "inline" in msg:
            sent.append(msg["inline"].get("py") or {})
        return real_send(sock, buffers, fds, *rest)

    monkeypatch.setattr(forkserver.socket, "send_fds", spy)
    with PodRunner(parallelism=2) as runner:
        outputs = [_run(runner, tmp_path, item) for item in range(4)]
    assert outputs == [f"item {i}" for i in range(4)]  # each pod ran the whole script, its own env
    assert [("source" in py, py.get("text_id"), py.get("text_ref")) for py in sent] == [
        (True, 1, None),
        (False, None, 1),
        (False, None, 1),
        (False, None, 1),
    ]


def test_a_number_the_server_does_not_know_starts_the_pod_without_it(tmp_path: Path) -> None:
    with PodRunner(parallelism=1) as runner:
        assert _run(runner, tmp_path, 0) == "item 0"
        (server,) = [s for s in runner._servers.values() if s is not None]
        server._texts[SCRIPT] = 999  # as if the server had forgotten it
        assert _run(runner, tmp_path, 1) == "item 1"  # through the one-shot launcher
        server._texts[SCRIPT] = 1
        assert _run(runner, tmp_path, 2) == "item 2"


def test_the_client_names_only_texts_the_server_still_has() -> None:
    """Both sides keep the last TEXTS_KEPT texts, numbered in the order they went: after
    any sequence of new and repeated texts, every number sent is one the server knows."""
    assert forkserver.TEXTS_KEPT == _podcode.TEXTS_KEPT
    server = forkserver.ForkServer.__new__(forkserver.ForkServer)
    server._texts, server._text_ids = {}, 0
    _podcode._TEXTS.clear()
    texts = [f"text {n}\n" * 200 for n in range(150)]
    order = [*range(100), *range(30, 100), *range(100, 150), 0, 99, 149, *range(80, 150)]
    try:
        for n in order:
            spec, new = server._by_reference({"py": {"source": texts[n]}})
            py = dict(spec["py"])
            if new is not None:
                server._sent(new)
            _podcode.restore_text({"py": py})  # raises if the server does not have it
            assert py["source"] == texts[n]
        assert len(server._texts) == len(_podcode._TEXTS) == forkserver.TEXTS_KEPT
        with pytest.raises(LookupError, match=r"no script text numbered 1$"):
            _podcode.restore_text({"py": {"text_ref": 1}})
    finally:
        _podcode._TEXTS.clear()


def test_short_scripts_and_other_pods_go_as_they_are() -> None:
    server = forkserver.ForkServer.__new__(forkserver.ForkServer)
    server._texts, server._text_ids = {}, 0
    for spec in ({"py": {"source": "print(1)"}}, {"argv": ["sh"], "py": None}, {"argv": ["sh"]}):
        assert server._by_reference(spec) == (spec, None)
