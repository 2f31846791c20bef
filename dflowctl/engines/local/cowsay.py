"""A host stand-in for the ``cowsay`` program of ``docker/whalesay`` and ``argoproj/argosay:v1``.

``cowsay [-W WIDTH] [-f whale|default] [TEXT...]``: TEXT (else standard input) in a
speech bubble, word-wrapped at WIDTH columns (40), above a cow — or the whale,
``docker/whalesay``'s own (``-f whale``, or ``DFLOWCTL_COWSAY=whale`` which the
local engine sets for that image). Standard library only: it runs as a pod's program.
"""

from __future__ import annotations

import os
import sys
import textwrap

COW = r"""        \   ^__^
         \  (oo)\_______
            (__)\       )\/\
                ||----w |
                ||     ||"""

WHALE = "\n".join(
    [
        "    \\",
        "     \\",
        "      \\",
        "                    ##        .",
        "              ## ## ##       ==",
        "           ## ## ## ##      ===",
        '       /""""""""""""""""___/ ===',
        "  ~~~ {~~ ~~~~ ~~~ ~~~~ ~~ ~ /  ===- ~~~",
        "       \\______ o          __/",
        "        \\    \\        __/",
        "          \\____\\______/",
    ]
)

ENV = "DFLOWCTL_COWSAY"


def bubble(text: str, width: int = 40) -> str:
    """cowsay's balloon: ``< one line >``, or ``/ … \\``, ``| … |``, ``\\ … /`` for more."""
    lines: list[str] = []
    for para in text.expandtabs(8).splitlines() or [""]:
        lines.extend(textwrap.wrap(para, width) or [""])
    size = max(len(line) for line in lines)
    top, bottom = " " + "_" * (size + 2), " " + "-" * (size + 2)
    if len(lines) == 1:
        return "\n".join([top, f"< {lines[0]} >", bottom])
    body = []
    for i, line in enumerate(lines):
        left, right = ("/", "\\") if i == 0 else ("\\", "/") if i == len(lines) - 1 else ("|", "|")
        body.append(f"{left} {line.ljust(size)} {right}")
    return "\n".join([top, *body, bottom])


def main(argv: list[str]) -> int:
    width, figure, words = 40, os.environ.get(ENV, "default"), []
    args = iter(argv)
    for arg in args:
        if arg in ("-W", "-f"):
            value = next(args, None)
            if value is None:
                print(f"cowsay: option {arg} needs a value", file=sys.stderr)
                return 1
            if arg == "-W":
                if not value.isdigit() or int(value) < 1:
                    print(f"cowsay: invalid width {value!r}", file=sys.stderr)
                    return 1
                width = int(value)
            else:
                figure = value
        elif arg == "-n":
            width = 1 << 20
        else:
            words.append(arg)
    text = " ".join(words) if words else sys.stdin.read().rstrip("\n")
    art = WHALE if figure.startswith("whale") or figure.endswith("docker") else COW
    sys.stdout.write(bubble(text, width) + "\n" + art + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
