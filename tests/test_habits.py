"""argo's verbs and habits through the real CLI: list/get/watch/wait/lint/submit,
did-you-mean, @latest, list filters, logs --tail/--grep/--since, run --name/--label,
shell completion, and the run home found in a parent folder."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import SPECS, run_cli

SPEC = """\
apiVersion: dflowctl/v1alpha1
kind: Workflow
metadata: {name: greet}
spec:
  parameters:
    code: {type: int, default: 0}
  ops:
    say:
      image: alpine:3.20
      script: |
        echo "line one"
        echo "line two"
        echo "line three"
        exit $code
      inputs:
        parameters: {code: int}
  steps:
    - name: say
      op: say
      parameters: {code: "{{workflow.parameters.code}}"}
"""


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "greet.yaml"
    path.write_text(SPEC)
    return path


def _name(stdout: str) -> str:
    m = re.search(r"^Name: (\S+)$", stdout, re.MULTILINE)
    assert m, stdout
    return m.group(1)


def test_argo_verbs_and_exit_codes(dflowctl_home: Path, spec: Path, tmp_path: Path) -> None:
    res = run_cli("lint", str(spec), cwd=tmp_path)
    assert (res.returncode, res.stdout) == (0, f"{spec}: ok\n")
    res = run_cli("submit", str(spec), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    good = _name(res.stdout)
    res = run_cli("wait", good, cwd=tmp_path)
    assert (res.returncode, res.stdout) == (0, f"{good} Succeeded\n")
    res = run_cli("submit", str(spec), "-p", "code=3", "--name", "greet-bad", "-l", "team=a", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("Name: greet-bad\n")
    res = run_cli("wait", "@latest", cwd=tmp_path)
    assert (res.returncode, res.stdout) == (1, "greet-bad Failed\n")
    for args in (["watch", "greet-bad"], ["status", "greet-bad", "--watch"]):
        res = run_cli(*args, cwd=tmp_path)
        assert res.returncode == 1, (args, res.stderr)
        assert "Phase:     Failed" in res.stdout
    res = run_cli("watch", good, cwd=tmp_path)
    assert res.returncode == 0
    res = run_cli("get", "@latest", cwd=tmp_path)
    assert res.returncode == 0 and "Name:      greet-bad\n" in res.stdout
    res = run_cli("list", cwd=tmp_path)
    assert res.returncode == 0
    assert [line.split()[0] for line in res.stdout.splitlines()] == ["NAME", "greet-bad", good]
    # list filters
    res = run_cli("list", "--phase", "failed", cwd=tmp_path)
    assert [line.split()[0] for line in res.stdout.splitlines()] == ["NAME", "greet-bad"]
    res = run_cli("status", "-l", "team=a", "--since", "1h", cwd=tmp_path)
    assert [line.split()[0] for line in res.stdout.splitlines()] == ["NAME", "greet-bad"]
    res = run_cli("list", "-l", "team=b", cwd=tmp_path)
    assert (res.stdout, res.stderr) == ("", "No runs found.\n(2 run(s) left out by the filters)\n")
    res = run_cli("list", "--phase", "done", cwd=tmp_path)
    assert (res.returncode, res.stderr) == (
        2,
        "error: unknown phase 'done'\n  hint: use one of: Pending, Running, Succeeded, Failed, Error\n",
    )
    res = run_cli("list", "--since", "yesterday", cwd=tmp_path)
    assert (res.returncode, res.stderr) == (
        2,
        "error: invalid duration 'yesterday'\n  hint: use a number and a unit: 30s, 10m, 2h, 1d, 1w\n",
    )
    # a name that is taken, a name Argo would refuse
    res = run_cli("run", str(spec), "--name", "greet-bad", cwd=tmp_path)
    assert res.returncode == 2 and res.stderr.startswith("error: a run named 'greet-bad' already exists\n")
    res = run_cli("run", str(spec), "--name", "Bad_Name", cwd=tmp_path)
    assert (res.returncode, res.stderr) == (
        2,
        "error: invalid run name 'Bad_Name'\n"
        "  hint: lower-case letters, digits and '-', at most 63 characters\n",
    )
    res = run_cli("run", str(spec), "--label", "novalue", cwd=tmp_path)
    assert (res.returncode, res.stderr) == (2, "error: invalid label 'novalue'\n  hint: use key=value\n")


def test_unknown_commands_name_ours() -> None:
    cases = {
        "lsit": "error: no command 'lsit'\n  hint: did you mean: dflowctl list\n",
        "terminate": "error: no command 'terminate'\n  hint: did you mean: dflowctl stop NAME --terminate\n",
        "resubmit": (
            "error: no command 'resubmit'\n"
            "  hint: did you mean: dflowctl retry NAME --resubmit (argo engine)\n"
        ),
        "frobnicate": "error: no command 'frobnicate'\n  hint: dflowctl --help lists the commands\n",
    }
    for word, message in cases.items():
        res = run_cli(word, "x")
        assert (res.returncode, res.stderr) == (2, message), word


def test_latest_without_runs(dflowctl_home: Path, tmp_path: Path) -> None:
    for args in (
        ["status", "@latest"],
        ["logs", "@latest"],
        ["download", "@latest"],
        ["report", "@latest"],
        ["rerun", "@latest", "--step", "x"],
        ["run", str(SPECS / "hello.yaml"), "--reuse", "@latest"],
    ):
        res = run_cli(*args, cwd=tmp_path)
        assert (res.returncode, res.stderr) == (
            2,
            "error: there are no runs yet, so no @latest\n  hint: start one: dflowctl run SPEC\n",
        ), args


def test_latest_in_rerun_and_run_reuse(dflowctl_home: Path, spec: Path, tmp_path: Path) -> None:
    """@latest names the run started last in `rerun` and `run --reuse` as everywhere."""
    res = run_cli("run", str(spec), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    first = _name(res.stdout)
    res = run_cli("rerun", "@latest", "--step", "say", cwd=tmp_path)
    assert res.returncode == 0 and f"of {first} " in res.stderr, res.stderr
    res = run_cli("run", str(spec), "--reuse", "@latest", cwd=tmp_path)
    assert res.returncode == 0 and f"say  Succeeded  0s  reused from {first}" in res.stderr, res.stderr


def test_logs_tail_grep_since(dflowctl_home: Path, spec: Path, tmp_path: Path) -> None:
    res = run_cli("run", str(spec), cwd=tmp_path)
    assert res.returncode == 0, res.stderr

    res = run_cli("logs", "@latest", "--tail", "2", cwd=tmp_path)
    assert res.stdout == "say: line two\nsay: line three\n"
    res = run_cli("logs", "@latest", "--grep", "t[wh]", cwd=tmp_path)
    assert res.stdout == "say: line two\nsay: line three\n"
    res = run_cli("logs", "@latest", "--since", "1h", "--tail", "1", cwd=tmp_path)
    assert res.stdout == "say: line three\n"
    res = run_cli("logs", "@latest", "--grep", "(", cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.startswith("error: invalid --grep pattern '(': missing ), unterminated subpattern")
    res = run_cli("logs", "@latest", "--timestamps", "--grep", "two", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert re.fullmatch(r"say: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z line two\n", res.stdout), res.stdout


def test_shell_completion(dflowctl_home: Path, spec: Path, tmp_path: Path) -> None:
    res = run_cli("completion", "bash")
    assert res.returncode == 0 and "_DFLOWCTL_COMPLETE=complete_bash" in res.stdout
    res = run_cli("completion", "tcsh")
    assert (res.returncode, res.stderr) == (
        2,
        "error: unknown shell 'tcsh'\n  hint: use one of: bash, zsh, fish\n",
    )
    res = run_cli("run", str(spec), "--name", "greet-one", cwd=tmp_path)
    assert res.returncode == 0, res.stderr

    def complete(words: str) -> list[str]:
        env = {
            "_DFLOWCTL_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split(" ")) - 1),
        }
        out = run_cli(cwd=tmp_path, env=env)
        assert out.returncode == 0, out.stderr
        return out.stdout.split()

    assert complete("dflowctl sta") == ["status"]
    assert complete("dflowctl logs ") == ["@latest", "greet-one"]
    assert complete("dflowctl report greet") == ["greet-one"]
    assert "--tail" in complete("dflowctl logs --t")


def test_run_home_found_in_a_parent_folder(tmp_path: Path, spec: Path) -> None:
    env = {"DFLOWCTL_HOME": "", "DFLOWCTL_CONFIG": str(tmp_path / "no-config.yaml")}
    project = tmp_path / "project"
    (project / "ops" / "deep").mkdir(parents=True)
    res = run_cli("run", str(spec), "--name", "greet-here", cwd=project, env=env)
    assert res.returncode == 0, res.stderr
    assert (project / ".dflowctl" / "runs" / "greet-here").is_dir()
    res = run_cli("list", cwd=project / "ops" / "deep", env=env)
    assert [line.split()[0] for line in res.stdout.splitlines()] == ["NAME", "greet-here"]
    # one folder up from the project: no runs here, a hint naming where they are
    res = run_cli("list", cwd=tmp_path, env=env)
    assert res.returncode == 0 and res.stdout == ""
    here = os.path.realpath(tmp_path)
    assert res.stderr == (
        "No runs found.\n"
        f"hint: no runs in {here}/.dflowctl; runs are recorded in project/.dflowctl"
        " (cd there, or set DFLOWCTL_HOME)\n"
    )


@pytest.mark.parametrize("home", ["", "runs-here"], ids=["found", "relative-DFLOWCTL_HOME"])
def test_a_fan_out_of_a_source_op_runs_under_a_relative_home(tmp_path: Path, home: str) -> None:
    """The run home as found (``./.dflowctl``) or given relative: every pod, the ones after
    the first reading the run's shared layer too, is handed absolute paths (the fork
    server and the pod's view start in other folders)."""
    project = tmp_path / "project"
    (project / ".dflowctl").mkdir(parents=True)  # found here: `.dflowctl`, whatever a parent holds
    shutil.copy(SPECS / "fanout.yaml", project / "fanout.yaml")
    shutil.copytree(SPECS / "ops", project / "ops")
    env = {"DFLOWCTL_HOME": home, "DFLOWCTL_CONFIG": str(tmp_path / "no-config.yaml")}
    res = run_cli("run", "fanout.yaml", "-p", "n=4", "--name", "fan-here", cwd=project, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    res = run_cli("get", "fan-here", "-o", "json", cwd=project, env=env)
    assert res.returncode == 0, res.stderr
    status = json.loads(res.stdout)["status"]
    assert status["phase"] == "Succeeded"
    pods = [n for n in status["nodes"].values() if n["type"] == "Pod"]
    assert sorted(n["phase"] for n in pods) == ["Succeeded"] * 5, [n.get("message") for n in pods]
    (total,) = [n for n in pods if n["displayName"] == "total"]
    assert {p["name"]: p.get("value") for p in total["outputs"]["parameters"]}["total"] == "14"
    assert (project / (home or ".dflowctl") / "runs" / "fan-here").is_dir()


def test_runs_made_in_the_same_second_are_listed_newest_first(dflowctl_home: Path, spec: Path) -> None:
    """Kubernetes' creationTimestamp has whole seconds: two runs of one second are told
    apart by when they were submitted, not by their names."""
    for name in ("a-first", "b-second"):
        assert run_cli("run", str(spec), "--name", name).returncode == 0
    stamp = "2026-01-02T03:04:05Z"
    for name in ("a-first", "b-second"):
        record = dflowctl_home / "runs" / name / "workflow.json"
        wf = json.loads(record.read_text())
        wf["metadata"]["creationTimestamp"] = stamp
        record.write_text(json.dumps(wf))
    for verb in ("list", "status"):
        res = run_cli(verb)
        assert [line.split()[0] for line in res.stdout.splitlines()] == ["NAME", "b-second", "a-first"], (
            res.stderr
        )
    assert "Name:      b-second\n" in run_cli("get", "@latest").stdout
