"""Argo's own end-to-end test workflows on the local engine: which reach the phase Argo's tests assert.

Argo's e2e tests (``test/e2e`` of the argo-workflows Go module, which ``make
cluster-build`` downloads into the Go module cache) give workflows to the
controller as files (``Workflow("@functional/x.yaml")``) or inline (a backtick
string), then wait for a condition (``WaitForWorkflow(fixtures.ToBeSucceeded)``)
or check the phase (``assert.Equal(t, wfv1.WorkflowFailed, status.Phase)``).
This reads the ``*_test.go`` files pragmatically: each ``Workflow(...)`` source,
with the ``WorkflowTemplate``/``ClusterWorkflowTemplate`` documents the same test
creates, paired with the first workflow phase asserted after it (before the next
``Workflow(``); one without a phase assertion is left out. Each runs through the
real CLI on the local engine (``bench/conformance.py``'s runner: ``dflowctl run
FILE -o json``, a subprocess with a private ``$DFLOWCTL_HOME``, a time limit,
several at once) and is counted as reaching Argo's phase, refused (by reason),
a wrong result (listed), or a timeout/crash. The files are read where they are;
nothing of them is copied into the project.

Usage:
    python bench/argo_e2e.py [--e2e DIR] [--workers N] [--timeout S] [--list] [NAME...]
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from conformance import Actor, Outcome, only_run, run_all  # noqa: E402

_MODCACHE = Path(os.environ.get("GOMODCACHE", Path.home() / "go/pkg/mod"))
PHASES = {"Succeeded": "Succeeded", "Failed": "Failed", "Error": "Error", "Errored": "Error"}

# a Go string argument: a backtick raw string or a "double-quoted" one
_STRING = r"(`[^`]*`|\"(?:[^\"\\]|\\.)*\")"
_SOURCE = re.compile(r"\.\s*(Workflow|WorkflowTemplate|ClusterWorkflowTemplate)\(\s*" + _STRING)
_CONDITION = re.compile(r"fixtures\.(?:ToBe(Succeeded|Failed|Errored)\b|ToHavePhase\(\w+\.Workflow(\w+)\))")
_ASSERT = re.compile(
    r"assert\.Equal\(t,\s*\w+\.Workflow(?:(Succeeded|Failed|Error)|Phase\(\"(\w+)\"\)),\s*\w+\.Phase\)"
)
_ASSERT_SET = re.compile(r"assert\.Contains\(t,\s*\[\]\w+\.WorkflowPhase\{([^}]*)\},\s*\w+\.Phase\)")
_TEST = re.compile(r"^func \(\w+ \*\w+\) (Test\w+)\(\)", re.M)
# When().CreateConfigMap("name", map[string]string{"k": "v"}, labels): a ConfigMap the cluster holds
_CONFIGMAP = re.compile(r"CreateConfigMap\(\s*\"([^\"]+)\",\s*map\[string\]string\{([^}]*)\}")
_PAIR = re.compile(r"\"((?:[^\"\\]|\\.)*)\"\s*:\s*\"((?:[^\"\\]|\\.)*)\"")

# Where the e2e tests of this module (v4.0.5) assert what later Argo changed, or what
# depends on the cluster rather than on the workflow: not counted as wrong, listed apart.
# What only the cluster decides is refused, not listed here
# (TestWorkflowInvalidServiceAccountError: the executor's service account;
# TestWorkflowFailedWhenAllPodSetFailedFromPending: a 2 s pod deadline).
DIFFERENCES: dict[str, str] = {
    "functional_test.TestDAGOmittedOutputRef": "v4.0.x flattens a defaultless output of an Omitted "
    "task to ''; the engine follows Argo's later terminal error (TestDAGOmittedOutputRefTerminalError "
    "of Argo's main branch): its consumer errors",
    "functional_test.TestDAGSkippedOutputRef": "the same for a Skipped task",
}


@dataclass
class Case:
    """One asserted workflow: where it is, its YAML, what the cluster holds for it, the
    phases Argo's test accepts, and what the test does meanwhile (``Action``s)."""

    name: str
    source: str
    text: str
    phases: frozenset[str]
    templates: list[str] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)


@dataclass
class Action:
    """A wait (``until``: a predicate on the run's record) or a CLI call (``argv`` of
    dflowctl, ``NAME`` standing for the run)."""

    until: Callable[[dict[str, Any]], bool] | None = None
    argv: list[str] = field(default_factory=list)


def _nodes(wf: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(((wf.get("status") or {}).get("nodes") or {}).values())


def _has(kind: str, display: str | None = None, phase: str = "Running") -> Callable[[dict[str, Any]], bool]:
    return lambda wf: any(
        (kind == "" or n.get("type") == kind)
        and (display is None or n.get("displayName") == display)
        and n.get("phase") == phase
        for n in _nodes(wf)
    )


# what a test does between submitting and asserting, as dflowctl does it
_ACT = re.compile(
    r"ShutdownWorkflow\(\w+\.ShutdownStrategy(?P<shutdown>Stop|Terminate)\)"
    r"|RunCli\(\[\]string\{(?P<cli>[^}]*)\}"
    r"|WaitForWorkflow\((?P<wait>fixtures\.ToHaveRunningPod|fixtures\.ToBeRunning|fixtures\.ToStart"
    r"|fixtures\.Condition\(func\(wf \*\w+\.Workflow\) \(bool, string\) \{[^}]*\}\))",
    re.S,
)


def _actions(body: str, start: int, end: int) -> list[Action]:
    out: list[Action] = []
    for m in _ACT.finditer(body, start, end):
        if m.group("shutdown"):
            out.append(
                Action(
                    argv=["stop", "NAME", *(["--terminate"] if m.group("shutdown") == "Terminate" else [])]
                )
            )
        elif m.group("wait"):
            wait = m.group("wait")
            shown = re.search(r'FindByDisplayName\("([^"]+)"\)', wait)
            if "ToHaveRunningPod" in wait:
                out.append(Action(until=_has("Pod")))
            elif "AnyActiveSuspendNode" in wait:
                out.append(Action(until=_has("Suspend")))
            elif shown and "NodeSucceeded" in wait:
                out.append(Action(until=_has("", shown.group(1), "Succeeded")))
            else:
                out.append(Action(until=lambda wf: bool(wf)))
        else:
            words = [_go_string(w) for w in re.findall(_STRING, m.group("cli"))]
            argv = _cli(words)
            if argv:
                out.append(Action(argv=argv))
    return out


def _cli(words: list[str]) -> list[str]:
    """argo's ``resume``/``node set``/``stop``/``terminate`` of the run, as dflowctl's."""
    opts = {w: words[i + 1] for i, w in enumerate(words[:-1]) if w.startswith("--")}
    node = opts.get("--node-field-selector")
    if words[:1] == ["resume"]:
        return ["resume", "NAME", *(["--node", node] if node else [])]
    if words[:2] == ["node", "set"] and node and "--output-parameter" in opts:
        return ["resume", "NAME", "--node", node, "-p", opts["--output-parameter"]]
    if words[:1] == ["stop"]:
        if node:
            return [
                "stop",
                "NAME",
                "--node",
                node,
                *(["--message", opts["--message"]] if "--message" in opts else []),
            ]
        return ["stop", "NAME"]
    if words[:1] == ["terminate"]:
        return ["stop", "NAME", "--terminate"]
    return []


def _actor(actions: Sequence[Action]) -> Actor:
    """Plays ``actions`` in order against the run (``only_run``), then stops."""

    def play(home: Path, env: Mapping[str, str], cwd: str, stop: threading.Event) -> None:
        for action in actions:
            while not stop.is_set():
                wf = only_run(home) or {}
                if action.until is None or action.until(wf):
                    break
                stop.wait(0.2)
            if stop.is_set():
                return
            if action.argv:
                while not stop.is_set() and not (wf := only_run(home) or {}):
                    stop.wait(0.2)
                name = str((wf.get("metadata") or {}).get("name", "@latest"))
                argv = [name if a == "NAME" else a for a in action.argv]
                subprocess.run(
                    [sys.executable, "-m", "dflowctl", *argv],
                    cwd=cwd,
                    env=dict(env),
                    capture_output=True,
                    timeout=60,
                    check=False,
                )

    return play


def default_e2e() -> Path:
    found = sorted(glob.glob(str(_MODCACHE / "github.com/argoproj/argo-workflows/v*@v*/test/e2e")))
    return Path(found[-1]) if found else _MODCACHE / "github.com/argoproj/argo-workflows/test/e2e"


def _go_string(literal: str) -> str:
    if literal.startswith("`"):
        return literal[1:-1]
    return bytes(literal[1:-1], "utf-8").decode("unicode_escape")


def _read(e2e: Path, literal: str) -> str | None:
    text = _go_string(literal)
    if text.startswith("@"):
        path = e2e / text[1:]
        return path.read_text(encoding="utf-8") if path.is_file() else None
    return text


def _phases_at(body: str, start: int, end: int) -> tuple[int, frozenset[str]] | None:
    """The first workflow phase asserted in ``body[start:end]``."""
    hits: list[tuple[int, frozenset[str]]] = []
    for m in _CONDITION.finditer(body, start, end):
        hits.append((m.start(), frozenset({PHASES.get(m.group(1) or m.group(2), m.group(1) or m.group(2))})))
    for m in _ASSERT.finditer(body, start, end):
        hits.append((m.start(), frozenset({PHASES.get(m.group(1) or m.group(2), m.group(1) or m.group(2))})))
    for m in _ASSERT_SET.finditer(body, start, end):
        names = re.findall(r"Workflow(Succeeded|Failed|Error)\b", m.group(1))
        hits.append((m.start(), frozenset(PHASES[n] for n in names)))
    hits = [h for h in hits if h[1] and h[1] <= set(PHASES.values())]  # not Running, Unknown
    return min(hits, key=lambda h: h[0]) if hits else None


def _with_kind(text: str) -> str:
    """An inline workflow omits apiVersion and kind (the Go fixture decodes it into a Workflow)."""
    head = "" if re.search(r"^apiVersion:", text, re.M) else "apiVersion: argoproj.io/v1alpha1\n"
    # and one given as a Workflow is decoded as one whatever its kind says (a WorkflowTemplate file)
    text = re.sub(r"^kind: *\w+ *$", "kind: Workflow", text, count=1, flags=re.M)
    head += "" if re.search(r"^kind:", text, re.M) else "kind: Workflow\n"
    return head + text.lstrip("\n")


def discover(e2e: Path) -> list[Case]:
    cases: list[Case] = []
    for go in sorted(e2e.glob("*_test.go")):
        code = go.read_text(encoding="utf-8")
        tests = list(_TEST.finditer(code))
        for i, test in enumerate(tests):
            body = code[test.end() : tests[i + 1].start() if i + 1 < len(tests) else len(code)]
            if re.search(r"\.T\(\)\.Skip\(", body):
                continue  # skipped by Argo's suite: it asserts nothing
            sources = list(_SOURCE.finditer(body))
            templates = [
                text
                for m in sources
                if m.group(1) != "Workflow" and (text := _read(e2e, m.group(2))) is not None
            ]
            templates += [_configmap(m.group(1), m.group(2)) for m in _CONFIGMAP.finditer(body)]
            workflows = [m for m in sources if m.group(1) == "Workflow"]
            for j, m in enumerate(workflows):
                end = workflows[j + 1].start() if j + 1 < len(workflows) else len(body)
                found = _phases_at(body, m.end(), end)
                text = _read(e2e, m.group(2))
                if found is None or text is None:
                    continue
                label = _go_string(m.group(2))
                where = label if label.startswith("@") else "inline"
                cases.append(
                    Case(
                        name=f"{go.stem}.{test.group(1)}" + (f"#{j + 1}" if len(workflows) > 1 else ""),
                        source=where,
                        text=_with_kind(text),
                        phases=found[1],
                        templates=[_with_kind_template(t) for t in templates],
                        actions=_actions(body, m.end(), found[0]),
                    )
                )
    return cases


def _configmap(name: str, pairs: str) -> str:
    import json

    data = {_go_string(f'"{k}"'): _go_string(f'"{v}"') for k, v in _PAIR.findall(pairs)}
    doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}
    return json.dumps(doc)  # JSON is YAML


def _with_kind_template(text: str) -> str:
    if text.lstrip().startswith("{"):
        return text
    if re.search(r"^kind:", text, re.M):
        return text
    return "apiVersion: argoproj.io/v1alpha1\nkind: WorkflowTemplate\n" + text.lstrip("\n")


def verdict(case: Case, o: Outcome) -> tuple[str, str]:
    """reached | refused | wrong | invalid | timeout | crash, with a detail."""
    if o.kind == "ran":
        if o.phase in case.phases:
            return "reached", str(o.phase)
        if case.name in DIFFERENCES:
            return "differs", f"{o.phase} (Argo {'/'.join(sorted(case.phases))}): {DIFFERENCES[case.name]}"
        return "wrong", f"{o.phase} (Argo: {'/'.join(sorted(case.phases))}) {o.message[:120]}"
    if o.kind == "refused":
        return "refused", refusal_reason(o.message)
    last = o.stderr.strip().splitlines()[-1:] or [""]
    return o.kind, (o.message or last[0])[:160]


def refusal_reason(message: str) -> str:
    """``FILE:L:C: not supported by the local engine: REASON (detail)`` -> REASON's head."""
    reason = message.split("not supported by the local engine:", 1)[-1].strip()
    return re.sub(r"\s*\(.*$", "", reason)[:100]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--e2e", type=Path, default=default_e2e())
    parser.add_argument("--workers", type=int, default=0, help="workflows at once (default: 6 per CPU)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per workflow")
    parser.add_argument("--list", action="store_true", help="only list the asserted workflows")
    parser.add_argument("names", nargs="*", help="only these (TEST or file.TEST, a prefix matches)")
    args = parser.parse_args(argv)
    if not args.e2e.is_dir():
        print(f"no Argo e2e tests at {args.e2e} (make cluster-build downloads them)", file=sys.stderr)
        return 2
    cases = [c for c in discover(args.e2e) if not args.names or any(n in c.name for n in args.names)]
    if args.list:
        for c in cases:
            acts = " ".join(" ".join(a.argv) if a.argv else "wait" for a in c.actions if a.argv) or ""
            print(f"{c.name:70s} {'/'.join(sorted(c.phases)):10s} {c.source} {acts}")
        print(f"asserted: {len(cases)}")
        return 0
    workers = args.workers or 6 * (os.cpu_count() or 1)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dflowctl-argo-e2e-") as tmp:
        paths: dict[str, Case] = {}
        for i, c in enumerate(cases):
            path = Path(tmp) / f"{i:03d}-{re.sub(r'[^A-Za-z0-9_.-]', '-', c.name)}.yaml"
            path.write_text(c.text, encoding="utf-8")
            paths[path.name] = c
        futures = run_all(
            [Path(tmp) / n for n in paths],
            workers=workers,
            timeout=lambda _n: args.timeout,
            templates={n: "\n---\n".join(c.templates) for n, c in paths.items() if c.templates},
            actors={n: _actor(c.actions) for n, c in paths.items() if any(a.argv for a in c.actions)},
        )
        counts: Counter[str] = Counter()
        reasons: Counter[str] = Counter()
        wrong: list[str] = []
        for fname, fut in sorted(futures.items()):
            case = paths[fname]
            outcome = fut.result()
            kind, detail = verdict(case, outcome)
            counts[kind] += 1
            if kind == "refused":
                reasons[detail] += 1
            if kind in ("wrong", "timeout", "crash", "invalid", "differs"):
                wrong.append(f"  {kind:8s} {case.name} [{case.source}]: {detail}")
            print(f"{case.name:70s} {kind:8s} {outcome.seconds:6.1f}s  {detail}", flush=True)
    n = len(cases)
    print()
    print(
        f"asserted: {n}  reached Argo's phase: {counts['reached']} ({100 * counts['reached'] / max(n, 1):.1f}%)"
        f"  refused: {counts['refused']}  wrong: {counts['wrong']}  known differences: {counts['differs']}"
        f"  invalid: {counts['invalid']}"
        f"  timeout: {counts['timeout']}  crash: {counts['crash']}"
    )
    if reasons:
        print("refused by reason:")
        for reason, k in reasons.most_common():
            print(f"  {k:4d}  {reason}")
    if wrong:
        print("not Argo's result:")
        print("\n".join(wrong))
    print(f"wall {time.monotonic() - started:.0f}s with {workers} at once")
    return 0


if __name__ == "__main__":
    sys.exit(main())
