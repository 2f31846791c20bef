"""`dflowctl --help` lists each command with a one-sentence summary: the first paragraph
of every command's help is one line, so the command list shows no line broken mid-phrase."""

from __future__ import annotations

import typer

from dflowctl.cli import _register_commands, app
from tests.conftest import run_cli


def test_every_command_summary_is_one_line() -> None:
    _register_commands()
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    broken = {}
    for name, command in group.commands.items():
        first = (command.help or "").strip().split("\n\n")[0]
        if "\n" in first:
            broken[name] = first
    assert not broken, broken
    assert len(group.commands) >= 20


def test_help_lists_resume_and_rerun_in_one_phrase() -> None:
    res = run_cli("--help", env={"COLUMNS": "200"})
    assert res.returncode == 0, res.stderr
    rows = [line for line in res.stdout.splitlines() if line.startswith("│ ") and len(line.split()) > 2]
    lines = {line.split()[1]: line for line in rows}
    assert "Resume a suspended run (`argo resume`)." in lines["resume"]
    assert lines["stop"].rstrip(" │").endswith("--terminate ends it at once.")
