"""Workflow parameter values from the command line: ``-p NAME=VALUE`` (repeatable)
and ``--parameter-file F`` (a YAML or JSON mapping), type-checked against the
declared parameters. ``-p`` wins over the file.

A ``-p`` value is text, read according to the declared type: ``str`` as is,
``int``/``float`` as numbers, ``bool`` as ``true``/``false``, ``list``/``dict``
as JSON (or YAML flow syntax), ``any`` as JSON when it parses, else as text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from dflowctl.errors import SpecError, UsageError
from dflowctl.spec import model as m
from dflowctl.spec.limits import MAX_DEPTH, MAX_INT_DIGITS, Limit, json_nesting, scan_yaml
from dflowctl.spec.values import TYPE_WORDS, did_you_mean, finite, fits, kind_of, listing

INT = re.compile(r"^[-+]?\d+$")


def parse_pairs(pairs: Iterable[str]) -> dict[str, str]:
    """``["a=1", "b=x=y"]`` → ``{"a": "1", "b": "x=y"}`` (split at the first ``=``)."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"-p expects NAME=VALUE, not `{pair}`", hint="e.g. -p msg=Hello")
        out[name.strip()] = value
    return out


def parse_value(param: m.Param, text: str, origin: str = "-p") -> Any:
    """The value of ``text`` for a parameter of the declared type; ``UsageError`` if it does not fit."""
    t = param.type
    value: Any
    if t == "str":
        value = text
    elif t == "int":
        if not INT.match(text.strip()):
            raise _bad(param, f"`{_clip(text)}`", origin)
        digits = len(text.strip().lstrip("+-"))
        if digits > MAX_INT_DIGITS:
            raise UsageError(
                f"{origin}: parameter `{param.name}`: "
                f"an integer of {digits} digits (at most {MAX_INT_DIGITS})"
            )
        value = int(text)
    elif t == "float":
        try:
            value = float(text)
        except ValueError:
            raise _bad(param, f"`{_clip(text)}`", origin) from None
    elif t == "bool":
        lowered = text.strip().lower()
        if lowered not in ("true", "false"):
            raise _bad(param, f"`{text}`", origin, hint="use true or false")
        value = lowered == "true"
    elif t in ("list", "dict"):
        value = _structured(param, text, origin)
        check_finite(param, value, origin)
        if not fits(value, t):
            raise _bad(param, f"`{_clip(text)}`", origin, hint='write JSON, e.g. [1, 2] or {"a": 1}')
    else:
        value = _json(param, text, origin)
        if value is _NOT_JSON:
            value = text
    check_finite(param, value, origin)
    _check_enum(param, value, origin)
    return value


_NOT_JSON = object()


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json(param: m.Param, text: str, origin: str) -> Any:
    """``text`` as JSON (NaN and Infinity are not), or ``_NOT_JSON``; within the bounds."""
    if json_nesting(text) > MAX_DEPTH:
        raise _limit(param, origin, f"nested more than {MAX_DEPTH} levels deep")
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except ValueError as err:
        if "integer string conversion" in str(err):
            raise _limit(param, origin, f"holds an integer of more than {MAX_INT_DIGITS} digits") from None
        return _NOT_JSON


def _structured(param: m.Param, text: str, origin: str) -> Any:
    value = _json(param, text, origin)
    if value is not _NOT_JSON:
        return value
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    from dflowctl.spec.load import BUILD_ERRORS

    try:
        scan_yaml(text)
        return YAML(typ="safe", pure=True).load(text)
    except Limit as err:
        raise _limit(param, origin, err.message) from None
    except (YAMLError, *BUILD_ERRORS):
        return None  # not a list or mapping: reported as such


def _limit(param: m.Param, origin: str, what: str) -> UsageError:
    return UsageError(f"{origin}: the value of parameter `{param.name}`: {what}")


def _clip(text: str, width: int = 80) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def check_finite(param: m.Param, value: Any, origin: str) -> None:
    """``UsageError`` for NaN or an infinity anywhere in ``value``."""
    if not finite(value):
        raise UsageError(
            f"{origin}: parameter `{param.name}`: {kind_of(value)}",
            hint="give a finite number",
        )


def _bad(param: m.Param, shown: str, origin: str, hint: str | None = None) -> UsageError:
    return UsageError(
        f"{origin}: parameter `{param.name}` is {param.type} ({TYPE_WORDS[param.type]}); {shown} is not",
        hint=hint,
    )


def _check_enum(param: m.Param, value: Any, origin: str) -> None:
    if param.enum and value not in param.enum:
        allowed = ", ".join(json.dumps(v) if not isinstance(v, str) else v for v in param.enum)
        raise UsageError(
            f"{origin}: parameter `{param.name}` must be one of {allowed}; not `{value}`",
            hint=did_you_mean(str(value), [str(v) for v in param.enum]),
        )


def _lookup(wf: m.Workflow, name: str, origin: str) -> m.Param:
    param = wf.param(name)
    if param is None:
        names = [p.name for p in wf.parameters]
        raise UsageError(
            f"{origin}: the workflow has no parameter `{name}`",
            hint=did_you_mean(name, names) or f"its parameters: {listing(names)}",
        )
    return param


def read_parameter_file(path: Path) -> dict[str, Any]:
    """A YAML/JSON mapping of parameter values (plain Python values)."""
    from dflowctl.spec.buildbase import plain
    from dflowctl.spec.load import load_yaml

    try:
        doc = load_yaml(path)
    except SpecError as err:
        first = err.diagnostics[0].one_line() if err.diagnostics else str(err)
        raise UsageError(f"parameter file: {first}") from None
    return {str(k): plain(v) for k, v in doc.data.items()}


def parameter_values(
    wf: m.Workflow, overrides: Mapping[str, str] | None = None, parameter_file: Path | None = None
) -> dict[str, Any]:
    """The type-checked values given for the workflow's parameters."""
    values: dict[str, Any] = {}
    if parameter_file is not None:
        origin = f"--parameter-file {parameter_file}"
        artifacts = {a.name for a in wf.artifacts}  # set in the file too: spec.runartifacts
        for name, value in read_parameter_file(Path(parameter_file)).items():
            if name in artifacts:
                continue
            param = _lookup(wf, name, origin)
            if isinstance(value, str) and param.type != "str":
                values[name] = parse_value(param, value, origin)
                continue
            check_finite(param, value, origin)
            if not fits(value, param.type):
                raise _bad(param, kind_of(value), origin)
            _check_enum(param, value, origin)
            values[name] = value
    for name, text in (overrides or {}).items():
        values[name] = parse_value(_lookup(wf, name, "-p"), text)
    return values


def apply_parameters(
    wf: m.Workflow, overrides: Mapping[str, str] | None = None, parameter_file: Path | None = None
) -> m.Workflow:
    """``wf`` with the given values as its parameters' defaults."""
    if not overrides and parameter_file is None:
        return wf
    return wf.with_parameter_values(parameter_values(wf, overrides, parameter_file))


def missing_parameters(wf: m.Workflow) -> list[str]:
    """Workflow parameters that have neither a default nor a given value."""
    return [p.name for p in wf.parameters if p.required]


def require_values(wf: m.Workflow) -> None:
    """``UsageError`` naming the first parameter that still has no value (for render/run)."""
    missing = missing_parameters(wf)
    if missing:
        raise UsageError(
            f"workflow parameter `{missing[0]}` has no value"
            + (f" (nor {', '.join(f'`{n}`' for n in missing[1:])})" if len(missing) > 1 else ""),
            hint=f"pass -p {missing[0]}=VALUE or give it a default in the spec",
        )
