"""Errors and diagnostics. Exit codes are decided here and only here.

0 succeeded; 1 the workflow failed or errored; 2 bad input (spec, parameters,
usage, unknown run/step/artifact); 3 the cluster or storage could not be reached
or refused; 130 interrupted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130


@dataclass(frozen=True, order=True)
class Location:
    """A position in a file; line and col are 1-based (as editors show them)."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in an input, with where it is and how to fix it.

    ``source_line`` is the text of the offending line (without newline), shown
    with a caret under ``location.col``.
    """

    message: str
    location: Location | None = None
    hint: str | None = None
    source_line: str | None = None

    def sort_key(self) -> tuple[str, int, int, str]:
        loc = self.location
        return (loc.file, loc.line, loc.col, self.message) if loc else ("", 0, 0, self.message)

    def format(self) -> str:
        """The text users see: `FILE:LINE:COL: message`, source line, caret, hint."""
        head = f"{self.location}: {self.message}" if self.location else self.message
        lines = [head]
        if self.location is not None and self.source_line is not None:
            src, col = _window(self.source_line.expandtabs(1), max(self.location.col - 1, 0))
            lines.append(f"  {src}")
            lines.append("  " + " " * col + "^")
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    def one_line(self) -> str:
        head = f"{self.location}: {self.message}" if self.location else self.message
        return f"{head} ({self.hint})" if self.hint else head


# user:password@ in a URL (scheme optional: an S3 endpoint may be given as host[:port])
_URL_PASSWORD = re.compile(
    r"(?P<head>(?:\b[A-Za-z][A-Za-z0-9+.-]*://)?[^\s/@:'\"]+):(?P<secret>[^\s/@'\"]+)@"
)
# the value of an Authorization header / bearer token, wherever a library quotes one
_BEARER = re.compile(r"(?P<head>\b(?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
REDACTED = "***"


def redact(text: str) -> str:
    """``text`` with secrets a message may carry replaced by ``***``: the password of
    ``user:password@host`` (a URL's credentials) and bearer/basic tokens. Every message
    that shows a URL or an error from a library goes through here."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}:{REDACTED}@", text)
    return _BEARER.sub(lambda m: f"{m['head']}{REDACTED}", text)


SOURCE_WIDTH = 160


def _window(line: str, col: int) -> tuple[str, int]:
    """A long source line cut to ``SOURCE_WIDTH`` characters around ``col`` (with ``...``
    where it was cut); the caret's column in what is shown."""
    if len(line) <= SOURCE_WIDTH:
        return line, col
    start = max(0, min(col - SOURCE_WIDTH // 2, len(line) - SOURCE_WIDTH))
    shown = line[start : start + SOURCE_WIDTH]
    if start > 0:
        shown, col = "..." + shown, col - start + 3
    if start + SOURCE_WIDTH < len(line):
        shown += "..."
    return shown, col


class DflowctlError(Exception):
    """Base of every error dflowctl reports without a traceback."""

    exit_code: int = EXIT_FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(DflowctlError):
    """Bad flags, parameters, files or names given on the command line."""

    exit_code = EXIT_BAD_INPUT


class NotFoundError(UsageError):
    """An unknown run, step, node or artifact named by the user."""


class SpecError(DflowctlError):
    """One or more problems in a spec (or Argo manifest), all reported at once."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics: list[Diagnostic] = sorted(diagnostics, key=Diagnostic.sort_key)
        first = self.diagnostics[0].one_line() if self.diagnostics else "invalid spec"
        more = f" (and {len(self.diagnostics) - 1} more)" if len(self.diagnostics) > 1 else ""
        super().__init__(first + more)

    def format(self) -> str:
        return "\n".join(d.format() for d in self.diagnostics)


class NotSupportedError(SpecError):
    """A feature the local engine cannot run on this host; use `-e argo`."""


class EngineError(DflowctlError):
    """The engine could not run the workflow (not a failure of the workflow)."""


class ClusterError(DflowctlError):
    """The Kubernetes API could not be reached, or refused."""

    exit_code = EXIT_UNREACHABLE


class StorageError(DflowctlError):
    """The artifact store (S3/MinIO) could not be reached, or refused."""

    exit_code = EXIT_UNREACHABLE
