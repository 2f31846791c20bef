"""Python ops checked against their code before anything runs.

For each ``python: module:callable`` op: the module file (under ``source``, else
where the interpreter that will run the op locally finds it: ``pyenv.choose``'s
rule, e.g. the op's ``local:``, the active virtualenv), the callable defined in it
(did-you-mean over the names there), and the interface read statically by
``spec.opsig``. ``inputs:`` / ``outputs:`` the spec leaves out come from the code;
where both say them, every disagreement is an error naming both places.
"""

from __future__ import annotations

import os
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dflowctl.errors import Diagnostic, Location
from dflowctl.spec import model as m
from dflowctl.spec import opsig
from dflowctl.spec.locate import Source
from dflowctl.spec.values import ENTRYPOINT, did_you_mean, parse_type, type_text, types_agree

if TYPE_CHECKING:
    from dflowctl.pyenv.choose import Context

LOOKUP_TIMEOUT = 20.0
_FIND = (
    "import importlib.util, sys\n"
    "try:\n    s = importlib.util.find_spec(sys.argv[1])\n"
    "except Exception:\n    s = None\n"
    "print(s.origin if s is not None and s.origin else '')"
)


def shown(path: Path) -> str:
    """A source file as messages show it: relative to the working directory when under it."""
    try:
        return os.path.relpath(path) if not os.path.relpath(path).startswith("..") else str(path)
    except ValueError:
        return str(path)


def op_python(op: m.Op, ctx: Context | None) -> tuple[str | None, str]:
    """The interpreter that will run ``op`` locally (``pyenv.choose``; ``ctx``: the
    settings' part of the rule, None: the starting shell's environment only) and how
    messages name it: ``python3`` (``PYTHON_PROGRAM``) when it is the one on PATH."""
    import shutil

    from dflowctl.pyenv.choose import ChoiceError, Context, choose

    try:
        chosen = choose(op.local, op.image, m.PYTHON_PROGRAM, ctx or Context())
    except ChoiceError:  # the run says why (pyenv.plan); look it up as python3 meanwhile
        return shutil.which(m.PYTHON_PROGRAM), m.PYTHON_PROGRAM
    if chosen.how == f"{m.PYTHON_PROGRAM} on PATH":
        return chosen.python, m.PYTHON_PROGRAM
    return chosen.python, f"{chosen.python} ({chosen.how})"


@cache
def interpreter_origin(module: str, python: str | None) -> str | None:
    """Where ``python`` (the interpreter of the op's local steps) finds ``module``."""
    import subprocess

    if python is None:
        return None
    try:
        out = subprocess.run(
            [python, "-c", _FIND, module],
            capture_output=True,
            text=True,
            timeout=LOOKUP_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    origin = out.stdout.strip()
    return origin if origin.endswith(".py") else None


def _module_file(root: Path, module: str) -> Path | None:
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _modules_under(root: Path) -> list[str]:
    names = [p.stem for p in root.glob("*.py") if p.stem != "__init__"]
    names += [p.parent.name for p in root.glob("*/__init__.py")]
    return sorted(names)


class _Reader:
    def __init__(self, wf: m.Workflow, src: Source, python: Context | None = None) -> None:
        self.wf = wf
        self.src = src
        self.python = python
        self.errors: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []

    def error(self, message: str, loc: Location | None, hint: str | None = None) -> None:
        self.errors.append(self.src.diagnostic(message, loc, hint))

    def warn(self, message: str, loc: Location | None, hint: str | None = None) -> None:
        self.warnings.append(self.src.diagnostic(message, loc, hint))

    def op(self, op: m.Op) -> m.Op:
        text = (op.python or "").strip()
        if not ENTRYPOINT.match(text):
            return op  # the checks report the shape
        module_name, _, attr_path = text.partition(":")
        attr = attr_path.split(".")[0]
        where = op.locs.get("python", op.loc)
        path = _module_file(op.source, module_name) if op.source is not None and op.source.is_dir() else None
        installed = False
        if path is None:
            python, named = op_python(op, self.python)
            origin = interpreter_origin(module_name, python)
            if origin is None:
                if op.source is not None and op.source.is_dir():
                    hint = did_you_mean(module_name, _modules_under(op.source))
                    self.error(
                        f"op `{op.name}`: module `{module_name}` is not in its `source` "
                        f"({shown(op.source)}) and {named} cannot import it",
                        where,
                        hint,
                    )
                    return _unknown(op)
                elif op.source is None:
                    self.warn(
                        f"op `{op.name}`: {named} here cannot find module `{module_name}`; "
                        "it must be importable where the step runs",
                        where,
                    )
                return _unknown(replace(op, uses_dflow=True))
            path, installed = Path(origin), True
        try:
            module = opsig.read_module(path.read_text(encoding="utf-8"), str(path))
        except (OSError, UnicodeDecodeError, ValueError) as err:
            self.warn(f"op `{op.name}`: cannot read {shown(path)}: {err}", where)
            return replace(op, uses_dflow=True)
        except SyntaxError as err:
            self.error(f"op `{op.name}`: {shown(path)}:{err.lineno}: {err.msg}", where)
            return _unknown(op)
        op = replace(op, uses_dflow=module.uses_dflow or installed)
        if attr not in module.defined:
            self.error(
                f"op `{op.name}`: {shown(path)} defines no `{attr}`",
                where,
                did_you_mean(attr, sorted(module.defined)),
            )
            return _unknown(op)
        node = module.defined[attr]
        import ast

        if isinstance(node, ast.ClassDef) and opsig.has_execute(node, module) is False:
            self.error(
                f"op `{op.name}`: class `{attr}` ({shown(path)}:{node.lineno}) has no `execute` method",
                where,
                "a class op is a dflow OP: `get_input_sign`, `get_output_sign` and `execute`",
            )
            return op
        if attr_path != attr:
            return op
        return self.merge(op, path, opsig.interface(module, attr))

    def merge(self, op: m.Op, path: Path, found: opsig.Interface) -> m.Op:
        changes: dict[str, Any] = {}
        where = op.locs.get("python", op.loc)
        unread: list[str] = []
        why = ""
        for side, code, problem in (
            ("inputs", found.inputs, found.input_problem),
            ("outputs", found.outputs, found.output_problem),
        ):
            declared = f"key.{side}" in op.locs
            if code is None:
                reason = f"{shown(path)}:{problem.line}: {problem}" if problem else shown(path)
                if declared:
                    unread.append(side)
                    why = why or reason
                else:
                    self.error(
                        f"op `{op.name}` has no `{side}:` and its code does not say them ({reason})",
                        where,
                        f"declare `{side}:` in the spec",
                    )
                    if side == "inputs":
                        op = _unknown(op)
                continue
            if code.unnamed is not None:
                self.unnamed(op, path, code, declared)
                continue
            if declared:
                self.compare(op, side, path, code)
            else:
                changes.update(_from_code(op, side, code))
        if unread:  # once per op
            self.warn(
                f"op `{op.name}`: the {' and '.join(unread)} cannot be read from the code ({why})", where
            )
        return replace(op, **changes) if changes else op

    def unnamed(self, op: m.Op, path: Path, code: opsig.Side, declared: bool) -> None:
        """A function returning one bare value: the spec names the one output."""
        slot = code.unnamed
        assert slot is not None
        at = f"{shown(path)}:{slot.line}"
        names = [*(p.name for p in op.outputs_parameters), *(a.name for a in op.outputs_artifacts)]
        if not declared:
            return  # the value is not kept
        if len(names) != 1:
            self.error(
                f"op `{op.name}` returns one value ({at}, `{code.what}`), so its spec must name "
                f"exactly one output, not {len(names)}",
                op.locs.get("key.outputs", op.locs.get("python", op.loc)),
                "e.g. `outputs: {parameters: {result: int}}`",
            )
            return
        kind = "parameter" if op.outputs_parameters else "artifact"
        if slot.kind != kind:
            loc = (op.outputs_parameters or op.outputs_artifacts)[0].loc  # type: ignore[attr-defined]
            self.error(
                f"output `{names[0]}` of op `{op.name}` is {_a(kind)} here but {_a(slot.kind)} in {at}", loc
            )
        elif kind == "parameter":
            p = op.outputs_parameters[0]
            if not types_agree(parse_type(p.shape or p.type) or opsig.ANY, slot.type):
                self.error(
                    f"output parameter `{p.name}` of op `{op.name}` is {p.shape or p.type} here "
                    f"but {type_text(slot.type)} in {at}",
                    p.locs.get("type", p.loc),
                )

    def compare(self, op: m.Op, side: str, path: Path, code: opsig.Side) -> None:
        params = op.inputs_parameters if side == "inputs" else op.outputs_parameters
        arts = op.inputs_artifacts if side == "inputs" else op.outputs_artifacts
        one = side[:-1]
        there = f"{shown(path)}:{code.line} (`{code.what}`)"
        spec_names: dict[str, tuple[str, Location | None]] = {p.name: ("parameter", p.loc) for p in params}
        spec_names.update({a.name: ("artifact", a.loc) for a in arts})
        for name, (kind, loc) in spec_names.items():
            slot = code.slots.get(name)
            if slot is None:
                self.error(
                    f"{one} {kind} `{name}` of op `{op.name}` is not in its code: {there} "
                    f"declares {_names(code)}",
                    loc,
                    did_you_mean(name, list(code.slots)),
                )
                continue
            at = f"{shown(path)}:{slot.line}"
            if slot.kind != kind:
                self.error(
                    f"{one} `{name}` of op `{op.name}` is {_a(kind)} here but {_a(slot.kind)} in {at}", loc
                )
                continue
            if kind == "parameter":
                spec_param = next(p for p in params if p.name == name)
                mine = parse_type(spec_param.shape or spec_param.type) or opsig.ANY
                if not types_agree(mine, slot.type):
                    self.error(
                        f"{one} parameter `{name}` of op `{op.name}` is {type_text(mine)} here "
                        f"but {type_text(slot.type)} in {at}",
                        spec_param.locs.get("type", loc),
                    )
        for name, slot in code.slots.items():
            if name not in spec_names:
                self.error(
                    f"op `{op.name}` has no {one} `{name}`, but {shown(path)}:{slot.line} declares it "
                    f"({slot.kind})",
                    op.locs.get(f"key.{side}", op.loc),
                    did_you_mean(name, list(spec_names)),
                )


def _a(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def _unknown(op: m.Op) -> m.Op:
    """Its code was not found: the steps' parameters cannot be checked against it."""
    where = op.locs.get("python") or op.loc
    if "key.inputs" in op.locs or where is None:
        return op
    return replace(op, locs={**op.locs, "unknown-interface": where})


def _names(code: opsig.Side) -> str:
    return ", ".join(f"`{n}`" for n in code.slots) if code.slots else "nothing"


def _spec_type(t: Any) -> str:
    return t[0] if isinstance(t, tuple) else "any"


def _from_code(op: m.Op, side: str, code: opsig.Side) -> dict[str, Any]:
    """The spec's inputs/outputs as the code declares them (positions: the op's `python`)."""
    loc = op.locs.get("python", op.loc)
    params = tuple(
        m.Param(
            s.name,
            type=_spec_type(s.type),  # type: ignore[arg-type]
            shape=type_text(s.type) if s.type[1] else None,
            default=m.MISSING if s.default is opsig.NO_DEFAULT else s.default,
            nullable=side == "inputs" and s.default is None,
            loc=loc,
        )
        for s in code.slots.values()
        if s.kind == "parameter"
    )
    arts = tuple(
        m.ArtifactDecl(s.name, optional=s.optional, loc=loc, many=side == "outputs" and s.type[0] == "list")
        for s in code.slots.values()
        if s.kind == "artifact"
    )
    return {f"{side}_parameters": params, f"{side}_artifacts": arts}


def apply_code(
    wf: m.Workflow, src: Source, python: Context | None = None
) -> tuple[m.Workflow, list[Diagnostic], list[Diagnostic]]:
    """``wf`` with Python ops' interfaces completed from their code; (model, errors, warnings).
    ``python``: the settings' part of the rule for which Python runs an op (``pyenv.choose``)."""
    if not any(op.kind == "python" for op in wf.ops.values()):
        return wf, [], []
    reader = _Reader(wf, src, python)
    ops = {name: reader.op(op) if op.kind == "python" else op for name, op in wf.ops.items()}
    return replace(wf, ops=ops), reader.errors, reader.warnings
