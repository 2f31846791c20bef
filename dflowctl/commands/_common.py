"""Options and helpers shared by the run commands (not a command itself)."""

from __future__ import annotations

import os
import shlex
import signal
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any

import typer

from dflowctl.errors import EXIT_INTERRUPTED, DflowctlError, UsageError

if TYPE_CHECKING:  # commands are all imported at startup: nothing more than they need
    from dflowctl.engines import OnUpdate, Workflow
    from dflowctl.settings import Settings

OUTPUT_FORMATS = ("table", "json", "yaml")

ENGINE_OPT = typer.Option(
    None, "-e", "--engine", help="Engine: local or argo (default: local; env DFLOWCTL_ENGINE)."
)
NAMESPACE_OPT = typer.Option(None, "-n", "--namespace", help="Kubernetes namespace (argo engine).")
KUBECONFIG_OPT = typer.Option(None, "--kubeconfig", help="Path to a kubeconfig file (argo engine).")
CONTEXT_OPT = typer.Option(None, "--context", help="Kubeconfig context (argo engine).")
OUTPUT_OPT = typer.Option("table", "-o", "--output", help="Output format: table, json or yaml.")
# Kubernetes object names (a Workflow's included) have at most 253 characters
MAX_RUN_NAME = 253


def check_run_name(name: str | None) -> str | None:
    """A run name as given, or ``UsageError`` (exit 2) when it cannot name a run:
    empty, longer than Kubernetes allows, or holding a path separator or control character."""
    if name is None:
        return None
    shown = name if len(name) <= 40 else name[:37] + "..."
    shown = shown.encode("unicode_escape").decode("ascii")
    reason = ""
    if not name:
        reason = "it is empty"
    elif len(name) > MAX_RUN_NAME:
        reason = f"it is longer than {MAX_RUN_NAME} characters ({len(name)})"
    elif "/" in name or name in (".", "..") or any(ord(c) < 32 or ord(c) == 127 for c in name):
        reason = "it holds a path separator or a control character"
    if reason:
        raise UsageError(f"`{shown}` is not a run name: {reason}", hint="list the runs with: dflowctl status")
    return name


class Interrupted(DflowctlError):
    """Ctrl-C or SIGTERM while following a run."""

    exit_code = EXIT_INTERRUPTED


def settings_from(
    engine: str | None,
    namespace: str | None = None,
    kubeconfig: str | None = None,
    context: str | None = None,
    *,
    python: str | None = None,
) -> Settings:
    flags = {
        "engine": engine,
        "namespace": namespace,
        "kubeconfig": kubeconfig,
        "context": context,
        "python": python,
    }
    from dflowctl.settings import load_settings

    return load_settings(flags)


def address_flags(
    engine: str | None = None,
    namespace: str | None = None,
    kubeconfig: str | None = None,
    context: str | None = None,
) -> str:
    """The flags given on this command line that a follow-up command needs to find
    the same run (`` -e argo -n ns``), for the commands we suggest."""
    pairs = [("-e", engine), ("-n", namespace), ("--kubeconfig", kubeconfig), ("--context", context)]
    return "".join(f" {flag} {shlex.quote(value)}" for flag, value in pairs if value)


def check_output(fmt: str) -> str:
    if fmt not in OUTPUT_FORMATS:
        raise UsageError(f"unknown output format {fmt!r}", hint="use one of: " + ", ".join(OUTPUT_FORMATS))
    return fmt


def default_wait(engine: str) -> bool:
    """Local runs always wait; Argo runs wait on a terminal and in CI (env CI set)."""
    if engine == "local":
        return True
    return sys.stdout.isatty() or bool(os.environ.get("CI"))


@dataclass
class Following:
    """What is known about the run being followed (its name, once the engine gave one)."""

    name: str = ""

    def note(self, workflow: Mapping[str, Any]) -> None:
        if not self.name:
            self.name = str((workflow.get("metadata") or {}).get("name") or "")


@contextmanager
def interruptible(following: Following, effect: str = "watching", flags: str = "") -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C; both end as ``Interrupted`` (exit 130).

    ``effect`` says what the interruption did to the run: ``stopped`` (the local
    engine ends its run), ``detached`` (an Argo run goes on in the cluster) or
    ``watching`` (only the command stopped).
    """

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous: Any = None
    try:
        previous = signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread
        previous = None
    try:
        yield
    except KeyboardInterrupt:
        raise _interrupted(following.name, effect, flags) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _interrupted(name: str, effect: str, flags: str = "") -> Interrupted:
    if name and effect == "stopped":
        return Interrupted(
            f"interrupted: run {name} stopped", hint=f"resume it with: dflowctl retry {name}{flags}"
        )
    if name and effect == "detached":
        return Interrupted(
            f"interrupted: run {name} goes on in the cluster",
            hint=f"follow it: dflowctl status {name}{flags} --watch; stop it: dflowctl stop {name}{flags}",
        )
    return Interrupted("interrupted")


def follow(
    start: Callable[[OnUpdate | None], Workflow], fmt: str, wait: bool, engine: str, flags: str = ""
) -> int:
    """Start a run with ``start(on_update)`` and show it: live (or event lines) and a
    summary for ``table``, only the final object for ``json``/``yaml``. Returns the exit code."""
    from dflowctl import actions, console

    following = Following()
    effect = "stopped" if engine == "local" else "detached"
    if fmt != "table":
        with interruptible(following, effect, flags):
            workflow = start(following.note if wait else None)
        console.print_object(workflow, fmt)
        return actions.exit_code(workflow) if wait else 0
    if not wait:
        workflow = start(None)
        name = console.workflow_name(workflow)
        console.print_name(name)
        console.info(f"follow it with: dflowctl status {name}{flags} --watch")
        return 0
    with interruptible(following, effect, flags), console.RunView() as view:

        def on_update(workflow: Workflow) -> None:
            following.note(workflow)
            view.update(workflow)

        workflow = start(on_update)
    if not view.named:
        console.print_name(console.workflow_name(workflow))
    console.print_summary(workflow, flags)
    return actions.exit_code(workflow)


def complete_run(incomplete: str) -> list[str]:
    """Shell completion of run names: the local run home's (and ``@latest``); never fails."""
    try:
        from dflowctl.engines.local.records import RunStore

        names = RunStore(settings_from(None).runs_dir).names()
    except Exception:  # completion must never print an error into the shell
        names = []
    return [n for n in ["@latest", *names] if n.startswith(incomplete)]


def pause_gc_for_reading() -> None:
    """For a short-lived reader (`status NAME`, `logs`, `report`, `download`; not one that
    follows a run): the cyclic collector off. A 10,000-item run's record is a million
    objects that build no cyclic garbage, and the collector's full passes over it cost
    a third of such a reader's time."""
    import gc

    gc.disable()
