"""Before a local run starts: the interpreter of every Python template, and what it must import.

``plan`` applies the rule (``choose``) to each leaf template whose program is a
Python (``python``, ``python3``, ``python3.N`` by name), reads what the op
imports (``imports``), asks each interpreter once (``probe``) and either
returns ``{template name: Interpreter}`` or raises one ``SpecError`` listing
every op that cannot run: a module its interpreter lacks, or an environment
that has no interpreter.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dflowctl.engines.local import images
from dflowctl.engines.local.interpreter import Interpreter
from dflowctl.errors import Diagnostic, Location, SpecError
from dflowctl.pyenv.choose import Choice, ChoiceError, Context, choose
from dflowctl.pyenv.imports import op_imports, script_imports
from dflowctl.pyenv.probe import Probe, ProbeError, discard_early, probe
from dflowctl.spec.model import Op

OLDEST = (3, 8)  # the bootstrap and the pod starter (render/bootstrap.py, engines/local/_podserver.py)
FIX = "a `python:` image mapping in the config file, or --python"


@dataclass(frozen=True)
class _Need:
    template: str
    what: str  # "op 'fit'" or "template 'fit'"
    loc: Location | None
    choice: Choice
    modules: frozenset[str]


def python_program(template: Mapping[str, Any], path: str) -> tuple[str, list[str]] | None:
    """(the Python program by name, argv) when a leaf template runs a Python found on ``PATH``."""
    kind = "script" if "script" in template else "container" if "container" in template else None
    if kind is None or not isinstance(template[kind], Mapping):
        return None
    try:
        argv = images.argv_for(kind, template[kind], "/argo/staging/script")
    except images.CommandError:
        return None
    argv = images.host_program(argv, path)
    if not argv or "/" in argv[0] or not images.is_python(argv[0]):
        return None
    return argv[0], argv


def plan(
    manifest: Mapping[str, Any],
    ctx: Context,
    template_ops: Mapping[str, str] | None = None,
    ops: Mapping[str, Op] | None = None,
) -> dict[str, Interpreter]:
    """The interpreter of each Python template of ``manifest``; ``SpecError`` when one cannot run.

    ``template_ops``/``ops``: for a spec, which op each template runs and the ops
    (their ``local:``, module and source folder); empty for an Argo Workflow file.
    """
    template_ops, ops = template_ops or {}, ops or {}
    path = ctx.env("PATH") or os.defpath
    needs: list[_Need] = []
    diags: list[Diagnostic] = []
    for tmpl in (manifest.get("spec") or {}).get("templates") or []:
        if not isinstance(tmpl, Mapping):
            continue
        found = python_program(tmpl, path)
        if found is None:
            continue
        program, argv = found
        name = str(tmpl.get("name", ""))
        op = ops.get(template_ops.get(name, ""))
        what = f"op '{op.name}'" if op is not None else f"template '{name}'"
        body = tmpl.get("script") or tmpl.get("container") or {}
        try:
            choice = choose(op.local if op else None, body.get("image"), program, ctx)
        except ChoiceError as err:
            loc = (op.local.loc if op.local else op.loc) if op is not None else None
            diags.append(Diagnostic(f"{what}: no Python to run it: {err}", loc))
            continue
        needs.append(_Need(name, what, op.loc if op else None, choice, frozenset(_modules(tmpl, op, argv))))
    probes: dict[str, Probe] = {}
    wanted: dict[str, set[str]] = {}
    for need in needs:
        wanted.setdefault(need.choice.python, set()).update(need.modules)
    for python, names in wanted.items():
        try:
            probes[python] = probe(python, names)
        except ProbeError as err:
            whos = sorted({n.what for n in needs if n.choice.python == python})
            diags.append(Diagnostic(f"{', '.join(whos)}: {err}"))
    discard_early()  # one started for an interpreter no op chose
    out: dict[str, Interpreter] = {}
    reported: set[tuple[str, str]] = set()
    for need in needs:
        pr = probes.get(need.choice.python)
        if pr is None:
            continue
        if _too_old(pr.version):
            if (need.what, "") not in reported:
                reported.add((need.what, ""))
                oldest = ".".join(map(str, OLDEST))
                diags.append(
                    Diagnostic(
                        f"{need.what}: {need.choice.python} (chosen by {need.choice.how}) is Python "
                        f"{pr.version}; the local engine runs Python ops with Python >= {oldest}",
                        need.loc,
                    )
                )
            continue
        for module in sorted(need.modules & pr.missing):
            if (need.what, module) not in reported:
                reported.add((need.what, module))
                diags.append(Diagnostic(_missing(need, module, pr), need.loc))
        python = pr.executable if os.path.isabs(pr.executable) else need.choice.python
        header = need.what.startswith("op ")  # a spec's op; an Argo file keeps Argo's logs
        out[need.template] = Interpreter(python, pr.version, need.choice.how, pr.folders(), header)
    if diags:
        raise SpecError(dict.fromkeys(diags))  # an op's variants (retry, fan-in) share its problems
    return out


def _modules(tmpl: Mapping[str, Any], op: Op | None, argv: list[str]) -> set[str]:
    if op is not None and op.kind == "python" and op.python:
        return op_imports(op.python.split(":", 1)[0], op.source)
    if "script" in tmpl:
        return script_imports(str(tmpl["script"].get("source") or ""))
    if "-c" in argv[1:-1]:
        return script_imports(argv[argv.index("-c") + 1])
    return set()


def _too_old(version: str) -> bool:
    try:
        return tuple(int(x) for x in version.split(".")[:2]) < OLDEST
    except ValueError:
        return False


def _missing(need: _Need, module: str, pr: Probe) -> str:
    return (
        f"{need.what} imports {module!r}, which {need.choice.python} (Python {pr.version}, chosen by "
        f"{need.choice.how}) cannot import: install {module} into that environment, or choose one that has "
        f"it: {'`local:` on the op, ' if need.what.startswith('op ') else ''}{FIX}"
    )
