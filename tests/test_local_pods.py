"""The local pod runner with real processes: templates, outputs, failures, isolation, killing, speed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from dflowctl.engines.local import isolation
from dflowctl.engines.local.pods import (
    CANCEL_MESSAGE,
    DEADLINE_MESSAGE,
    RESULT_LIMIT,
    PodRequest,
    PodResult,
    PodRunner,
)
from tests.conftest import REPO, Within, slowdown

pytestmark = pytest.mark.timeout(60)

OVERLAY_OK = (
    isolation.method_for(Path.cwd()) == isolation.OVERLAY if sys.platform.startswith("linux") else False
)
MODES = [
    pytest.param(
        isolation.OVERLAY, marks=pytest.mark.skipif(not OVERLAY_OK, reason="no private mount views here")
    ),
    isolation.REMAP,
]


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(isolation.ENV_FORCE, request.param)
    return str(request.param)


@pytest.fixture(scope="module")
def runner() -> Iterator[PodRunner]:
    """One runner (and so one set of warm servers) for the module; the isolation method is
    read per pod, so the `mode` fixture still applies."""
    r = PodRunner(parallelism=4)
    yield r
    r.close()


def run(
    runner: PodRunner,
    tmp_path: Path,
    template: Mapping[str, Any],
    name: str = "pod",
    cancel: threading.Event | None = None,
    **kw: Any,
) -> PodResult:
    req = PodRequest(
        pod_name=name,
        template=template,
        work_dir=tmp_path / name,
        input_artifacts=kw.pop("inputs", []),
        log_path=tmp_path / "logs" / f"{name}.log",
        **kw,
    )
    return runner.run(req, cancel or threading.Event())


def log_of(tmp_path: Path, name: str = "pod") -> str:
    return (tmp_path / "logs" / f"{name}.log").read_text()


def sh(script: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "t",
        "container": {"image": "busybox", "command": ["sh", "-c"], "args": [script]},
        **extra,
    }


def py_script(source: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "t",
        "script": {"image": "python:3.11", "command": ["python3"], "source": source},
        **extra,
    }


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return any(line.startswith("State:") and "Z" in line.split()[1] for line in fh)
    except FileNotFoundError:
        return True


# ---------------------------------------------------------------- templates and outputs


def test_container_outputs_result_log(runner: PodRunner, tmp_path: Path, mode: str) -> None:
    tmpl = sh(
        "echo hello; echo oops >&2; printf 'v1\\n' > /tmp/p.txt; mkdir -p /mnt/out/sub; "
        "echo a > /mnt/out/a.txt; echo b > /mnt/out/sub/b.txt; echo file > /tmp/f.txt",
        outputs={
            "parameters": [{"name": "p", "valueFrom": {"path": "/tmp/p.txt"}}],
            "artifacts": [{"name": "dir", "path": "/mnt/out"}, {"name": "file", "path": "/tmp/f.txt"}],
        },
    )
    res = run(runner, tmp_path, tmpl)
    assert (res.phase, res.exit_code, res.message) == ("Succeeded", 0, "")
    assert res.result == "hello"
    assert res.parameters == {"p": "v1"}
    assert res.artifacts["file"].read_text() == "file\n"
    d = res.artifacts["dir"]
    assert sorted(str(p.relative_to(d)) for p in d.rglob("*.txt")) == ["a.txt", "sub/b.txt"]
    assert (d / "sub" / "b.txt").read_text() == "b\n"
    log = log_of(tmp_path)
    assert "hello\n" in log and "oops\n" in log
    assert res.started_at <= res.finished_at
    assert not Path("/mnt/out/a.txt").exists()  # the host's /mnt is untouched


def test_script_sh_and_python(runner: PodRunner, tmp_path: Path, mode: str) -> None:
    res = run(
        runner,
        tmp_path,
        {"name": "s", "script": {"image": "alpine", "command": ["sh"], "source": "echo $((6*7))"}},
    )
    assert (res.phase, res.result) == ("Succeeded", "42")
    src = "import sys, os\nprint('argv', len(sys.argv), sys.argv[0])\nprint(os.getcwd())\n"
    res = run(runner, tmp_path, py_script(src), name="py")
    assert res.phase == "Succeeded"
    lines = (res.result or "").splitlines()
    assert lines[0].startswith("argv 1 ") and lines[0].endswith("/argo/staging/script")
    assert lines[1] == ("/" if mode == isolation.OVERLAY else str((tmp_path / "py" / "root").resolve()))


def test_parameter_default_and_missing_outputs(runner: PodRunner, tmp_path: Path, mode: str) -> None:
    with_default = sh(
        "true", outputs={"parameters": [{"name": "p", "valueFrom": {"path": "/tmp/none", "default": "dft"}}]}
    )
    res = run(runner, tmp_path, with_default, name="a")
    assert (res.phase, res.parameters) == ("Succeeded", {"p": "dft"})

    no_default = sh("true", outputs={"parameters": [{"name": "p", "valueFrom": {"path": "/tmp/none"}}]})
    res = run(runner, tmp_path, no_default, name="b")
    assert res.phase == "Error"
    assert res.message == "open /var/run/argo/outputs/parameters/tmp/none: no such file or directory"

    art = sh("true", outputs={"artifacts": [{"name": "a", "path": "/mnt/nothing"}]})
    res = run(runner, tmp_path, art, name="c")
    assert res.phase == "Error" and res.message.endswith("no such file or directory")
    assert "/mnt/nothing" in res.message

    optional = sh("true", outputs={"artifacts": [{"name": "a", "path": "/mnt/nothing", "optional": True}]})
    res = run(runner, tmp_path, optional, name="d")
    assert (res.phase, dict(res.artifacts)) == ("Succeeded", {})


def test_failed_step_keeps_failed_phase_even_with_missing_outputs(runner: PodRunner, tmp_path: Path) -> None:
    tmpl = sh(
        "echo partial; exit 3", outputs={"parameters": [{"name": "p", "valueFrom": {"path": "/tmp/none"}}]}
    )
    res = run(runner, tmp_path, tmpl)
    assert (res.phase, res.exit_code, res.message, res.result) == (
        "Failed",
        3,
        "Error (exit code 3)",
        "partial",
    )


@pytest.mark.parametrize(
    ("source", "code", "in_log"),
    [
        ("raise SystemExit(4)", 4, ""),
        ("import sys; sys.exit('bad input')", 1, "bad input"),
        ("def f():\n    return 1 / 0\nf()", 1, "ZeroDivisionError: division by zero"),
        ("import os; os._exit(7)", 7, ""),
    ],
)
def test_python_exit_codes(runner: PodRunner, tmp_path: Path, source: str, code: int, in_log: str) -> None:
    res = run(runner, tmp_path, py_script(source))
    # the message: Argo's, with the last line of stderr (the reason) when there is one
    reason = f": {in_log}" if in_log else ""
    assert (res.phase, res.exit_code, res.message) == ("Failed", code, f"Error (exit code {code}){reason}")
    log = log_of(tmp_path)
    assert in_log in log
    if "Traceback" in log:  # the traceback a fresh python3 prints: the script's frames only
        assert "_podserver" not in log and 'argo/staging/script", line' in log


def test_a_missing_python_file_fails_as_python3_does(runner: PodRunner, tmp_path: Path) -> None:
    tmpl = {"name": "t", "container": {"image": "python:3.11", "command": ["python3", "/no/such.py"]}}
    res = run(runner, tmp_path, tmpl)
    reason = "python3: can't open file '/no/such.py': [Errno 2] No such file or directory"
    assert (res.phase, res.exit_code) == ("Failed", 2)
    assert res.message.endswith(reason.split(": ", 1)[1]), res.message
    assert "can't open file '/no/such.py': [Errno 2] No such file or directory" in log_of(tmp_path)


def test_unknown_program_fails_the_pod(runner: PodRunner, tmp_path: Path) -> None:
    """As Argo's executor: the container's program not found fails it (Argo's e2e
    TestInvalidCommand: the workflow ends Failed, "executable file not found")."""
    res = run(
        runner, tmp_path, {"name": "c", "container": {"image": "docker/whalesay", "command": ["cowsay-xyz"]}}
    )
    assert res.phase == "Failed"
    assert res.message == 'exec: "cowsay-xyz": executable file not found in $PATH'


def test_image_defaults_and_working_dir(runner: PodRunner, tmp_path: Path, mode: str) -> None:
    res = run(
        runner, tmp_path, {"name": "c", "container": {"image": "busybox", "args": ["echo", "only", "args"]}}
    )
    assert (res.phase, res.result) == ("Succeeded", "only args")
    res = run(runner, tmp_path, {"name": "c", "container": {"image": "alpine:3.19"}}, name="cmd")
    assert res.phase == "Succeeded"  # the image's CMD (sh) with no input
    res = run(
        runner, tmp_path, {"name": "c", "container": {"image": "example.com/unknown:1"}}, name="unknown"
    )
    assert res.phase == "Error" and "give `command:`" in res.message
    wd = {"name": "c", "container": {"image": "busybox", "command": ["sh", "-c", "pwd; echo x > rel.txt"]}}
    wd["container"]["workingDir"] = "/work/here"
    wd["outputs"] = {"artifacts": [{"name": "r", "path": "/work/here/rel.txt"}]}
    res = run(runner, tmp_path, wd, name="wd")
    assert res.phase == "Succeeded", res.message
    assert res.artifacts["r"].read_text() == "x\n"
    if mode == isolation.OVERLAY:
        assert res.result == "/work/here"


def test_input_artifacts_are_private_copies(runner: PodRunner, tmp_path: Path, mode: str) -> None:
    src_file = tmp_path / "in.txt"
    src_file.write_text("one\n")
    src_dir = tmp_path / "indir"
    (src_dir / "deep").mkdir(parents=True)
    (src_dir / "deep" / "x").write_text("x")
    tmpl = sh("cat /tmp/message; ls /mnt/in/deep; echo changed > /tmp/message")
    res = run(runner, tmp_path, tmpl, inputs=[("/tmp/message", src_file), ("/mnt/in", src_dir)])
    assert (res.phase, res.result) == ("Succeeded", "one\nx")
    assert src_file.read_text() == "one\n"


def test_env_sources_and_no_host_leak(
    runner: PodRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DFLOWCTL_TEST_HOST_SECRET", "leak")
    tmpl = {
        "name": "e",
        "container": {
            "image": "busybox",
            "command": ["sh", "-c", 'echo "$A|$B|$C|${DFLOWCTL_TEST_HOST_SECRET:-none}|$HOSTNAME|$(A)"'],
            "env": [
                {"name": "A", "value": "a"},
                {"name": "B", "value": "<$(A)>"},
                {"name": "C", "value": "tmpl"},
            ],
        },
    }
    res = run(runner, tmp_path, tmpl, name="my-pod", env={"C": "engine"})
    assert res.result == "a|<a>|engine|none|my-pod|a"
    if isolation.method_for(tmp_path) == isolation.OVERLAY:
        res = run(runner, tmp_path, sh("hostname"), name="my-pod-" + "x" * 70)
        assert res.result == ("my-pod-" + "x" * 70)[:63]

    secret = {"name": "s", "container": {"image": "busybox", "command": ["true"]}}
    secret["container"]["env"] = [{"name": "K", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]
    res = run(runner, tmp_path, secret, name="secret")
    assert res.phase == "Error"
    assert (
        res.message == "env K: valueFrom.secretKeyRef cannot be read on the host (no cluster); use `-e argo`"
    )


def test_result_keeps_last_256k_and_strips_one_newline(runner: PodRunner, tmp_path: Path) -> None:
    src = "import sys\nsys.stdout.write('a' * 300000 + 'END\\n\\n')"
    res = run(runner, tmp_path, py_script(src))
    assert res.result is not None and len(res.result.encode()) == RESULT_LIMIT
    assert res.result.endswith("END\n")
    assert len(log_of(tmp_path)) == 300005


# ---------------------------------------------------------------- isolation


def test_parallel_pods_writing_the_same_absolute_paths(runner: PodRunner, tmp_path: Path, mode: str) -> None:
    results: dict[int, PodResult] = {}

    def one(i: int) -> None:
        tmpl = sh(
            f"echo {i} > /tmp/same.txt; mkdir -p /out; echo {i} > /out/same.txt; sleep 0.3; "
            "cat /tmp/same.txt /out/same.txt",
            outputs={"parameters": [{"name": "v", "valueFrom": {"path": "/out/same.txt"}}]},
        )
        results[i] = run(runner, tmp_path, tmpl, name=f"p{i}")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, res in results.items():
        assert (res.phase, res.result, res.parameters["v"]) == ("Succeeded", f"{i}\n{i}", str(i))
    assert not Path("/out/same.txt").exists()


def test_parallelism_bound(tmp_path: Path) -> None:
    src = "import time, sys\nt = time.time()\ntime.sleep(0.3)\nprint(t, time.time())"
    out: list[PodResult] = []
    with PodRunner(parallelism=2) as r:
        threads = [
            threading.Thread(target=lambda i=i: out.append(run(r, tmp_path, py_script(src), name=f"p{i}")))
            for i in range(6)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    spans = [tuple(map(float, (res.result or "").split())) for res in out]
    assert len(spans) == 6
    edges = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans], key=lambda e: (e[0], e[1]))
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    assert peak == 2


# ---------------------------------------------------------------- time limits and killing


def test_timeout_kills_with_argo_deadline_message(runner: PodRunner, tmp_path: Path) -> None:
    with Within(2.5, "a pod past its 0.5 s deadline", fixed=0.5) as took:
        res = run(runner, tmp_path, sh("echo started; sleep 30"), timeout=0.5)
    took.check()
    assert (res.phase, res.message) == ("Failed", DEADLINE_MESSAGE)
    assert res.result == "started"


def test_sigterm_ignored_then_sigkill(runner: PodRunner, tmp_path: Path) -> None:
    with Within(2.2, "SIGKILL after the 2 s grace", fixed=2.3) as took:  # 0.3 s deadline, 2 s grace
        res = run(runner, tmp_path, sh("trap '' TERM; sleep 30 & wait; sleep 30"), timeout=0.3)
    assert took.seconds >= 2.0  # the grace was given
    took.check()
    assert res.phase == "Failed" and res.exit_code == 137


@pytest.mark.parametrize("kind", ["sh", "python"])
def test_cancel_kills_the_whole_group(runner: PodRunner, tmp_path: Path, mode: str, kind: str) -> None:
    if kind == "sh":
        tmpl = sh("sleep 60 & echo $! > /tmp/gc.pid; wait")
    else:
        tmpl = py_script(
            "import subprocess, time\n"
            "p = subprocess.Popen(['sleep', '60'])\n"
            "open('/tmp/gc.pid', 'w').write(str(p.pid))\n"
            "time.sleep(60)\n"
        )
    cancel = threading.Event()
    box: list[PodResult] = []
    th = threading.Thread(target=lambda: box.append(run(runner, tmp_path, tmpl, cancel=cancel)))
    th.start()
    pid_file = tmp_path / "pod" / "root" / "tmp" / "gc.pid"
    deadline = time.monotonic() + 10
    while not (pid_file.exists() and pid_file.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.02)
    grandchild = int(pid_file.read_text())
    assert not gone(grandchild)
    with Within(2.5, "the cancel") as took:
        cancel.set()
        th.join(30)
    took.check()
    assert box and (box[0].phase, box[0].message) == ("Failed", CANCEL_MESSAGE)
    deadline = time.monotonic() + took.limit
    while not gone(grandchild) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert gone(grandchild)


def test_kill_all_ends_everything_within_2s(tmp_path: Path) -> None:
    r = PodRunner(parallelism=3)
    box: list[PodResult] = []
    threads = [
        threading.Thread(
            target=lambda i=i: box.append(run(r, tmp_path, sh("trap '' TERM; sleep 60"), name=f"k{i}"))
        )
        for i in range(4)  # one of them waits for a slot
    ]
    for t in threads:
        t.start()
    time.sleep(0.5)
    with Within(3.0, "kill_all") as took:
        r.kill_all()
        for t in threads:
            t.join(30)
    took.check()
    assert len(box) == 4 and all((x.phase, x.message) == ("Failed", CANCEL_MESSAGE) for x in box)
    after = run(r, tmp_path, sh("echo again"), name="after")  # the runner still works afterwards
    assert (after.phase, after.result) == ("Succeeded", "again")
    r.close()


# ---------------------------------------------------------------- warm fork server


PARITY_SOURCES = [
    "import os, sys\nprint(sys.argv[1:], os.environ['X'], os.getcwd(), sys.path)\n"
    "print('err', file=sys.stderr)\nopen('/tmp/o', 'w').write(__name__)",
    "import sys\nprint('before')\nsys.exit(5)",
    "print('x')\nraise ValueError('nope')",
    "import json, random\nprint(json.dumps({'r': 0 <= random.random() < 1}))",
    "print('unclosed'",
]


@pytest.mark.parametrize("source", PARITY_SOURCES)
def test_warm_and_fresh_python_give_the_same_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    tmpl = py_script(
        source, outputs={"parameters": [{"name": "o", "valueFrom": {"path": "/tmp/o", "default": "-"}}]}
    )
    tmpl["script"]["args"] = ["a1", "a2"]
    got = []
    for fork in ("1", "0"):
        monkeypatch.setenv("DFLOWCTL_FORK_SERVER", fork)
        with PodRunner(1) as r:
            res = run(r, tmp_path, tmpl, name=f"f{fork}", env={"X": "xv"})
        work = str(tmp_path / f"f{fork}")  # remap mode shows the pod's own root in paths
        log = log_of(tmp_path, f"f{fork}").replace(work, "<work>")
        # stdout and stderr are two pipes: compare the log's lines, not their interleaving
        got.append(
            (
                res.phase,
                res.exit_code,
                res.message,
                (res.result or "").replace(work, "<work>"),
                dict(res.parameters),
                sorted(log.splitlines()),
            )
        )
    assert got[0] == got[1]


def test_warm_children_get_fresh_random_state(runner: PodRunner, tmp_path: Path) -> None:
    values = {
        run(runner, tmp_path, py_script("import random; print(random.random())"), name=f"r{i}").result
        for i in range(4)
    }
    assert len(values) == 4


def test_python_command_forms_and_pythonpath(runner: PodRunner, tmp_path: Path, mode: str) -> None:
    lib = tmp_path / "lib"
    (lib / "mymod").mkdir(parents=True)
    (lib / "mymod" / "__init__.py").write_text("VALUE = 'from-lib'\n")
    tmpl = {
        "name": "c",
        "container": {
            "image": "python:3.11",
            "command": ["python3", "-u", "-c", "import sys, mymod; print(mymod.VALUE, sys.argv)", "x"],
        },
    }
    res = run(
        runner,
        tmp_path,
        tmpl,
        inputs=[("/tmp/dflowctl/source", lib)],
        env={"PYTHONPATH": "/tmp/dflowctl/source"},
    )
    assert (res.phase, res.result) == ("Succeeded", "from-lib ['-c', 'x']"), log_of(tmp_path)


@pytest.mark.slow
def test_fork_server_runs_100_python_items_faster_than_fresh_interpreters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DFLOWCTL_FORK_SERVER", "1")
    src = "import json, sys\nprint(json.dumps({'x': 1}))"
    t0 = time.perf_counter()
    for _ in range(5):
        subprocess.run(["python3", "-c", "pass"], check=True)
    fresh = (time.perf_counter() - t0) / 5
    n = 100
    with PodRunner(parallelism=2) as r:
        run(r, tmp_path, py_script(src), name="warmup")
        t0 = time.perf_counter()
        out: list[PodResult] = []
        lock = threading.Lock()

        def worker(ids: list[int]) -> None:
            for i in ids:
                res = run(r, tmp_path, py_script(src), name=f"i{i}")
                with lock:
                    out.append(res)

        threads = [threading.Thread(target=worker, args=(list(range(k, n, 4)),)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        per_item = (time.perf_counter() - t0) / n
    assert len(out) == n and all(x.phase == "Succeeded" and x.result == '{"x": 1}' for x in out)
    assert per_item < fresh, (per_item, fresh)


def test_pod_modules_shadow_preloaded_ones_as_in_a_fresh_python(
    runner: PodRunner, tmp_path: Path, mode: str
) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "textwrap.py").write_text("MINE = True\n")  # the warm interpreter has preloaded textwrap
    src = "import textwrap\nprint(getattr(textwrap, 'MINE', False))"
    env = {"PYTHONPATH": "/tmp/dflowctl/source"}
    res = run(runner, tmp_path, py_script(src), inputs=[("/tmp/dflowctl/source", lib)], env=env)
    assert (res.phase, res.result) == ("Succeeded", "True")
    res = run(runner, tmp_path, py_script(src), name="plain")  # and the next pod gets the standard one
    assert (res.phase, res.result) == ("Succeeded", "False")


# ---------------------------------------------------------------- outputs never lead out of the pod


@pytest.fixture
def host_dir() -> Iterator[Path]:
    """A folder of the host outside /tmp (so not hidden from overlay pods), with one file."""
    import shutil
    import tempfile

    base = Path("/var/tmp")
    if not base.is_dir():
        pytest.skip("no /var/tmp")
    folder = Path(tempfile.mkdtemp(prefix="dflowctl-pods-test-", dir=base))
    (folder / "file.txt").write_text("host\n")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _taken(res: PodResult, name: str, tmp_path: Path) -> Path:
    """Do what the engine may do with an output artifact: move it away."""
    found = res.artifacts[name]
    assert tmp_path in found.resolve().parents or found.resolve() == tmp_path
    dest = tmp_path / f"taken-{name}"
    os.replace(found, dest)
    return dest


def test_unchanged_host_path_as_output_is_a_private_copy(
    runner: PodRunner, tmp_path: Path, host_dir: Path, mode: str
) -> None:
    tmpl = sh("true", outputs={"artifacts": [{"name": "d", "path": str(host_dir)}]})
    res = run(runner, tmp_path, tmpl)
    if mode == isolation.REMAP:
        assert res.phase == "Error"  # remapped pods only see their own root for declared paths
    else:
        assert res.phase == "Succeeded", res.message
        assert (_taken(res, "d", tmp_path) / "file.txt").read_text() == "host\n"
    assert (host_dir / "file.txt").read_text() == "host\n"


def test_symlinks_in_outputs_resolve_inside_the_pod_view(
    runner: PodRunner, tmp_path: Path, host_dir: Path, mode: str
) -> None:
    tmpl = sh(
        f"ln -s {host_dir} /tmp/link; ln -s /tmp/loop /tmp/loop; "
        "mkdir -p /tmp/real; echo mine > /tmp/real/f; ln -s /tmp/real /tmp/rel",
        outputs={
            "artifacts": [
                {"name": "through-parent", "path": "/tmp/link/file.txt", "optional": True},
                {"name": "link", "path": "/tmp/link", "optional": True},
                {"name": "loop", "path": "/tmp/loop", "optional": True},
                {"name": "own", "path": "/tmp/rel/f"},
            ]
        },
    )
    res = run(runner, tmp_path, tmpl)
    assert res.phase == "Succeeded", res.message
    assert "loop" not in res.artifacts
    assert _taken(res, "own", tmp_path).read_text() == "mine\n"
    if mode == isolation.OVERLAY:
        assert _taken(res, "through-parent", tmp_path).read_text() == "host\n"
        assert (_taken(res, "link", tmp_path) / "file.txt").read_text() == "host\n"
    else:
        assert "through-parent" not in res.artifacts and "link" not in res.artifacts
    assert (host_dir / "file.txt").read_text() == "host\n"
    assert sorted(p.name for p in host_dir.iterdir()) == ["file.txt"]


def test_nested_output_artifacts_can_each_be_moved_away(runner: PodRunner, tmp_path: Path, mode: str) -> None:
    tmpl = sh(
        "mkdir -p /mnt/out; echo a > /mnt/out/a.txt; echo b > /mnt/out/b.txt",
        outputs={
            "artifacts": [
                {"name": "dir", "path": "/mnt/out"},
                {"name": "file", "path": "/mnt/out/a.txt"},
                {"name": "same", "path": "/mnt/out"},
            ]
        },
    )
    res = run(runner, tmp_path, tmpl)
    assert res.phase == "Succeeded", res.message
    moved = {name: _taken(res, name, tmp_path) for name in ("file", "dir", "same")}
    assert moved["file"].read_text() == "a\n"
    for name in ("dir", "same"):
        assert sorted(p.name for p in moved[name].iterdir()) == ["a.txt", "b.txt"]


def test_host_problems_are_an_error_result_not_an_exception(runner: PodRunner, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    req = PodRequest("p", sh("true"), tmp_path / "w", [], blocker / "logs" / "p.log")
    res = runner.run(req, threading.Event())
    assert res.phase == "Error" and res.message.startswith("the local engine could not run the pod: ")
    res = run(runner, tmp_path, sh("true"), inputs=[("/tmp/in", tmp_path / "missing")])
    assert (res.phase, res.message) == (
        "Error",
        f"input artifact for /tmp/in: {tmp_path / 'missing'} does not exist",
    )


def test_warm_children_follow_their_own_env_for_tz_and_tmpdir(runner: PodRunner, tmp_path: Path) -> None:
    src = "import tempfile, time\nprint(tempfile.gettempdir(), time.strftime('%Z', time.localtime(0)))"
    a = run(runner, tmp_path, py_script(src), name="a", env={"TMPDIR": "/var/tmp", "TZ": "UTC"})
    b = run(runner, tmp_path, py_script(src), name="b", env={"TZ": "JST-9"})
    assert (a.result, b.result) == ("/var/tmp UTC", "/tmp JST"), (a.message, b.message)


MOUNT_SCRIPT = """
import os, subprocess, sys, threading
from pathlib import Path
from dflowctl.engines.local.pods import PodRequest, PodRunner
mnt, work = Path(sys.argv[1]), Path(sys.argv[2])
subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(mnt)], check=True)
(mnt / "host.txt").write_text("host\\n")
tmpl = {
    "name": "m",
    "container": {"image": "busybox", "command": ["sh", "-c",
        f"cat {mnt}/host.txt {mnt}/in/data.txt; echo pod > {mnt}/host.txt; echo new > {mnt}/new.txt"]},
    "outputs": {"artifacts": [
        {"name": "new", "path": f"{mnt}/new.txt"}, {"name": "host", "path": f"{mnt}/host.txt"},
    ]},
}
src = work / "data.txt"
src.write_text("input\\n")
with PodRunner(1) as runner:
    req = PodRequest("m", tmpl, work / "pod", [(f"{mnt}/in/data.txt", src)], work / "m.log")
    res = runner.run(req, threading.Event())
print(res.phase, res.message, repr(res.result))
print(res.artifacts["new"].read_text().strip(), res.artifacts["host"].read_text().strip())
print(sorted(os.listdir(mnt)), (mnt / "host.txt").read_text().strip())
"""


@pytest.mark.skipif(not OVERLAY_OK or shutil.which("unshare") is None, reason="needs private mount views")
def test_other_mounted_file_systems_are_private_too(tmp_path: Path) -> None:
    mnt = Path("/var/tmp") / f"dflowctl-mnt-{os.getpid()}"
    mnt.mkdir()
    try:
        # A private mount namespace for the test itself: the tmpfs never appears on the host.
        proc = subprocess.run(
            [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                sys.executable,
                "-c",
                MOUNT_SCRIPT,
                str(mnt),
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        mnt.rmdir()
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "Succeeded  'host\\ninput'",
        "new pod",
        "['host.txt'] host",
    ]


def test_host_folder_changed_in_part_is_output_whole(
    runner: PodRunner, tmp_path: Path, host_dir: Path, mode: str
) -> None:
    (host_dir / "keep.txt").write_text("keep\n")
    (host_dir / "gone.txt").write_text("gone\n")
    (host_dir / "sub").mkdir()
    (host_dir / "sub" / "old.txt").write_text("old\n")
    script = (
        f"cd {host_dir} && echo new > new.txt && echo changed > file.txt && rm gone.txt "
        "&& rm -r sub && mkdir sub && echo fresh > sub/fresh.txt"
    )
    tmpl = sh(script, outputs={"artifacts": [{"name": "d", "path": str(host_dir)}]})
    res = run(runner, tmp_path, tmpl)
    before = {"file.txt": "host\n", "keep.txt": "keep\n", "gone.txt": "gone\n", "sub/old.txt": "old\n"}
    host_now = {str(p.relative_to(host_dir)): p.read_text() for p in host_dir.rglob("*") if p.is_file()}
    assert host_now == before
    if mode == isolation.REMAP:  # the declared folder is the pod's own (empty) one: `cd` fails
        assert res.phase == "Failed"
        return
    assert res.phase == "Succeeded", res.message
    out = _taken(res, "d", tmp_path)
    got = {str(p.relative_to(out)): p.read_text() for p in out.rglob("*") if p.is_file()}
    assert got == {
        "file.txt": "changed\n",
        "keep.txt": "keep\n",
        "new.txt": "new\n",
        "sub/fresh.txt": "fresh\n",
    }
    assert host_now == before


def test_a_host_folder_the_pod_replaced_does_not_show_through(
    runner: PodRunner, tmp_path: Path, host_dir: Path
) -> None:
    if isolation.method_for(tmp_path) != isolation.OVERLAY:
        pytest.skip("overlay views only")
    tmpl = sh(
        f"rm -r {host_dir} && mkdir {host_dir} && echo only > {host_dir}/only.txt",
        outputs={
            "artifacts": [
                {"name": "old", "path": f"{host_dir}/file.txt", "optional": True},
                {"name": "dir", "path": str(host_dir)},
            ]
        },
    )
    res = run(runner, tmp_path, tmpl)
    assert res.phase == "Succeeded", res.message
    assert "old" not in res.artifacts
    assert sorted(p.name for p in _taken(res, "dir", tmp_path).iterdir()) == ["only.txt"]
    assert (host_dir / "file.txt").read_text() == "host\n"


def test_kill_all_also_ends_what_pods_left_in_sessions_of_their_own(tmp_path: Path) -> None:
    if shutil.which("setsid") is None:
        pytest.skip("no setsid program")
    with PodRunner(parallelism=2) as r:
        res = run(
            r, tmp_path, sh("setsid sleep 60 > /dev/null 2>&1 < /dev/null & echo $! > /tmp/d.pid; sleep 0.2")
        )
        assert res.phase == "Succeeded", res.message
        daemon = int((tmp_path / "pod" / "root" / "tmp" / "d.pid").read_text())
        assert not gone(daemon)  # outlived its pod: it left the pod's process group
        r.kill_all()
        deadline = time.monotonic() + 2 * slowdown()
        while not gone(daemon) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert gone(daemon)


def test_an_output_found_through_a_link_out_of_the_root_is_never_handed_out(tmp_path: Path) -> None:
    """Defence in depth: the engine moves what ``_take`` returns, so a path whose folders
    lead out of the pod's root (say a folder swapped for a link after the pod resolved
    its outputs) is refused, never moved."""
    from dflowctl.engines.local.pods import _Plan, _take

    root = tmp_path.resolve() / "work" / "root"
    (root / "d").mkdir(parents=True)
    host = tmp_path.resolve() / "host"
    host.mkdir()
    (host / "f").write_text("host\n")
    (root / "tmp").symlink_to(host)
    plan = _Plan([], {}, "/", "/", None, isolation.REMAP, root, None, None, None)
    for found in (root / "tmp" / "f", host / "f", root / ".." / ".." / "host" / "f"):
        with pytest.raises(OSError, match="is not inside the pod's root"):
            _take(plan, "a", found, "own", [])
    assert _take(plan, "a", root / "d", "own", []) == root / "d"
    assert _take(plan, "a", root, "own", []) == root
    assert (host / "f").read_text() == "host\n"


USE_ENV_SCRIPT = """
import json, os, subprocess, sys
from dflowctl.engines.local import _podproc
pod_env = json.loads(sys.argv[1])
_podproc._use_env(pod_env)
seen = subprocess.run(["env"], capture_output=True, text=True, check=True).stdout
print(json.dumps({"python": dict(os.environ), "child": seen.splitlines()}))
"""


def test_a_warm_pod_s_environment_is_exactly_its_own_for_python_and_its_children() -> None:
    """``_podproc._use_env`` in an interpreter started as the fork server is (its own
    environment): the server's variables the pod lacks are gone, changed ones changed, new
    ones set, and a program the pod starts inherits exactly that (the C environment too)."""
    path = os.environ.get("PATH", "/usr/bin:/bin")
    server_env = {"PATH": path, "KEEP": "same", "CHANGED": "server", "SERVER_ONLY": "secret"}
    pod_env = {"PATH": path, "KEEP": "same", "CHANGED": "pod", "NEW": "x y"}
    proc = subprocess.run(
        [sys.executable, "-c", USE_ENV_SCRIPT, json.dumps(pod_env)],
        cwd=REPO,
        env=server_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["python"] == pod_env
    assert sorted(report["child"]) == sorted(f"{k}={v}" for k, v in pod_env.items())
