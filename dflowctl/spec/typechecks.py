"""The shape of a value wired into an input parameter: a foreach step's output is the
fan-in of its items (a JSON list), any other step's output one value of its type.
Also: does an Argo (expr-lang) expression parse (``expression_problem``).

Checked for values that are exactly one ``{{steps|tasks.S.outputs.parameters.P}}``
reference: a fan-in into an input declared ``int``/``float``/``bool``/``dict``, or a
single non-list value into an input declared ``list`` or ``list[...]``, is an error with the step
input's position. ``str`` and ``any`` inputs take either (the text as it comes).
"""

from __future__ import annotations

from dflowctl.spec import model as m
from dflowctl.spec.checkbase import Body
from dflowctl.spec.refs import single_ref
from dflowctl.spec.values import is_list_type

SCALARS = ("int", "float", "bool", "dict")
TAKES_ANY = ("str", "any")


def wired_shape_problem(
    wf: m.Workflow, body: Body, step: m.Step, op: m.Op, name: str, value: object
) -> tuple[str, str] | None:
    """(message, hint) when input ``name`` of ``step`` gets a value of the wrong shape."""
    decl = op.input_param(name)
    if decl is None or decl.type in TAKES_ANY or not isinstance(value, str):
        return None
    ref = single_ref(value)
    if ref is None or len(ref.parts) != 5 or ref.parts[0] not in ("steps", "tasks"):
        return None
    if ref.parts[2:4] != ("outputs", "parameters"):
        return None
    producer = body.steps.get(ref.parts[1])
    producer_op = wf.ops.get(producer.op) if producer is not None else None
    out = producer_op.output_param(ref.parts[4]) if producer_op is not None else None
    if producer is None or out is None:
        return None  # reported by spec.resolve
    who = f"input `{name}` of {body.word} `{step.name}`"
    if producer.foreach is not None and decl.type in SCALARS:
        return (
            f"{who} is {decl.shape or decl.type}, but `{ref.text}` is the fan-in of foreach {body.word} "
            f"`{producer.name}`: a list with one {out.type} per item",
            f"declare `{name}: list` in op `{op.name}` (the items in order), or fan this step out too",
        )
    if producer.foreach is None and is_list_type(decl.type) and not is_list_type(out.type):
        if out.type in TAKES_ANY:
            return None
        return (
            f"{who} is {decl.shape or decl.type}, but `{ref.text}` is one {out.type} "
            f"({body.word} `{producer.name}` has no foreach)",
            f"declare `{name}: {out.type}` in op `{op.name}`, or wire the output of a foreach {body.word}",
        )
    return None


def expression_problem(text: str) -> str | None:
    """Why ``text`` is not an Argo (expr-lang) expression, or ``None`` when it parses."""
    from dflowctl.expr.parser import parse
    from dflowctl.expr.values import ExprError

    if "{{" in text:
        return "it holds a {{…}} tag; write the names bare, e.g. steps.check.outputs.result"
    try:
        parse(text)
    except ExprError as err:
        return err.message
    except RecursionError:
        return "the expression is nested too deeply"
    return None
