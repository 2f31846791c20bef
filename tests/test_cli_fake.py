"""The run commands against an in-test engine (the real engines have their own tests;
end-to-end runs of the local engine are in test_cli_local.py)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dflowctl import actions, cli
from dflowctl.engines import LogLine, RunOptions
from dflowctl.errors import NotFoundError
from tests import argo_status as st
from tests.test_download_select import DirStore


class FakeEngine:
    name = "fake"

    def __init__(self, final: dict[str, Any], repo: Path | None = None) -> None:
        self.final = final
        self.runs: dict[str, dict[str, Any]] = {}
        self.repo = repo
        self.options: RunOptions | None = None
        self.interrupt = False

    def _steps(self) -> list[dict[str, Any]]:
        """The run as it unfolds: no nodes, then nodes appearing and finishing in order."""
        final = self.final
        nodes = final["status"]["nodes"]
        order = sorted(nodes, key=lambda n: (nodes[n].get("startedAt") or "~", n))
        states = []
        for k in range(len(order) + 1):
            wf = copy.deepcopy(final)
            wf["status"].update(phase="Running", nodes={n: copy.deepcopy(nodes[n]) for n in order[:k]})
            wf["status"].pop("finishedAt", None)
            if k:
                last = wf["status"]["nodes"][order[k - 1]]
                if last["type"] == "Pod":
                    last.update(phase="Running")
                    last.pop("finishedAt", None)
            states.append(wf)
        return [*states, final]

    def submit(self, manifest: dict[str, Any], options: RunOptions) -> dict[str, Any]:
        self.options = options
        self.manifest = manifest
        name = self.final["metadata"]["name"]
        if not options.wait:
            self.runs[name] = self._steps()[1]
            return self.runs[name]
        for wf in self._steps():
            if options.on_update:
                options.on_update(wf)
            if self.interrupt and wf["status"]["nodes"]:
                raise KeyboardInterrupt
        self.runs[name] = self.final
        return self.final

    def list_runs(self) -> list[dict[str, Any]]:
        return list(self.runs.values())

    def get_run(self, name: str) -> dict[str, Any]:
        if name not in self.runs:
            raise NotFoundError(f"no run named {name!r}")
        return self.runs[name]

    def watch(self, name: str, on_update: Any) -> dict[str, Any]:
        return self.submit({}, RunOptions(on_update=on_update))

    def logs(self, name: str, node_ids: list[str] | None = None, follow: bool = False) -> Iterator[LogLine]:
        nodes = self.get_run(name)["status"]["nodes"]
        for nid, raw in nodes.items():
            if raw["type"] == "Pod" and (node_ids is None or nid in node_ids):
                yield LogLine(nid, raw["displayName"], f"hello from {raw['displayName']}")

    def artifact_store(self, name: str) -> DirStore:
        assert self.repo is not None
        return DirStore(self.repo)

    def stop(self, name: str, *, terminate: bool = False) -> dict[str, Any]:
        wf = self.get_run(name)
        wf["status"]["phase"] = "Failed"
        return wf

    def retry(self, name: str, options: RunOptions) -> dict[str, Any]:
        self.get_run(name)
        return self.submit({}, options)

    def delete(self, name: str) -> None:
        self.get_run(name)
        del self.runs[name]


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, dflowctl_home: Path) -> FakeEngine:
    eng = FakeEngine(st.hello(), tmp_path / "repo")
    monkeypatch.setattr(actions, "make_engine", lambda settings: eng)

    def prepare(path: Path, overrides: Any, parameter_file: Any, tmp: Path) -> actions.Prepared:
        return actions.Prepared({"kind": "Workflow", "from": str(path), "params": list(overrides)}, tmp)

    monkeypatch.setattr(actions, "prepare", prepare)
    monkeypatch.chdir(tmp_path)
    return eng


def cli_run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_run_prints_name_events_summary(engine: FakeEngine, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli_run(capsys, "run", "x.yaml", "-p", "msg=Hi")
    assert code == 0
    assert engine.manifest["params"] == ["msg=Hi"]
    assert engine.options is not None and engine.options.wait
    assert out.splitlines()[0] == "Name: hello-abcde"
    assert "✔ hello-abcde Succeeded in 6s (2/2 steps)" in out
    assert "  shout  size = 12" in out
    assert err.splitlines() == [
        "hello-abcde Running",
        "write  Running",
        "write  Succeeded  1s",
        "shout  Running",
        "shout  Succeeded  2s",
    ]
    assert "\x1b" not in out + err


def test_failed_run_exits_1(engine: FakeEngine, capsys: pytest.CaptureFixture[str]) -> None:
    engine.final = st.hello("Failed")
    code, out, err = cli_run(capsys, "run", "x.yaml")
    assert code == 1
    assert "  ✖ shout Failed: Error (exit code 1)" in out
    assert "shout  Failed  2s  Error (exit code 1)" in err


def test_run_json_prints_only_the_object(engine: FakeEngine, capsys: pytest.CaptureFixture[str]) -> None:
    engine.final = st.hello("Failed")
    code, out, _ = cli_run(capsys, "run", "x.yaml", "-o", "json")
    assert code == 1
    assert json.loads(out) == st.hello("Failed")


def test_run_yaml(engine: FakeEngine, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    code, out, _ = cli_run(capsys, "run", "x.yaml", "-o", "yaml")
    assert code == 0
    assert yaml.safe_load(out) == st.hello()


def test_no_wait_prints_the_name(engine: FakeEngine, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli_run(capsys, "run", "x.yaml", "--no-wait")
    assert (code, out) == (0, "Name: hello-abcde\n")
    assert "dflowctl status hello-abcde --watch" in err


def test_dry_run_prints_the_manifest_and_submits_nothing(
    engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli_run(capsys, "run", "x.yaml", "--dry-run", "-o", "json")
    assert code == 0 and json.loads(out)["from"] == "x.yaml"
    assert engine.options is None


def test_server_dry_run_needs_argo(engine: FakeEngine, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli_run(capsys, "run", "x.yaml", "--server-dry-run")
    assert code == 2
    assert err == "error: --server-dry-run needs the argo engine\n  hint: add -e argo\n"


def test_bad_output_format(engine: FakeEngine, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli_run(capsys, "status", "-o", "xml")
    assert code == 2 and "unknown output format 'xml'" in err


def test_interrupt_exits_130_with_a_retry_hint(
    engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    engine.interrupt = True
    code, _, err = cli_run(capsys, "run", "x.yaml")
    assert code == 130
    assert err.splitlines()[-2:] == [
        "error: interrupted: run hello-abcde stopped",
        "  hint: resume it with: dflowctl retry hello-abcde",
    ]


def test_status_list_and_detail(engine: FakeEngine, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli_run(capsys, "status")
    assert (code, out) == (0, "")
    assert err == "No runs found.\n"
    engine.runs = {"hello-abcde": st.hello(), "fan-xyz12": st.fanout(2)}
    code, out, _ = cli_run(capsys, "status")
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "PHASE", "STARTED", "DURATION", "PROGRESS", "MESSAGE"]
    assert {ln.split()[0] for ln in lines[1:]} == {"hello-abcde", "fan-xyz12"}
    code, out, _ = cli_run(capsys, "status", "hello-abcde")
    assert code == 0
    assert "Name:      hello-abcde" in out and "Phase:     Succeeded" in out
    assert any(ln.split()[:3] == ["└─✔", "shout", "shout"] for ln in out.splitlines())
    code, out, _ = cli_run(capsys, "status", "hello-abcde", "-o", "json")
    assert json.loads(out)["metadata"]["name"] == "hello-abcde"


def test_status_unknown_run(engine: FakeEngine, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli_run(capsys, "status", "nope")
    assert (code, out, err) == (2, "", "error: no run named 'nope'\n")


def test_logs_prefix_and_step_filter(engine: FakeEngine, capsys: pytest.CaptureFixture[str]) -> None:
    engine.runs = {"hello-abcde": st.hello()}
    code, out, _ = cli_run(capsys, "logs", "hello-abcde")
    assert (code, out) == (0, "write: hello from write\nshout: hello from shout\n")
    code, out, _ = cli_run(capsys, "logs", "hello-abcde", "--step", "shout")
    assert out == "shout: hello from shout\n"
    code, _, err = cli_run(capsys, "logs", "hello-abcde", "--step", "shot")
    assert code == 2
    assert err == "error: run 'hello-abcde' has no step 'shot'\n  hint: did you mean 'shout'?\n"


def test_download_and_conflict(
    engine: FakeEngine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    engine.runs = {"hello-abcde": st.hello()}
    key = tmp_path / "repo" / "hello-abcde" / "hello-abcde-shout-1" / "loud.tgz"
    key.parent.mkdir(parents=True)
    key.write_text("LOUD\n")
    code, out, err = cli_run(capsys, "download", "hello-abcde", "--step", "shout")
    assert (code, out) == (0, "hello-abcde/shout/loud\n")
    assert (tmp_path / "hello-abcde/shout/loud").read_text() == "LOUD\n"
    key.write_text("LOUDER\n")
    code, out, err = cli_run(capsys, "download", "hello-abcde", "--step", "shout")
    assert code == 2
    assert err.splitlines()[0] == "error: hello-abcde/shout/loud already exists with different content"
    code, out, err = cli_run(
        capsys, "download", "hello-abcde", "--step", "shout", "-d", "o", "--artifact", "x"
    )
    assert code == 2
    assert err.splitlines()[0] == "error: step 'shout' of run 'hello-abcde' has no output artifact 'x'"


def test_stop_retry_delete(engine: FakeEngine, capsys: pytest.CaptureFixture[str]) -> None:
    engine.runs = {"hello-abcde": st.hello()}
    assert cli_run(capsys, "stop", "hello-abcde")[1] == "hello-abcde stopped (Failed)\n"
    code, out, _ = cli_run(capsys, "retry", "hello-abcde")
    assert code == 0 and "✔ hello-abcde Succeeded" in out
    assert cli_run(capsys, "delete", "hello-abcde")[:2] == (0, "hello-abcde deleted\n")
    assert cli_run(capsys, "delete", "hello-abcde")[0] == 2
