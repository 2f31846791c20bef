"""A fast path for loading large YAML files: libyaml's C composer (through
PyYAML's ``CSafeLoader``) builds the node tree, and this module turns it into
the same ruamel ``CommentedMap``/``CommentedSeq`` tree with the same positions
that ruamel's (pure Python, ~15x slower) round-trip loader makes.

It only answers when it is sure to agree with ruamel: YAML 1.2 plain scalars
resolved by ruamel's own resolver, no explicit tags, no merge keys, no
duplicate keys, exactly one document whose top level is a mapping. Anything
else — including every error — returns ``None`` and the caller uses ruamel,
which stays the one source of error messages.
"""

from __future__ import annotations

import re
from typing import Any

_DECIMAL_INT = re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$")
_DECIMAL_FLOAT = re.compile(
    r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$|^[-+]?[0-9]+[eE][-+]?[0-9]+$"
)
_STR = "tag:yaml.org,2002:str"
# ruamel's implicit resolvers are keyed by the first character; a plain scalar
# starting with anything else is a string (bool t/f, null ~/n, numbers and
# timestamps -+.0-9, merge <, value =; y/n/o kept for safety)
_MAYBE_TYPED = frozenset("-+.0123456789~nNtTfFyYoO<=")
_IMPLICIT = "?"


class _Unsure(Exception):
    """The fast path cannot promise ruamel's result."""


def fast_load(text: str) -> Any | None:
    """The top-level mapping of ``text`` exactly as ruamel's round-trip loader
    would give it (positions included), or ``None`` when unsure."""
    try:
        import yaml
    except ImportError:
        return None
    base = getattr(yaml, "CSafeLoader", None)
    if base is None:
        return None
    from ruamel.yaml.comments import CommentedMap, CommentedSeq, LineCol
    from ruamel.yaml.nodes import ScalarNode
    from ruamel.yaml.resolver import VersionedResolver

    class Loader(base):  # type: ignore[misc, valid-type]
        def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
            return _IMPLICIT  # tags given in the text keep their own tag: we can tell them apart

    resolver = VersionedResolver()
    cache: dict[str, Any] = {}

    def scalar(node: Any) -> Any:
        if node.tag != _IMPLICIT:
            raise _Unsure
        value = node.value
        if node.style:  # quoted or block scalar
            return value
        if value and value[0] not in _MAYBE_TYPED:
            return value
        if value in cache:
            return cache[value]
        tag = str(resolver.resolve(ScalarNode, value, (True, False)))
        if tag == _STR:
            out: Any = value
        elif tag.endswith(":null"):
            out = None
        elif tag.endswith(":bool"):
            out = value in ("true", "True", "TRUE")
        elif tag.endswith(":int") and _DECIMAL_INT.match(value):
            out = int(value)
        elif tag.endswith(":float") and _DECIMAL_FLOAT.match(value):
            out = float(value)
        else:
            raise _Unsure  # hex, octal, 1_000, timestamps, merge keys, ...
        cache[value] = out
        return out

    memo: dict[int, Any] = {}

    def _linecol(mark: Any) -> Any:
        lc = LineCol()
        lc.line, lc.col, lc.data = mark.line, mark.column, {}
        return lc

    def build(node: Any) -> Any:
        known = memo.get(id(node))
        if known is not None:
            return known
        if isinstance(node, yaml.ScalarNode):
            return scalar(node)
        if node.tag != _IMPLICIT:
            raise _Unsure
        mark = node.start_mark
        if isinstance(node, yaml.MappingNode):
            mapping = CommentedMap()
            memo[id(node)] = mapping
            lc = _linecol(mark)
            setattr(mapping, LineCol.attrib, lc)
            for knode, vnode in node.value:
                if not isinstance(knode, yaml.ScalarNode) or (knode.value == "<<" and not knode.style):
                    raise _Unsure
                key = scalar(knode)
                if key in mapping:
                    raise _Unsure  # ruamel reports the duplicate key
                mapping[key] = build(vnode)
                km, vm = knode.start_mark, vnode.start_mark
                lc.data[key] = [km.line, km.column, vm.line, vm.column]
            return mapping
        seq = CommentedSeq()
        memo[id(node)] = seq
        lc = _linecol(mark)
        setattr(seq, LineCol.attrib, lc)
        for i, item in enumerate(node.value):
            seq.append(build(item))
            lc.data[i] = [item.start_mark.line, item.start_mark.column]
        return seq

    try:
        docs = list(yaml.compose_all(text, Loader=Loader))
        while len(docs) > 1 and docs[-1] is None:
            docs.pop()
        if len(docs) != 1 or not isinstance(docs[0], yaml.MappingNode):
            return None
        return build(docs[0])
    except (_Unsure, yaml.YAMLError, RecursionError, TypeError, ValueError):
        return None
