"""RPN -> expression text with the fewest parentheses that parse back to the same tree."""

from __future__ import annotations

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
