"""Central finite differences of the output with respect to each node, as an independent check
that shares nothing with the derivative rules; kinks are found and excluded, not failed."""

from __future__ import annotations

import time

from . import ieee
from .check import MethodReport, Verdict, nonfinite_paths

STEP = 2.0 ** -17  # ≈ cbrt(machine epsilon): balances truncation (h²) against rounding (ε/h)
RTOL = 1e-4
ATOL = 1e-6  # times max(1, |output|): rounding error grows with the output's size
MAX_NODES = 500
SECONDS = 10.0


def forward_fixed(tape, vals: list[float], slot: int, value: float) -> list[float]:
    """The forward pass again with one node held at `value` (its own statement skipped)."""
    vals = list(vals)
    vals[slot] = value
    for op, out, a, b in tape.instructions:
        if out == slot:
            continue
        if b >= 0:
            vals[out] = op.forward(vals[a], vals[b])
        elif a >= 0:
            vals[out] = op.forward(vals[a])
    return vals


def live_kinks(tape, out_slot: int) -> list[int]:
    """Instructions with a kink from which the output can be reached."""
    reaches = [False] * tape.slots
    reaches[out_slot] = True
    kinks = []
    for i in range(len(tape.instructions) - 1, -1, -1):
        op, out, a, b = tape.instructions[i]
        if not reaches[out]:
            continue
        for arg in (a, b):
            if arg >= 0:
                reaches[arg] = True
        if op.kink is not None:
            kinks.append(i)
    return kinks


def _coordinate(op, vals, a, b) -> float:
    return op.kink.where(vals[a]) if b < 0 else op.kink.where(vals[a], vals[b])


def _side(c: float) -> float:
    return (c > 0.0) - (c < 0.0) if c == c else 2.0


def crossed_kink(tape, kinks, base, up, down) -> str | None:
    """The first live kink that the step moves and that it sits on or crosses, named."""
    for i in kinks:
        op, out, a, b = tape.instructions[i]
        at = [_coordinate(op, v, a, b) for v in (base, up, down)]
        if at[1] == at[2]:
            continue  # this kink's argument does not move with the step
        if len({_side(c) for c in at}) > 1 or at[0] == 0.0:
            return _describe(tape, i, op, a, b, base, exactly=at[0] == 0.0)
    return None


def _describe(tape, i, op, a, b, base, exactly: bool) -> str:
    names = list(tape.node_slot)
    args = [names[s] if s < len(names) else "(an intermediate value)" for s in (a, b) if s >= 0]
    where = " = ".join(args) if len(args) == 2 else f"{args[0]} = 0"
    place = f"{op.name} at {where}" if exactly else f"{op.name} within one step of {where}"
    return f"{place} in {tape.owners()[i]}"


def check(result) -> MethodReport:
    report = MethodReport("fd", rtol=RTOL)
    tape, vals = result.tape, result.slot_values
    out_slot = tape.node_slot[result.output]
    f = vals[out_slot]
    report.atol = ATOL * max(1.0, abs(f)) if ieee.is_finite(f) else ATOL
    kinks = live_kinks(tape, out_slot)
    names = [n.name for n in result.nodes]
    checked = names if len(names) <= MAX_NODES else list(result.graph.inputs)
    deadline = time.perf_counter() + SECONDS
    for node in result.nodes:
        if node.name not in checked:
            report.nodes[node.name] = Verdict("skipped")
            continue
        if time.perf_counter() > deadline:
            report.notes.append(f"time budget of {SECONDS:g} s used up; later nodes not checked")
            checked = []
            report.nodes[node.name] = Verdict("skipped")
            continue
        report.nodes[node.name] = _difference(result, report, node, kinks, out_slot)
    report.how = ("central differences at steps h and h/2 (h = 2^-17·max(1, |value|)), "
                  "Richardson-extrapolated, with |D(h) - D(h/2)| added to the tolerance; per "
                  + ("node" if len(checked) == len(names) else "input"))
    if len(names) > MAX_NODES:
        report.notes.append(f"only the inputs were perturbed (the graph has over {MAX_NODES} nodes)")
    return report


def _central(tape, base, slot: int, x: float, h: float, out_slot: int):
    up = forward_fixed(tape, base, slot, x + h)
    down = forward_fixed(tape, base, slot, x - h)
    return (up[out_slot] - down[out_slot]) / ((x + h) - (x - h)), up, down


def _difference(result, report: MethodReport, node, kinks, out_slot: int) -> Verdict:
    """Richardson-extrapolated central difference, with its own error estimate: a steep output
    (sin(e^x) at x = 9) widens the tolerance by that estimate instead of crying mismatch."""
    tape, base = result.tape, result.slot_values
    slot = tape.node_slot[node.name]
    x = base[slot]
    if not ieee.is_finite(x):
        return Verdict("skipped")
    h = STEP * max(1.0, abs(x))
    coarse, up, down = _central(tape, base, slot, x, h, out_slot)
    kink = crossed_kink(tape, kinks, base, up, down)
    if kink is not None:
        left = (base[out_slot] - down[out_slot]) / (x - (x - h))
        right = (up[out_slot] - base[out_slot]) / ((x + h) - x)
        report.notes.append(f"d{result.output}/d{node.name}: {kink}: left {left:.6g}, "
                            f"right {right:.6g}, convention {node.grad:.6g} (a kink: not compared)")
        return Verdict("excluded", coarse)
    fine, _, _ = _central(tape, base, slot, x, h / 2, out_slot)
    estimate = (4.0 * fine - coarse) / 3.0
    spread = abs(fine - coarse) if ieee.is_finite(fine - coarse) else 0.0
    # A step of 1 or more (|x| >= 2^17) can span whole periods of sin or cos: then the two
    # differences must agree relatively, not just within atol (sin at 1e308 gives ~1e-303).
    floor = 0.0 if h >= 1.0 else report.atol
    if spread > 0.01 * max(abs(estimate), floor):
        report.notes.append(f"d{result.output}/d{node.name}: finite differences are unreliable "
                            f"here (h gives {coarse:.6g}, h/2 gives {fine:.6g}); not compared")
        return Verdict("unverified", estimate)
    return report.judge(node.grad, estimate, f"d{result.output}/d{node.name}",
                        atol=report.atol + spread,
                        nonfinite_path=node.name in nonfinite_paths(result)[0])
