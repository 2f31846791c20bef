"""Pods' per-item cost (issue 16): the run's shared layer, masking mounts, specs in the request.

Real processes and real private views: a layer is laid out once and stacked under each
pod's own layer; a pod that changes what it got from it changes only its own view.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from dflowctl.engines.local import _podview, isolation, podlayer
from dflowctl.engines.local.forkserver import INLINE_LIMIT
from dflowctl.engines.local.pods import ENV_FORK_SERVER, PodRequest, PodResult, PodRunner
from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.timeout(120)

OVERLAY_OK = sys.platform.startswith("linux") and isolation.method_for(Path.cwd()) == isolation.OVERLAY
needs_layers = pytest.mark.skipif(
    not (OVERLAY_OK and podlayer.kernel_supports()), reason="no private views or Linux < 6.7 here"
)
SOURCE = "/tmp/dflowctl/source"

# Each item changes its copy of the shared folder, then reports what it saw.
CHANGER = textwrap.dedent(
    """
    import os
    src = "/tmp/dflowctl/source"
    before = sorted(os.listdir(src))
    with open(src + "/data.txt", "a") as fh:
        fh.write(os.environ["ITEM"] + "\\n")
    os.remove(src + "/gone.txt")
    with open(src + "/new-" + os.environ["ITEM"], "w") as fh:
        fh.write("mine")
    import mod  # from the shared folder (on PYTHONPATH)
    print(",".join(before), mod.VALUE)
    """
)


def changer(item: str) -> dict[str, Any]:
    return {
        "name": "t",
        "script": {
            "image": "python:3.11",
            "command": ["python3"],
            "source": CHANGER,
            "env": [{"name": "ITEM", "value": item}, {"name": "PYTHONPATH", "value": SOURCE}],
        },
        "outputs": {
            "parameters": [{"name": "data", "valueFrom": {"path": SOURCE + "/data.txt"}}],
            "artifacts": [{"name": "folder", "path": SOURCE}],
        },
    }


def run_pod(runner: PodRunner, tmp_path: Path, name: str, template: dict[str, Any], **kw: Any) -> PodResult:
    req = PodRequest(
        pod_name=name,
        template=template,
        work_dir=tmp_path / name / "pod",
        input_artifacts=kw.pop("inputs", []),
        log_path=tmp_path / "logs" / f"{name}.log",
        **kw,
    )
    return runner.run(req, threading.Event())


@needs_layers
@pytest.mark.parametrize("fork_server", ["1", "0"])  # warm children, or the one-shot launcher
def test_pods_share_a_layer_and_change_only_their_own_view(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fork_server: str
) -> None:
    monkeypatch.setenv(isolation.ENV_FORCE, isolation.OVERLAY)
    monkeypatch.setenv(ENV_FORK_SERVER, fork_server)
    src = tmp_path / "unpacked"
    src.mkdir()
    (src / "data.txt").write_text("base\n")
    (src / "gone.txt").write_text("x")
    (src / "mod.py").write_text("VALUE = 42\n")
    layers = podlayer.SharedLayers(tmp_path / "layers", enabled=True)
    shared = {"inputs": [(SOURCE, src)], "layers": layers, "shared_inputs": frozenset({SOURCE})}
    results = {}
    with PodRunner(parallelism=2) as runner:
        for item in ("a", "b", "c"):  # the first lays out copies; the layer is made for the second
            results[item] = run_pod(runner, tmp_path, f"pod-{item}", changer(item), **shared)
    made = [p for p in (tmp_path / "layers").iterdir() if p.name != podlayer.EMPTY]
    assert len(made) == 1
    for item, res in results.items():
        assert res.phase == "Succeeded", (
            item,
            res.message,
            (tmp_path / "logs" / f"pod-{item}.log").read_text(),
        )
        assert res.result == "data.txt,gone.txt,mod.py 42"  # what every pod saw first
        assert res.parameters["data"] == f"base\n{item}"  # its own change, no other pod's
        folder = res.artifacts["folder"]
        assert sorted(p.name for p in folder.iterdir() if p.name != "__pycache__") == [
            "data.txt",
            "mod.py",
            f"new-{item}",
        ]
        assert (folder / "mod.py").read_text() == "VALUE = 42\n"
    # the items after the first saw the layer: their own folder holds only their changes
    own = tmp_path / "pod-b" / "pod" / "root" / "tmp" / "dflowctl" / "source"
    assert not (own / "mod.py").exists()
    assert (made[0] / "tmp" / "dflowctl" / "source" / "data.txt").read_text() == "base\n"
    assert (made[0] / "argo" / "staging" / "script").read_text() == CHANGER
    assert (src / "data.txt").read_text() == "base\n" and (src / "gone.txt").exists()
    layers.close()
    assert not (tmp_path / "layers").exists()


@pytest.mark.skipif(not OVERLAY_OK, reason="no private mount views here")
def test_a_warm_pod_writes_no_bytecode_into_a_shared_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(isolation.ENV_FORCE, isolation.OVERLAY)
    monkeypatch.setenv(ENV_FORK_SERVER, "1")
    src = tmp_path / "unpacked"
    src.mkdir()
    (src / "mod.py").write_text("VALUE = 42\n")
    code = (
        "import os, sys\n"
        "os.makedirs('/tmp/own', exist_ok=True)\n"
        "open('/tmp/own/mine.py', 'w').write('MINE = 1\\n')\n"
        "sys.path.append('/tmp/own')\n"
        "import mod, mine\n"
        "print(mod.VALUE + mine.MINE, sorted(os.listdir('/tmp/own/__pycache__')) != [])\n"
    )
    tmpl = {
        "name": "t",
        "script": {
            "image": "python:3.11",
            "command": ["python3"],
            "source": code,
            "env": [{"name": "PYTHONPATH", "value": SOURCE}],
        },
        "outputs": {"artifacts": [{"name": "folder", "path": SOURCE}]},
    }
    layers = podlayer.SharedLayers(tmp_path / "layers", enabled=podlayer.kernel_supports())
    shared = {"inputs": [(SOURCE, src)], "layers": layers, "shared_inputs": frozenset({SOURCE})}
    with PodRunner(parallelism=1) as runner:
        for item in ("a", "b"):  # copies, then (where the kernel has it) the shared layer
            res = run_pod(runner, tmp_path, f"pod-{item}", tmpl, **shared)
            assert (res.phase, res.result) == ("Succeeded", "43 True")  # its own folder: cached as ever
            assert sorted(p.name for p in res.artifacts["folder"].iterdir()) == ["mod.py"]
    assert not (src / "__pycache__").exists()
    layers.close()


# Counts the compilations of the shared folder's module, then imports it (after changing
# it, for item "changed").
COMPILES = textwrap.dedent(
    """
    import builtins, os
    calls, real = [], builtins.compile
    def counting(source, filename, *args, **kw):
        calls.append(str(filename))
        return real(source, filename, *args, **kw)
    builtins.compile = counting
    if os.environ["ITEM"] == "changed":
        with open("/tmp/dflowctl/source/mod.py", "w") as fh:
            fh.write("VALUE = 7\\n")
    import mod
    compiled = sum(1 for c in calls if c.endswith("/mod.py"))
    print(mod.VALUE, compiled, sorted(os.listdir("/tmp/dflowctl/source")))
    """
)


@needs_layers
def test_the_modules_of_a_layer_are_compiled_once_for_its_warm_pods(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The warm server compiles the modules of a layer's folder on the pods' path once; the
    pods after the first import them without compiling, see the folder as it is, and a pod
    that changed a module gets its own version."""
    monkeypatch.setenv(isolation.ENV_FORCE, isolation.OVERLAY)
    monkeypatch.setenv(ENV_FORK_SERVER, "1")
    src = tmp_path / "unpacked"
    (src / "pkg").mkdir(parents=True)
    (src / "mod.py").write_text("VALUE = 42\n")
    (src / "pkg" / "bad.py").write_text("def (:\n")  # left to the pod that imports it
    layers = podlayer.SharedLayers(tmp_path / "layers", enabled=True)
    shared = {"inputs": [(SOURCE, src)], "layers": layers, "shared_inputs": frozenset({SOURCE})}
    seen = {}
    with PodRunner(parallelism=1) as runner:
        for item in ("first", "b", "c", "changed"):  # copies first; the layer is made for the second
            tmpl = {
                "name": "t",
                "script": {
                    "image": "python:3.11",
                    "command": ["python3"],
                    "source": COMPILES,
                    "env": [{"name": "PYTHONPATH", "value": SOURCE}, {"name": "ITEM", "value": item}],
                },
            }
            res = run_pod(runner, tmp_path, f"pod-{item}", tmpl, **shared)
            assert res.phase == "Succeeded", (tmp_path / "logs" / f"pod-{item}.log").read_text()
            seen[item] = res.result
    folder = "['mod.py', 'pkg']"
    assert seen == {
        "first": f"42 1 {folder}",
        "b": f"42 0 {folder}",
        "c": f"42 0 {folder}",
        "changed": f"7 1 {folder}",
    }
    layers.close()


def test_a_layer_s_modules_are_compiled_with_their_pod_paths_and_bounded(tmp_path: Path) -> None:
    from dflowctl.engines.local import _podcode

    top = tmp_path / "layer" / "tmp" / "dflowctl" / "source"
    (top / "pkg" / "__pycache__").mkdir(parents=True)
    (top / "a.py").write_text("A = 1\n")
    (top / "pkg" / "b.py").write_text("B = 2\n")
    (top / "pkg" / "__pycache__" / "c.py").write_text("C = 3\n")
    (top / "bad.py").write_text("def (:\n")
    (top / "link.py").symlink_to(top / "a.py")
    (top / "notes.txt").write_text("x")
    table = _podcode._compile_modules(str(tmp_path / "layer"), [SOURCE])
    assert sorted(table) == [f"{SOURCE}/a.py", f"{SOURCE}/pkg/b.py"]
    data, code = table[f"{SOURCE}/pkg/b.py"]
    assert data == b"B = 2\n" and code.co_filename == f"{SOURCE}/pkg/b.py"  # type: ignore[attr-defined]
    data_folder = tmp_path / "layer" / "tmp" / "data"
    data_folder.mkdir()
    (data_folder / "d.py").write_text("D = 4\n")

    def handed(path: list[str], imports_from: list[str] | None = None) -> object:
        spec = {
            "mode": "python",
            "view": {"layer": str(tmp_path / "layer")},
            "py": {"no_bytecode": [SOURCE, "/tmp/data"], "path": path, "imports_from": imports_from},
        }
        _podcode.layer_modules(spec)
        return spec["py"].get("_modules")

    assert handed([]) is None  # shared folders off the pod's Python path: left to the pods
    assert sorted(handed([SOURCE + "/"])) == [f"{SOURCE}/a.py", f"{SOURCE}/pkg/b.py"]  # type: ignore[arg-type]
    # where a dflowctl bootstrap imports its op from (it puts the folder on sys.path itself)
    assert sorted(handed([], [SOURCE])) == [f"{SOURCE}/a.py", f"{SOURCE}/pkg/b.py"]  # type: ignore[arg-type]
    assert handed([], ["/tmp/elsewhere"]) is None
    bounded = _podcode.MODULE_FILES
    try:
        _podcode.MODULE_FILES = 1
        assert len(_podcode._compile_modules(str(tmp_path / "layer"), [SOURCE])) == 1
    finally:
        _podcode.MODULE_FILES = bounded


@needs_layers
def test_a_layered_pod_sees_no_host_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(isolation.ENV_FORCE, isolation.OVERLAY)
    marker = Path(tempfile.mkdtemp(prefix="dflowctl-host-tmp-", dir="/tmp"))
    try:
        src = tmp_path / "src"
        src.mkdir()
        (src / "f.txt").write_text("f")
        layers = podlayer.SharedLayers(tmp_path / "layers", enabled=True)
        tmpl = {
            "name": "t",
            "container": {"image": "busybox", "command": ["sh", "-c"], "args": ["ls -A /tmp"]},
        }
        kw = {"inputs": [("/tmp/in", src)], "layers": layers, "shared_inputs": frozenset({"/tmp/in"})}
        with PodRunner(parallelism=1) as runner:
            first = run_pod(runner, tmp_path, "one", tmpl, **kw)
            second = run_pod(runner, tmp_path, "two", tmpl, **kw)
        assert first.phase == second.phase == "Succeeded", second.message
        # the host's /tmp is not there: only the input and, for a checkout under /tmp (CI
        # runners), the mount points of the host paths every pod is given (isolation.host_binds)
        bound = {
            Path(b).relative_to("/tmp").parts[0]
            for b in isolation.host_binds(path_env=os.environ.get("PATH", ""))
            if b.startswith("/tmp/")
        }
        assert first.result == second.result
        assert set((second.result or "").split()) == {"in", *bound}
        assert marker.name not in (second.result or "")
        layers.close()
    finally:
        marker.rmdir()


def test_layers_are_made_the_second_time_and_bounded(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_text("a")
    layers = podlayer.SharedLayers(tmp_path / "layers", enabled=True)
    try:
        inputs = [("/tmp/in", src)]
        assert layers.get(inputs, None, []) is None  # first time: the pod copies
        made = layers.get(inputs, None, [])
        if made is None:  # no trusted attributes here (not root): copies, as before
            pytest.skip("the file system refuses trusted attributes")
        assert layers.get(inputs, None, []) == made
        assert os.getxattr(made / "tmp", podlayer.OPAQUE_XATTR) == b"y"
        assert (made / "tmp" / "in" / "a").read_text() == "a"
        assert layers.get([], None, []) is None  # nothing shared: no layer
        for n in range(podlayer.MAX_LAYERS + 2):  # a script per item never makes one past the cap
            layers.get(inputs, ("/argo/staging/script", f"item {n}"), [])
            layers.get(inputs, ("/argo/staging/script", f"item {n}"), [])
        kept = [p for p in (tmp_path / "layers").iterdir() if p.name != podlayer.EMPTY]
        assert len(kept) == podlayer.MAX_LAYERS
    finally:
        layers.close()
    assert not (tmp_path / "layers").exists()
    assert (
        podlayer.SharedLayers(tmp_path / "off", enabled=False).get([("/tmp/in", src)] * 1, None, []) is None
    )


@pytest.mark.skipif(not OVERLAY_OK, reason="no private mount views here")
@pytest.mark.parametrize("remembered", [False, True])  # each pod looks, or the fork server looked once
def test_an_empty_mount_over_an_empty_folder_needs_no_overlay_of_its_own(
    tmp_path: Path, remembered: bool
) -> None:
    base = Path(tempfile.mkdtemp(prefix="dflowctl-mask-", dir="/var/tmp"))
    try:
        for name in ("empty", "full", "spare", "written"):
            (base / name).mkdir()
        (base / "full" / "under.txt").write_text("under")  # the folder under this mount is not empty
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # a private namespace, as a pod's
            try:
                libc = _podview._libc()
                assert libc.unshare(_podview.CLONE_NEWNS) == 0
                _podview._mount(libc, None, "/", None, _podview.MS_REC | _podview.MS_PRIVATE)
                for name in ("empty", "full", "written"):
                    _podview._mount(libc, "tmpfs", str(base / name), "tmpfs", 0, "mode=755")
                if remembered:  # as the fork server does before it forks a pod
                    _podview._LOOKED[0] = 0.0  # (not throttled by an earlier look)
                    _podview.remember_under()
                    assert _podview._UNDER[tuple(_podview._mount_points())]
                (base / "written" / "later.txt").write_text("on top")  # after the server looked
                spare = str(base / ("no-such-folder" if remembered else "spare"))  # never mounted on
                found = _podview._empty_on_both_sides(libc, _podview._mount_points(), spare)
                spare_free = not os.listdir(base / "spare")
                os.write(write, json.dumps([sorted(found), spare_free]).encode())
            finally:
                os._exit(0)
        os.close(write)
        os.waitpid(pid, 0)
        found, spare_free = json.loads(os.read(read, 65536))
        os.close(read)
        assert str(base / "empty") in found
        assert str(base / "full") not in found
        assert str(base / "written") not in found
        assert spare_free
    finally:
        for name in ("empty", "full", "spare", "written"):
            for f in (base / name).iterdir():
                f.unlink()
            (base / name).rmdir()
        base.rmdir()


def test_a_spec_too_large_for_one_request_goes_through_a_file(tmp_path: Path) -> None:
    padding = "#" * (INLINE_LIMIT + 1000)
    tmpl = {
        "name": "t",
        "script": {"image": "python:3.11", "command": ["python3"], "source": f"{padding}\nprint('big')\n"},
    }
    with PodRunner(parallelism=1) as runner:
        res = run_pod(runner, tmp_path, "big", tmpl)
        small = run_pod(
            runner, tmp_path, "small", {**tmpl, "script": {**tmpl["script"], "source": "print('s')"}}
        )
    assert (res.phase, res.result) == ("Succeeded", "big")
    assert (small.phase, small.result) == ("Succeeded", "s")
    assert not list(tmp_path.glob("*/pod/.pod-spec.json"))


@needs_layers
def _fan_out_outputs(tmp_path: Path, entrypoint: str, output: str, count: int, parallelism: int) -> list[str]:
    """Run (the real CLI) one Python op from ``tmp_path/ops`` over ``x`` in 0..count-1;
    the values of its one output parameter ``output`` (``name: type``), in node order."""
    spec = tmp_path / "wf.yaml"
    spec.write_text(
        textwrap.dedent(
            f"""
            apiVersion: dflowctl/v1alpha1
            kind: Workflow
            metadata: {{name: fanned}}
            spec:
              ops:
                op:
                  image: python:3.12-slim
                  python: {entrypoint}
                  source: ./ops
                  inputs: {{parameters: {{x: int}}}}
                  outputs: {{parameters: {{{output}}}}}
              steps:
                - name: each
                  op: op
                  parameters: {{x: "{{{{item}}}}"}}
                  foreach: {{range: {{count: {count}}}}}
            """
        )
    )
    proc = run_cli("run", str(spec), "-o", "json", "--parallelism", str(parallelism), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    name = output.split(":")[0]
    return [
        p["value"]
        for n in json.loads(proc.stdout)["status"]["nodes"].values()
        if n["type"] == "Pod"
        for p in (n.get("outputs") or {}).get("parameters") or []
        if p["name"] == name
    ]


def test_a_fan_out_whose_items_write_into_their_source(tmp_path: Path, dflowctl_home: Path) -> None:
    ops = tmp_path / "ops"
    ops.mkdir()
    (ops / "note.txt").write_text("shared\n")
    (ops / "touch.py").write_text(
        textwrap.dedent(
            """
            from pathlib import Path

            def touch(x: int) -> str:
                note = Path(__file__).with_name("note.txt")
                seen = note.read_text()
                note.write_text(seen + f"item {x}\\n")
                return seen.replace("\\n", "|")
            """
        )
    )
    seen = _fan_out_outputs(tmp_path, "touch:touch", "seen: str", 6, parallelism=2)
    assert seen == ["shared|"] * 6  # no item saw another's write
    assert (ops / "note.txt").read_text() == "shared\n"
    work = next((dflowctl_home / "runs").iterdir()) / "work"
    assert not list(work.iterdir())  # the layer and the pods' folders are gone


@needs_layers
def test_an_op_s_modules_from_its_source_folder_are_compiled_once_for_the_run(
    tmp_path: Path, dflowctl_home: Path
) -> None:
    """Through the real CLI: a dflowctl bootstrap puts its ``source:`` folder on ``sys.path``
    itself (no PYTHONPATH); the warm server compiles that folder's modules once, so the items
    after the first to run (the layer is made for the second) import them without compiling."""
    ops = tmp_path / "ops"
    ops.mkdir()
    (ops / "helper.py").write_text("def twice(x):\n    return 2 * x\n")
    (ops / "count.py").write_text(
        textwrap.dedent(
            """
            import builtins

            def run(x: int) -> int:
                calls, real = [], builtins.compile
                def counting(source, filename, *args, **kw):
                    calls.append(str(filename))
                    return real(source, filename, *args, **kw)
                builtins.compile = counting
                try:
                    import helper
                finally:
                    builtins.compile = real
                assert helper.twice(x) == 2 * x
                return sum(1 for c in calls if c.endswith("/helper.py"))
            """
        )
    )
    compiles = _fan_out_outputs(tmp_path, "count:run", "compiles: int", 4, parallelism=1)
    assert sorted(compiles) == ["0", "0", "0", "1"]  # the pod that ran before the layer was made


def test_where_a_rendered_bootstrap_imports_its_op_from_is_known() -> None:
    from dflowctl.engines.local import preload

    proc = run_cli("render", "specs/fanout.yaml", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    (square,) = [t for t in json.loads(proc.stdout)["spec"]["templates"] if t["name"] == "square"]
    source = square["script"]["source"]  # the bootstrap as the pod runs it
    assert preload.bootstrap_imports_from(source, {}) == [SOURCE]
    assert preload.bootstrap_imports_from(source, {"DFLOWCTL_ROOT": "/w/root/"}) == ["/w/root/source"]
    assert preload.bootstrap_imports_from("import mod\n", {}) == []
    assert preload.bootstrap_imports_from(None, {}) == []


MOUNT_POINTS_SCRIPT = """
import json, subprocess, sys
from dflowctl.engines.local import _podview
base = sys.argv[1]
for path in (base, base + "/in it"):
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", path], check=True)
    if path == base:
        subprocess.run(["mkdir", base + "/in it"], check=True)
print(json.dumps(_podview._mount_points()))
"""


@pytest.mark.skipif(shutil.which("unshare") is None or os.geteuid() != 0, reason="needs root and unshare")
def test_mount_points_are_read_with_their_escapes_undone_parents_first(tmp_path: Path) -> None:
    """``_podview._mount_points`` (read as bytes from /proc/self/mountinfo) in a private mount
    namespace of the test's own: a mount point with a space (``\\040`` there) comes back as
    its path, after its parent mount, and ``/`` is left out."""
    base = tmp_path / "mnt"
    base.mkdir()
    unshare = ["unshare", "--mount", "--propagation", "private"]
    proc = subprocess.run(
        [*unshare, sys.executable, "-c", MOUNT_POINTS_SCRIPT, str(base)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    points = json.loads(proc.stdout)
    assert "/" not in points and "/proc" in points
    assert points.index(str(base)) < points.index(f"{base}/in it")
    assert points == sorted(points, key=lambda p: (p.count("/"), p))
