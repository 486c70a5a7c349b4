"""What gradcli's engine is measured against, each run on a graphs.Program.

torch      PyTorch eager: every node a 0-d float64 tensor (inputs with requires_grad), then
           every node's gradient in one call, torch.autograd.grad(output, all_nodes).
micrograd  Karpathy's micrograd 0.1.0: Value objects, then output.backward(). Its
           build_topo recurses once per level of depth, so past ~1000 levels it raises
           RecursionError; that is reported as such (the recursion limit is left alone).
reference  The CPython limit: one generated function of straight-line code over local
           float variables, forward then backward, compiled once (compile timed apart).
loop       The floor of any interpreter of a tape: the same (op, out, a, b) steps run by a
           bare Python loop over floats, forward only, no gradients.

torch and micrograd are driven by that same bare loop (`drive`): it costs about 0.1 µs a
step, a few % of micrograd's time and under 1% of PyTorch's. Every timed region runs with
the cycle collector off after a gc.collect(); forward and backward are timed apart.
"""

from __future__ import annotations

import gc
import operator
import time

from graphs import Program

BINARY = {"+": operator.add, "-": operator.sub, "*": operator.mul}


def drive(steps, vals) -> None:
    for fn, out, a, b in steps:
        if b < 0:
            vals[out] = fn(vals[a])
        else:
            vals[out] = fn(vals[a], vals[b])


def _slots(p: Program) -> list:
    vals: list = [None] * p.slots
    for slot, value in p.constants.items():
        vals[slot] = value
    return vals


class _Timer:
    """perf_counter laps with the cycle collector off between start() and stop()."""

    def start(self) -> float:
        gc.collect()
        gc.disable()
        self.t = time.perf_counter()
        return self.t

    def lap(self) -> float:
        now = time.perf_counter()
        elapsed, self.t = now - self.t, now
        return elapsed

    def stop(self) -> float:
        elapsed = self.lap()
        gc.enable()
        return elapsed


def _record(runs: list[dict], grads: list[float]) -> dict:
    best = min(runs, key=lambda r: r["forward"] + r["backward"])
    return {"forward": best["forward"], "backward": best["backward"], "runs": runs, "grads": grads}


def run_torch(p: Program, reps: int, sample: list[int]) -> dict:
    import torch
    fns = {**BINARY, "relu": torch.relu}
    steps = [(fns[op], out, a, b) for op, out, a, b in p.steps]
    runs, timer = [], _Timer()
    for _ in range(reps):
        vals = _slots(p)
        timer.start()
        for i, x in enumerate(p.inputs):
            vals[i] = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        drive(steps, vals)
        forward = timer.lap()
        grads = torch.autograd.grad(vals[p.output], vals[:p.node_slots], allow_unused=True)
        runs.append({"forward": forward, "backward": timer.stop()})
        sampled = [0.0 if grads[i] is None else float(grads[i]) for i in sample]
        del vals, grads  # free the graph before the next repetition builds its own
    return {**_record(runs, sampled), "version": torch.__version__}


def run_micrograd(p: Program, reps: int, sample: list[int]) -> dict:
    from importlib.metadata import version

    from micrograd.engine import Value
    fns = {**BINARY, "relu": Value.relu}
    steps = [(fns[op], out, a, b) for op, out, a, b in p.steps]
    runs, timer = [], _Timer()
    sampled: list[float] = []
    for _ in range(reps):
        vals = _slots(p)
        timer.start()
        for i, x in enumerate(p.inputs):
            vals[i] = Value(x)
        drive(steps, vals)
        forward = timer.lap()
        try:
            vals[p.output].backward()
        except RecursionError:
            timer.stop()
            return {"error": "RecursionError", "forward": forward, "version": version("micrograd")}
        runs.append({"forward": forward, "backward": timer.stop()})
        sampled = [float(vals[i].grad) for i in sample]
        del vals
    return {**_record(runs, sampled), "version": version("micrograd")}


def run_loop(p: Program, reps: int) -> float:
    fns = {**BINARY, "relu": lambda a: a if a > 0.0 else 0.0}
    steps = [(fns[op], out, a, b) for op, out, a, b in p.steps]
    best, timer = float("inf"), _Timer()
    for _ in range(reps):
        vals = _slots(p)
        vals[:len(p.inputs)] = p.inputs
        timer.start()
        drive(steps, vals)
        best = min(best, timer.stop())
    return best


# --- the straight-line reference ------------------------------------------------------------

def reference_source(p: Program) -> str:
    """def run(v0, v1, ...): forward; _t = _clock(); backward; return values, grads, _t."""
    def v(slot: int) -> str:
        return repr(p.constants[slot]) if slot in p.constants else f"v{slot}"

    lines = [f"def run({', '.join(f'v{i}' for i in range(len(p.inputs)))}):"]
    for op, out, a, b in p.steps:
        if op == "relu":
            lines.append(f"    v{out} = v{a} if v{a} > 0.0 else 0.0")
        else:
            lines.append(f"    v{out} = {v(a)} {op} {v(b)}")
    lines.append("    _t = _clock()")
    has = {p.output}
    lines.append(f"    g{p.output} = 1.0")
    for op, out, a, b in reversed(p.steps):
        if out not in has:
            continue  # no path from the output: like gradcli and PyTorch, never run
        g = f"g{out}"
        if op == "relu":
            parts = [(a, "+", f"({g} if v{out} > 0.0 else 0.0)")]
        elif op == "+":
            parts = [(a, "+", g), (b, "+", g)]
        elif op == "-":
            parts = [(a, "+", g), (b, "-", g)]
        else:
            parts = [(a, "+", f"{g} * {v(b)}"), (b, "+", f"{g} * {v(a)}")]
        for slot, sign, term in parts:
            if slot in p.constants:
                continue
            if slot in has:
                lines.append(f"    g{slot} {sign}= {term}")
            else:
                lines.append(f"    g{slot} = {'-' if sign == '-' else ''}{term}")
                has.add(slot)
    lines += [f"    g{i} = 0.0" for i in range(p.node_slots) if i not in has]
    nodes = range(p.node_slots)
    lines.append(f"    return [{', '.join(f'v{i}' for i in nodes)}], "
                 f"[{', '.join(f'g{i}' for i in nodes)}], _t")
    return "\n".join(lines) + "\n"


def run_reference(p: Program, reps: int, sample: list[int]) -> dict:
    timer = _Timer()
    timer.start()
    source = reference_source(p)
    generate = timer.lap()
    code = compile(source, "<reference>", "exec")
    compile_seconds = timer.stop()
    del source
    namespace = {"_clock": time.perf_counter}
    exec(code, namespace)  # our own generated code, never user text
    run = namespace["run"]
    runs = []
    for _ in range(reps):
        gc.collect()
        gc.disable()
        started = time.perf_counter()
        values, grads, middle = run(*p.inputs)
        ended = time.perf_counter()
        gc.enable()
        runs.append({"forward": middle - started, "backward": ended - middle})
        sampled = [grads[i] for i in sample]
        del values, grads
    return {**_record(runs, sampled), "generate": generate, "compile": compile_seconds,
            "loop": run_loop(p, reps)}
