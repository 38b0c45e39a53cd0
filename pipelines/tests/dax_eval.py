"""A tiny DAX evaluator for the measure shapes of the OMS model, over rows held in Python.

It exists to check each measure's Spark SQL (``queries.MEASURE_SQL``) against what its DAX means,
on a small fixture. Supported, and nothing else (anything else raises ``Unsupported``):

- ``SUM``, ``AVERAGE``, ``MAX`` (one column, or two scalars), ``DISTINCTCOUNT`` (a blank counts as
  a value), ``COUNTROWS(table)`` -- each BLANK over no rows;
- ``DIVIDE(a, b)`` (BLANK when ``b`` is 0 or BLANK), ``[Measure]`` references;
- ``CALCULATE(expr, filter, ...)`` where each filter is ``table[column] = <literal>`` (DAX ``=``:
  BLANK equals FALSE() and 0), ``table[column] == <literal>`` (strict) or
  ``NOT ISBLANK(table[column])``; the filters are added to the row context's table (the fixture's
  groupings never slice by a filtered column, so CALCULATE's filter override is not modelled);
- ``PERCENTILEX.INC(FILTER(table, <filter>), table[column], k)`` (inclusive, linear
  interpolation between ranks, blanks skipped);
- literals ``TRUE()``, ``FALSE()``, numbers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Rows = list[dict[str, Any]]
Context = dict[str, Rows]


class Unsupported(ValueError):
    """A DAX shape the evaluator does not know."""


_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<quoted>'(?:[^']|'')+')|(?P<bracket>\[[^\]]+\])"
    r"|(?P<op>==|=|\(|\)|,)|(?P<ident>[A-Za-z_][\w.]*))"
)


@dataclass(frozen=True)
class Node:
    kind: str  # num, col, measure, table, call, eq, streq, not
    value: Any = None
    args: tuple[Node, ...] = ()


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise Unsupported(f"cannot read DAX at {text[pos : pos + 20]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            raise Unsupported(f"expected {value!r}, found {tok}")
        self.i += 1
        return tok

    def expr(self) -> Node:
        tok = self.peek()
        if tok and tok[0] == "ident" and tok[1].upper() == "NOT":
            self.take()
            return Node("not", args=(self.expr(),))
        left = self.primary()
        tok = self.peek()
        if tok and tok[1] in ("=", "=="):
            self.take()
            return Node("eq" if tok[1] == "=" else "streq", args=(left, self.primary()))
        return left

    def primary(self) -> Node:
        kind, text = self.take()
        if kind == "num":
            return Node("num", float(text))
        if kind == "bracket":
            return Node("measure", text[1:-1])
        if kind in ("ident", "quoted"):
            name = text[1:-1].replace("''", "'") if kind == "quoted" else text
            nxt = self.peek()
            if nxt and nxt[0] == "bracket":
                self.take()
                return Node("col", (name, nxt[1][1:-1]))
            if nxt and nxt[1] == "(" and kind == "ident":
                self.take("(")
                args: list[Node] = []
                while self.peek() and self.peek()[1] != ")":  # type: ignore[index]
                    args.append(self.expr())
                    if self.peek() and self.peek()[1] == ",":  # type: ignore[index]
                        self.take(",")
                self.take(")")
                return Node("call", name.upper(), tuple(args))
            return Node("table", name)
        raise Unsupported(f"unexpected {text!r}")


def parse(text: str) -> Node:
    p = _Parser(text)
    node = p.expr()
    if p.peek() is not None:
        raise Unsupported(f"trailing DAX after the expression: {p.toks[p.i :]}")
    return node


def _values(node: Node, ctx: Context) -> list[Any]:
    if node.kind != "col":
        raise Unsupported(f"expected a column reference, found {node.kind}")
    table, column = node.value
    return [r[column] for r in ctx[table]]


def _blank_equal(a: Any, b: Any) -> bool:
    # DAX '=': BLANK compares equal to FALSE() and 0 ("Handling blanks" in the DAX reference).
    if a is None:
        return b in (None, False, 0)
    return bool(a == b)


def _predicate(node: Node) -> tuple[str, Callable[[dict[str, Any]], bool]]:
    if node.kind in ("eq", "streq") and node.args[0].kind == "col":
        table, column = node.args[0].value
        want = _literal(node.args[1])
        if node.kind == "eq":
            return table, lambda r: _blank_equal(r[column], want)
        return table, lambda r: r[column] is not None and r[column] == want
    if node.kind == "not":
        inner = node.args[0]
        if inner.kind == "call" and inner.value == "ISBLANK" and inner.args[0].kind == "col":
            table, column = inner.args[0].value
            return table, lambda r: r[column] is not None
    raise Unsupported(f"filter shape {node.kind} is not supported")


def _literal(node: Node) -> Any:
    if node.kind == "num":
        return node.value
    if node.kind == "call" and node.value in ("TRUE", "FALSE") and not node.args:
        return node.value == "TRUE"
    raise Unsupported(f"expected a literal, found {node.kind}")


def _percentile_inc(values: list[float], k: float) -> float | None:
    xs = sorted(values)
    if not xs:
        return None
    pos = k * (len(xs) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def evaluate(node: Node, ctx: Context, measures: dict[str, Node]) -> Any:
    """The value of ``node`` over ``ctx`` (table -> rows in the filter context)."""
    if node.kind == "num":
        return node.value
    if node.kind == "measure":
        return evaluate(measures[node.value], ctx, measures)
    if node.kind != "call":
        raise Unsupported(f"{node.kind} is not a scalar expression")
    fn, args = node.value, node.args
    if fn in ("SUM", "AVERAGE") or (fn == "MAX" and len(args) == 1):
        vals = [v for v in _values(args[0], ctx) if v is not None]
        if not vals:
            return None
        return {"SUM": sum, "AVERAGE": lambda x: sum(x) / len(x), "MAX": max}[fn](vals)
    if fn == "MAX" and len(args) == 2:
        vals = [v for v in (evaluate(a, ctx, measures) for a in args) if v is not None]
        return max(vals) if vals else None
    if fn == "DISTINCTCOUNT":
        vals = _values(args[0], ctx)
        return len(set(vals)) or None
    if fn == "COUNTROWS" and args[0].kind == "table":
        return len(ctx[args[0].value]) or None
    if fn == "DIVIDE" and len(args) == 2:
        a, b = (evaluate(x, ctx, measures) for x in args)
        return None if a is None or b in (None, 0) else a / b
    if fn == "CALCULATE":
        inner = dict(ctx)
        for f in args[1:]:
            table, keep = _predicate(f)
            inner[table] = [r for r in inner[table] if keep(r)]
        return evaluate(args[0], inner, measures)
    if fn == "PERCENTILEX.INC" and args[0].kind == "call" and args[0].value == "FILTER":
        table_node, cond = args[0].args
        table, keep = _predicate(cond)
        if table_node.kind != "table" or table_node.value != table:
            raise Unsupported("FILTER must filter the table its condition reads")
        rows = [r for r in ctx[table] if keep(r)]
        vals = [v for v in _values(args[1], {**ctx, table: rows}) if v is not None]
        return _percentile_inc(vals, _literal(args[2]))
    raise Unsupported(f"DAX function {fn} with {len(args)} arguments is not supported")
