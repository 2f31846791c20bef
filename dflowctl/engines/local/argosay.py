"""A host stand-in for the ``argoproj/argosay:v2`` image's ``/argosay`` program.

Argo's test image (test/e2e/images/argosay/v2) knows a few sub-commands; this
script does the same with the standard library and ``dflowctl.argo`` only (it
runs as a pod's program):

    argosay                          print "hello argo"
    argosay echo [TEXT [FILE]]       print TEXT, or write it to FILE (parents created)
    argosay cat FILE...              print the files
    argosay sleep DURATION           sleep a Go duration ("5s", "1m30s"), or what the
                                     image's shell ``sleep`` takes: "5", "0.5", "2m", "1d"
    argosay exit [CODE]              exit with CODE (default 0)
    argosay assert_contains FILE S   fail unless FILE contains S
    argosay assert_equals FILE S     fail unless FILE's content is S

An unknown sub-command or a failure prints the error and exits 1.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path


class ArgosayError(Exception):
    pass


def parse_duration(text: str) -> float:
    """Go's ``time.ParseDuration``: ``300ms``, ``1.5h``, ``2h45m``; a bare ``0`` is 0.

    The grammar is the package's one (``dflowctl.argo.times``); run as a pod's
    program, this file finds the package two folders up."""
    if __package__ in (None, ""):
        root = str(Path(__file__).resolve().parents[3])
        if root not in sys.path:
            sys.path.insert(0, root)
    from dflowctl.argo.times import go_duration

    try:
        return go_duration(text)
    except ValueError:
        raise ArgosayError(f'time: invalid duration "{text}"') from None


_SLEEP_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SLEEP = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([smhd]?)")


def sleep_seconds(text: str) -> float:
    """``argosay sleep``'s argument: a Go duration, else (the v2 image is a shell script
    running ``sleep "$2"``) busybox's form, bare seconds with an optional s/m/h/d."""
    try:
        return parse_duration(text)
    except ArgosayError:
        match = _SLEEP.fullmatch(text.strip())
        if match is None:
            raise
        return float(match.group(1)) * _SLEEP_UNITS[match.group(2)]


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as fh:
        return fh.read()


def run(args: list[str]) -> int:
    if not args:
        args = ["echo"]
    cmd, rest = args[0], args[1:]
    if cmd == "echo":
        if not rest:
            print("hello argo")
        elif len(rest) == 1:
            print(rest[0])
        elif len(rest) == 2:
            parent = os.path.dirname(rest[1])
            if parent:
                os.makedirs(parent, exist_ok=True)
            with open(rest[1], "w", encoding="utf-8") as fh:
                fh.write(rest[0])
        else:
            raise ArgosayError("too many args")
        return 0
    if cmd == "cat":
        for path in rest:
            sys.stdout.write(_read(path))
        sys.stdout.flush()
        return 0
    if cmd == "sleep":
        if len(rest) != 1:
            raise ArgosayError("sleep needs one duration")
        time.sleep(max(sleep_seconds(rest[0]), 0.0))
        return 0
    if cmd == "exit":
        return int(rest[0]) if rest else 0
    if cmd in ("assert_contains", "assert_equals"):
        if len(rest) != 2:
            raise ArgosayError(f"{cmd} needs a file and a value")
        content = _read(rest[0])
        ok = rest[1] in content if cmd == "assert_contains" else content == rest[1]
        if not ok:
            what = "contain" if cmd == "assert_contains" else "equal"
            raise ArgosayError(f"{rest[0]} does not {what} {rest[1]!r}")
        return 0
    raise ArgosayError(f"unknown command: {cmd}")


def main(argv: list[str] | None = None) -> int:
    try:
        return run(list(sys.argv[1:] if argv is None else argv))
    except (ArgosayError, OSError, ValueError) as err:
        print(err, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
