"""Ask an interpreter, once, what it is and which of some modules it can import.

One ``python -c`` subprocess per interpreter: ``importlib.util.find_spec`` over
the top-level module names (nothing is imported), answered as JSON with the
interpreter's version, prefixes and ``sys.path``. It runs as a pod would start
it: the host's environment without ``PYTHON*`` variables, in an empty folder.

The names reach it on its standard input, so that it can be started before they are
known (``start_early``: while the spec is read) and asked once they are (``probe``):
an interpreter's start is 30-150 ms (a pyenv shim starts a dozen shell processes first).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass

PROBE_TIMEOUT = 60.0

_CODE = """
import importlib.util, json, sys
if sys.path and sys.path[0] == "":
    del sys.path[0]
missing = []
for name in json.loads(sys.stdin.readline() or "[]"):
    try:
        if importlib.util.find_spec(name) is None:
            missing.append(name)
    except Exception:
        missing.append(name)
print(json.dumps({
    "executable": sys.executable,
    "version": "%d.%d.%d" % sys.version_info[:3],
    "prefix": sys.prefix,
    "base_prefix": sys.base_prefix,
    "path": [p for p in sys.path if p],
    "missing": missing,
}))
"""


class ProbeError(Exception):
    """The interpreter could not be asked; the text says why."""


@dataclass(frozen=True)
class Probe:
    python: str  # as asked
    executable: str  # sys.executable: the interpreter itself (a shim or a wrapper resolved)
    version: str  # "3.11.7"
    prefix: str
    base_prefix: str
    path: tuple[str, ...]  # sys.path
    missing: frozenset[str]  # of the names asked, those it cannot import

    def folders(self) -> tuple[str, ...]:
        """Host folders the interpreter needs at run time: its prefixes, its own folder and
        every ``sys.path`` entry (site-packages, ``.pth`` additions)."""
        found = [self.prefix, self.base_prefix, os.path.dirname(self.executable), *self.path]
        return tuple(dict.fromkeys(os.path.normpath(p) for p in found if os.path.isabs(p)))


class Asking:
    """A probe started under ``python``, waiting for the names to look for."""

    def __init__(self, python: str) -> None:
        self.python = python
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        self._proc: subprocess.Popen[str] | None = None
        self._error: str | None = None
        try:
            self._cwd = tempfile.mkdtemp(prefix="dflowctl-probe-")
        except OSError as exc:
            self._cwd = ""
            self._error = f"cannot make an empty folder to run {python} in: {exc.strerror or exc}"
            return
        try:
            self._proc = subprocess.Popen(
                [python, "-c", _CODE],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
                cwd=self._cwd,
            )
        except OSError as exc:
            self._error = f"cannot run {python}: {exc.strerror or exc}"
            shutil.rmtree(self._cwd, ignore_errors=True)

    def answer(self, names: Iterable[str]) -> Probe:
        """Its answer for ``names``; ``ProbeError`` when the interpreter does not start or answer."""
        if self._proc is None:
            raise ProbeError(self._error or f"cannot run {self.python}")
        try:
            out, err = self._proc.communicate(json.dumps(sorted(set(names))) + "\n", timeout=PROBE_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise ProbeError(f"{self.python} did not answer within {PROBE_TIMEOUT:.0f} s") from None
        finally:
            self.cancel()
        try:
            data = json.loads(out.strip().splitlines()[-1])
            return Probe(
                python=self.python,
                executable=str(data["executable"] or self.python),
                version=str(data["version"]),
                prefix=str(data["prefix"]),
                base_prefix=str(data["base_prefix"]),
                path=tuple(str(p) for p in data["path"]),
                missing=frozenset(str(m) for m in data["missing"]),
            )
        except (ValueError, KeyError, IndexError, TypeError):
            last = (err.strip().splitlines() or ["no answer"])[-1]
            raise ProbeError(
                f"{self.python} is not a working Python 3 (exit code {self._proc.returncode}: {last})"
            ) from None

    def cancel(self) -> None:
        """Stop it if it still runs; remove its folder."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.communicate()
        if self._cwd:
            shutil.rmtree(self._cwd, ignore_errors=True)


_early: dict[str, Asking] = {}
_early_lock = threading.Lock()


def start_early(python: str) -> None:
    """Start the probe of ``python`` now; ``probe`` takes it over. One not taken over is
    stopped, and its folder removed, by ``discard_early`` (also at the process's exit)."""
    with _early_lock:
        if python in _early:
            return
        atexit.unregister(discard_early)  # (registered once)
        atexit.register(discard_early)
        _early[python] = Asking(python)


def discard_early() -> None:
    """Stop the early probes that no ``probe`` took over."""
    with _early_lock:
        left = list(_early.values())
        _early.clear()
    for asking in left:
        asking.cancel()


def probe(python: str, names: Iterable[str]) -> Probe:
    """Run the probe (or finish one ``start_early`` started); ``ProbeError`` when the
    interpreter does not start or answer."""
    with _early_lock:
        asking = _early.pop(python, None)
    return (asking or Asking(python)).answer(names)
