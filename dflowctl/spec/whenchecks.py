"""A step's ``when``, checked at validate against what it compares.

Argo substitutes the ``{{…}}`` tags and parses the text with govaluate, where a bare
word is a string: ``{{steps.check.outputs.parameters.even}} == True`` compares
``true`` with the string ``"True"`` and is always false. So: the text must parse
(each tag standing for one word), and a ``bool`` value (an output parameter, an
input or a workflow parameter declared ``bool``) is compared with ``true``/``false``,
never with Python's ``True``/``False``. References that do not resolve are reported
by ``spec.resolve``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from dflowctl.spec import model as m
from dflowctl.spec.checkbase import Body
from dflowctl.spec.refs import TAG, Ref, find_refs

PLACEHOLDER = "value"  # what a tag stands for while parsing: one bare word
_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")
_PYTHON_BOOL = re.compile(r"(?<![\w.])(True|False)(?![\w.])")


def declared_type(ref: Ref, wf: m.Workflow, body: Body) -> str | None:
    """The declared type of the parameter ``ref`` names, when it names one."""
    parts = ref.parts
    if len(parts) == 5 and parts[0] in ("steps", "tasks") and parts[2:4] == ("outputs", "parameters"):
        step = body.steps.get(parts[1])
        op = wf.ops.get(step.op) if step is not None else None
        param = next((p for p in op.outputs_parameters if p.name == parts[4]), None) if op else None
        return param.type if param is not None else None
    if len(parts) == 3 and parts[:2] == ("inputs", "parameters") and body.owner is not None:
        param = body.owner.input_param(parts[2])
        return param.type if param is not None else None
    if len(parts) == 3 and parts[:2] == ("workflow", "parameters"):
        param = wf.param(parts[2])
        return param.type if param is not None else None
    return None


def when_problems(text: str, wf: m.Workflow, body: Body) -> Iterator[tuple[str, str, str | None]]:
    """(text to point at, message, hint) for each problem of the ``when`` ``text``."""
    from dflowctl.expr.govaluate import parse_when
    from dflowctl.expr.values import ExprError

    bare = TAG.sub(PLACEHOLDER, text)
    if bare.strip():
        try:
            parse_when(bare)
        except ExprError as err:
            yield (
                text.strip()[:1] or text,
                f"`when` does not parse: {err.message}",
                "Argo reads it with govaluate once the tags are substituted: "
                'quote text with spaces, e.g. "{{…}}" == "a b"',
            )
            return
    bools = [(text.find(r.text), r.text) for r in find_refs(text) if declared_type(r, wf, body) == "bool"]
    if not bools:
        return
    blanked = _QUOTED.sub(_blank, TAG.sub(_blank, text))
    for match in _PYTHON_BOOL.finditer(blanked):
        word = match.group(1)
        before = [ref for at, ref in bools if at < match.start()]
        compared = before[-1] if before else bools[0][1]
        yield (
            word,
            f"`when` compares the bool {compared} with {word} the Python way: Argo writes booleans "
            f"as {word.lower()} and reads {word} as the text '{word}'",
            f"write {word.lower()}",
        )


def _blank(match: re.Match[str]) -> str:
    return " " * len(match.group(0))
