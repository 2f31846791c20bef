"""End to end through the real entry point: `python -m dflowctl` in a subprocess, the real
spec loader, renderer and local engine, run records in a private $DFLOWCTL_HOME."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, SPECS, Within, run_cli

pytestmark = pytest.mark.timeout(120)


def run_name(stdout: str) -> str:
    m = re.search(r"^Name: (\S+)$", stdout, re.M)
    assert m, stdout
    return m.group(1)


@pytest.fixture(scope="module")
def hello_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, subprocess.CompletedProcess[str]]:
    """One HelloWorld run shared by the read-only tests below."""
    home = tmp_path_factory.mktemp("home")
    env = {"DFLOWCTL_HOME": str(home), "DFLOWCTL_CONFIG": str(home / "none.yaml")}
    res = run_cli("run", str(SPECS / "hello.yaml"), env=env, cwd=home)
    return home, run_name(res.stdout), res


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(
        *args, cwd=home, env={"DFLOWCTL_HOME": str(home), "DFLOWCTL_CONFIG": str(home / "none.yaml")}
    )


def test_hello_succeeds_and_prints_its_outputs(hello_run) -> None:
    _, name, res = hello_run
    assert res.returncode == 0, res.stderr
    assert re.fullmatch(r"hello-[a-z0-9]{5}", name)
    assert f"✔ {name} Succeeded in " in res.stdout
    assert "(progress 2/2)" in res.stdout
    assert "  shout  size = 12" in res.stdout  # "HELLOWORLD!\n"
    assert re.search(r"^  shout  loud -> \S+", res.stdout, re.M)
    # not a terminal: one plain line per event on stderr, no colour codes, no carriage returns
    events = res.stderr.splitlines()
    assert re.fullmatch(rf"{name} (Pending|Running)", events[0])
    finished = [e for e in events if "Succeeded" in e]
    assert [e.split()[0] for e in finished] == ["write", "shout"]
    assert all(re.fullmatch(r"(write|shout)  Succeeded  \d+(\.\d)?s", e) for e in finished)
    assert set(events[1:]) - set(finished) <= {"write  Running", "shout  Running"}
    assert "\x1b" not in res.stdout + res.stderr and "\r" not in res.stdout + res.stderr


def test_download_hello_artifacts(hello_run, tmp_path: Path) -> None:
    home, name, _ = hello_run
    out = tmp_path / "out"
    res = cli(home, "download", name, "-d", str(out))
    assert res.returncode == 0, res.stderr
    assert (out / "write" / "out_art" / "msg.txt").read_text() == "HelloWorld!\n"
    assert (out / "write" / "out_art" / "results.txt").read_text() == "number: 1\nlength: 11\n"
    assert (out / "shout" / "loud" / "out.txt").read_text() == "HELLOWORLD!\n"  # /tmp/out.txt
    assert str(out / "write" / "out_art" / "msg.txt") in res.stdout.splitlines()
    again = cli(home, "download", name, "-d", str(out))
    assert again.returncode == 0 and "already up to date" in again.stderr


def test_download_default_dir_step_and_artifact(hello_run) -> None:
    home, name, _ = hello_run
    res = cli(home, "download", name, "--step", "write", "--artifact", "out_art")
    assert res.returncode == 0, res.stderr
    assert (home / name / "write" / "out_art" / "msg.txt").read_text() == "HelloWorld!\n"
    assert not (home / name / "shout").exists()


def test_download_refuses_to_overwrite_a_different_file(hello_run, tmp_path: Path) -> None:
    home, name, _ = hello_run
    out = tmp_path / "o"
    assert cli(home, "download", name, "--step", "write", "-d", str(out)).returncode == 0
    msg = out / "write" / "out_art" / "msg.txt"
    msg.write_text("edited\n")
    res = cli(home, "download", name, "--step", "write", "-d", str(out))
    assert res.returncode == 2
    assert res.stderr.splitlines()[0] == f"error: {msg} already exists with different content"
    assert msg.read_text() == "edited\n"
    res = cli(home, "download", name, "--step", "write", "-d", str(out), "--force")
    assert res.returncode == 0, res.stderr
    assert msg.read_text() == "HelloWorld!\n"


def test_unknown_run_step_artifact_are_clear_errors(hello_run) -> None:
    home, name, _ = hello_run
    res = cli(home, "status", "hello-nope1")
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.startswith("error: ") and "hello-nope1" in res.stderr
    assert "Traceback" not in res.stderr
    res = cli(home, "download", name, "--step", "shuot")
    assert res.returncode == 2
    assert res.stderr == f"error: run {name!r} has no step 'shuot'\n  hint: did you mean 'shout'?\n"
    res = cli(home, "download", name, "--step", "shout", "--artifact", "lowd")
    assert res.returncode == 2
    assert res.stderr == (
        f"error: step 'shout' of run {name!r} has no output artifact 'lowd'\n  hint: did you mean 'loud'?\n"
    )
    res = cli(home, "logs", name, "--step", "nope")
    assert res.returncode == 2 and "has no step 'nope'" in res.stderr


def test_status_list_tree_and_json(hello_run) -> None:
    home, name, _ = hello_run
    res = cli(home, "status")
    assert res.returncode == 0, res.stderr
    row = next(line for line in res.stdout.splitlines() if line.startswith(name))
    assert row.split()[1] == "Succeeded" and "2/2" in row.split()
    res = cli(home, "status", name)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert f"Name:      {name}" in lines and "Phase:     Succeeded" in lines
    steps = [ln.split()[:4] for ln in lines if ln.startswith(("├─", "└─"))]
    assert steps[0][:3] == ["├─✔", "write", "write-file"] and steps[0][3] == "Succeeded"
    assert steps[1][:4] == ["└─✔", "shout", "shout", "Succeeded"]
    wf = json.loads(cli(home, "status", name, "-o", "json").stdout)
    assert wf["metadata"]["name"] == name and wf["status"]["phase"] == "Succeeded"


def test_fanout_sum_and_json_output(dflowctl_home: Path, tmp_path: Path) -> None:
    res = run_cli("run", str(SPECS / "fanout.yaml"), "-p", "n=5", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "  total  total = 30" in res.stdout  # 0+1+4+9+16
    name = run_name(res.stdout)
    got = run_cli("download", name, "--step", "square", "-d", str(tmp_path / "sq"), cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    values = {
        p.parent.name: p.read_text().strip() for p in (tmp_path / "sq").glob("square/result/*/square.txt")
    }
    assert values == {str(i): str(i * i) for i in range(5)}
    items = json.loads((tmp_path / "sq" / "square" / "items.json").read_text())
    assert items == {str(i): i for i in range(5)}
    one = run_cli(
        "download", name, "--step", "square", "--item", "3", "-d", str(tmp_path / "one"), cwd=tmp_path
    )
    assert one.returncode == 0, one.stderr
    got_one = sorted(
        p.relative_to(tmp_path / "one").as_posix() for p in (tmp_path / "one").rglob("*") if p.is_file()
    )
    assert got_one == ["square/items.json", "square/result/3/square.txt"]
    logs = run_cli("logs", name, "--step", "square[9]", cwd=tmp_path)
    assert logs.returncode == 2 and f"run {name!r} has no step 'square[9]'" in logs.stderr
    res = run_cli("run", str(SPECS / "fanout.yaml"), "-o", "json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    wf = json.loads(res.stdout)  # nothing but the object on stdout
    total = [n for n in wf["status"]["nodes"].values() if n["displayName"] == "total"]
    params = {p["name"]: p["value"] for p in total[0]["outputs"]["parameters"]}
    assert params["total"] == "285"  # sum of squares 0..9


def test_failed_run_exits_1_with_its_message(dflowctl_home: Path, tmp_path: Path) -> None:
    res = run_cli("run", str(SPECS / "retry.yaml"), "-p", "failures=9", cwd=tmp_path)
    assert res.returncode == 1, res.stderr
    name = run_name(res.stdout)
    assert f"✖ {name} Failed" in res.stdout
    assert (
        "  ✖ flaky Failed: Error (exit code 1): failing on purpose (attempt 3 < 9) (after 4 attempts)"
        in res.stdout.splitlines()
    )
    logs = run_cli("logs", name, "--step", "flaky", cwd=tmp_path)
    assert logs.returncode == 0, logs.stderr
    assert re.search(r"^flaky\S*: attempt 0$", logs.stdout, re.M)
    assert re.search(r"^flaky\S*: attempt 3$", logs.stdout, re.M)
    ok = run_cli("run", str(SPECS / "retry.yaml"), cwd=tmp_path)  # fails twice, then succeeds
    assert ok.returncode == 0, ok.stderr
    assert "  flaky  attempt = 2" in ok.stdout.splitlines()  # the step's outputs, under its own name


def test_bad_spec_and_parameter_are_bad_input(dflowctl_home: Path, tmp_path: Path) -> None:
    res = run_cli("run", str(tmp_path / "missing.yaml"), cwd=tmp_path)
    assert res.returncode == 2 and "missing.yaml" in res.stderr and "Traceback" not in res.stderr
    res = run_cli("run", str(SPECS / "fanout.yaml"), "-p", "n=lots", cwd=tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr


def test_dry_run_prints_the_manifest(dflowctl_home: Path) -> None:
    res = run_cli("run", "specs/hello.yaml", "--dry-run", "-o", "json")
    assert res.returncode == 0, res.stderr
    manifest = json.loads(res.stdout)
    assert manifest["kind"] == "Workflow" and manifest["metadata"]["generateName"] == "hello-"
    assert not (dflowctl_home / "runs").exists() or not any((dflowctl_home / "runs").iterdir())


SLOW_SPEC = """\
apiVersion: dflowctl/v1alpha1
kind: Workflow
metadata: {name: slow}
spec:
  parameters:
    gate: {type: str}
  ops:
    first:
      image: alpine:3.20
      script: echo "first ran"
    nap:
      image: alpine:3.20
      script: |
        echo napping
        while [ ! -e "$gate" ]; do sleep 0.1; done
        echo woke
      inputs:
        parameters: {gate: str}
  steps:
    - name: first
      op: first
    - name: nap
      op: nap
      parameters: {gate: "{{workflow.parameters.gate}}"}
"""


@pytest.mark.slow
def test_ctrl_c_stops_the_run_exits_130_and_retry_finishes_it(
    dflowctl_home: Path, tmp_path: Path, shared_dir: Path
) -> None:
    spec = tmp_path / "slow.yaml"
    spec.write_text(SLOW_SPEC)
    env = {**os.environ, "NO_COLOR": "1"}
    gate = shared_dir / "gate"  # `nap` runs until it exists: interrupted first, finished by `retry`
    proc = subprocess.Popen(
        [sys.executable, "-m", "dflowctl", "run", str(spec), "-p", f"gate={gate}"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.strip() == "nap  Running":
            break
    else:
        proc.kill()
        pytest.fail("the step never started: " + "".join(seen))
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    name = run_name(out)
    assert f"error: interrupted: run {name} stopped" in err
    assert f"hint: resume it with: dflowctl retry {name}" in err
    stopped = json.loads(run_cli("status", name, "-o", "json").stdout)
    assert stopped["status"]["phase"] in ("Failed", "Error")
    assert stopped["status"]["message"].startswith("Stopped with strategy")  # Argo's words
    gate.touch()
    res = run_cli("retry", name, timeout=120)
    assert res.returncode == 0, res.stderr
    assert f"✔ {name} Succeeded" in res.stdout
    logs = run_cli("logs", name).stdout.splitlines()
    assert logs.count("first: first ran") == 1  # what succeeded was not run again
    assert "nap: woke" in logs


@pytest.mark.slow
def test_sigterm_is_an_interruption_too(dflowctl_home: Path, tmp_path: Path, shared_dir: Path) -> None:
    spec = tmp_path / "slow.yaml"
    spec.write_text(SLOW_SPEC)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dflowctl", "run", str(spec), "-p", f"gate={shared_dir / 'never'}"],
        cwd=REPO,
        env={**os.environ, "NO_COLOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.strip() == "nap  Running":
            break
    with Within(5.0, "ending the run after SIGTERM") as took:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    took.check()
    name = run_name(out)
    assert f"error: interrupted: run {name} stopped" in err
    assert json.loads(run_cli("status", name, "-o", "json").stdout)["status"]["phase"] in ("Failed", "Error")


def run_on_a_terminal(args: list[str], env: dict[str, str], timeout: float = 60) -> tuple[int, str]:
    """Run dflowctl with stdout and stderr on a pseudo-terminal; returns (exit code, all output)."""
    import pty
    import select

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dflowctl", *args],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    chunks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the terminal closed: the process ended
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(leader)
    code = proc.wait(timeout=10)
    return code, b"".join(chunks).decode("utf-8", "replace")


def test_terminal_gets_a_live_coloured_tree(dflowctl_home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "DFLOWCTL_ENGINE", "CI")}
    env.update(TERM="xterm-256color", COLUMNS="120", LINES="40")
    code, text = run_on_a_terminal(["run", str(SPECS / "fanout.yaml"), "-p", "n=20"], env)
    assert code == 0, text
    assert "\x1b[32m" in text  # green for Succeeded
    assert re.search(r"STEP\S*\s.*TEMPLATE", text)  # the live table's header
    assert "more (" in text  # 20 items are collapsed to the ones that matter
    assert re.search(r"Succeeded in \d+s \(progress 21/21\)", text)
    assert "total = 2470" in text


def test_no_color_on_a_terminal(dflowctl_home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DFLOWCTL_ENGINE", "CI")}
    env.update(TERM="xterm-256color", COLUMNS="120", NO_COLOR="1")
    code, text = run_on_a_terminal(["run", str(SPECS / "hello.yaml")], env)
    assert code == 0, text
    assert not re.search(r"\x1b\[[0-9;]*3[0-7]m", text)  # no foreground colours
    assert "size = 12" in text


TICKS_SPEC = """\
apiVersion: dflowctl/v1alpha1
kind: Workflow
metadata: {name: ticks}
spec:
  ops:
    tick:
      image: alpine:3.20
      script: |
        for i in 1 2 3; do echo "tick $i"; sleep 0.3; done
  steps:
    - name: a
      op: tick
    - name: b
      op: tick
"""


@pytest.mark.slow
def test_no_wait_then_watch_logs_and_control(dflowctl_home: Path, tmp_path: Path) -> None:
    spec = tmp_path / "ticks.yaml"
    spec.write_text(TICKS_SPEC)
    res = run_cli("run", str(spec), "--no-wait", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    name = run_name(res.stdout)
    assert res.stdout == f"Name: {name}\n"
    assert f"dflowctl status {name} --watch" in res.stderr
    watch = run_cli("status", name, "--watch", cwd=tmp_path)  # follows until the run ends
    assert watch.returncode == 0, watch.stderr
    assert "Phase:     Succeeded" in watch.stdout.splitlines()
    assert [e for e in watch.stderr.splitlines() if "Succeeded" in e][-1].startswith("b  Succeeded  ")
    name2 = run_name(run_cli("run", str(spec), "--no-wait", cwd=tmp_path).stdout)
    logs = run_cli("logs", name2, "-f", cwd=tmp_path)  # follows until the run ends
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout.splitlines() == [f"{s}: tick {i}" for s in "ab" for i in (1, 2, 3)]
    only_b = run_cli("logs", name, "--step", "b", cwd=tmp_path)
    assert only_b.stdout.splitlines() == ["b: tick 1", "b: tick 2", "b: tick 3"]
    again = run_cli("retry", name, cwd=tmp_path)
    assert again.returncode == 2 and again.stderr.startswith("error: ") and "Traceback" not in again.stderr
    stop = run_cli("stop", name, cwd=tmp_path)
    assert stop.returncode == 2 and stop.stderr.startswith("error: ")
    assert run_cli("delete", name, cwd=tmp_path).stdout == f"{name} deleted\n"
    gone = run_cli("status", name, cwd=tmp_path)
    assert gone.returncode == 2 and f"unknown run {name!r}" in gone.stderr


def test_yaml_output_is_only_the_object(dflowctl_home: Path, tmp_path: Path) -> None:
    import yaml

    res = run_cli("run", str(SPECS / "hello.yaml"), "-p", "msg=Hi", "-o", "yaml", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""  # no live view, no events: the object is the whole answer
    wf = yaml.safe_load(res.stdout)
    assert wf["status"]["phase"] == "Succeeded"
    shout = next(n for n in wf["status"]["nodes"].values() if n["displayName"] == "shout")
    params = {p["name"]: p["value"] for p in shout["outputs"]["parameters"]}
    assert {k: v for k, v in params.items() if not k.startswith("dflowctl-")} == {"size": "3"}  # "HI\n"


def test_usage_errors(dflowctl_home: Path, tmp_path: Path) -> None:
    res = run_cli("status", cwd=tmp_path)
    assert (res.returncode, res.stdout, res.stderr) == (
        0,
        "",
        "No runs found.\n"
        f"hint: runs are recorded in {dflowctl_home}/runs (DFLOWCTL_HOME sets another place)\n",
    )
    res = run_cli("status", "-o", "xml", cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr == "error: unknown output format 'xml'\n  hint: use one of: table, json, yaml\n"
    res = run_cli("run", str(SPECS / "hello.yaml"), "--server-dry-run", cwd=tmp_path)
    assert (res.returncode, res.stderr) == (
        2,
        "error: --server-dry-run needs the argo engine\n  hint: add -e argo\n",
    )
    res = run_cli("run", str(SPECS / "hello.yaml"), "-p", "msg", cwd=tmp_path)
    assert (res.returncode, res.stderr) == (
        2,
        "error: -p expects NAME=VALUE, not `msg`\n  hint: e.g. -p msg=Hello\n",
    )
    res = run_cli("run", str(SPECS / "hello.yaml"), "-e", "cloud", cwd=tmp_path)
    assert res.returncode == 2 and "unknown engine 'cloud'" in res.stderr


ARGO_FILE = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: argo-hello-
spec:
  entrypoint: main
  arguments:
    parameters:
      - name: message
        value: hello
  templates:
    - name: main
      inputs:
        parameters:
          - name: message
      script:
        image: python:3.12-alpine
        command: [python3]
        source: |
          print("{{inputs.parameters.message}}".upper())
"""


def test_a_plain_argo_workflow_file_runs_with_parameters(dflowctl_home: Path, tmp_path: Path) -> None:
    wf_file = tmp_path / "argo-hello.yaml"
    wf_file.write_text(ARGO_FILE)
    res = run_cli("run", str(wf_file), "-p", "message=bonjour", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    name = run_name(res.stdout)
    assert name.startswith("argo-hello-")
    assert f"  {name}  result = BONJOUR" in res.stdout.splitlines()
    res = run_cli("run", str(wf_file), "-p", "nope=1", "-o", "json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr  # like `argo submit`: passed on, with a warning
    assert res.stderr == (
        f"warning: {wf_file}: parameter 'nope' is not declared in spec.arguments (declared: message);"
        " passing it as `argo submit` does\n"
    )
    params = json.loads(res.stdout)["spec"]["arguments"]["parameters"]
    assert params == [{"name": "message", "value": "hello"}, {"name": "nope", "value": "1"}]


def test_local_runs_never_import_kubernetes_or_minio(dflowctl_home: Path, tmp_path: Path) -> None:
    env = {**os.environ, "NO_COLOR": "1"}
    for args in (["run", str(SPECS / "hello.yaml")], ["status"]):
        res = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "dflowctl", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert res.returncode == 0, res.stderr
        imported = {
            ln.split("|")[-1].strip().split(".")[0]
            for ln in res.stderr.splitlines()
            if ln.startswith("import time:")
        }
        assert "rich" in imported  # the probe sees imports at all
        assert {"kubernetes", "minio"} & imported == set()


def test_ci_gets_plain_lines_even_on_a_terminal(dflowctl_home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DFLOWCTL_ENGINE",)}
    env.update(TERM="xterm-256color", COLUMNS="120", NO_COLOR="1", CI="true")
    code, text = run_on_a_terminal(["run", str(SPECS / "hello.yaml")], env)
    assert code == 0, text
    lines = text.replace("\r\n", "\n").splitlines()
    assert any(re.fullmatch(r"shout  Succeeded  \d+(\.\d)?s", ln) for ln in lines), text
    assert "STEP" not in text  # no live table
