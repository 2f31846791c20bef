"""``dflowctl rerun NAME --step S [--item N]``: one step of a local run again, to debug it.

The step's Pod node is found in the run's record; its template (as stored with the
run) runs once more with the inputs the node recorded (parameter values, input
artifacts by their keys), in a scratch run that is thrown away: the run's record,
its artifacts and the step cache are not touched. The pod's output goes to the
terminal as it comes.
"""

from __future__ import annotations

import copy
import re
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from dflowctl.engines.local import interpreter
from dflowctl.engines.local.artifacts import LocalRepository, copy_folder, link_file
from dflowctl.engines.local.controller import Controller
from dflowctl.engines.local.podcache import step_key_of
from dflowctl.engines.local.records import RunDir
from dflowctl.engines.local.scope import TemplateError
from dflowctl.engines.local.templates import process_args, resolve_template, template_table
from dflowctl.errors import UsageError

_SUFFIX = re.compile(r"\((\d+)(:[^()]*)?\)$")


def _base_and_item(display: str) -> tuple[str, int | None]:
    """``relax(3:3)(1)`` -> (``relax``, 3): the step's name and its item (the loop
    suffix ``(i:label)``), attempts (``(n)``) dropped."""
    item = None
    while m := _SUFFIX.search(display):
        if m.group(2) is not None and item is None:
            item = int(m.group(1))
        display = display[: m.start()]
    return display, item


def pick_pod(workflow: Mapping[str, Any], step: str, item: int | None) -> dict[str, Any]:
    """The Pod node of ``step`` (of its item ``item``; the last attempt); UsageError
    when the step is unknown or ambiguous."""
    nodes = [
        n for n in ((workflow.get("status") or {}).get("nodes") or {}).values() if n.get("type") == "Pod"
    ]
    named = [n for n in nodes if step_key_of(n) == step]  # the spec's `key:` names one step or item
    if named:
        return max(named, key=lambda n: (str(n.get("startedAt") or ""), str(n.get("name"))))
    mine: dict[int | None, list[dict[str, Any]]] = {}
    for n in nodes:
        base, index = _base_and_item(str(n.get("displayName", "")))
        if base == step:
            mine.setdefault(index, []).append(n)
    if not mine:
        steps = sorted({_base_and_item(str(n.get("displayName", "")))[0] for n in nodes})
        raise UsageError(f"no step {step!r} in this run", hint="steps: " + ", ".join(steps))
    items = sorted(i for i in mine if i is not None)
    if item is None:
        if len(mine) > 1 or items:
            span = f"{items[0]} to {items[-1]}" if items else "none"
            raise UsageError(f"step {step!r} has {len(mine)} items", hint=f"pick one with --item N ({span})")
        attempts = next(iter(mine.values()))
    else:
        if item not in mine:
            span = f"{items[0]} to {items[-1]}" if items else "none: it is not a foreach step"
            raise UsageError(f"step {step!r} has no item {item}", hint=f"items: {span}")
        attempts = mine[item]
    return max(attempts, key=lambda n: (str(n.get("startedAt") or ""), str(n.get("name"))))


def rerun(run: RunDir, workflow: Mapping[str, Any], node: Mapping[str, Any], out: TextIO) -> dict[str, Any]:
    """Run ``node``'s template again with its recorded inputs; returns the new Pod node."""
    from dflowctl.engines.local.pods import PodRunner

    spec = workflow.get("spec") or {}
    try:
        tmpl_name, tmpl = resolve_template(template_table(spec), {"template": node.get("templateName")})
    except TemplateError as err:
        raise UsageError(f"cannot run step {node.get('displayName')!r} again: {err}") from None
    inputs = node.get("inputs") or {}
    args = {
        "parameters": [{"name": p["name"], "value": p.get("value")} for p in inputs.get("parameters") or []],
        "artifacts": [dict(a) for a in inputs.get("artifacts") or []],
    }
    fresh = {k: copy.deepcopy(v) for k, v in workflow.items() if k != "status"}
    fresh["status"] = {"phase": "Running"}
    with tempfile.TemporaryDirectory(prefix="dflowctl-rerun-") as tmp:
        scratch = RunDir(Path(tmp) / run.name)
        scratch.create()
        _copy_inputs(LocalRepository(run.artifacts), LocalRepository(scratch.artifacts), args["artifacts"])
        runner = PodRunner(parallelism=1)
        try:
            ctl = Controller(fresh, scratch, runner, pythons=interpreter.load(run.path))  # the run's Python
            try:
                body, _scope, _arts = process_args(tmpl, args, {}, ctl.globals, ctl.global_arts)
            except TemplateError as err:
                raise UsageError(f"cannot run step {node.get('displayName')!r} again: {err}") from None
            result: dict[str, Any] = {}

            def target() -> None:
                result["node"] = ctl.pods.run(
                    str(node["name"]),
                    str(node.get("displayName")),
                    tmpl_name,
                    body,
                    None,
                    None,
                    cancel=ctl.cancel,
                    deadline=None,
                    interrupted=ctl.interrupted_message,
                )

            thread = threading.Thread(target=target, name="dflowctl-rerun", daemon=True)
            thread.start()
            log = scratch.log_path(str(node["id"]))
            try:
                _follow(log, thread, out)
            except KeyboardInterrupt:
                ctl.cancel.set()
                runner.kill_all()
                thread.join(5)
                raise
            return dict(result.get("node") or {"phase": "Error", "message": "the step did not start"})
        finally:
            runner.close()


def _copy_inputs(src: LocalRepository, dest: LocalRepository, artifacts: list[dict[str, Any]]) -> None:
    for art in artifacts:
        key = (art.get("s3") or {}).get("key")
        if not key:
            continue
        source = src.path_of(str(key))
        if not source.exists():
            continue  # reported by the pod node as a missing input, as in the run
        target = dest.writable_path(str(key))
        if source.is_dir():
            copy_folder(source, target, source.stat().st_mode, link_file)
        else:
            link_file(str(source), str(target))


def _follow(log: Path, thread: threading.Thread, out: TextIO) -> None:
    """Copy the pod's log to ``out`` as it grows, until the pod has ended."""
    pos = 0
    while True:
        alive = thread.is_alive()
        try:
            with open(log, "rb") as f:
                f.seek(pos)
                chunk = f.read()
        except FileNotFoundError:
            chunk = b""
        if chunk:
            pos += len(chunk)
            out.write(chunk.decode("utf-8", "replace"))
            out.flush()
        if not alive:
            return
        thread.join(0.05)


__all__ = ["pick_pod", "rerun"]
