"""Python annotations read statically (``ast``) in the shared type grammar
(``spec.values``): ``List[int]`` → ``list[int]``, ``Optional[X]`` → X, unknown →
``any``; whether an annotation is a path (an artifact in a plain function)."""

from __future__ import annotations

import ast

from dflowctl.spec.values import TypeExpr

ANY: TypeExpr = ("any", ())
PATHS = ("Path", "PurePath", "PosixPath")


def name_of(node: ast.expr) -> str:
    """``a.b.C`` → ``C``; a plain name → itself; anything else → ""."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def type_of(node: ast.expr | None) -> TypeExpr:
    """A Python annotation → the shared type grammar (``List[int]`` → ``list[int]``); unknown → any."""
    if node is None:
        return ANY
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            return type_of(ast.parse(node.value, mode="eval").body)
        except SyntaxError:
            return ANY
    if isinstance(node, ast.Constant) and node.value is None:
        return ANY
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):  # X | None
        left, right = type_of(node.left), type_of(node.right)
        return right if is_none(node.left) else left if is_none(node.right) else ANY
    name = name_of(node.value if isinstance(node, ast.Subscript) else node)
    simple = {"str": "str", "int": "int", "float": "float", "bool": "bool"}
    if not isinstance(node, ast.Subscript):
        if name in simple:
            return (simple[name], ())
        if name in ("list", "List", "Sequence", "tuple", "Tuple", "set", "Set"):
            return ("list", ())
        if name in ("dict", "Dict", "Mapping"):
            return ("dict", ())
        return ANY
    args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
    if name == "Optional":
        return type_of(args[0])
    if name == "Union":
        real = [a for a in args if not is_none(a)]
        return type_of(real[0]) if len(real) == 1 else ANY
    if name in ("list", "List", "Sequence", "set", "Set"):
        return ("list", (type_of(args[0]),))
    if name in ("tuple", "Tuple"):
        return ("list", ())
    if name in ("dict", "Dict", "Mapping") and len(args) == 2:
        key = type_of(args[0])
        return ("dict", (key, type_of(args[1]))) if key == ("str", ()) else ("dict", ())
    return ANY


def is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def is_path(node: ast.expr | None) -> bool:
    """``Path``, ``Optional[Path]``, ``List[Path]``, ``list[Path]``: an artifact in a plain function."""
    if node is None:
        return False
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            return is_path(ast.parse(node.value, mode="eval").body)
        except SyntaxError:
            return False
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return is_path(node.left) or is_path(node.right)
    if isinstance(node, ast.Subscript):
        if name_of(node.value) in ("Optional", "Union", "List", "list", "Sequence"):
            args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            return any(is_path(a) for a in args)
        return False
    return name_of(node) in PATHS
