"""RPN -> expression text with the fewest parentheses that parse back to the same tree."""

from __future__ import annotations

import re

_ATOM = 10
_SPACED = {"+", "-"}  # "u + b" but "x*w": reads like the notebook and like sympy


def format_rpn(rpn: list) -> str:
    # Pieces are nested tuples (a rope) so a 100,000-term expression costs linear time.
    stack: list = []
    for item in rpn:
        kind, payload = item[0], item[1]
        if kind == "num":
            stack.append((item[3], _ATOM))
        elif kind == "name":
            stack.append((payload, _ATOM))
        else:
            stack.append(_apply(payload, stack))
    return _flatten(stack[-1][0])


def _apply(op, stack):
    if op.arity == 0:
        return op.name, _ATOM
    if op.name == "neg":
        text, prec = stack.pop()
        return ("-", _wrap(text, prec < op.precedence)), op.precedence
    if not op.infix:
        args = [stack.pop() for _ in range(op.arity)][::-1]
        parts = [op.name, "("]
        for i, (text, _) in enumerate(args):
            parts += [", "] * (i > 0) + [text]
        return tuple(parts) + (")",), _ATOM
    right, rprec = stack.pop()
    left, lprec = stack.pop()
    p = op.precedence
    if op.name == "**":  # right-associative
        left, right = _wrap(left, lprec <= p), _wrap(right, rprec < p - 1)
    else:
        left, right = _wrap(left, lprec < p), _wrap(right, rprec <= p)
    sep = f" {op.name} " if op.name in _SPACED else op.name
    return (left, sep, right), p


def _wrap(text, needed: bool):
    return ("(", text, ")") if needed else text


def _flatten(rope) -> str:
    out: list[str] = []
    todo = [rope]
    while todo:
        piece = todo.pop()
        if isinstance(piece, str):
            out.append(piece)
        else:
            todo.extend(reversed(piece))
    return "".join(out)


# --- LaTeX ----------------------------------------------------------------------------------
# Names are shown exactly as written (no sympy-style x1 -> x_{1} guessing), so a reader can
# find them in the graph file: one letter is itself, longer names are upright words.

_LATEX_SPECIAL = {"_": r"\_", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "{": r"\{",
                  "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "\\": r"\textbackslash{}", "∂": r"$\partial$", "·": r"$\cdot$",
                  "…": r"\ldots{}", "✓": "ok", "✗": "MISMATCH", "≈": r"$\approx$",
                  "–": "--", "—": "---", "<": r"\textless{}", ">": r"\textgreater{}",
                  "|": r"\textbar{}", '"': "''", "`": r"\`{}"}
_LATEX_FUNCTIONS = {"exp": r"\exp", "log": r"\log", "sin": r"\sin", "cos": r"\cos",
                    "tanh": r"\tanh", "max": r"\max", "min": r"\min"}
_LATEX_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 10, "neg": 3, "**": 4}


def latex_text(text: str) -> str:
    """Plain text made safe inside LaTeX (text mode)."""
    return "".join(_LATEX_SPECIAL.get(c, c) for c in text)


def latex_name(name: str) -> str:
    """A graph name in math mode: `x`, `\\mathrm{d\\_a}`."""
    return name if len(name) == 1 and name.isalpha() else r"\mathrm{" + latex_text(name) + "}"


def latex_number(text: str) -> str:
    """A number as written (`1e-3`, `2.5`, or nan/inf as gradcli prints them) in math mode."""
    special = {"nan": r"\mathrm{NaN}", "inf": r"\infty", "-inf": r"-\infty"}.get(text)
    if special:
        return special
    mantissa, e, exponent = text.lower().partition("e")
    if not e:
        return mantissa
    exponent = str(int(exponent))
    return exponent and (rf"10^{{{exponent}}}" if mantissa in ("1", "1.0") else
                         rf"{mantissa} \cdot 10^{{{exponent}}}")


def format_rpn_latex(rpn: list) -> str:
    """RPN -> LaTeX math: \\frac for division, \\cdot for products, \\operatorname for relu."""
    stack: list = []
    for item in rpn:
        kind, payload = item[0], item[1]
        if kind == "num":
            stack.append((latex_number(item[3]), _ATOM))
        elif kind == "name":
            stack.append((latex_name(payload), _ATOM))
        else:
            stack.append(_apply_latex(payload, stack))
    return _flatten(stack[-1][0])


def _latex_function(name: str) -> str:
    return _LATEX_FUNCTIONS.get(name, r"\operatorname{" + name + "}")


def _apply_latex(op, stack):
    if op.arity == 0:
        return r"\pi", _ATOM
    if op.name == "neg":
        text, prec = stack.pop()
        return ("-", _wrap_latex(text, prec <= 3)), 3
    if op.name == "sqrt":
        return (r"\sqrt{", stack.pop()[0], "}"), _ATOM
    if op.name == "abs":
        return (r"\left|", stack.pop()[0], r"\right|"), _ATOM
    if not op.infix:
        args = [stack.pop()[0] for _ in range(op.arity)][::-1]
        inner: tuple = args[0] if op.arity == 1 else (args[0], ", ", args[1])
        return (_latex_function(op.name), r"\left(", inner, r"\right)"), _ATOM
    (right, rprec), (left, lprec) = stack.pop(), stack.pop()
    if op.name == "/":
        return (r"\frac{", left, "}{", right, "}"), _ATOM
    if op.name == "**":
        return ("{", _wrap_latex(left, lprec <= 4), "}^{", right, "}"), 4
    p = _LATEX_PRECEDENCE[op.name]
    # a negated right operand is bracketed, as written by hand: x - (-y), x \cdot (-y)
    left, right = _wrap_latex(left, lprec < p), _wrap_latex(right, rprec <= p or rprec == 3)
    sep = {"+": " + ", "-": " - ", "*": r" \cdot "}[op.name]
    return (left, sep, right), p


def _wrap_latex(text, needed: bool):
    return (r"\left(", text, r"\right)") if needed else text


# --- Markdown (GitHub-flavoured) -------------------------------------------------------------

# Inline specials only: lines never start with text we escape, so `#`, `-`, `+`, `1.` are safe.
_MD_SPECIAL = set("\\`*_[]<>|~")


def md_escape(text: str) -> str:
    """Plain text that Markdown shows as it is (no emphasis, links or table breaks)."""
    return "".join("\\" + c if c in _MD_SPECIAL else c for c in text)


def md_code(text: str) -> str:
    """A code span that holds any text: a fence longer than its longest backtick run. (Names
    and expressions have no `|`, so one in a table cell cannot end the cell.)"""
    if not text:
        return ""
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"
