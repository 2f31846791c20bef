"""A Python op's interface read from its code, statically (``ast``; nothing is imported).

An OP class's ``get_input_sign`` / ``get_output_sign`` (a dict or ``OPIOSign``
literal of types, ``Artifact``, ``Parameter``, ``BigParameter``) or a plain
function's annotations, defaults and returned keys (literal dict keys,
``TypedDict`` / ``NamedTuple`` return types). ``spec.opcode`` compares this with
the spec and fills what the spec leaves out.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any, Literal

from dflowctl.spec.pytypes import ANY, PATHS, is_none, is_path, name_of, type_of
from dflowctl.spec.values import TypeExpr, parse_type

Kind = Literal["parameter", "artifact"]
NO_DEFAULT: Any = object()
_SIGN_TYPES = ("Artifact", "Parameter", "BigParameter")


class Unreadable(Exception):
    """The code says it in a way a static reading cannot follow; the message says where."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class Slot:
    """One input or output as the code declares it."""

    name: str
    kind: Kind
    type: TypeExpr = ANY
    default: Any = NO_DEFAULT
    optional: bool = False
    line: int = 0


@dataclass(frozen=True)
class Side:
    """The inputs or the outputs: where they are declared (``what`` at ``line``), and the slots."""

    what: str
    line: int
    slots: dict[str, Slot] = field(default_factory=dict)
    unnamed: Slot | None = None  # a function's one return value, named by the spec


@dataclass(frozen=True)
class Interface:
    inputs: Side | None  # None: not declared in a way that can be read (the problem says why)
    outputs: Side | None
    input_problem: Unreadable | None = None
    output_problem: Unreadable | None = None


@dataclass(frozen=True)
class Module:
    tree: ast.Module
    defined: dict[str, ast.stmt]  # top-level name → its statement
    uses_dflow: bool


def read_module(text: str, filename: str) -> Module:
    """Parse a module; ``SyntaxError`` propagates (the caller reports it with its line)."""
    tree = ast.parse(text, filename)
    defined: dict[str, ast.stmt] = {}
    uses_dflow = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            uses_dflow |= any(a.name == "dflow" or a.name.startswith("dflow.") for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            uses_dflow |= node.module == "dflow" or node.module.startswith("dflow.")
    for stmt in tree.body:
        if isinstance(stmt, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            defined[stmt.name] = stmt
        elif isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                if isinstance(target, ast.Name):
                    defined[target.id] = stmt
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            defined[stmt.target.id] = stmt
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for alias in stmt.names:
                if alias.name != "*":
                    defined[(alias.asname or alias.name).split(".")[0]] = stmt
    return Module(tree, defined, uses_dflow)


def _literal(node: ast.expr, line: int) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise Unreadable(f"the default `{ast.unparse(node)}` is not a literal", line) from None


def sign_slot(name: str, node: ast.expr) -> Slot:
    """One value of a sign: ``Artifact(...)``, ``Parameter(...)``, ``BigParameter(...)`` or a type."""
    line = node.lineno
    if isinstance(node, ast.Call) and name_of(node.func) in _SIGN_TYPES:
        kw = {k.arg: k.value for k in node.keywords if k.arg}
        type_node = node.args[0] if node.args else kw.get("type")
        if name_of(node.func) == "Artifact":
            optional = kw.get("optional")
            is_opt = bool(_literal(optional, line)) if optional is not None else False
            return Slot(name, "artifact", type_of(type_node), optional=is_opt, line=line)
        default = _literal(kw["default"], line) if "default" in kw else NO_DEFAULT
        return Slot(name, "parameter", type_of(type_node), default=default, line=line)
    if isinstance(node, ast.Call):
        raise Unreadable(f"`{name}` is declared by a call to `{ast.unparse(node.func)}`", line)
    if is_path(node):  # a bare Path / List[Path]: files, as dflowctl passes them
        return Slot(name, "artifact", type_of(node), line=line)
    return Slot(name, "parameter", type_of(node), line=line)


def _dict_items(node: ast.expr, line: int) -> list[tuple[str, ast.expr]]:
    """A ``{...}`` / ``OPIOSign({...})`` / ``dict(a=...)`` literal's (key, value) pairs."""
    if isinstance(node, ast.Call) and name_of(node.func) in ("OPIOSign", "dict", "OPIO"):
        items: list[tuple[str, ast.expr]] = []
        for arg in node.args:
            items += _dict_items(arg, line)
        for kw in node.keywords:
            if kw.arg is None:
                raise Unreadable("the sign unpacks another mapping (`**`)", node.lineno)
            items.append((kw.arg, kw.value))
        return items
    if isinstance(node, ast.Dict):
        items = []
        for k, v in zip(node.keys, node.values, strict=True):
            if not (isinstance(k, ast.Constant) and isinstance(k.value, str)):
                raise Unreadable("a key of the sign is not a literal string", node.lineno)
            items.append((k.value, v))
        return items
    raise Unreadable(f"the sign is `{ast.unparse(node)}`, not a dict or OPIOSign literal", line)


def _returns(func: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.Return]:
    """The ``return`` statements of ``func`` itself (not of nested functions or classes)."""
    found: list[ast.Return] = []
    stack: list[ast.AST] = list(func.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Return):
            found.append(node)
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(node))
    return sorted(found, key=lambda r: r.lineno)


def _method(cls: ast.ClassDef, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    for stmt in cls.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == name:
            return stmt
    return None


def class_sign(cls: ast.ClassDef, method: str) -> Side:
    func = _method(cls, method)
    what = f"{cls.name}.{method}"
    if func is None:
        raise Unreadable(f"class `{cls.name}` has no `{method}`", cls.lineno)
    returns = [r for r in _returns(func) if r.value is not None]
    if len(returns) != 1:
        raise Unreadable(f"`{what}` does not return one literal sign", func.lineno)
    value = returns[0].value
    assert value is not None
    slots = {k: sign_slot(k, v) for k, v in _dict_items(value, returns[0].lineno)}
    return Side(what, func.lineno, slots)


def function_inputs(func: ast.FunctionDef | ast.AsyncFunctionDef) -> Side:
    slots: dict[str, Slot] = {}
    a = func.args
    if a.vararg or a.kwarg:
        raise Unreadable(f"`{func.name}` takes *args or **kwargs", func.lineno)
    positional = [*a.posonlyargs, *a.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    pairs = [*zip(positional, defaults, strict=True), *zip(a.kwonlyargs, a.kw_defaults, strict=True)]
    for arg, default in pairs:
        ann = arg.annotation
        line = arg.lineno
        if isinstance(ann, ast.Call) and name_of(ann.func) in _SIGN_TYPES:
            slot = sign_slot(arg.arg, ann)
            if default is not None:
                if slot.kind == "artifact" and is_none(default):
                    slot = Slot(slot.name, "artifact", slot.type, optional=True, line=line)
                elif slot.kind == "parameter":
                    slot = Slot(slot.name, "parameter", slot.type, _literal(default, line), line=line)
        elif is_path(ann):
            optional = default is not None and is_none(default)
            slot = Slot(arg.arg, "artifact", type_of(ann), optional=optional, line=line)
        else:
            value = _literal(default, line) if default is not None else NO_DEFAULT
            slot = Slot(arg.arg, "parameter", type_of(ann), value, line=line)
        slots[arg.arg] = slot
    return Side(func.name, func.lineno, slots)


def _record_fields(node: ast.expr, module: Module) -> dict[str, ast.expr] | None:
    """Fields of a TypedDict / NamedTuple return type (a class in the module or an inline call)."""
    if (
        isinstance(node, ast.Call)
        and name_of(node.func) in ("TypedDict", "NamedTuple")
        and len(node.args) >= 2
    ):
        spec = node.args[1]
        if isinstance(spec, ast.Dict):
            return {
                str(k.value): v
                for k, v in zip(spec.keys, spec.values, strict=True)
                if isinstance(k, ast.Constant)
            }
        if isinstance(spec, (ast.List, ast.Tuple)):
            out: dict[str, ast.expr] = {}
            for item in spec.elts:
                if (
                    isinstance(item, ast.Tuple)
                    and len(item.elts) == 2
                    and isinstance(item.elts[0], ast.Constant)
                ):
                    out[str(item.elts[0].value)] = item.elts[1]
            return out
    name = name_of(node)
    cls = module.defined.get(name)
    if isinstance(cls, ast.ClassDef) and any(name_of(b) in ("TypedDict", "NamedTuple") for b in cls.bases):
        return {
            s.target.id: s.annotation
            for s in cls.body
            if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
        }
    return None


def _field_slot(name: str, ann: ast.expr, line: int) -> Slot:
    if isinstance(ann, ast.Call) and name_of(ann.func) in _SIGN_TYPES:
        return sign_slot(name, ann)
    if is_path(ann):
        return Slot(name, "artifact", type_of(ann), line=line)
    return Slot(name, "parameter", type_of(ann), line=line)


def _value_slot(name: str, value: ast.expr) -> Slot:
    """An output from a returned dict literal: a ``Path(...)`` (or a list of them) is an artifact."""
    node = value.elts[0] if isinstance(value, (ast.List, ast.Tuple)) and value.elts else value
    if isinstance(node, ast.Call) and name_of(node.func) in PATHS:
        return Slot(name, "artifact", line=value.lineno)
    return Slot(name, "parameter", ANY, line=value.lineno)


def function_outputs(func: ast.FunctionDef | ast.AsyncFunctionDef, module: Module) -> Side:
    ret = func.returns
    if ret is not None and not is_none(ret):
        fields = _record_fields(ret, module)
        if fields is not None:
            return Side(func.name, func.lineno, {k: _field_slot(k, v, ret.lineno) for k, v in fields.items()})
        if isinstance(ret, ast.Dict):  # dflow's `-> {"x": int}`
            return Side(
                func.name,
                func.lineno,
                {k: _field_slot(k, v, ret.lineno) for k, v in _dict_items(ret, ret.lineno)},
            )
        if not (
            isinstance(ret, ast.Subscript) and name_of(ret.value) in ("dict", "Dict", "Mapping")
        ) and name_of(ret) not in ("dict", "Dict", "Mapping", "Any"):
            return Side(func.name, func.lineno, {}, unnamed=_field_slot("", ret, ret.lineno))
    returns = [r for r in _returns(func) if r.value is not None]
    if not returns and (ret is None or is_none(ret)):
        return Side(func.name, func.lineno, {})
    keys: list[dict[str, Slot]] = []
    for r in returns:
        assert r.value is not None
        if not isinstance(r.value, ast.Dict) or not all(
            isinstance(k, ast.Constant) and isinstance(k.value, str) for k in r.value.keys
        ):
            raise Unreadable(f"`{func.name}` returns a value whose output names cannot be read", r.lineno)
        keys.append(
            {k.value: _value_slot(k.value, v) for k, v in zip(r.value.keys, r.value.values, strict=True)}  # type: ignore[union-attr]
        )
    if any(set(k) != set(keys[0]) for k in keys):
        raise Unreadable(f"`{func.name}` returns dicts with different keys", returns[-1].lineno)
    return Side(func.name, func.lineno, keys[0])


def _function_of(node: ast.stmt) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """A function, or ``f = OP.function(g)`` is not followed (unreadable)."""
    return node if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else None


def interface(module: Module, attr: str) -> Interface:
    """The interface of ``attr`` (already known to be defined); unreadable sides are None with the reason."""
    node = module.defined[attr]
    problems: list[Unreadable | None] = []
    sides: list[Side | None] = []
    if isinstance(node, ast.ClassDef):
        readers = [lambda: class_sign(node, "get_input_sign"), lambda: class_sign(node, "get_output_sign")]
    elif (func := _function_of(node)) is not None:
        readers = [lambda: function_inputs(func), lambda: function_outputs(func, module)]
    else:
        why = Unreadable(f"`{attr}` is not a class or a function defined here", node.lineno)
        return Interface(None, None, why, why)
    for read in readers:
        try:
            sides.append(read())
            problems.append(None)
        except Unreadable as err:
            problems.append(err)
            sides.append(None)
    return Interface(sides[0], sides[1], problems[0], problems[1])


def has_execute(cls: ast.ClassDef, module: Module) -> bool | None:
    """Whether a class has ``execute`` (None: it may inherit one from a base not defined here)."""
    if _method(cls, "execute") is not None:
        return True
    unknown = False
    for base in cls.bases:
        local = module.defined.get(name_of(base))
        if isinstance(local, ast.ClassDef):
            found = has_execute(local, module)
            if found:
                return True
            unknown |= found is None
        elif name_of(base) not in ("OP", "object", "ABC"):
            unknown = True
    return None if unknown else False


def parse_spec_type(text: str) -> TypeExpr:
    return parse_type(text) or ANY
