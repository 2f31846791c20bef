"""Hostile input through the real CLI: every bound of spec.limits gives exit 2 with a
position (or a one-line error), fast and small; run names, download targets and links
in the destination; escape sequences in output values (issue 8)."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, SPECS, Within, run_cli

pytestmark = pytest.mark.timeout(300)

MEMORY_CAP = 1 << 30  # 1 GiB of address space per command: the bounds must keep us far below


def limited(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> tuple[int, str, float]:
    """``dflowctl ARGS`` under a memory cap: (exit code, stderr, seconds it would take on an
    idle machine: the wall time over the slowdown measured around it, see ``Within``)."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))

    with Within(0.0, f"dflowctl {args[0]}") as took:
        proc = subprocess.run(
            [sys.executable, "-m", "dflowctl", *args],
            cwd=cwd or REPO,
            env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})},
            capture_output=True,
            text=True,
            timeout=150,  # a hang guard; the bounds are the tests' own
            preexec_fn=cap,
        )
    return proc.returncode, proc.stderr, took.idle_seconds


def laughs(levels: int = 7, indent: str = "") -> str:
    lines = [f"{indent}a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels + 1):
        lines.append(f"{indent}a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


PARAMS_SPEC = """\
apiVersion: dflowctl/v1alpha1
kind: Workflow
metadata: {name: pt}
spec:
  parameters:
    n: {type: int, default: 1}
    f: {type: float, default: 1.5}
    l: {type: list, default: []}
    a: {type: any, default: 1}
  ops:
    o: {image: alpine:3.20, script: "echo hi"}
  steps:
    - name: s
      op: o
"""


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "pt.yaml"
    path.write_text(PARAMS_SPEC, encoding="utf-8")
    return path


def test_billion_laughs_is_refused_fast_and_small(tmp_path: Path) -> None:
    body = laughs(indent="    ")
    path = tmp_path / "laughs.yaml"
    path.write_text(
        "apiVersion: dflowctl/v1alpha1\nkind: Workflow\nmetadata:\n  name: x\n  annotations:\n"
        f"{body}spec:\n  steps: []\n"
    )
    assert len(body) < 800
    code, err, took = limited("validate", str(path))
    assert code == 2 and took < 10, (code, took, err)
    assert err.startswith(f"{path}:10:49: aliases here expand to more than 100,000 values\n")


def test_billion_laughs_in_parameters(spec: Path, tmp_path: Path) -> None:
    pfile = tmp_path / "p.yaml"
    pfile.write_text(laughs())
    code, err, took = limited("render", str(spec), "--parameter-file", str(pfile))
    assert code == 2 and took < 10, err
    assert err == (
        f"error: parameter file: {pfile}:5:45: aliases here expand to more than 100,000 values "
        "(YAML aliases (*name) copy what their anchor (&name) holds; write the data out or use fewer)\n"
    )
    flow = (
        "[&a0 [x,x,x,x,x,x,x,x,x,x], "
        + ", ".join(f"&a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 8))
        + "]"
    )
    code, err, took = limited("render", str(spec), "-p", f"l={flow}")
    assert code == 2 and took < 10, err
    assert err == "error: -p: the value of parameter `l`: aliases here expand to more than 100,000 values\n"


@pytest.mark.parametrize("option", ["validate", "--parameter-file"])
def test_dev_zero_is_not_read(spec: Path, option: str) -> None:
    args = ["validate", "/dev/zero"] if option == "validate" else ["render", str(spec), option, "/dev/zero"]
    code, err, took = limited(*args)
    assert code == 2 and took < 10, err
    if option == "validate":
        assert err == (
            "/dev/zero: is not a regular file (a character device)\n"
            "  hint: give the path of a file; pipes, devices and sockets are not read\n"
        )
    else:
        assert err == (
            "error: parameter file: /dev/zero: is not a regular file (a character device) "
            "(give the path of a file; pipes, devices and sockets are not read)\n"
        )


def test_a_file_over_the_size_limit(tmp_path: Path) -> None:
    from dflowctl.spec.limits import MAX_FILE_BYTES

    big = tmp_path / "big.yaml"
    with open(big, "wb") as fh:
        fh.truncate(MAX_FILE_BYTES + 1)
    code, err, _ = limited("validate", str(big))
    assert code == 2
    assert err == f"{big}: the file is larger than 16 MiB\n  hint: dflowctl reads files of at most 16 MiB\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: " + "[" * 10_000 + "]" * 10_000, ":1:103: nested more than 100 levels deep"),
        ('{"a": ' + "[" * 10_000 + "]" * 10_000 + "}", ":1:106: nested more than 100 levels deep"),
        ("a: " + "1" * 5000, ":1:4: an integer of 5000 digits (at most 4300)"),
        ("a: &a {<<: *a}", ":1:12: the alias *a is inside the node it names (a recursive alias)"),
        ("a: &a [1, *a]", ":1:11: the alias *a is inside the node it names (a recursive alias)"),
    ],
)
def test_bounds_in_any_file(tmp_path: Path, spec: Path, text: str, expected: str) -> None:
    path = tmp_path / "f.yaml"
    path.write_text(text + "\n")
    code, err, took = limited("validate", str(path))
    assert code == 2 and took < 20, err
    assert err.startswith(f"{path}{expected}\n"), err
    assert "Traceback" not in err
    code, err, _ = limited("render", str(spec), "--parameter-file", str(path))
    assert code == 2 and err.startswith(f"error: parameter file: {path}{expected} ("), err


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("n=" + "1" * 5000, "-p: parameter `n`: an integer of 5000 digits (at most 4300)"),
        ("a=" + "1" * 5000, "-p: the value of parameter `a`: holds an integer of more than 4300 digits"),
        (
            "l=[1, " + "2" * 5000 + "]",
            "-p: the value of parameter `l`: holds an integer of more than 4300 digits",
        ),
        ("l=" + "[" * 5000 + "]" * 5000, "-p: the value of parameter `l`: nested more than 100 levels deep"),
        ("a=" + "[" * 5000 + "]" * 5000, "-p: the value of parameter `a`: nested more than 100 levels deep"),
        (
            "l=[&a [*a]]",
            "-p: the value of parameter `l`: the alias *a is inside the node it names (a recursive alias)",
        ),
        ("f=nan", "-p: parameter `f`: nan, which JSON cannot carry\n  hint: give a finite number"),
        ("f=-inf", "-p: parameter `f`: -inf, which JSON cannot carry\n  hint: give a finite number"),
        (
            "l=[1, .nan]",
            "-p: parameter `l`: a list holding NaN or an infinity, which JSON cannot carry\n"
            "  hint: give a finite number",
        ),
    ],
)
def test_bounds_in_p(spec: Path, arg: str, expected: str) -> None:
    code, err, took = limited("render", str(spec), "-p", arg)
    assert (code, err) == (2, f"error: {expected}\n")
    assert took < 20


def test_nan_in_a_parameter_file(spec: Path, tmp_path: Path) -> None:
    pfile = tmp_path / "p.yaml"
    pfile.write_text("f: .nan\n")
    res = run_cli("render", str(spec), "--parameter-file", str(pfile))
    assert res.returncode == 2
    assert res.stderr == (
        f"error: --parameter-file {pfile}: parameter `f`: nan, which JSON cannot carry\n"
        "  hint: give a finite number\n"
    )


def test_a_broken_parameter_file_with_an_argo_file(tmp_path: Path) -> None:
    """Reported as with a spec (it used to be ignored silently)."""
    argo = tmp_path / "wf.yaml"
    argo.write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {generateName: hi-}\n"
        "spec:\n  entrypoint: main\n  arguments: {parameters: [{name: msg, value: hi}]}\n"
        "  templates:\n  - name: main\n    container: {image: alpine:3.20, command: [echo, hi]}\n"
    )
    broken = tmp_path / "p.yaml"
    broken.write_text("msg: [unclosed\n")
    for command in ("render", "run"):
        res = run_cli(command, str(argo), "--parameter-file", str(broken))
        assert res.returncode == 2, res.stderr
        assert res.stderr == (
            f"error: parameter file: {broken}:2:1: YAML syntax error: expected ',' or ']', "
            "but got '<stream end>' (while parsing a flow sequence)\n"
        )
    good = tmp_path / "good.yaml"
    good.write_text("msg: [1, 2]\n")
    res = run_cli("render", str(argo), "--parameter-file", str(good), "-o", "json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["spec"]["arguments"]["parameters"] == [{"name": "msg", "value": "[1, 2]"}]


@pytest.mark.parametrize("command", ["status", "logs", "download", "stop", "retry", "delete"])
def test_a_run_name_too_long(command: str, dflowctl_home: Path) -> None:
    (dflowctl_home / "runs").mkdir(parents=True)
    res = run_cli(command, "a" * 300)
    assert res.returncode == 2
    assert res.stderr == (
        "error: `aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...` is not a run name: "
        "it is longer than 253 characters (300)\n  hint: list the runs with: dflowctl status\n"
    )


ESCAPES = """\
apiVersion: dflowctl/v1alpha1
kind: Workflow
metadata: {name: esc}
spec:
  ops:
    o:
      image: alpine:3.20
      script: |
        printf 'A\\033]0;pwned\\007\\033[31mRED\\033[0m' > /tmp/o
      outputs:
        parameters:
          v: {from: /tmp/o}
  steps:
    - name: s
      op: o
"""


def test_output_values_with_escape_sequences_are_printed_escaped(tmp_path: Path, dflowctl_home: Path) -> None:
    spec = tmp_path / "esc.yaml"
    spec.write_text(ESCAPES)
    res = run_cli("run", str(spec))
    assert res.returncode == 0, res.stderr
    shown = "  s  v = A\\x1b]0;pwned\\x07\\x1b[31mRED\\x1b[0m"
    assert shown in res.stdout.splitlines()
    assert "\x1b" not in res.stdout + res.stderr
    name = next(iter((dflowctl_home / "runs").iterdir())).name
    status = run_cli("status", name)
    assert shown in status.stdout.splitlines() and "\x1b" not in status.stdout


@pytest.fixture(scope="module")
def hello_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], str]:
    home = tmp_path_factory.mktemp("hello-home")
    env = {"DFLOWCTL_HOME": str(home), "DFLOWCTL_CONFIG": str(home / "no-config.yaml")}
    res = run_cli("run", str(SPECS / "hello.yaml"), env=env)
    assert res.returncode == 0, res.stderr
    return env, next(iter((home / "runs").iterdir())).name


@pytest.mark.parametrize("where", ["out_art", "write"])
def test_download_never_writes_through_a_link(
    hello_run: tuple[dict[str, str], str], tmp_path: Path, where: str
) -> None:
    env, name = hello_run
    dest, elsewhere = tmp_path / "dl", tmp_path / "elsewhere"
    (dest / "write").mkdir(parents=True)
    elsewhere.mkdir()
    link = dest / "write" / "out_art" if where == "out_art" else dest / "write"
    if where == "write":
        link.rmdir()
    link.symlink_to(elsewhere)
    res = run_cli("download", name, "-d", str(dest), env=env)
    assert res.returncode == 2
    assert res.stderr == (
        f"error: {link} is a symbolic link; download never writes through one\n"
        "  hint: remove it, use --force to replace the link (not what it points to), or -d DIR elsewhere\n"
    )
    assert list(elsewhere.iterdir()) == []
    res = run_cli("download", name, "-d", str(dest), "--force", env=env)
    assert res.returncode == 0, res.stderr
    assert list(elsewhere.iterdir()) == [] and not link.is_symlink()
    assert (dest / "write" / "out_art" / "msg.txt").is_file()


@pytest.mark.parametrize("target", ["/dev/null/x", "FILE"])
def test_an_unusable_download_target(
    hello_run: tuple[dict[str, str], str], tmp_path: Path, target: str
) -> None:
    env, name = hello_run
    if target == "FILE":
        target = str(tmp_path / "a-file")
        Path(target).write_text("x")
        expected = (
            f"error: cannot download to {target}: it is not a folder\n  hint: give a folder with -d DIR\n"
        )
    else:
        expected = (
            "error: cannot download to /dev/null/x: not a directory (/dev/null/x/write/out_art)\n"
            "  hint: give a folder you can write to with -d DIR\n"
        )
    res = run_cli("download", name, "-d", target, env=env)
    assert (res.returncode, res.stderr) == (2, expected)


def test_a_file_of_too_many_values(tmp_path: Path) -> None:
    path = tmp_path / "many.yaml"
    path.write_text("a: [" + "1," * 1_000_001 + "1]\n")
    code, err, _ = limited("validate", str(path))
    assert code == 2, err
    assert err.startswith(f"{path}:1:") and ": the file holds more than 1,000,000 values\n" in err
