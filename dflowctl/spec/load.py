"""Read a YAML file with ruamel's round-trip loader, keeping line/column positions.

Every failure is a ``SpecError`` with one diagnostic that says what is wrong and
where: a missing or unreadable file, a directory, bytes that are not UTF-8, an
empty file, YAML syntax, a duplicate key, several documents, a top level that
is not a mapping, and every bound of ``spec.limits`` (size, depth, aliases,
digits). Also used for plain Argo ``Workflow`` files.

Large files (``FAST_PATH_MIN_CHARS`` and up) go through ``spec.fastyaml``
(libyaml's C composer, same result and positions); ruamel handles the rest and
every error.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dflowctl.errors import Diagnostic, Location, SpecError
from dflowctl.spec.limits import LIBYAML_MIN_CHARS, Limit, read_bounded, scan_yaml
from dflowctl.spec.locate import PathItem, Source, container_position, gc_paused, position

# Below ~2 KB ruamel parses a file faster than PyYAML (libyaml) takes to import.
FAST_PATH_MIN_CHARS = LIBYAML_MIN_CHARS


@dataclass(frozen=True)
class YamlDocument:
    """A loaded file: ``data`` is the ruamel ``CommentedMap`` of the top level."""

    data: Any
    source: Source
    path: Path

    @property
    def file(self) -> str:
        return self.source.file

    @property
    def lines(self) -> tuple[str, ...]:
        return self.source.lines

    def loc(self, path: Sequence[PathItem], *, key: bool = False) -> Location:
        """Where the value at a JSON path is (its key when ``key``)."""
        return self.source.location(*position(self.data, path, key=key))

    def container_loc(self, path: Sequence[PathItem]) -> Location:
        """Where the mapping/list at a JSON path is named (its key, or its first line)."""
        return self.source.location(*container_position(self.data, path))

    def diagnostic(self, message: str, loc: Location | None, hint: str | None = None) -> Diagnostic:
        return self.source.diagnostic(message, loc, hint)


def _fail(
    message: str, source: Source | None = None, line: int = 0, col: int = 0, hint: str | None = None
) -> SpecError:
    if source is None or line <= 0:
        file = source.file if source is not None else None
        text = f"{file}: {message}" if file else message
        return SpecError([Diagnostic(message=text, hint=hint)])
    return SpecError([source.diagnostic(message, source.location(line, max(col, 1)), hint)])


def _read_bytes(path: Path, file: str) -> bytes:
    try:
        return read_bounded(path)
    except Limit as err:
        raise SpecError([Diagnostic(f"{file}: {err.message}", hint=err.hint)]) from None
    except FileNotFoundError:
        raise SpecError([Diagnostic(f"{file}: no such file")]) from None
    except IsADirectoryError:
        raise SpecError([Diagnostic(f"{file}: is a directory, not a YAML file")]) from None
    except PermissionError:
        raise SpecError([Diagnostic(f"{file}: cannot read the file: permission denied")]) from None
    except OSError as err:
        if err.errno == errno.EISDIR:
            raise SpecError([Diagnostic(f"{file}: is a directory, not a YAML file")]) from None
        reason = os.strerror(err.errno) if err.errno else str(err)
        raise SpecError([Diagnostic(f"{file}: cannot read the file: {reason.lower()}")]) from None


def _decode(raw: bytes, file: str) -> str:
    try:
        return raw.decode("utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "utf-8")
    except UnicodeDecodeError as err:
        start = err.start + (3 if raw.startswith(b"\xef\xbb\xbf") else 0)
        line_start = raw.rfind(b"\n", 0, start) + 1
        line_end = raw.find(b"\n", start)
        text = raw[line_start : line_end if line_end >= 0 else len(raw)].decode("utf-8", errors="replace")
        line = raw.count(b"\n", 0, start) + 1
        col = len(raw[line_start:start].decode("utf-8", errors="replace")) + 1
        source = Source(file, tuple([""] * (line - 1) + [text.rstrip("\r")]))
        raise _fail(
            f"the file is not valid UTF-8 text (byte 0x{raw[start]:02x})",
            source,
            line,
            col,
            hint="save the file as UTF-8",
        ) from None


def _reader_error(err: Exception, text: str, source: Source) -> SpecError:
    """A character YAML does not allow anywhere (control characters, ...)."""
    pos = int(getattr(err, "position", 0) or 0)
    before = text[:pos]
    line = len(LINE_BREAK.findall(before)) + 1
    col = pos - max((m.end() for m in LINE_BREAK.finditer(before)), default=0) + 1
    char = getattr(err, "character", None)
    code = f"U+{char:04X}" if isinstance(char, int) else repr(char)
    return _fail(
        f"the file holds a character YAML does not allow ({code})",
        source,
        line,
        col,
        hint="remove it, or write it as an escape in a double-quoted string (e.g. \\f)",
    )


def _yaml_error(err: Exception, source: Source) -> SpecError:
    from ruamel.yaml.constructor import DuplicateKeyError

    mark = getattr(err, "problem_mark", None)
    problem = (getattr(err, "problem", None) or str(err)).strip()
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
    if isinstance(err, DuplicateKeyError):
        first = getattr(err, "context_mark", None)
        key = problem.split('"')[1] if problem.count('"') >= 2 else "?"
        where = ""
        # context_mark is the mapping's start; find the first occurrence of the key for the message
        if first is not None:
            for n in range(first.line + 1, line):
                text = source.line_text(n) or ""
                stripped = text.lstrip(" -")
                if stripped.startswith((f"{key}:", f'"{key}":', f"'{key}':")):
                    where = f" (first defined on line {n})"
                    break
        return _fail(
            f"duplicate key `{key}`{where}", source, line, col, hint="each key may appear once in a mapping"
        )
    if "\t" in problem or "'\\t'" in problem:
        return _fail(
            "YAML syntax error: a tab character cannot indent YAML",
            source,
            line,
            col,
            hint="indent with spaces",
        )
    context = getattr(err, "context", None)
    message = f"YAML syntax error: {problem}"
    if context and context.strip() != problem:
        message += f" ({context.strip()})"
    return _fail(message, source, line, col)


# what ruamel's constructors raise for a tagged value they cannot build
BUILD_ERRORS = (ValueError, TypeError, IndexError, KeyError, AttributeError, OverflowError)


def _build_error(err: Exception, text: str, source: Source) -> SpecError:
    """Where the first explicitly tagged value is (the likely culprit), and what failed."""
    from ruamel.yaml import YAML

    line = col = 0
    tag = ""
    try:
        for ev in YAML(typ="safe", pure=True).parse(text):
            if getattr(ev, "tag", None) and not (getattr(ev, "implicit", None) or (False,))[0]:
                tag = str(ev.tag).replace("tag:yaml.org,2002:", "!!")
                line, col = ev.start_mark.line + 1, ev.start_mark.column + 1
                break
    except Exception:
        pass
    what = f"the value tagged `{tag}`" if tag else "a value"
    return _fail(
        f"cannot build {what}: {str(err).splitlines()[0] if str(err) else type(err).__name__}",
        source,
        line,
        col,
        hint="remove the tag (`!!…`) or give a value of that type",
    )


def load_yaml(path: Path | str, file: str | None = None) -> YamlDocument:
    """Load one YAML file whose top level is a mapping. ``file`` is the name used
    in diagnostics (default: ``path`` as given)."""
    with gc_paused():
        return _load_yaml(Path(path), file)


def read_text(path: Path, file: str) -> tuple[str, Source]:
    """The text of a file (bounded, UTF-8) and its ``Source``, after ``check_limits``."""
    text = _decode(_read_bytes(path, file), file)
    source = Source(file, split_lines(text))
    check_limits(text, source)
    return text, source


def _load_yaml(path: Path, file: str | None) -> YamlDocument:
    path = Path(path)
    file = str(path) if file is None else file
    text, source = read_text(path, file)
    if len(text) >= FAST_PATH_MIN_CHARS:
        from dflowctl.spec.fastyaml import fast_load

        fast = fast_load(text)
        if fast is not None:
            return YamlDocument(data=fast, source=source, path=path)
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError
    from ruamel.yaml.reader import ReaderError

    yaml = YAML(typ="rt")
    docs: list[Any] = []
    try:
        for doc in yaml.load_all(text):
            docs.append(doc)
    except ReaderError as err:
        raise _reader_error(err, text, source) from None
    except YAMLError as err:
        raise _yaml_error(err, source) from None
    except BUILD_ERRORS as err:  # a tag ruamel cannot build a value for: `!!int x`, `!!float`
        raise _build_error(err, text, source) from None
    while len(docs) > 1 and docs[-1] is None:  # a trailing `---` adds an empty document
        docs.pop()
    if not docs or (len(docs) == 1 and docs[0] is None):
        raise _fail("the file is empty", source)
    if len(docs) > 1:
        line = _second_document_line(source)
        raise _fail(
            f"the file holds {len(docs)} YAML documents; a spec holds exactly one",
            source,
            line,
            1,
            hint="put each workflow in its own file",
        )
    data = docs[0]
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a {type(data).__name__} value"
        if isinstance(data, str):
            kind = "a string"
        lc_line = getattr(getattr(data, "lc", None), "line", None)
        line = lc_line + 1 if isinstance(lc_line, int) else _first_content_line(source)
        raise _fail(f"the top level must be a mapping, not {kind}", source, line, 1)
    return YamlDocument(data=data, source=source, path=path)


def check_limits(text: str, source: Source) -> None:
    """``SpecError`` at the place where ``text`` crosses a bound of ``spec.limits``."""
    try:
        scan_yaml(text)
    except Limit as err:
        raise _fail(err.message, source, err.line + 1, err.col + 1, hint=err.hint) from None


LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


def split_lines(text: str) -> tuple[str, ...]:
    """The lines as YAML parsers count them (str.splitlines also breaks at form
    feeds and other characters that YAML keeps inside a line)."""
    lines = LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return tuple(lines)


def _first_content_line(source: Source) -> int:
    for n, text in enumerate(source.lines, start=1):
        stripped = text.strip()
        if stripped and not stripped.startswith(("#", "---", "%")):
            return n
    return 1


def _second_document_line(source: Source) -> int:
    seen_content = False
    for n, text in enumerate(source.lines, start=1):
        stripped = text.strip()
        if text.startswith("---"):
            if seen_content:
                return n
            continue
        if stripped and not stripped.startswith(("#", "%")):
            seen_content = True
    return 1
