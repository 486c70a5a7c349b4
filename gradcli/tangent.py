"""Forward mode: tangents pushed through the tape with the op table's `derivative` rules, as an
independent check of the reverse sweep (it shares only the ops' forward values)."""

from __future__ import annotations

import random
import time

from .check import MethodReport, nonfinite_paths

RTOL = 1e-9  # both modes are exact up to rounding: a rule slip is far larger than this
ATOL = 1e-12
MAX_NODES = 500  # past this, forward mode checks the inputs and a random direction only
SECONDS = 10.0


def jvp(tape, vals: list[float], seeds: dict[int, float]) -> list:
    """Tangent of every slot given tangents at `seeds`; a seeded slot is held independent.

    None marks a slot the seeds do not reach (a structural zero, as in JAX), so an inf or nan
    partial elsewhere never turns into 0*inf.
    """
    t: list = [None] * tape.slots
    for slot, tangent in seeds.items():
        t[slot] = tangent
    for op, out, a, b in tape.instructions:
        if out in seeds or a < 0:
            continue
        ta = t[a]
        tb = t[b] if b >= 0 else None
        if ta is None and tb is None:
            continue
        if b >= 0:
            da, db = op.derivative(vals[a], vals[b], vals[out])
            if ta is None:
                t[out] = db * tb
            elif tb is None:
                t[out] = da * ta
            else:
                t[out] = da * ta + db * tb
        else:
            (da,) = op.derivative(vals[a], vals[out])
            t[out] = da * ta
    return t


def check(result) -> MethodReport:
    report = MethodReport("forward", rtol=RTOL, atol=ATOL)
    tape, vals = result.tape, result.slot_values
    out_slot = tape.node_slot[result.output]
    names = [n.name for n in result.nodes]
    checked = names if len(names) <= MAX_NODES else list(result.graph.inputs)
    grads = {n.name: n.grad for n in result.nodes}
    deadline = time.perf_counter() + SECONDS
    tainted = nonfinite_paths(result)[0]
    for name in checked:
        if time.perf_counter() > deadline:
            report.notes.append(f"time budget of {SECONDS:g} s used up; the remaining nodes "
                                "were not checked")
            break
        tangent = jvp(tape, vals, {tape.node_slot[name]: 1.0})[out_slot]
        report.nodes[name] = report.judge(grads[name], 0.0 if tangent is None else tangent,
                                          f"d{result.output}/d{name}",
                                          nonfinite_path=name in tainted)
    for name in names:
        report.nodes.setdefault(name, _skipped())
    how = "one tangent pass per node" if len(checked) == len(names) else \
        f"one tangent pass per input (the graph has over {MAX_NODES} nodes)"
    report.how = how + "; " + _random_direction(result, report, out_slot)
    return report


def _skipped():
    from .check import Verdict
    return Verdict("skipped")


def _random_direction(result, report: MethodReport, out_slot: int) -> str:
    """JAX's identity: <grad, v> equals the JVP along v, for a random v over the inputs."""
    inputs = result.graph.inputs
    if not inputs:
        return "no inputs for a random direction"
    rng = random.Random(0)  # seeded: the same direction, and verdict, on every run
    v = {name: rng.uniform(-1.0, 1.0) for name in inputs}
    tangent = jvp(result.tape, result.slot_values,
                  {result.tape.node_slot[n]: v[n] for n in inputs})[out_slot]
    along = 0.0 if tangent is None else tangent
    grads = {n.name: n.grad for n in result.nodes}
    dot = sum(grads[n] * v[n] for n in inputs)
    verdict = report.judge(dot, along, "<grad, v> against the JVP along a random v",
                           atol=ATOL * len(inputs),
                           nonfinite_path=any(n in nonfinite_paths(result)[0] for n in inputs))
    return f"random direction: <grad, v> = {dot!r}, JVP = {along!r} ({verdict.status})"
