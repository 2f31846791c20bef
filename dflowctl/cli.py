"""The typer app. Only parses and dispatches: each command lives in
``dflowctl/commands/<name>.py`` and exposes ``register(app)``; commands call
use-case functions and return an exit code. Errors become exit codes here.
"""

from __future__ import annotations

import os
import sys
from importlib import import_module
from typing import NoReturn

import typer

from dflowctl import __version__
from dflowctl.errors import EXIT_FAILED, EXIT_INTERRUPTED, DflowctlError, SpecError, redact

app = typer.Typer(
    name="dflowctl",
    help="Declarative workflows for scientific computing on Argo Workflows.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dflowctl {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
    debug: bool = typer.Option(
        False, "--debug", help="Show a traceback on internal errors.", envvar="DFLOWCTL_DEBUG"
    ),
) -> None:
    if debug:
        os.environ["DFLOWCTL_DEBUG"] = "1"


# the order commands appear in --help; modules not named here follow alphabetically
COMMAND_ORDER = (
    "run",
    "validate",
    "render",
    "graph",
    "status",
    "logs",
    "outputs",
    "report",
    "ui",
    "download",
    "control",
    "schema",
    "habits",
)


def _command_modules(folders: list[str]) -> list[str]:
    """The modules (``x.py``) and packages (``x/__init__.py``) in ``folders`` not named
    ``_*``: what ``pkgutil.iter_modules`` finds there, without importing ``pkgutil``."""
    found: set[str] = set()
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if name.startswith(("_", ".")):
                continue
            if name.endswith(".py") and name[:-3].isidentifier() and entry.is_file():
                found.add(name[:-3])
            elif (
                name.isidentifier()
                and entry.is_dir()
                and os.path.isfile(os.path.join(entry.path, "__init__.py"))
            ):
                found.add(name)
    return sorted(found)


_registered: list[bool] = []


def _register_commands() -> None:
    """Add the commands to ``app`` (once: ``main`` may be called many times in a process)."""
    if _registered:
        return
    _registered.append(True)
    from dflowctl import commands

    found = _command_modules(list(commands.__path__))
    rank = {name: i for i, name in enumerate(COMMAND_ORDER)}
    for mod in sorted(found, key=lambda m: (rank.get(m, len(rank)), m)):
        import_module(f"dflowctl.commands.{mod}").register(app)


def report(err: DflowctlError) -> None:
    """Print an error the way users see it: no traceback, one line (or diagnostics)."""
    if isinstance(err, SpecError):
        sys.stderr.write(err.format() + "\n")
        n = len(err.diagnostics)
        if n > 1:
            sys.stderr.write(f"{n} problems found\n")
        return
    text = f"error: {err.message}"
    if err.hint:
        text += f"\n  hint: {err.hint}"
    sys.stderr.write(redact(text) + "\n")


COMPLETE_VAR = "_DFLOWCTL_COMPLETE"


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point; returns (and exits with) the exit code."""
    _register_commands()
    if os.environ.get(COMPLETE_VAR):  # the shell asks for completions (`dflowctl completion SHELL`)
        from typer.completion import completion_init

        completion_init()
        return int(app(prog_name="dflowctl", standalone_mode=False) or 0)
    debug = bool(os.environ.get("DFLOWCTL_DEBUG")) or "--debug" in (argv or sys.argv[1:])
    args = list(sys.argv[1:] if argv is None else argv)
    if "--reuse" in args:
        from dflowctl.commands.run import optional_reuse_value

        args = optional_reuse_value(args)
    try:
        from dflowctl.commands.habits import unknown_command

        unknown_command(app, args)
        code = app(args=args, standalone_mode=False)
    except DflowctlError as err:
        if debug:
            import traceback

            traceback.print_exc()
        report(err)
        code = err.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        code = EXIT_INTERRUPTED
    except BrokenPipeError:  # `dflowctl logs NAME | head`: the reader has gone; stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = EXIT_FAILED
    except Exception as err:  # click usage errors and anything unexpected
        code = _other_error(err, debug)
    code = int(code or 0)
    if argv is None:
        _exit(code)
    return code


def _exit(code: int) -> NoReturn:
    """End the process as Python does at its exit (non-daemon threads waited for, ``atexit``
    handlers run, the standard streams flushed) but without tearing down the ~450 modules
    a command imported: 30-60 ms at the end of every command here (docs/benchmarks.md).
    A pod's process ends the same way (``engines/local/_podproc._finish``: a script that
    cannot import this one)."""
    import atexit
    import threading

    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is None:  # a Python without it: its own exit
        sys.exit(code)
    try:
        shutdown()
        atexit._run_exitfuncs()
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):  # a reader that has gone (`| head`): stop quietly
            code = code or EXIT_FAILED
    os._exit(code)


def _other_error(err: Exception, debug: bool) -> int:
    # typer may vendor click, so match click's exceptions by shape, not by class
    name = type(err).__name__
    if name == "Abort":
        sys.stderr.write("interrupted\n")
        return EXIT_INTERRUPTED
    exit_code = getattr(err, "exit_code", None)
    if hasattr(err, "show") and isinstance(exit_code, int):
        err.show()
        return exit_code
    if name == "Exit" and isinstance(exit_code, int):
        return exit_code
    if debug:
        import traceback

        traceback.print_exc()
    if isinstance(err, OSError) and err.strerror:
        # the file system said no (a read-only or missing $DFLOWCTL_HOME, a full disk): say what and where
        where = f": {err.filename}" if err.filename else ""
        sys.stderr.write(redact(f"error: {err.strerror}{where}") + "\n")
        return EXIT_FAILED
    sys.stderr.write(redact(f"internal error: {name}: {err} (run with --debug for a traceback)") + "\n")
    return EXIT_FAILED
