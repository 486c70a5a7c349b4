"""Forward values, local partials and the reverse sweep, all as loops over one flat tape."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from .anomalies import AnomalyReport
from .anomalies import find as find_anomalies
from .graph import Graph
from .ops import IDENTITY, Op

# The tape holds one instruction per op application: (op, out, a, b) with b = -1 for unary
# ops and a = b = -1 for constants like pi. Slots 0..n-1 are the graph's nodes (inputs, then
# statements in file order); statement temporaries and literals follow.


@dataclass(frozen=True)
class Tape:
    instructions: list
    slots: int
    constants: dict[int, float]  # literal slots and their values
    node_slot: dict[str, int]
    statement_ends: list[int]  # instruction index just past each statement
    from_names: list[list[int]]  # per statement: node slots it mentions, first use first

    def owners(self) -> list[str]:
        """The statement (its node's name) each instruction belongs to."""
        names = list(self.node_slot)
        first = len(names) - len(self.statement_ends)
        owner, start = [], 0
        for index, end in enumerate(self.statement_ends):
            owner += [names[first + index]] * (end - start)
            start = end
        return owner


class Edge(NamedTuple):  # a tuple: made by the million, so made fast
    source: str  # the name mentioned
    target: str  # the node whose statement mentions it
    local: float  # d target / d source, summed over every mention


@dataclass(frozen=True)
class Evaluation:
    tape: Tape
    slot_values: list[float]  # every slot, temporaries included (for the checks)
    values: list[float]  # per node, graph.nodes order
    grads: list[float]
    edges: list[Edge]
    kinks: list[str]
    anomalies: AnomalyReport


def compile_tape(graph: Graph) -> Tape:
    node_slot = {name: i for i, name in enumerate(graph.nodes)}
    slots = len(node_slot)
    instructions: list = []
    emit = instructions.append
    constants: dict[int, float] = {}
    ends: list[int] = []
    from_names: list[list[int]] = []
    for s in graph.statements:
        stack: list[int] = []
        push, pop = stack.append, stack.pop
        mentioned: dict[int, None] = {}
        first = len(instructions)
        for item in s.rpn:
            kind = item[0]
            if kind == "name":
                slot = node_slot[item[1]]
                mentioned[slot] = None
                push(slot)
                continue
            if kind == "num":
                constants[slots] = item[1]
            else:
                op: Op = item[1]
                if op.arity == 2:
                    b = pop()
                    emit((op, slots, pop(), b))
                else:
                    emit((op, slots, pop() if op.arity else -1, -1))
            push(slots)
            slots += 1
        result = pop()
        target = node_slot[s.target]
        if len(instructions) > first and instructions[-1][1] == result:
            op, _, a, b = instructions[-1]
            instructions[-1] = (op, target, a, b)  # the statement's last op writes the node
        else:
            emit((IDENTITY, target, result, -1))  # `a = x` or `a = 3`
        ends.append(len(instructions))
        from_names.append(list(mentioned))
    return Tape(instructions, slots, constants, node_slot, ends, from_names)


def forward(tape: Tape, inputs: list[float]) -> list[float]:
    vals = [0.0] * tape.slots
    vals[:len(inputs)] = inputs
    for slot, value in tape.constants.items():
        vals[slot] = value
    for op, out, a, b in tape.instructions:
        if b >= 0:
            vals[out] = op.forward(vals[a], vals[b])
        elif a >= 0:
            vals[out] = op.forward(vals[a])
        else:
            vals[out] = op.forward()
    return vals


def backward(tape: Tape, vals: list[float], output_slot: int) -> list:
    """The reverse sweep: every slot's gradient of the output, in one loop over the tape.

    grads holds None for slots no path from the seed reaches: PyTorch never runs their
    backward, so a nan there cannot leak into a gradient.
    """
    grads: list = [None] * tape.slots
    grads[output_slot] = 1.0
    for op, out, a, b in reversed(tape.instructions):
        g = grads[out]
        if g is None or a < 0:
            continue
        if b < 0:
            ga = op.backward(g, vals[a], vals[out])[0]
        else:
            ga, gb = op.backward(g, vals[a], vals[b], vals[out])
            before = grads[b]
            grads[b] = gb if before is None else before + gb  # b first: x*x adds twice
        before = grads[a]
        grads[a] = ga if before is None else before + ga
    return grads


@dataclass(frozen=True, slots=True)
class TraceStep:
    """One event of the backward pass, as PyTorch's hooks would see it.

    seed: the output's gradient is set to 1. add: a user's statement adds its contribution
    into a node (`contribution`, making `total`). final: every user of `node` is done, so its
    gradient will not change again (a register_hook on it fires now; retain_grad keeps it).
    unreached: no path from the output; the backward pass never ran there (gradient 0).
    """

    event: str  # "seed" | "add" | "final" | "unreached"
    node: str
    total: float = 0.0  # the node's gradient after this step
    user: str | None = None  # add: the statement that contributed
    user_grad: float = 0.0  # add: grad(user)
    local: float = 0.0  # add: ∂user/∂node, the edge's local partial
    contribution: float = 0.0  # add: what was added (grad(user) · local, as the sweep computed it)


def trace_backward(tape: Tape, graph: Graph, vals: list[float], output: str,
                   edges: list[Edge]) -> list[TraceStep]:
    """The reverse sweep again, statement by statement, recording what happens to each node.

    It runs the same instructions in the same order as `backward`, on its own gradient store,
    so every total it reports is bit for bit the gradient the engine reported.
    """
    names, n = graph.nodes, len(tape.node_slot)
    grads: list = [None] * tape.slots
    out = tape.node_slot[output]
    grads[out] = 1.0
    steps = [TraceStep("seed", output, 1.0), TraceStep("final", output, 1.0)]
    finals = _finalised_by(tape, graph, out)
    local = {(e.source, e.target): e.local for e in edges}
    for index in range(len(graph.statements) - 1, -1, -1):
        target = graph.statements[index].target
        user_grad = grads[tape.node_slot[target]]
        start = tape.statement_ends[index - 1] if index else 0
        added = _sweep_recording(tape.instructions, vals, grads, start,
                                 tape.statement_ends[index], n)
        for slot in tape.from_names[index]:
            if slot in added:
                steps.append(TraceStep("add", names[slot], grads[slot], target, user_grad,
                                       local[names[slot], target], added[slot]))
        steps += [TraceStep("final", names[s], grads[s]) for s in finals.get(index, ())
                  if grads[s] is not None]
    steps += [TraceStep("unreached", names[s]) for s in range(n) if grads[s] is None]
    return steps


def _sweep_recording(instructions, vals, grads, start: int, end: int, nodes: int) -> dict:
    """backward's loop over instructions[start:end], also summing what went into node slots (< nodes)."""
    added: dict[int, float] = {}
    for i in range(end - 1, start - 1, -1):
        op, out, a, b = instructions[i]
        g = grads[out]
        if g is None or a < 0:
            continue
        if b >= 0:  # b before a, exactly as backward adds them (x*x adds twice into one slot)
            ga, gb = op.backward(g, vals[a], vals[b], vals[out])
            pairs = ((b, gb), (a, ga))
        else:
            pairs = ((a, op.backward(g, vals[a], vals[out])[0]),)
        for slot, c in pairs:
            grads[slot] = c if grads[slot] is None else grads[slot] + c
            if slot < nodes:
                added[slot] = c if slot not in added else added[slot] + c
    return added


def _finalised_by(tape: Tape, graph: Graph, out: int) -> dict[int, list[int]]:
    """statement index -> node slots whose last remaining user (in reverse order) it is."""
    first_user: dict[int, int] = {}
    for index in range(len(graph.statements) - 1, -1, -1):
        for slot in tape.from_names[index]:
            first_user[slot] = index
    finals: dict[int, list[int]] = {}
    for slot, index in first_user.items():
        if slot != out:
            finals.setdefault(index, []).append(slot)
    for slots in finals.values():
        slots.sort()
    return finals


def local_partials(tape: Tape, graph: Graph, vals: list[float]) -> list[Edge]:
    """Each statement's partials w.r.t. the names it mentions: its own sweep seeded with 1."""
    edges = []
    names = graph.nodes
    instructions = tape.instructions
    start = 0
    for index, end in enumerate(tape.statement_ends):
        target = graph.statements[index].target
        if end - start == 1:  # one op on names and literals: its rule at g = 1, as backward
            local = _one_instruction(instructions[start], vals)
        else:
            local = _statement_sweep(instructions, vals, start, end, tape.node_slot[target])
        for slot in tape.from_names[index]:
            value = local.get(slot)
            edges.append(Edge(names[slot], target, 0.0 if value is None else value))
        start = end
    return edges


def _one_instruction(instruction, vals) -> dict:
    """What backward's loop seeded with 1 leaves in the operands of a statement of one instruction."""
    op, out, a, b = instruction
    if b >= 0:
        ga, gb = op.backward(1.0, vals[a], vals[b], vals[out])
        return {b: gb, a: gb + ga} if a == b else {b: gb, a: ga}  # b first, as backward adds
    if a >= 0:
        return {a: op.backward(1.0, vals[a], vals[out])[0]}
    return {}


def _statement_sweep(instructions, vals, start: int, end: int, target: int) -> dict:
    """backward's loop over one statement's instructions seeded with 1 at its node, into a small dict
    (slots it never reaches are absent): the same operations in the same order."""
    grads = {target: 1.0}
    get = grads.get
    for i in range(end - 1, start - 1, -1):
        op, out, a, b = instructions[i]
        g = get(out)
        if g is None or a < 0:
            continue
        if b >= 0:
            ga, gb = op.backward(g, vals[a], vals[b], vals[out])
            before = get(b)
            grads[b] = gb if before is None else before + gb
        else:
            (ga,) = op.backward(g, vals[a], vals[out])
        before = get(a)
        grads[a] = ga if before is None else before + ga
    return grads


def kinks_hit(tape: Tape, graph: Graph, vals: list[float], grads: list) -> list[str]:
    """Kinks on the output's path (where the backward sweep actually ran)."""
    counts: dict[str, int] = {}  # one note per kind of kink and statement, with a count
    owner = None
    for i, (op, out, a, b) in enumerate(tape.instructions):
        if op.kink is None or grads[out] is None:
            continue
        note = op.kink.note(op.name, (vals[a],) if b < 0 else (vals[a], vals[b]))
        if note:
            owner = owner or tape.owners()
            key = f"{note}, in {owner[i]}"
            counts[key] = counts.get(key, 0) + 1
    return [key if n == 1 else f"{key} ({n} times)" for key, n in counts.items()]


def evaluate(graph: Graph, input_values: list[float], output: str) -> Evaluation:
    tape = compile_tape(graph)
    vals = forward(tape, input_values)
    out_slot = tape.node_slot[output]
    grads = backward(tape, vals, out_slot)
    n = len(tape.node_slot)
    node_grads = [0.0 if g is None else g for g in grads[:n]]
    return Evaluation(
        tape=tape,
        slot_values=vals,
        values=vals[:n],
        grads=node_grads,
        edges=local_partials(tape, graph, vals),
        kinks=kinks_hit(tape, graph, vals, grads),
        anomalies=find_anomalies(tape, graph, vals, grads, output),
    )
