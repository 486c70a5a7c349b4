"""Where nan and inf come from: the op that first made a non-finite value in the forward pass,
and the backward rule that first made a non-finite gradient, told apart from the nodes that
merely passed one on (like torch.autograd.detect_anomaly, for both passes, and precise)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from . import ieee

MAX_ORIGINS = 5  # independent origins listed per pass; the rest are counted


@dataclass(frozen=True)
class Anomaly:
    node: str  # the statement where it arose
    op: str
    operands: list[tuple[str, float]]  # (how the operand is written, its value)
    result: float  # the non-finite value or gradient contribution
    into: str | None = None  # backward: the operand whose gradient became non-finite
    text: str = ""


@dataclass
class AnomalyReport:
    forward: list[Anomaly] = field(default_factory=list)
    backward: list[Anomaly] = field(default_factory=list)
    nonfinite_inputs: list[str] = field(default_factory=list)
    passed_on_forward: list[str] = field(default_factory=list)  # non-finite values inherited
    passed_on_backward: list[str] = field(default_factory=list)  # non-finite grads inherited
    more: int = 0

    def lines(self) -> list[str]:
        out = [f"input {name} is {_fmt(value)}" for name, value in self.nonfinite_inputs]
        out += [f"forward: {a.text}" for a in self.forward]
        if self.passed_on_forward:
            out.append("forward: passed on by " + _names(self.passed_on_forward))
        out += [f"backward: {a.text}" for a in self.backward]
        if self.passed_on_backward:
            out.append("backward: passed on to " + _names(self.passed_on_backward))
        if self.more:
            out.append(f"{self.more} more origin(s) not listed")
        return out


def _names(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _fmt(x: float) -> str:
    if x != x:
        return "nan"
    return repr(x) if ieee.is_finite(x) else ("inf" if x > 0 else "-inf")


def _operands(tape, names, a, b, vals):
    """Each operand as written: a node's name, a literal's value, or (...) for a sub-expression."""
    shown = []
    for slot in (a, b):
        if slot < 0:
            continue
        if slot < len(names):
            shown.append((names[slot], vals[slot]))
        else:  # a literal or a sub-expression: shown by its value
            shown.append((_fmt(vals[slot]), vals[slot]))
    return shown


def _written(op, operands) -> str:
    parts = [text for text, _ in operands]
    if op.infix:
        return f"{parts[0]} {op.name} {parts[1]}"
    if op.name == "neg":
        return f"-{parts[0]}"
    return f"{op.name}({', '.join(parts)})"


def _at(operands) -> str:
    named = [f"{text}={_fmt(v)}" for text, v in operands if text != _fmt(v)]
    return f" at {', '.join(named)}" if named else ""


def find(tape, graph, vals: list[float], grads: list, output: str) -> AnomalyReport:
    report = AnomalyReport()
    if all(map(math.isfinite, vals)) and \
            all(map(math.isfinite, filter(_reached, grads[:len(tape.node_slot)]))):
        return report  # the usual case, checked at C speed
    names = list(tape.node_slot)
    report.nonfinite_inputs = [(n, vals[tape.node_slot[n]]) for n in graph.inputs
                               if not ieee.is_finite(vals[tape.node_slot[n]])]
    owner = tape.owners()
    origins = set()
    for i, (op, out, a, b) in enumerate(tape.instructions):
        if ieee.is_finite(vals[out]) or a < 0:
            continue
        operands = _operands(tape, names, a, b, vals)
        if all(ieee.is_finite(v) for _, v in operands):
            origins.add(owner[i])
            _add(report, report.forward, Anomaly(
                owner[i], op.name, operands, vals[out],
                text=f"{owner[i]}: {_written(op, operands)}{_at(operands)} gives {_fmt(vals[out])}"))
    report.passed_on_forward = [s.target for s in graph.statements if s.target not in origins
                                and not ieee.is_finite(vals[tape.node_slot[s.target]])]
    if any(g is not None and not ieee.is_finite(g) for g in grads[:len(names)]):
        _backward_origins(tape, names, owner, vals, grads, output, report)
    return report


def _reached(g) -> bool:
    return g is not None


def _add(report: AnomalyReport, found: list, anomaly: Anomaly) -> None:
    if len(found) < MAX_ORIGINS:
        found.append(anomaly)
    else:
        report.more += 1


def _constant_slots(tape) -> set[int]:
    """Literals and sub-expressions of literals only: their gradients mean nothing."""
    constant = set(tape.constants)
    for _, out, a, b in tape.instructions:
        if out >= len(tape.node_slot) and (a < 0 or a in constant) and (b < 0 or b in constant):
            constant.add(out)
    return constant


def _backward_origins(tape, names, owner, vals, grads, output, report) -> None:
    """Replay the reverse sweep and note each rule that turns finite values into a
    non-finite gradient contribution (nan or inf in from a finite g and finite operands)."""
    constant = _constant_slots(tape)
    for i in range(len(tape.instructions) - 1, -1, -1):
        op, out, a, b = tape.instructions[i]
        g = grads[out]
        if g is None or a < 0 or not ieee.is_finite(g):
            continue
        operands = _operands(tape, names, a, b, vals)
        if not all(ieee.is_finite(v) for _, v in operands):
            continue
        parts = op.backward(g, vals[a], vals[b], vals[out]) if b >= 0 else \
            op.backward(g, vals[a], vals[out])
        for slot, (text, _), part in zip((a, b), operands, parts):
            if ieee.is_finite(part) or slot in constant:
                continue
            into = text if slot < len(names) else None
            what = f"the gradient of {into}" if into else "the gradient of a sub-expression"
            _add(report, report.backward, Anomaly(
                owner[i], op.name, operands, part, into,
                text=f"{owner[i]}: the backward rule of {_written(op, operands)}{_at(operands)} "
                     f"makes {what} {_fmt(part)}"))
    origins = {a.into for a in report.backward}
    report.passed_on_backward = [n for n, g in zip(names, grads)
                                 if g is not None and not ieee.is_finite(g) and n not in origins]
