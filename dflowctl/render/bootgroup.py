"""The group runner: what a pod of a ``foreach: {entries: A, group: N, pool: M}`` step runs.

Shipped after the bootstrap (``render/bootstrap.py``) in the template's source, from
the marker line below on; it uses the bootstrap's names. The pod's input artifact
``A`` holds one folder per item, named by the item's index, with the item's entry
(``<i>/<file>``, or a sub-folder's contents). Each item runs the op once, in a
forked process (at most ``pool`` at a time), with its own working directory and
outputs under ``ROOT/items/<i>``. Then the pod's outputs are the group's:

- output parameter ``p``: a JSON list of the successful items' values (decoded);
- ``dflowctl-index``: the successful items' indices, in the same order;
- ``dflowctl-ok``: how many items succeeded;
- output artifact ``a``: a folder holding ``<i>/<names>`` per successful item.

The pod fails (exit 1, with one line for Argo's node message) when an item failed,
unless the step decides by items (``continue_on.success_ratio``/``success_number``:
``CONFIG["group"]["tolerate"]``) and one item of the group succeeded.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from dflowctl.render.bootstrap import CONFIG, INDEX_ENV, INDEX_OUTPUT, decode_param, main, report

# dflowctl:group-runner
OK_OUTPUT = "dflowctl-ok"
ITEMS_DIR = "items"


def _run_item(root: Path, index: int, entry: Path) -> None:
    """In the forked child: the op once for this item, then exit with its code."""
    base = root / ITEMS_DIR / str(index)
    os.environ[INDEX_ENV] = str(index)
    os.environ["DFLOWCTL_TERMINATION_LOG"] = str(base / "termination")
    given = {CONFIG["group"]["slice"]: entry}
    code = 1
    try:
        code = main({"workdir": str(base / "workdir"), "outputs": str(base / "outputs"), "artifacts": given})
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def group_items(root: Path) -> list[tuple[int, Path]]:
    folder = root / "inputs" / "artifacts" / CONFIG["group"]["slice"]
    if not folder.is_dir():
        return []
    return sorted((int(p.name), p) for p in folder.iterdir() if p.name.isdigit())


def run_items(root: Path, items: list[tuple[int, Path]], pool: int) -> dict[int, int]:
    """Each item in its own process, at most ``pool`` at once: index → exit code."""
    codes: dict[int, int] = {}
    running: dict[int, int] = {}
    waiting = list(items)
    while waiting or running:
        while waiting and len(running) < pool:
            index, entry = waiting.pop(0)
            (root / ITEMS_DIR / str(index)).mkdir(parents=True, exist_ok=True)
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _run_item(root, index, entry)
            running[pid] = index
        pid, status = os.wait()
        done = running.pop(pid, None)
        if done is not None:
            codes[done] = os.waitstatus_to_exitcode(status)
    return codes


def collect(root: Path, ok: list[int]) -> None:
    """The successful items' outputs as the pod's (lists, and ``<i>/`` folders)."""
    out = root / "outputs"
    (out / "parameters").mkdir(parents=True, exist_ok=True)
    for name, ptype in CONFIG["outputs"]["parameters"].items():
        values = []
        for i in ok:
            text = (root / ITEMS_DIR / str(i) / "outputs" / "parameters" / name).read_text(encoding="utf-8")
            values.append(decode_param(name, text, ptype))
        (out / "parameters" / name).write_text(json.dumps(values), encoding="utf-8")
    (out / "parameters" / INDEX_OUTPUT).write_text(json.dumps(ok), encoding="utf-8")
    (out / "parameters" / OK_OUTPUT).write_text(str(len(ok)), encoding="utf-8")
    for name in CONFIG["outputs"]["artifacts"]:
        dest = out / "artifacts" / name
        dest.mkdir(parents=True, exist_ok=True)
        for i in ok:
            src = root / ITEMS_DIR / str(i) / "outputs" / "artifacts" / name
            if src.exists():
                shutil.move(str(src), str(dest / str(i)))


def _reason(root: Path, index: int) -> str:
    try:
        text = (root / ITEMS_DIR / str(index) / "termination").read_text(encoding="utf-8").strip()
    except OSError:
        text = ""
    return text or "no reason given"


def run_group() -> int:
    root = Path(os.environ.get("DFLOWCTL_ROOT", "/tmp/dflowctl"))
    items = group_items(root)
    codes = run_items(root, items, max(1, int(CONFIG["group"].get("pool") or 1)))
    ok = [i for i, _ in items if codes.get(i) == 0]
    failed = [i for i, _ in items if codes.get(i) != 0]
    try:
        collect(root, ok)
    except OSError as err:
        report(f"group of items {[i for i, _ in items]}: outputs not collected: {err}")
        return 1
    for i in failed:
        sys.stderr.write(f"dflowctl: item {i} failed: {_reason(root, i)}\n")
    print(f"dflowctl: {len(ok)} of {len(items)} items succeeded: {ok}", flush=True)
    if failed and (not CONFIG["group"].get("tolerate") or not ok):
        report(f"{len(failed)} of {len(items)} items failed; item {failed[0]}: {_reason(root, failed[0])}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run_group())
