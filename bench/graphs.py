"""Benchmark graphs as data: inputs, then statements (target, op, args), one op each.

The same structure is written as gradcli graph text (`to_text`) and lowered to a flat
program of (op, out, a, b) steps (`lower`) that the anchors in anchors.py run directly:
PyTorch, micrograd and the straight-line reference never see any text.

Ops are the ones every anchor has (micrograd 0.1.0 has no tanh or exp):
  "+" "-" "*"  two operands, each a node name or a float constant (`n3 * 0.5`);
  "relu"       one operand;
  "sum"        any number of node names, written `a + b + c` and run as a left fold of
               "+" (the fan-in of one statement, as a person would write it).
Every generator keeps values within a few units and steers clear of relu's kink at 0, so
a million steps stay finite and no engine meets subnormals or a kink note.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

OPS = ("+", "-", "*", "relu", "sum")
FAN_IN = 100  # operands of one "sum" statement


@dataclass
class Graph:
    kind: str
    inputs: dict[str, float]
    statements: list[tuple[str, str, tuple]] = field(default_factory=list)

    @property
    def output(self) -> str:
        return self.statements[-1][0]

    @property
    def nodes(self) -> list[str]:
        return list(self.inputs) + [target for target, _, _ in self.statements]

    def __len__(self) -> int:
        return len(self.inputs) + len(self.statements)


# --- generators ---------------------------------------------------------------------------

def seed() -> Graph:
    """The notebook's a = relu(x*w + b), at x=3, w=2, b=1 (samples/seed.txt)."""
    return Graph("seed", {"x": 3.0, "w": 2.0, "b": 1.0},
                 [("u", "*", ("x", "w")), ("v", "+", ("u", "b")), ("a", "relu", ("v",))])


def chain(n: int, rng_seed: int = 1) -> Graph:
    """Each statement uses the one before: depth n. A cycle of five ops whose local partials
    multiply to 1 and whose values repeat exactly (0.75 -> 1.5 -> 0.75 -> 1 -> 1 -> 0.75)."""
    g = Graph("chain", {"x": 0.75, "w": 2.0, "b": 0.25, "c": 0.25})
    cycle = [("*", "w"), ("*", 0.5), ("+", "b"), ("relu", None), ("-", "c")]
    prev = "x"
    for i in range(n - len(g.inputs)):
        op, other = cycle[i % len(cycle)]
        g.statements.append((f"n{i}", op, (prev,) if other is None else (prev, other)))
        prev = f"n{i}"
    return g


def dag(n: int, rng_seed: int = 1) -> Graph:
    """A random DAG: each statement applies a random op to one or two earlier nodes drawn
    uniformly (so it is shallow: depth grows like log n, and nodes fan out widely). The
    nodes no statement uses are then summed, FAN_IN at a time, so the output depends on
    every node and the backward pass visits all of them."""
    rng = random.Random(rng_seed)
    g = Graph("dag", {"x": 0.9, "w": 1.1, "b": 0.3, "c": -0.4})
    names, values = list(g.inputs), list(g.inputs.values())
    used = [False] * len(names)
    body = n - len(g.inputs) - n // (2 * FAN_IN)  # room for the fan-in sums (about n/3 unused)
    for i in range(body):
        op, operands, constant, value = _random_step(rng, values)
        g.statements.append((f"n{i}", op, tuple(names[k] for k in operands) + constant))
        for k in operands:
            used[k] = True
        names.append(f"n{i}")
        values.append(value)
        used.append(False)
    _fan_in(g, [names[i] for i in range(len(g.inputs), len(names)) if not used[i]], "s")
    return g


def _random_step(rng: random.Random, values: list[float]):
    """An op, operand indices and constant whose result stays within [-4, 4] and never
    lands on relu's kink."""
    while True:
        i, j = rng.randrange(len(values)), rng.randrange(len(values))
        a, b = values[i], values[j]
        op = rng.choice(("+", "-", "*", "relu", "const"))
        if op == "relu":
            if a != 0.0:
                return "relu", (i,), (), max(a, 0.0)
        elif op == "const":
            k = rng.choice((0.5, 0.75, 1.5))
            if abs(a * k) <= 4.0:
                return "*", (i,), (k,), a * k
        else:
            value = a + b if op == "+" else a - b if op == "-" else a * b
            if abs(value) <= 4.0:
                return op, (i, j), (), value


def wide(n: int, rng_seed: int = 1) -> Graph:
    """Fan-out and fan-in: x and b each feed n/3 neurons h = relu(x*k + b), and the
    neurons are summed FAN_IN at a time, then the sums, down to one output."""
    g = Graph("wide", {"x": 1.0, "b": -0.3})
    count = max(1, (n - len(g.inputs)) * FAN_IN // (3 * FAN_IN + 1))
    hidden = []
    for i in range(count):
        k = 0.125 * (1 + i % 7)  # exact in binary; k - 0.3 is never 0, so no kink
        g.statements += [(f"t{i}", "*", ("x", k)), (f"u{i}", "+", (f"t{i}", "b")),
                         (f"h{i}", "relu", (f"u{i}",))]
        hidden.append(f"h{i}")
    _fan_in(g, hidden, "s")
    return g


def _fan_in(g: Graph, names: list[str], prefix: str) -> None:
    level = 0
    while len(names) > 1:
        sums = []
        for start in range(0, len(names), FAN_IN):
            target = f"{prefix}{level}_{start // FAN_IN}"
            group = names[start:start + FAN_IN]
            g.statements.append((target, "sum", tuple(group)) if len(group) > 1
                                else (target, "*", (group[0], 1.0)))
            sums.append(target)
        names, level = sums, level + 1


KINDS = {"chain": chain, "dag": dag, "wide": wide}


def make(kind: str, n: int, rng_seed: int = 1) -> Graph:
    if kind == "seed":
        return seed()
    return KINDS[kind](n, rng_seed)


# --- gradcli text -----------------------------------------------------------------------

def _operand(a) -> str:
    return a if isinstance(a, str) else repr(float(a))


def statement_text(target: str, op: str, args: tuple) -> str:
    if op == "relu":
        return f"{target} = relu({args[0]})"
    joiner = " + " if op == "sum" else f" {op} "
    return f"{target} = " + joiner.join(_operand(a) for a in args)


def to_text(g: Graph) -> str:
    return "\n".join(statement_text(*s) for s in g.statements) + "\n"


# A text-only kind kept from the first phase benchmark: every op of gradcli's table, about
# ten per statement. No anchor can run it (micrograd lacks most of these ops), so it is
# used for gradcli's own phases and the CLI only (`--kinds mixed`).
MIXED_INPUTS = {"x": 0.7, "w": 0.3, "b": -0.2, "c": 1.1}
MIXED = [
    "sin({p})*0.5 + {p}*w",
    "tanh({p}*w + b) - relu({p} - c)*0.5",
    "sigmoid({p}) * exp(tanh({p})) / (1 + abs({p}))",
    "log(1 + {p}*{p}) - sqrt(abs({p}) + c)*0.25",
    "softplus({p}) - max({p}, x)*0.5 + min({p}, w)*0.25",
    "(abs({p}) + 1) ** 0.5 * cos({p}) - {p}/(2 + {p}*{p}) + -{p}*pi/10",
]


def mixed_text(n: int) -> str:
    lines, prev = [], "x"
    for i in range(n):
        lines.append(f"n{i} = " + MIXED[i % len(MIXED)].format(p=prev))
        prev = f"n{i}"
    return "\n".join(lines) + "\n"


# --- a flat program for the anchors -------------------------------------------------------

@dataclass
class Program:
    """Slots: inputs, then statement targets, then constants and fold temporaries.
    steps: (op, out, a, b) with b = -1 for relu; a "sum" becomes a left fold of "+"."""

    slots: int
    inputs: list[float]
    constants: dict[int, float]
    steps: list[tuple[str, int, int, int]]
    node_slots: int  # slots 0..node_slots-1 are the graph's nodes, in order
    output: int


def lower(g: Graph) -> Program:
    slot = {name: i for i, name in enumerate(g.nodes)}
    nodes = len(slot)
    constants: dict[int, float] = {}
    steps: list[tuple[str, int, int, int]] = []
    free = nodes

    def operand(a) -> int:
        nonlocal free
        if isinstance(a, str):
            return slot[a]
        constants[free] = float(a)
        free += 1
        return free - 1

    for target, op, args in g.statements:
        out = slot[target]
        if op == "relu":
            steps.append(("relu", out, slot[args[0]], -1))
        elif op == "sum":
            acc = slot[args[0]]
            for k, name in enumerate(args[1:], start=2):
                into = out if k == len(args) else free
                free += into != out
                steps.append(("+", into, acc, slot[name]))
                acc = into
        else:
            steps.append((op, out, operand(args[0]), operand(args[1])))
    return Program(free, list(g.inputs.values()), constants, steps, nodes, slot[g.output])


def sample_nodes(g: Graph, count: int = 200) -> list[int]:
    """Node indices whose gradients every anchor reports for the agreement check."""
    n = len(g)
    stride = max(1, n // count)
    return sorted(set(range(len(g.inputs))) | set(range(0, n, stride)) | {n - 1})
