"""Slices: a ``foreach`` over the entries of an artifact folder, ``group``/``pool``, and a
step's phase decided by its items (``continue_on.success_ratio``/``success_number``).

Such a step renders as a wrapper steps template (like a ``parallelism`` wrapper,
``render.wrappers``) holding, in order:

1. ``dflowctl-entries`` (``foreach.entries`` only): one pod that lists the folder
   and lays the entries out as ``<i>/`` folders (``<g>/<i>/`` with ``group``) in a
   non-archived artifact; its output ``items`` is the loop's ``withParam``
   (``{i, path, name}`` per item, or ``{g, path, first, count}`` per group pod);
2. the loop: each item's sliced input artifact is ``from`` that artifact with
   ``subPath: "{{item.path}}"`` (one entry, or one group's entries); a grouped
   op's pods run the group runner (render/bootgroup.py);
3. ``dflowctl-check`` (``success_ratio``/``success_number`` only): the loop goes on
   past failed items (``continueOn``), and this pod sums the items' ``dflowctl-ok``
   outputs from Argo's aggregated ``outputs.parameters`` and fails when too few
   succeeded (Argo's ``continueOn`` knows only failed/error; dflow does the same).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any

from dflowctl.render.leaf import DEFAULT_IMAGE, ROOT
from dflowctl.spec import model

ENTRIES_STEP = "dflowctl-entries"
CHECK_STEP = "dflowctl-check"
SLICES_ARTIFACT = "dflowctl-slices"
COUNT_OUTPUT = "dflowctl-count"  # a wrapper's output: how many entries (items) the folder had
ENUMERATE_STEP = "dflowctl-enumerate"
INDEX_KEY = "dflowctl-i"  # paired items: {dflowctl-i: index, dflowctl-v: the item as {{item}} shows it}
VALUE_KEY = "dflowctl-v"
INDEX_TAG = f"{{{{item.{INDEX_KEY}}}}}"
_ITEM_TAG = re.compile(r"\{\{\s*item\s*\}\}")


@cache
def _script(name: str) -> str:
    text = resources.files("dflowctl.render").joinpath(name).read_text(encoding="utf-8")
    if "{{" in text or "}}" in text:  # Argo would substitute it
        raise RuntimeError(f"render/{name} must not contain double braces")
    return text


def entries_template(name: str) -> dict[str, Any]:
    """The pod that turns a folder into the loop's items (render/split_entries.py)."""
    return {
        "name": name,
        "inputs": {
            "parameters": [{"name": "group", "default": "0"}],
            "artifacts": [{"name": "data", "path": f"{ROOT}/inputs/artifacts/data"}],
        },
        "outputs": {
            "parameters": [
                {"name": "items", "valueFrom": {"path": f"{ROOT}/outputs/parameters/items"}},
                {"name": "count", "valueFrom": {"path": f"{ROOT}/outputs/parameters/count"}},
            ],
            "artifacts": [
                {
                    "name": SLICES_ARTIFACT,
                    "path": f"{ROOT}/outputs/artifacts/slices",
                    "archive": {"none": {}},
                }
            ],
        },
        "script": {
            "image": DEFAULT_IMAGE,
            "command": [model.PYTHON_PROGRAM],
            "env": [{"name": "DFLOWCTL_GROUP", "value": "{{inputs.parameters.group}}"}],
            "source": _script("split_entries.py"),
        },
    }


def raw_input(name: str) -> dict[str, Any]:
    """Input artifact ``name`` holding input parameter ``name``: a file, not env (whose
    strings Linux caps at 128 KiB: a long list would not start the pod)."""
    return {
        "name": name,
        "path": f"{ROOT}/inputs/artifacts/{name}",
        "raw": {"data": f"{{{{inputs.parameters.{name}}}}}"},
    }


def enumerate_template(name: str) -> dict[str, Any]:
    """The pod that pairs a ``foreach.param`` list's items with their indices
    (render/enumerate_items.py)."""
    return {
        "name": name,
        "inputs": {"parameters": [{"name": "list"}], "artifacts": [raw_input("list")]},
        "outputs": {
            "parameters": [
                {"name": "items", "valueFrom": {"path": f"{ROOT}/outputs/parameters/items"}},
                {"name": "count", "valueFrom": {"path": f"{ROOT}/outputs/parameters/count"}},
            ]
        },
        "script": {
            "image": DEFAULT_IMAGE,
            "command": [model.PYTHON_PROGRAM],
            "source": _script("enumerate_items.py"),
        },
    }


def check_template(name: str) -> dict[str, Any]:
    """The pod that decides a loop's phase from its items (render/check_items.py)."""
    env = [
        {"name": "DFLOWCTL_TOTAL", "value": "{{inputs.parameters.total}}"},
        {"name": "DFLOWCTL_RATIO", "value": "{{inputs.parameters.ratio}}"},
        {"name": "DFLOWCTL_NUMBER", "value": "{{inputs.parameters.number}}"},
    ]
    return {
        "name": name,
        "inputs": {
            "parameters": [
                {"name": "outputs", "default": "[]"},
                {"name": "total"},
                {"name": "ratio", "default": ""},
                {"name": "number", "default": ""},
            ],
            "artifacts": [raw_input("outputs")],
        },
        "script": {
            "image": DEFAULT_IMAGE,
            "command": [model.PYTHON_PROGRAM],
            "env": env,
            "source": _script("check_items.py"),
        },
    }


def paired(step: model.Step, op: model.Op) -> bool:
    """An ``items``/``param`` loop of a leaf op whose items must know their index (its
    artifacts fan in by index; a Python op's outputs align): the loop goes over
    ``{dflowctl-i, dflowctl-v}`` pairs (a map item keeps its keys), ``{{item}}`` becomes
    ``{{item.dflowctl-v}}``. Literal items are paired here; a ``param`` list by the
    ``dflowctl-enumerate`` pod (the list goes to that one pod, each item gets its pair)."""
    fe = step.foreach
    if fe is None or fe.kind not in ("items", "param") or op.composite:
        return False
    outputs = bool(op.outputs_artifacts) or (op.kind == "python" and bool(op.outputs_parameters))
    return outputs or by_items(step)


def paired_items(items: Sequence[Any]) -> list[dict[str, Any]]:
    from dflowctl.expr.items import item_scope

    out = []
    for i, value in enumerate(items):
        keys = {str(k): v for k, v in value.items()} if isinstance(value, Mapping) else {}
        out.append({**keys, INDEX_KEY: i, VALUE_KEY: item_scope(value)["item"]})
    return out


def own_item(text: str) -> str:
    """``{{item}}`` of a paired loop: the pair's value."""
    return _ITEM_TAG.sub(f"{{{{item.{VALUE_KEY}}}}}", text)


def paired_loop(fe: model.Foreach) -> dict[str, Any]:
    if fe.kind == "items":
        return {"withItems": paired_items(fe.items or ())}
    return {"withParam": f"{{{{steps.{ENUMERATE_STEP}.outputs.parameters.items}}}}"}


def by_items(step: model.Step) -> bool:
    return step.foreach is not None and step.continue_on is not None and step.continue_on.by_items


def needs_slices(step: model.Step, op: model.Op) -> bool:
    """Does the step render as a wrapper (entries, a phase decided by items, a paired
    ``param`` loop)?"""
    fe = step.foreach
    if fe is None:
        return False
    return fe.kind == "entries" or by_items(step) or (fe.kind == "param" and paired(step, op))


def grouped(step: model.Step) -> bool:
    fe = step.foreach
    return fe is not None and fe.kind == "entries" and bool(fe.group)


def item_total(step: model.Step) -> str | None:
    """How many items the loop has, as the check step's ``total``: a number, a
    reference, or the loop's JSON list (``param``); None when unknown at render."""
    fe = step.foreach
    if fe is None:
        return None
    if fe.kind == "entries":
        return f"{{{{steps.{ENTRIES_STEP}.outputs.parameters.count}}}}"
    if fe.kind == "items":
        return str(len(fe.items or ()))
    if fe.kind == "param":  # paired (by_items): the enumerate pod counted them
        return f"{{{{steps.{ENUMERATE_STEP}.outputs.parameters.count}}}}"
    if fe.count is not None:
        return str(fe.count)
    if isinstance(fe.start, int) and isinstance(fe.end, int):
        return str(abs(fe.end - fe.start) + 1)
    return None


def check_arguments(step: model.Step, loop: str, total: str) -> list[dict[str, Any]]:
    cont = step.continue_on
    assert cont is not None
    params = [
        {"name": "outputs", "value": f"{{{{steps.{loop}.outputs.parameters}}}}"},
        {"name": "total", "value": total},
    ]
    if cont.success_ratio is not None:
        params.append({"name": "ratio", "value": repr(float(cont.success_ratio))})
    else:
        params.append({"name": "number", "value": str(cont.success_number or 0)})
    return params
