"""Tokens of expr-lang (github.com/expr-lang/expr) source text."""

from __future__ import annotations

from typing import NamedTuple

from dflowctl.expr.values import ExprError

NUM = "num"
STR = "str"
IDENT = "ident"
OP = "op"
PTR = "ptr"
EOF = "eof"

# Longest first, so that `**` wins over `*` and `?.` over `?`.
_OPERATORS = (
    "...",
    "?.",
    "??",
    "..",
    "==",
    "!=",
    "<=",
    ">=",
    "&&",
    "||",
    "**",
    "?",
    ":",
    ".",
    "<",
    ">",
    "!",
    "+",
    "-",
    "*",
    "/",
    "%",
    "^",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    "|",
    ";",
    "=",
)

_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "b": "\b",
    "f": "\f",
    "v": "\v",
    "a": "\a",
    "0": "\0",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "`": "`",
}


class Token(NamedTuple):
    kind: str
    value: object
    pos: int


def _is_ident_start(ch: str) -> bool:
    return ch.isalpha() or ch in "_$"


def _is_ident_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_$"


def _read_string(src: str, i: int, quote: str) -> tuple[str, int]:
    """Read a quoted string starting after the opening quote; returns (text, next index)."""
    out: list[str] = []
    n = len(src)
    while i < n:
        ch = src[i]
        if ch == quote:
            return "".join(out), i + 1
        if ch == "\\" and quote != "`":
            if i + 1 >= n:
                break
            nxt = src[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
            if nxt in "xuU":
                width = {"x": 2, "u": 4, "U": 8}[nxt]
                hexpart = src[i + 2 : i + 2 + width]
                try:
                    out.append(chr(int(hexpart, 16)))
                except ValueError as exc:
                    raise ExprError(f"invalid escape \\{nxt}{hexpart} in string") from exc
                i += 2 + width
                continue
            if nxt.isdigit():  # octal \123
                octal = src[i + 1 : i + 4]
                try:
                    out.append(chr(int(octal, 8)))
                except ValueError as exc:
                    raise ExprError(f"invalid escape \\{octal} in string") from exc
                i += 4
                continue
            raise ExprError(f"invalid escape \\{nxt} in string")
        out.append(ch)
        i += 1
    raise ExprError("literal not terminated")


def _read_number(src: str, i: int) -> tuple[int | float, int]:
    n = len(src)
    start = i
    if src.startswith(("0x", "0X"), i) or src.startswith(("0o", "0O"), i) or src.startswith(("0b", "0B"), i):
        j = i + 2
        while j < n and (src[j].isalnum() or src[j] == "_"):
            j += 1
        text = src[start:j].replace("_", "")
        try:
            return int(text, 0), j
        except ValueError as exc:
            raise ExprError(f"invalid number {src[start:j]!r}") from exc
    j = i
    is_float = False
    while j < n and (src[j].isdigit() or src[j] == "_"):
        j += 1
    # a fraction, but not the range operator `..`
    if j < n and src[j] == "." and not src.startswith("..", j):
        is_float = True
        j += 1
        while j < n and (src[j].isdigit() or src[j] == "_"):
            j += 1
    if j < n and src[j] in "eE":
        k = j + 1
        if k < n and src[k] in "+-":
            k += 1
        if k < n and src[k].isdigit():
            is_float = True
            j = k
            while j < n and src[j].isdigit():
                j += 1
    text = src[start:j].replace("_", "")
    try:
        return (float(text) if is_float else int(text)), j
    except ValueError as exc:
        raise ExprError(f"invalid number {src[start:j]!r}") from exc


def tokenize(src: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    n = len(src)
    while i < n:
        ch = src[i]
        if ch.isspace():
            i += 1
            continue
        if src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        if src.startswith("/*", i):
            j = src.find("*/", i + 2)
            if j < 0:
                raise ExprError("unclosed comment")
            i = j + 2
            continue
        if ch.isdigit() or (ch == "." and i + 1 < n and src[i + 1].isdigit()):
            if ch == ".":
                value, j = _read_number("0" + src[i:], 0)
                j = j - 1 + i
            else:
                value, j = _read_number(src, i)
            tokens.append(Token(NUM, value, i))
            i = j
            continue
        if ch in "\"'`":
            text, j = _read_string(src, i + 1, ch)
            tokens.append(Token(STR, text, i))
            i = j
            continue
        if ch == "#":
            j = i + 1
            while j < n and _is_ident_char(src[j]):
                j += 1
            tokens.append(Token(PTR, src[i + 1 : j], i))
            i = j
            continue
        if _is_ident_start(ch):
            j = i + 1
            while j < n and _is_ident_char(src[j]):
                j += 1
            tokens.append(Token(IDENT, src[i:j], i))
            i = j
            continue
        for op in _OPERATORS:
            if src.startswith(op, i):
                # `?.` followed by a digit is a ternary with a number: a ?.5 : 1
                if op == "?." and i + 2 < n and src[i + 2].isdigit():
                    continue
                tokens.append(Token(OP, op, i))
                i += len(op)
                break
        else:
            raise ExprError(f"unexpected character {ch!r} at position {i}")
    tokens.append(Token(EOF, None, n))
    return tokens
