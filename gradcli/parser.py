"""Tokens -> statements, each a name and its expression in postfix (RPN) order.

Shunting-yard with an explicit stack: no recursion, so deep nesting and 100,000-term
expressions cost memory, not Python stack. Postfix is also what every later stage wants
(the evaluator's tape, sympy's expression, the printer), all walked with loops.
"""

from __future__ import annotations

import difflib
import keyword
import re
from bisect import bisect_left
from itertools import accumulate
from typing import NamedTuple

from .errors import Source, SourceError
from .lexer import tokenize
from .ops import FUNCTIONS, OPS, Op

MAX_NESTING = 1000  # parentheses and calls open at once; documented in the README
MAX_TERMS = 1_000_000  # operands and operators in one expression; documented in the README

NEG = OPS["neg"]
BINARY = {"+": OPS["+"], "-": OPS["-"], "*": OPS["*"], "/": OPS["/"],
          "**": OPS["**"], "^": OPS["**"]}

# An RPN item is (kind, payload, offset): kind "num" (payload float, text kept as 4th item),
# "name" (payload the name) or "op" (payload an Op; arity says how many items it consumes).


class Statement(NamedTuple):  # a tuple: a million of them are made fast and kept small
    target: str
    offset: int  # where the target name stands
    rpn: list
    start: int  # the expression's span in the source
    end: int


def reserved_reason(name: str) -> str | None:
    if name in FUNCTIONS:
        kind = "constant" if FUNCTIONS[name].arity == 0 else "function"
        return f"it is a built-in {kind}"
    if keyword.iskeyword(name):
        return "it is a reserved word"
    return None


def parse(source: Source) -> list[Statement]:
    fast = parse_fast(source.text)
    return fast if fast is not None else parse_carefully(source)


def parse_carefully(source: Source) -> list[Statement]:
    """Token by token, with a message for every way the text can be wrong."""
    tokens = _Tokens(source)
    statements = []
    while True:
        kind, text, offset = tokens.next()
        if kind in ("nl", ";"):
            continue
        if kind == "eof":
            return statements
        if kind != "name":
            raise SourceError(source, offset, f"expected a name to assign to, found {_describe(kind, text)}",
                              hint="a statement is `name = expression`", length=max(1, len(text)))
        reason = reserved_reason(text)
        if reason:
            raise SourceError(source, offset, f"cannot assign to '{text}': {reason}", length=len(text),
                              hint="choose another name")
        eq = tokens.next()
        if eq[0] != "=":
            raise SourceError(source, eq[2], f"expected '=' after '{text}', found {_describe(eq[0], eq[1])}",
                              hint="a statement is `name = expression`", length=max(1, len(eq[1])))
        rpn, start, end = _ExpressionParser(source, tokens).parse()
        statements.append(Statement(text, offset, rpn, start, end))


class _Tokens:
    def __init__(self, source: Source):
        self._it = tokenize(source)
        self._peeked = None

    def next(self):
        if self._peeked is not None:
            tok, self._peeked = self._peeked, None
            return tok
        return next(self._it)

    def peek(self):
        if self._peeked is None:
            self._peeked = next(self._it)
        return self._peeked


def _describe(kind: str, text: str) -> str:
    if kind == "eof":
        return "the end of the file"
    if kind == "nl":
        return "the end of the line"
    return f"'{text}'"


class _ExpressionParser:
    """Reads one expression up to ';', a newline outside parentheses, or the end."""

    def __init__(self, source: Source, tokens: _Tokens):
        self.source, self.tokens = source, tokens
        self.rpn: list = []
        self.stack: list = []  # ("op", Op, offset) | ("(", None, offset) | ("call", Op, offset, [args])
        self.depth = 0

    def error(self, offset: int, message: str, hint: str = "", length: int = 1) -> SourceError:
        return SourceError(self.source, offset, message, hint=hint, length=length)

    def parse(self):
        expect_operand = True
        start = end = None
        while True:
            kind, text, offset = self.tokens.next()
            if kind == "nl" and self.depth:
                continue  # newlines inside parentheses are white space
            if expect_operand:
                expect_operand = self.operand(kind, text, offset)
            elif kind in ("nl", ";", "eof"):
                return self.finish(offset), start, end
            else:
                expect_operand = self.operator(kind, text, offset)
            if start is None:
                start = offset
            end = offset + len(text)

    # --- operand position -----------------------------------------------------------
    def operand(self, kind, text, offset) -> bool:
        """Handle a token where an operand must stand; return whether one is still expected."""
        if len(self.rpn) >= MAX_TERMS:
            raise self.error(offset, f"expression longer than {MAX_TERMS:,} terms",
                             hint="split it into several statements")
        if kind == "num":
            self.rpn.append(("num", float(text), offset, text))
            return False
        if kind == "name":
            return self.name(text, offset)
        if kind == "op" and text in "+-":
            if text == "-":
                self.stack.append(("op", NEG, offset))
            return True  # unary plus changes nothing
        if kind == "(":
            self.open(("(", None, offset))
            return True
        if kind == ")" and self.stack and self.stack[-1][0] == "call" and not self.stack[-1][3]:
            call = self.stack[-1]
            raise self.arity_error(call, 0)
        what = _describe(kind, text)
        if kind in ("nl", ";", "eof"):
            raise self.error(offset, f"expected an operand, found {what}",
                             hint="the expression is incomplete")
        raise self.error(offset, f"expected an operand (a number, a name, '(' or a function call), "
                                 f"found {what}", length=max(1, len(text)))

    def name(self, text, offset) -> bool:
        if keyword.iskeyword(text):
            raise self.error(offset, f"'{text}' is a reserved word, not part of the graph language",
                             length=len(text))
        is_call = self.tokens.peek()[0] == "("
        op = FUNCTIONS.get(text)
        if is_call:
            if op is None:
                raise self.unknown_function(text, offset)
            if op.arity == 0:
                raise self.error(offset, f"'{text}' is a constant, not a function", length=len(text),
                                 hint=f"write {text} without parentheses")
            self.tokens.next()
            self.open(("call", op, offset, []))
            return True
        if op is not None and op.arity:
            raise self.error(offset, f"'{text}' is a function; call it as {text}(...)",
                             length=len(text))
        self.rpn.append(("op", op, offset) if op else ("name", text, offset))
        return False

    def unknown_function(self, text, offset) -> SourceError:
        close = difflib.get_close_matches(text, list(FUNCTIONS), n=1)
        hint = f"did you mean '{close[0]}'?" if close else \
            "functions: " + ", ".join(n for n, op in FUNCTIONS.items() if op.arity)
        return self.error(offset, f"unknown function '{text}'", hint=hint, length=len(text))

    def open(self, entry) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.error(entry[2], f"nesting deeper than {MAX_NESTING} levels",
                             hint="split the expression into several statements")
        self.stack.append(entry)

    # --- operator position ----------------------------------------------------------
    def operator(self, kind, text, offset) -> bool:
        if kind == "op":
            self.binary(BINARY[text], offset)
            return True
        if kind == ")":
            self.close(offset)
            return False
        if kind == ",":
            self.comma(offset)
            return True
        if kind == "=":
            raise self.error(offset, "unexpected '='; a statement assigns one name",
                             hint="put each statement on its own line or separate them with ';'")
        if kind == "name" and keyword.iskeyword(text):
            raise self.error(offset, f"'{text}' is a reserved word, not part of the graph language",
                             length=len(text))
        hint = ""
        if kind == "name" or kind == "num" or kind == "(":
            hint = "write '*' for a product" if kind != "name" or self.rpn[-1][0] == "num" else \
                "separate statements with ';' or a new line"
        opened = self.innermost_open()
        if opened is not None and self.source.text.count("\n", opened, offset):
            # A newline inside parentheses is white space, so a forgotten ')' shows up here.
            raise SourceError(self.source, offset, f"expected an operator or ')', found "
                              f"{_describe(kind, text)}", length=max(1, len(text)),
                              also=(opened, "this '(' is still open"), hint="add the missing ')'")
        raise self.error(offset, f"expected an operator, ')' or the end of the statement, "
                                 f"found {_describe(kind, text)}", hint=hint, length=max(1, len(text)))

    def innermost_open(self) -> int | None:
        for entry in reversed(self.stack):
            if entry[0] != "op":
                return entry[2]
        return None

    def binary(self, op: Op, offset: int) -> None:
        right_assoc = op.name == "**"
        stack, rpn = self.stack, self.rpn
        while stack and stack[-1][0] == "op":
            top = stack[-1][1]
            if top.precedence > op.precedence or (top.precedence == op.precedence and not right_assoc):
                rpn.append(stack.pop())
            else:
                break
        stack.append(("op", op, offset))

    def pop_to_bracket(self):
        stack, rpn = self.stack, self.rpn
        while stack and stack[-1][0] == "op":
            rpn.append(stack.pop())
        return stack[-1] if stack else None

    def close(self, offset: int) -> None:
        top = self.pop_to_bracket()
        if top is None:
            raise self.error(offset, "unmatched ')'")
        self.stack.pop()
        self.depth -= 1
        if top[0] == "call":
            args = top[3]
            args.append(offset)
            if len(args) != top[1].arity:
                raise self.arity_error(top, len(args))
            self.rpn.append(("op", top[1], top[2]))

    def comma(self, offset: int) -> None:
        top = self.pop_to_bracket()
        if top is None or top[0] != "call":
            raise self.error(offset, "unexpected ','", hint="',' separates the arguments of a call")
        top[3].append(offset)

    def arity_error(self, call, got: int) -> SourceError:
        op = call[1]
        want = f"{op.arity} argument" + ("s" if op.arity != 1 else "")
        return self.error(call[2], f"'{op.name}' takes {want}, got {got}", length=len(op.name))

    def finish(self, offset: int) -> list:
        top = self.pop_to_bracket()
        if top is not None:
            raise self.error(top[2], "'(' is never closed" if top[0] == "(" else
                             f"'{top[1].name}(' is never closed",
                             hint=f"add ')' before {_describe(*self.tokens_at(offset))}")
        return self.rpn

    def tokens_at(self, offset):
        text = self.source.text
        if offset >= len(text):
            return "eof", ""
        return ("nl", "") if text[offset] == "\n" else (";", ";")


# --- the fast path: statements by shape ---------------------------------------------------
# A big generated graph repeats a few statement shapes (`x7 = sin(x6)*0.5 + x6*w`), so each
# distinct shape (the statement with its names and numbers cut out) is parsed once by the
# careful parser above, and every statement of that shape is then built from the template by
# putting its own names, numbers and offsets in. A regular expression (C speed) cuts the
# statement into text and atoms; Python only fills in the items. Anything a template cannot
# vouch for (a statement over several lines, a name that is a function or a keyword, any
# error) sends the whole text to the careful parser, which then gives the same statements or
# the message.

_CONSTANTS = "|".join(name for name, op in FUNCTIONS.items() if op.arity == 0)
# A name not followed by '(' (calls stay part of the shape) and not a constant, or a number.
_ATOMS = re.compile(rf"(\b(?!(?:{_CONSTANTS})\b)[A-Za-z_]\w*\b(?!\s*\()"
                    r"|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)", re.ASCII)
_NUMBER_START = frozenset("0123456789.")
_SPECIAL = frozenset(FUNCTIONS) | frozenset(keyword.kwlist)  # names the careful parser refuses
MIN_REUSE = 4  # past 64 shapes, give up unless each shape serves 4 statements on average


class _GiveUp(Exception):
    """The fast path met something it leaves to the careful parser."""


def parse_fast(text: str) -> list[Statement] | None:
    """The statements of `text` exactly as `parse` gives them, or None: then `parse` must run
    (it also gives every error message)."""
    try:
        return _parse_by_shape(text)
    except _GiveUp:
        return None


def _parse_by_shape(text: str) -> list[Statement]:
    statements: list[Statement] = []
    templates: dict[tuple, tuple | None] = {}
    names: dict[str, str] = {}
    line_start = 0
    for line in text.split("\n"):
        base = line_start
        line_start += len(line) + 1
        code = line.partition("#")[0] if "#" in line else line
        for segment in code.split(";") if ";" in code else (code,):
            here = base
            base += len(segment) + 1
            if not segment.strip(" \t\f\v"):
                continue  # the lexer's white space only: U+3000 and friends are errors
            parts = _ATOMS.split(segment)
            shape = tuple(parts[0::2])
            template = templates.get(shape, False)
            if template is False:
                if len(templates) > 64 and len(templates) * MIN_REUSE > len(statements):
                    raise _GiveUp  # hand-written text: every shape new, the careful parser is as fast
                template = templates[shape] = _template(segment, parts)
            if template is None:
                raise _GiveUp
            statements.append(_instantiate(template, parts[1::2], here, names))
    return statements


def _template(segment: str, parts: list[str]) -> tuple | None:
    """How to build a statement of this shape from its atoms (names and numbers, in order):
    each offset is a constant plus the lengths of the atoms before it. None: not this way."""
    if segment.count("(") != segment.count(")"):
        return None  # it may go on over the next line: the careful parser decides
    try:
        parsed = parse_carefully(Source("<shape>", segment))
    except SourceError:
        return None
    starts = list(accumulate(map(len, parts[:-1])))[0::2]  # where each atom starts
    lengths = list(accumulate(map(len, parts[1::2]), initial=0))  # of the first k atoms
    if len(parsed) != 1 or parsed[0].offset != (starts[0] if starts else -1):
        return None

    def place(offset: int) -> tuple[int, int]:
        """offset = const + (the lengths of the first k atoms), as (const, k)."""
        k = bisect_left(starts, offset)
        return offset - lengths[k], k

    statement = parsed[0]
    items = []
    for kind, payload, offset, *_ in statement.rpn:
        const, k = place(offset)
        if kind != "op" and (k == len(starts) or starts[k] != offset):
            return None  # an operand that is not an atom
        items.append((payload if kind == "op" else None, const, k))
    return tuple(items), place(statement.offset), place(statement.start), place(statement.end)


def _instantiate(template: tuple, atoms: list[str], base: int, names: dict) -> Statement:
    items, target_at, start, end = template
    if not _SPECIAL.isdisjoint(atoms) or atoms[0][0] in _NUMBER_START:
        raise _GiveUp  # a function or keyword as a name, a number assigned to: explained there
    offsets = list(accumulate(map(len, atoms), initial=base))  # base + lengths of the first k
    rpn = []
    for op, const, k in items:
        if op is not None:
            rpn.append(("op", op, const + offsets[k]))
            continue
        atom = atoms[k]  # a name or a number: either is an operand in the same place
        if atom[0] in _NUMBER_START:
            rpn.append(("num", float(atom), const + offsets[k], atom))
        else:
            rpn.append(("name", names.setdefault(atom, atom), const + offsets[k]))
    target = atoms[0]
    return Statement(names.setdefault(target, target), target_at[0] + offsets[target_at[1]], rpn,
                     start[0] + offsets[start[1]], end[0] + offsets[end[1]])
