"""A seeded mutator over specs, parameter files and Argo files, and the worker that
feeds its cases to the real CLI entry point (``dflowctl.cli.main``) in one process.

``python -m tests.fuzz SEED CASES`` prints one JSON line per case: the command, the
exit code, whether a traceback or an internal error was printed, and the seconds it
took. ``tests/test_fuzz.py`` runs it under a memory cap and checks every line.
"""

from __future__ import annotations

import io
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("DFLOWCTL_SHARED", REPO.parent / "shared")).resolve()
ARGO_EXAMPLES = SHARED / "reference" / "argo" / "examples"

PARAMS_SPEC = """\
apiVersion: dflowctl/v1alpha1
kind: Workflow
metadata: {name: fuzz}
spec:
  parameters:
    s: {type: str, default: x}
    n: {type: int, default: 1}
    f: {type: float, default: 1.5}
    b: {type: bool, default: true}
    l: {type: list, default: []}
    d: {type: dict, default: {}}
    a: {type: any, default: 1}
  ops:
    o: {image: alpine:3.20, script: "echo {{inputs.parameters.v}}", inputs: {parameters: {v: any}}}
  steps:
    - name: s
      op: o
      parameters: {v: "{{workflow.parameters.a}}"}
"""
PARAM_FILES = [
    "s: hello\nn: 3\nf: 2.5\nb: false\nl: [1, 2]\nd: {k: v}\na: [x, {y: 1}]\n",
    '{"n": 2, "l": [1, [2, [3]]], "d": {"a": {"b": null}}}\n',
]
HOSTILE = [
    "&a",
    "*a",
    "<<: *a",
    "&a [*a]",
    "[",
    "]",
    "{",
    "}",
    ": ",
    "- ",
    "\t",
    "~",
    "?",
    "|",
    ">-",
    "!!binary x",
    "!!python/object:os.system x",
    "!!int x",
    "!!float",
    "1e999",
    "-1e999",
    ".nan",
    ".inf",
    "9" * 4400,
    "0x" + "f" * 4400,
    "{{",
    "}}",
    "{{=",
    "{{inputs.parameters.}}",
    "{{steps..outputs}}",
    "\x00",
    "\x1b[31m",
    "\ufeff",
    "'",
    '"',
    "---",
    "...",
    "%YAML 1.1",
    "# c",
    "\u2028",
    "é",
    "\U0001f600",
    "null",
    "true",
    "0o17",
    "1_000",
    "2026-01-01",
    "::",
    "@",
    "`",
    "%",
    "a" * 300,
    "[" * 200 + "]" * 200,
    "{a: " * 150 + "}" * 150,
    "../../etc",
    "/proc/self/environ",
    "http://u:p@h",
    "-1",
    "999999999999999999999h",
    "5μs",
    "NaN",
]
HOSTILE_VALUES = [
    "",
    " ",
    "1",
    "-0",
    "1.5",
    "1e400",
    "nan",
    "inf",
    "-inf",
    "true",
    "TRUE",
    "null",
    "[]",
    "{}",
    "[1,",
    "[" * 500 + "]" * 500,
    "9" * 5000,
    '{"a": ' * 300 + "1" + "}" * 300,
    "[&a [*a]]",
    "{<<: *a}",
    "&a [1]",
    "[1, .nan]",
    "[1, 2]",
    '{"k": "v"}',
    "x=y",
    "\x00",
    "\x1b]0;t\x07",
    "é",
    "0x10",
    "1_0",
]


def mutate(text: str, rng: random.Random) -> str:
    """One to three random edits: drop, duplicate, swap, re-indent or cut lines; put a
    hostile token somewhere; replace a scalar after a colon."""
    lines = text.split("\n")
    for _ in range(rng.randint(1, 3)):
        if not lines:
            lines = [""]
        i = rng.randrange(len(lines))
        op = rng.randrange(8)
        if op == 0:
            del lines[i]
        elif op == 1:
            lines.insert(i, lines[i])
        elif op == 2:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == 3:
            lines[i] = " " * rng.choice((0, 1, 2, 3, 4, 8)) + lines[i].lstrip()
        elif op == 4:
            lines = lines[: i + 1]
            lines[-1] = lines[-1][: rng.randrange(len(lines[-1]) + 1)]
        elif op == 5:
            line = lines[i]
            at = rng.randrange(len(line) + 1)
            lines[i] = line[:at] + rng.choice(HOSTILE) + line[at:]
        elif op == 6 and ": " in lines[i]:
            head = lines[i].split(": ", 1)[0]
            lines[i] = f"{head}: {rng.choice(HOSTILE)}"
        else:
            lines.insert(i, rng.choice(HOSTILE))
    return "\n".join(lines)


def seeds() -> list[tuple[str, str]]:
    """(kind, text): the project's specs, the valid test specs, parameter files and
    Argo's examples (when ../shared is there)."""
    out: list[tuple[str, str]] = []
    for path in sorted((REPO / "specs").glob("*.yaml")) + sorted((REPO / "tests/data/valid").glob("*.yaml")):
        out.append(("spec", path.read_text(encoding="utf-8")))
    out.extend(("params", text) for text in PARAM_FILES)
    for path in sorted(ARGO_EXAMPLES.glob("*.yaml")) if ARGO_EXAMPLES.is_dir() else []:
        text = path.read_text(encoding="utf-8", errors="replace")
        if len(text) < 20_000:
            out.append(("argo", text))
    return out


def cases(seed: int, count: int) -> Iterator[tuple[str, str]]:
    """``count`` mutated cases (kind, text), and ``-p`` values as kind ``p``."""
    rng = random.Random(seed)
    pool: dict[str, list[str]] = {}
    for kind, text in seeds():
        pool.setdefault(kind, []).append(text)
    weights = {"p": 0.15, "params": 0.1, "spec": 0.4, "argo": 0.35 if "argo" in pool else 0.0}
    kinds = list(weights)
    for _ in range(count):
        kind = rng.choices(kinds, [weights[k] for k in kinds])[0]
        if kind == "p":
            yield "p", f"{rng.choice('snfbld' + 'a')}={rng.choice(HOSTILE_VALUES + HOSTILE)}"
        else:
            yield kind, mutate(rng.choice(pool[kind]), rng)


def run(argv: list[str], main: Callable[[list[str]], int]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    return code, err.getvalue()


def worker(seed: int, count: int) -> None:
    from dflowctl.cli import main

    with tempfile.TemporaryDirectory(prefix="dflowctl-fuzz-") as tmp:
        folder = Path(tmp)
        # spec files may name ./ops (source:) and data next to them, as the seeds do
        for sub in ("ops", "data"):
            for base in (REPO / "specs", REPO / "tests/data/valid"):
                if (base / sub).is_dir() and not (folder / sub).exists():
                    (folder / sub).symlink_to(base / sub)
        params_spec = folder / "params-spec.yaml"
        params_spec.write_text(PARAMS_SPEC, encoding="utf-8")
        for n, (kind, text) in enumerate(cases(seed, count)):
            path = folder / f"case-{n}.yaml"
            if kind != "p":
                path.write_text(text, encoding="utf-8", errors="surrogatepass")
            if kind == "p":
                commands = [["render", str(params_spec), "-p", text]]
            elif kind == "params":
                commands = [["render", str(params_spec), "--parameter-file", str(path)]]
            else:
                commands = [["validate", str(path)], ["render", str(path), "-o", "json"]]
            for argv in commands:
                start = time.monotonic()
                code, err = run(argv, main)
                took = time.monotonic() - start
                bad = "Traceback" in err or "internal error" in err
                print(
                    json.dumps(
                        {
                            "case": n,
                            "kind": kind,
                            "argv": argv[0],
                            "code": code,
                            "bad": bad,
                            "seconds": round(took, 3),
                            "text": text[:300] if bad or code not in (0, 2) else "",
                            "stderr": err[-600:] if bad or code not in (0, 2) else "",
                        }
                    ),
                    flush=True,
                )
                if code != 0:
                    break


if __name__ == "__main__":
    worker(int(sys.argv[1]), int(sys.argv[2]))
