"""Ask an interpreter, once, what it is and which of some modules it can import.

One ``python -c`` subprocess per interpreter: ``importlib.util.find_spec`` over
the top-level module names (nothing is imported), answered as JSON with the
interpreter's version, prefixes and ``sys.path``. It runs as a pod would start
it: the host's environment without ``PYTHON*`` variables, in an empty folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass

PROBE_TIMEOUT = 60.0

_CODE = """
import importlib.util, json, sys
if sys.path and sys.path[0] == "":
    del sys.path[0]
missing = []
for name in json.loads(sys.argv[1]):
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


def probe(python: str, names: Iterable[str]) -> Probe:
    """Run the probe; ``ProbeError`` when the interpreter does not start or answer."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    asked = sorted(set(names))
    with tempfile.TemporaryDirectory(prefix="dflowctl-probe-") as cwd:
        try:
            proc = subprocess.run(
                [python, "-c", _CODE, json.dumps(asked)],
                capture_output=True,
                text=True,
                timeout=PROBE_TIMEOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=cwd,
            )
        except subprocess.TimeoutExpired:
            raise ProbeError(f"{python} did not answer within {PROBE_TIMEOUT:.0f} s") from None
        except OSError as exc:
            raise ProbeError(f"cannot run {python}: {exc.strerror or exc}") from None
    try:
        data = json.loads(proc.stdout.strip().splitlines()[-1])
        return Probe(
            python=python,
            executable=str(data["executable"] or python),
            version=str(data["version"]),
            prefix=str(data["prefix"]),
            base_prefix=str(data["base_prefix"]),
            path=tuple(str(p) for p in data["path"]),
            missing=frozenset(str(m) for m in data["missing"]),
        )
    except (ValueError, KeyError, IndexError, TypeError):
        last = (proc.stderr.strip().splitlines() or ["no answer"])[-1]
        raise ProbeError(
            f"{python} is not a working Python 3 (exit code {proc.returncode}: {last})"
        ) from None
