"""govaluate's tokens of a ``when`` (after Argo's substitution): numbers (float64),
strings (either quote; a quoted date or time becomes its Unix seconds), booleans,
operators, parentheses, separators; a bare word is a string, as Argo makes it."""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any

from dflowctl.expr.values import ExprError, go_sprint

NUMERIC = "NUMERIC"
STRING = "STRING"
BOOLEAN = "BOOLEAN"
OPERATOR = "OPERATOR"
LPAREN = "CLAUSE"
RPAREN = "CLAUSE_CLOSE"
SEPARATOR = "SEPARATOR"
ACCESSOR = "ACCESSOR"

_SYMBOLS = {
    "==",
    "!=",
    ">",
    ">=",
    "<",
    "<=",
    "=~",
    "!~",
    "&&",
    "||",
    "!",
    "+",
    "-",
    "*",
    "/",
    "%",
    "**",
    "&",
    "|",
    "^",
    "<<",
    ">>",
    "~",
    "?",
    ":",
    "??",
    ",",
}

Token = tuple[str, Any]


def _is_symbol_char(ch: str) -> bool:
    return not (ch.isdigit() or ch.isalpha() or ch in "()'\"" or ch.isspace())


_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_TIME_FORMS = (
    re.compile(r"(?P<d>\d{4}-\d{2}-\d{2})"),
    re.compile(r"(?P<d>\d{4}-\d{2}-\d{2}) (?P<H>\d{2}):(?P<M>\d{2})"),
    re.compile(r"(?P<d>\d{4}-\d{2}-\d{2}) (?P<H>\d{2}):(?P<M>\d{2}):(?P<S>\d{2})(?P<z>[+-]\d{2}:\d{2})?"),
    re.compile(
        r"(?P<d>\d{4}-\d{2}-\d{2})T(?P<H>\d{2})(?::(?P<M>\d{2})(?::(?P<S>\d{2})(?P<f>\.\d{1,9})?)?)?"
        r"(?P<z>Z|[+-]\d{2}:?\d{2})"
    ),
)
_KITCHEN = re.compile(r"(\d{1,2}):(\d{2})(AM|PM)")


def _try_time(text: str) -> float | None:
    """govaluate's tryParseTime: a quoted date or time becomes its Unix seconds."""
    m = _KITCHEN.fullmatch(text)
    if m:
        hour = int(m.group(1)) % 12 + (12 if m.group(3) == "PM" else 0)
        if int(m.group(1)) > 12 or int(m.group(2)) > 59:
            return None
        return float(-62167219200 + hour * 3600 + int(m.group(2)) * 60)
    for form in _TIME_FORMS:
        m = form.fullmatch(text)
        if not m:
            continue
        g = m.groupdict()
        try:
            base = _dt.datetime.strptime(g["d"], "%Y-%m-%d").replace(tzinfo=_dt.timezone.utc)
            base = base.replace(
                hour=int(g.get("H") or 0), minute=int(g.get("M") or 0), second=int(g.get("S") or 0)
            )
        except ValueError:
            return None
        zone = g.get("z")
        if zone and zone != "Z":
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            base -= sign * _dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        return float((base - _EPOCH) // _dt.timedelta(seconds=1))
    return None


def describe(tok: Token) -> str:
    kind, value = tok
    return f"{kind} [{go_sprint(value) if kind != STRING else value}]"


def tokenize(text: str) -> list[Token]:
    toks: list[Token] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch.isdigit() or ch == ".":
            if text.startswith(("0x", "0X"), i):
                j = i + 2
                while j < n and text[j] in "0123456789abcdefABCDEF":
                    j += 1
                try:
                    toks.append((NUMERIC, float(int(text[i + 2 : j], 16))))
                except ValueError:
                    raise ExprError(f"Unable to parse hex value '{text[i:j]}' to uint64") from None
                i = j
                continue
            j = i
            while j < n and (text[j].isdigit() or text[j] == "."):
                j += 1
            lit = text[i:j]
            try:
                toks.append((NUMERIC, float(lit)))
            except ValueError:
                raise ExprError(f"Unable to parse numeric value '{lit}' to float64") from None
            i = j
            continue
        if ch.isalpha():
            j = i
            while j < n and (text[j].isalnum() or text[j] in "_."):
                j += 1
            word = text[i:j]
            i = j
            if word == "true":
                toks.append((BOOLEAN, True))
            elif word == "false":
                toks.append((BOOLEAN, False))
            elif word in ("in", "IN"):
                toks.append((OPERATOR, "in"))
            elif "." in word:
                if word.endswith("."):
                    raise ExprError(f"Hanging accessor on token {word}")
                for part in word.split(".")[1:]:
                    if part[:1] != part[:1].upper():
                        raise ExprError(f"Unable to access unexported field '{part}' in token '{word}'")
                toks.append((ACCESSOR, word))
            else:
                toks.append((STRING, word))  # a variable; Argo makes it a string
            continue
        if ch == "[":
            j = text.find("]", i + 1)
            if j < 0:
                raise ExprError("Unclosed parameter bracket")
            toks.append((STRING, text[i + 1 : j].replace("\\", "")))
            i = j + 1
            continue
        if ch in "'\"":
            j = i + 1
            buf: list[str] = []
            while j < n and text[j] not in "'\"":
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(text[j])
                j += 1
            if j >= n:
                raise ExprError("Unclosed string literal")
            text_value = "".join(buf)
            when_time = _try_time(text_value)
            toks.append((STRING, text_value) if when_time is None else (NUMERIC, when_time))
            i = j + 1
            continue
        if ch == "(":
            toks.append((LPAREN, "("))
            i += 1
            continue
        if ch == ")":
            toks.append((RPAREN, ")"))
            i += 1
            continue
        j = i
        while j < n and _is_symbol_char(text[j]):
            j += 1
        sym = text[i:j]
        if sym not in _SYMBOLS:
            raise ExprError(f"Invalid token: '{sym}'")
        toks.append((SEPARATOR, sym) if sym == "," else (OPERATOR, sym))
        i = j
    return toks
