"""The programs a shell script calls, read without running it (``engines.local.support``).

``script_programs(script)`` gives the first word of each command of a ``sh -c``
script: what the host must have when it stands in for an image's shell.
Here-documents are read as the shell reads them: the lines after a ``<<WORD`` (or
``<<-WORD``, ``<<'WORD'``, ``<<"WORD"``) up to the line ``WORD`` are the command's
standard input, not commands. When a shell reads its script from standard input
(``/bin/bash <<'EOF'``, ``sh -s <<EOF``) the body is that script and is read in
turn; any other command's body is data (``cat <<EOF > file``), where only the
command substitutions of an unquoted body (``$(cmd)``, backticks) run.
``package_manager(programs)`` names the first program that installs packages
(``apt``, ``apk``, ...): it would change the host, never an image.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Sequence

SHELLS = ("sh", "bash", "ash", "dash", "zsh")

# programs that install into the system they run on (on a host: the host itself)
PACKAGE_MANAGERS = frozenset(
    ["apt", "apt-get", "aptitude", "apk", "yum", "dnf", "microdnf", "zypper", "pacman", "emerge"]
)

# shell keywords and builtins: not programs to look for
_SHELL_WORDS = frozenset(
    [
        "if",
        "then",
        "else",
        "elif",
        "fi",
        "for",
        "in",
        "do",
        "done",
        "while",
        "until",
        "case",
        "esac",
        "function",
        "select",
        "time",
        "{",
        "}",
        "(",
        ")",
        "!",
        "[",
        "[[",
        "]]",
        "set",
        "unset",
        "export",
        "readonly",
        "local",
        "cd",
        "echo",
        "printf",
        "test",
        "true",
        "false",
        "exit",
        "return",
        "break",
        "continue",
        "shift",
        ".",
        "source",
        "eval",
        "exec",
        "trap",
        "read",
        "wait",
        "command",
        "type",
        "alias",
        "ulimit",
        "umask",
        "let",
        "declare",
        "typeset",
    ]
)
_LEADING = frozenset(["if", "elif", "while", "until", "!", "time", "then", "do", "else", "{", "("])
_SEGMENT = re.compile(r"\|\||&&|(?<![<>])&(?!>)|[|;\n`]|\$\(|\bthen\b|\bdo\b|\belse\b")
# a here-document operator: `<<WORD`, `<<-WORD`, `<< 'WORD'`, `<<"WORD"` (not the here-string `<<<`)
_HEREDOC = re.compile(r"(?<!<)<<(-?)[ \t]*(?:'([^'\n]*)'|\"([^\"\n]*)\"|\\?([A-Za-z0-9_.-]+))(?!<)")
_OPERATOR = re.compile(r"(?<!<)<<(?!<)")
_SUBSTITUTION = re.compile(r"\$\(([^()]*)\)|`([^`]*)`")
_DEPTH = 8  # here-documents within here-documents read at most this deep


def shell_c_script(argv: Sequence[str]) -> str | None:
    """The script of ``sh -c 'SCRIPT' ...`` (None without ``-c``)."""
    if "-c" not in argv or argv.index("-c") + 1 >= len(argv):
        return None
    return argv[argv.index("-c") + 1]


def script_programs(script: str) -> list[str]:
    """The programs ``script`` calls (the first word of each command), once each: its own
    commands in order, then those its here-documents run."""
    out: list[str] = []
    _scan(script, out, 0)
    return out


def package_manager(programs: Iterable[str]) -> str | None:
    """The first of ``programs`` that installs packages (``apt``, ``/sbin/apk``), if any."""
    return next((p for p in programs if p.rsplit("/", 1)[-1] in PACKAGE_MANAGERS), None)


def _scan(script: str, out: list[str], depth: int) -> None:
    commands, docs = _split_heredocs(script)
    _commands(commands, out)
    for command, body, quoted in docs:
        if depth < _DEPTH and _reads_script(command):
            _scan(body, out, depth + 1)
        elif not quoted:
            for m in _SUBSTITUTION.finditer(body):
                _scan(m.group(1) if m.group(1) is not None else m.group(2), out, depth + 1)


def _split_heredocs(script: str) -> tuple[str, list[tuple[str, str, bool]]]:
    """``script`` without its here-document bodies, and each here-document as (the command
    text before its ``<<``, its body, whether its word was quoted)."""
    lines = script.split("\n")
    kept: list[str] = []
    docs: list[tuple[str, str, bool]] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        kept.append(line)
        i += 1
        for op in _OPERATOR.finditer(_unquoted(line)):
            m = _HEREDOC.match(line, op.start())
            if m is None:
                continue
            strip_tabs = m.group(1) == "-"
            word = next(g for g in (m.group(2), m.group(3), m.group(4)) if g is not None)
            quoted = m.group(4) is None or line[m.start() : m.end()].find("\\") >= 0
            body: list[str] = []
            while i < len(lines):
                text = lines[i].lstrip("\t") if strip_tabs else lines[i]
                i += 1
                if text == word:
                    break
                body.append(text)
            docs.append((line[: m.start()], "\n".join(body), quoted))
    return "\n".join(kept), docs


def _unquoted(line: str) -> str:
    """``line`` with the text inside quotes blanked (same length): a ``<<`` in a string is
    not an operator."""
    out = list(line)
    quote = ""
    escaped = False
    for k, ch in enumerate(line):
        if escaped:
            escaped = False
            continue
        if ch == "\\" and quote != "'":
            escaped = True
            continue
        if quote:
            if ch == quote:
                quote = ""
            else:
                out[k] = " "
        elif ch in "'\"":
            quote = ch
    return "".join(out)


def _reads_script(command: str) -> bool:
    """Does the command a here-document feeds read its script from standard input (a shell
    with options only: ``/bin/bash``, ``sh -s``, ``bash -eu``)?"""
    segment = _SEGMENT.split(command)[-1]
    try:
        words = shlex.split(segment, comments=True)
    except ValueError:
        return False
    words = _without_prefixes(words)
    if not words or words[0].rsplit("/", 1)[-1] not in SHELLS:
        return False
    rest = [w for w in words[1:] if not re.match(r"^[0-9]*[<>]", w)]  # redirections
    return all(w.startswith("-") and w != "-c" and "c" not in w.lstrip("-") for w in rest)


def _without_prefixes(words: list[str]) -> list[str]:
    while words and (re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]) or words[0] in _LEADING):
        words = words[1:]  # VAR=value prefixes, `until cmd`, `! cmd`
    return words


def _commands(script: str, out: list[str]) -> None:
    for segment in _SEGMENT.split(script):
        try:
            words = shlex.split(segment, comments=True)
        except ValueError:
            continue
        words = _without_prefixes(words)
        if not words:
            continue
        word = words[0]
        if (
            word in _SHELL_WORDS
            or "{{" in word
            or "$" in word
            or word in out
            or not re.match(r"^[\w./+-]+$", word)
        ):
            continue
        out.append(word)
