"""Parser for the expr-lang subset: source text → a small tuple AST.

Precedences follow expr-lang's operator table: ``or ||`` 10, ``and &&`` 15,
comparisons and ``in matches contains startsWith endsWith`` 20, ``..`` 25,
``+ -`` 30, ``* / %`` 60, ``**`` / ``^`` 100 (right associative), ``??`` 500;
unary ``not !`` 50, ``- +`` 90. The ternary ``c ? a : b`` and the pipe ``|``
bind loosest.

AST nodes (tuples, first item the kind):
``("lit", v)``, ``("ident", name)``, ``("ptr", name)``, ``("member", obj, key, optional)``,
``("slice", obj, lo, hi)``, ``("call", name, args)``, ``("mcall", obj, name, args, optional)``,
``("unary", op, x)``, ``("binary", op, l, r)``, ``("cond", c, a, b)``, ``("array", items)``,
``("map", pairs)``, ``("closure", body)``, ``("let", name, value, body)``, ``("seq", items)``.
"""

from __future__ import annotations

from typing import Any

from dflowctl.expr.lexer import EOF, IDENT, NUM, OP, PTR, STR, Token, tokenize
from dflowctl.expr.values import ExprError

Node = tuple[Any, ...]

BINARY: dict[str, tuple[int, bool]] = {
    "or": (10, False),
    "||": (10, False),
    "and": (15, False),
    "&&": (15, False),
    "==": (20, False),
    "!=": (20, False),
    "<": (20, False),
    ">": (20, False),
    "<=": (20, False),
    ">=": (20, False),
    "in": (20, False),
    "matches": (20, False),
    "contains": (20, False),
    "startsWith": (20, False),
    "endsWith": (20, False),
    "..": (25, False),
    "+": (30, False),
    "-": (30, False),
    "*": (60, False),
    "/": (60, False),
    "%": (60, False),
    "**": (100, True),
    "^": (100, True),
    "??": (500, False),
}
_COMPARISON = 20
UNARY: dict[str, int] = {"not": 50, "!": 50, "-": 90, "+": 90}
_NEGATABLE = {"in", "matches", "contains", "startsWith", "endsWith"}

# Builtins whose argument at these positions is a predicate (closure over `#`).
PREDICATE_ARGS: dict[str, tuple[int, ...]] = {
    "all": (1,),
    "any": (1,),
    "none": (1,),
    "one": (1,),
    "filter": (1,),
    "map": (1,),
    "count": (1,),
    "sum": (1,),
    "find": (1,),
    "findIndex": (1,),
    "findLast": (1,),
    "findLastIndex": (1,),
    "groupBy": (1,),
    "sortBy": (1,),
    "reduce": (1,),
}


class Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens: list[Token] = tokenize(source)
        self.i = 0
        self.closure_depth = 0

    # -- token helpers -------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def _is(self, kind: str, value: object = None) -> bool:
        t = self.tokens[self.i]
        return t.kind == kind and (value is None or t.value == value)

    def _is_op(self, value: str) -> bool:
        t = self.tokens[self.i]
        return t.kind == OP and t.value == value

    def _advance(self) -> Token:
        t = self.tokens[self.i]
        self.i += 1
        return t

    def _expect_op(self, value: str) -> None:
        if not self._is_op(value):
            self._error(f"expected {value!r}")
        self.i += 1

    def _error(self, what: str) -> None:
        t = self.tok
        found = "end of expression" if t.kind == EOF else repr(str(t.value))
        raise ExprError(f"{what}, found {found} at position {t.pos}")

    # -- grammar ---------------------------------------------------------------------
    def parse(self) -> Node:
        node = self.parse_sequence()
        if not self._is(EOF):
            self._error("unexpected token")
        return node

    def parse_sequence(self) -> Node:
        items = [self.parse_expression(0)]
        while self._is_op(";"):
            self._advance()
            if self._is(EOF) or self._is_op(")") or self._is_op("}"):
                break
            items.append(self.parse_expression(0))
        return items[0] if len(items) == 1 else ("seq", items)

    def parse_expression(self, precedence: int) -> Node:
        if precedence == 0 and self._is(IDENT, "let"):
            return self.parse_let()
        node = self.parse_primary()
        prev_op = ""
        while True:
            t = self.tok
            op: str | None = None
            negate = False
            if (t.kind == OP and t.value in BINARY) or (t.kind == IDENT and t.value in BINARY):
                op = str(t.value)
            elif t.kind == IDENT and t.value == "not":
                nxt = self.tokens[self.i + 1]
                if nxt.kind == IDENT and nxt.value in _NEGATABLE:
                    op = str(nxt.value)
                    negate = True
            if op is None:
                break
            prec, right = BINARY[op]
            if prec < precedence:
                break
            if prev_op == "??" and op != "??":
                self._error(f"operator ({op}) and coalesce expressions (??) cannot be mixed; use parentheses")
            self._advance()
            if negate:
                self._advance()
            if prec == _COMPARISON and not negate:
                node = self.parse_comparison(node, op)
            else:
                rhs = self.parse_expression(prec if right else prec + 1)
                node = ("binary", op, node, rhs)
                if negate:
                    node = ("unary", "not", node)
            prev_op = op
        if precedence == 0:
            node = self.parse_conditional(node)
            while self._is_op("|"):
                self._advance()
                node = self.parse_pipe(node)
                node = self.parse_conditional(node)
        return node

    def parse_comparison(self, left: Node, op: str) -> Node:
        """``a < b < c`` is ``a < b && b < c`` (expr-lang chains comparisons)."""
        root: Node | None = None
        while True:
            right = self.parse_expression(_COMPARISON + 1)
            cmp: Node = ("binary", op, left, right)
            root = cmp if root is None else ("binary", "&&", root, cmp)
            t = self.tok
            if not (t.kind in (OP, IDENT) and t.value in BINARY and BINARY[str(t.value)][0] == _COMPARISON):
                return root
            op = str(t.value)
            left = right
            self._advance()

    def parse_let(self) -> Node:
        self._advance()
        if not self._is(IDENT):
            self._error("expected a variable name after let")
        name = str(self._advance().value)
        self._expect_op("=")
        value = self.parse_expression(0)
        self._expect_op(";")
        body = self.parse_expression(0)
        return ("let", name, value, body)

    def parse_conditional(self, node: Node) -> Node:
        while self._is_op("?"):
            self._advance()
            if self._is_op(":"):
                self._advance()
                a = node
                b = self.parse_expression(0)
            else:
                a = self.parse_expression(0)
                self._expect_op(":")
                b = self.parse_expression(0)
            node = ("cond", node, a, b)
        return node

    def parse_pipe(self, node: Node) -> Node:
        if not self._is(IDENT):
            self._error("expected a function call after |")
        name = str(self._advance().value)
        args = self.parse_arguments(name, first=node) if self._is_op("(") else [node]
        return ("call", name, args)

    def parse_primary(self) -> Node:
        t = self.tok
        if (t.kind == OP and t.value in ("!", "-", "+")) or (t.kind == IDENT and t.value == "not"):
            self._advance()
            x = self.parse_expression(UNARY[str(t.value)])
            if t.value == "-" and x[0] == "lit" and isinstance(x[1], (int, float)):
                return self.parse_postfix(("lit", -x[1]))
            return self.parse_postfix(("unary", str(t.value), x))
        if t.kind == OP and t.value == "(":
            self._advance()
            x = self.parse_sequence()
            self._expect_op(")")
            return self.parse_postfix(x)
        return self.parse_postfix(self.parse_secondary())

    def parse_secondary(self) -> Node:
        t = self._advance()
        if t.kind == NUM or t.kind == STR:
            return ("lit", t.value)
        if t.kind == IDENT:
            name = str(t.value)
            if name == "true":
                return ("lit", True)
            if name == "false":
                return ("lit", False)
            if name == "nil":
                return ("lit", None)
            if self._is_op("("):
                return ("call", name, self.parse_arguments(name))
            return ("ident", name)
        if t.kind == PTR:
            return ("ptr", str(t.value))
        if t.kind == OP:
            if t.value == "[":
                items: list[Node] = []
                while not self._is_op("]"):
                    items.append(self.parse_expression(0))
                    if not self._is_op(","):
                        break
                    self._advance()
                self._expect_op("]")
                return ("array", items)
            if t.value == "{":
                return self.parse_map()
            if t.value == "." and self.closure_depth > 0 and self._is(IDENT):
                # `.field` inside a predicate is `#.field`
                name = str(self._advance().value)
                return ("member", ("ptr", ""), ("lit", name), False)
        self.i -= 1
        self._error("unexpected token")
        raise AssertionError  # unreachable

    def parse_map(self) -> Node:
        pairs: list[tuple[Node, Node]] = []
        while not self._is_op("}"):
            t = self.tok
            if t.kind in (IDENT, STR, NUM):
                self._advance()
                # expr-lang: a number key is its text, like an identifier key
                key: Node = ("lit", t.value if t.kind != NUM else str(t.value))
            elif self._is_op("("):
                self._advance()
                key = self.parse_expression(0)
                self._expect_op(")")
            else:
                self._error("a map key must be an identifier, a string or a (expression)")
                raise AssertionError
            self._expect_op(":")
            pairs.append((key, self.parse_expression(0)))
            if not self._is_op(","):
                break
            self._advance()
        self._expect_op("}")
        return ("map", pairs)

    def parse_closure(self) -> Node:
        self.closure_depth += 1
        try:
            if self._is_op("{"):
                self._advance()
                body = self.parse_sequence()
                self._expect_op("}")
            else:
                body = self.parse_expression(0)
        finally:
            self.closure_depth -= 1
        return ("closure", body)

    def parse_arguments(self, name: str | None, first: Node | None = None) -> list[Node]:
        self._expect_op("(")
        args: list[Node] = [] if first is None else [first]
        predicate_at = PREDICATE_ARGS.get(name or "", ())
        while not self._is_op(")"):
            if len(args) in predicate_at:
                args.append(self.parse_closure())
            else:
                args.append(self.parse_expression(0))
            if not self._is_op(","):
                break
            self._advance()
        self._expect_op(")")
        return args

    def parse_postfix(self, node: Node) -> Node:
        # once `?.` met nil, the rest of the chain reads nil too
        chained = False
        while True:
            t = self.tok
            if t.kind != OP:
                return node
            if t.value in (".", "?."):
                optional = chained or t.value == "?."
                chained = optional
                self._advance()
                if t.value == "?." and self._is_op("["):
                    self._advance()
                    node = self._parse_index(node, optional=True)
                    continue
                if not self._is(IDENT):
                    self._error("expected a name after '.'")
                name = str(self._advance().value)
                if self._is_op("("):
                    node = ("mcall", node, name, self.parse_arguments(None), optional)
                else:
                    node = ("member", node, ("lit", name), optional)
            elif t.value == "[":
                self._advance()
                node = self._parse_index(node, optional=chained)
            else:
                return node

    def _parse_index(self, node: Node, *, optional: bool) -> Node:
        if self._is_op(":"):
            self._advance()
            hi = None if self._is_op("]") else self.parse_expression(0)
            self._expect_op("]")
            return ("slice", node, None, hi)
        idx = self.parse_expression(0)
        if self._is_op(":"):
            self._advance()
            hi = None if self._is_op("]") else self.parse_expression(0)
            self._expect_op("]")
            return ("slice", node, idx, hi)
        self._expect_op("]")
        return ("member", node, idx, optional)


def parse(source: str) -> Node:
    if not source.strip():
        raise ExprError("empty expression")
    return Parser(source).parse()
