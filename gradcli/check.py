"""Independent checks of the gradients and how their verdicts are merged.

Three methods, each sharing nothing with the reverse sweep but the ops' forward functions:
sympy (symbolic.py), forward mode (tangent.py) and central finite differences (finite.py).
Each gives a MethodReport; CheckReport merges them node by node.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from . import ieee

METHODS = ("sympy", "forward", "fd")


@dataclass
class Verdict:
    status: str  # "ok" | "mismatch" | "unverified" | "excluded" | "skipped"
    expected: float | None = None  # the method's value
    error: float | None = None  # |gradcli - expected| where both are finite


@dataclass
class MethodReport:
    name: str
    how: str = ""
    rtol: float = 0.0
    atol: float = 0.0
    nodes: dict[str, Verdict] = field(default_factory=dict)
    edges: dict[tuple[str, str], Verdict] = field(default_factory=dict)
    mismatches: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def judge(self, mine: float, expected: float, what: str, atol: float | None = None,
              nonfinite_path: bool = False) -> Verdict:
        """Compare gradcli's value with this method's; record a mismatch or a note.

        nonfinite_path: the value passed through a nan or an infinity. PyTorch's conventions
        there (max(nan, nan) sends g to both sides, relu passes nan's g) are not mathematics
        that another method can confirm, so a disagreement is unverified, not a mismatch."""
        atol = self.atol if atol is None else atol
        if agree(mine, expected, self.rtol, atol):
            both = ieee.is_finite(mine) and ieee.is_finite(expected)
            return Verdict("ok", expected, abs(mine - expected) if both else 0.0)
        if not (ieee.is_finite(mine) and ieee.is_finite(expected)) or nonfinite_path:
            why = "it passes through a nan or inf" if nonfinite_path else "non-finite values"
            self.notes.append(f"{what}: gradcli gives {mine!r}, {self.name} gives {expected!r}; "
                              f"not compared ({why})")
            return Verdict("unverified", expected)
        self.mismatches.append(f"{what}: gradcli gives {mine!r}, {self.name} gives {expected!r}")
        return Verdict("mismatch", expected, abs(mine - expected))


def nonfinite_paths(result) -> tuple[set[str], set[tuple[str, str]]]:
    """Nodes whose gradient, and edges whose local partial, involve a nan or an infinity:
    a statement with a non-finite operand, constant, intermediate or result taints its edges,
    and every node upstream of a tainted statement (its gradient flows through it)."""
    cached = getattr(result, "_nonfinite_paths", None)
    if cached is not None:
        return cached
    tape, vals = result.tape, result.slot_values
    if all(map(math.isfinite, vals)):
        result._nonfinite_paths = set(), set()
        return result._nonfinite_paths
    nodes: set[str] = set()
    edges: set[tuple[str, str]] = set()
    names = list(tape.node_slot)
    for index in range(len(result.graph.statements) - 1, -1, -1):
        start = tape.statement_ends[index - 1] if index else 0
        target = result.graph.statements[index].target
        touched = any(not ieee.is_finite(vals[slot]) for op, out, a, b in
                      tape.instructions[start:tape.statement_ends[index]]
                      for slot in (out, a, b) if slot >= 0)
        if touched or target in nodes:
            mentioned = [names[slot] for slot in tape.from_names[index]]
            nodes.update(mentioned)
            if touched:
                edges.update((m, target) for m in mentioned)
    result._nonfinite_paths = nodes, edges
    return nodes, edges


def agree(a: float, b: float, rtol: float, atol: float) -> bool:
    """Equal within |a - b| <= atol + rtol*max(|a|, |b|); nan agrees with nan, inf with itself."""
    if a == b or (a != a and b != b):
        return True
    if not (ieee.is_finite(a) and ieee.is_finite(b)):
        return False
    return abs(a - b) <= atol + rtol * max(abs(a), abs(b))


@dataclass
class NodeCheck:
    """One node's gradient under every method that ran."""

    status: str
    values: dict[str, float | None]
    agreed: list[str]
    error: float | None


_RANK = ("mismatch", "ok", "unverified", "excluded", "skipped")


def merge(verdicts: dict[str, Verdict]) -> NodeCheck:
    statuses = {v.status for v in verdicts.values()}
    status = next(s for s in _RANK if s in statuses)
    errors = [v.error for v in verdicts.values() if v.error is not None and v.status in ("ok", "mismatch")]
    return NodeCheck(status, {m: v.expected for m, v in verdicts.items()},
                     [m for m, v in verdicts.items() if v.status == "ok"], max(errors, default=None))


@dataclass
class CheckReport:
    methods: dict[str, MethodReport]
    nodes: dict[str, NodeCheck]
    edges: dict[tuple[str, str], NodeCheck]
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.mismatches

    @property
    def mismatches(self) -> list[str]:
        return [f"{m.name}: {text}" for m in self.methods.values() for text in m.mismatches]

    @property
    def notes(self) -> list[str]:
        return [f"{m.name}: {text}" for m in self.methods.values() for text in m.notes]


_DOING = {"sympy": "checking with sympy", "forward": "checking with forward mode",
          "fd": "checking with finite differences"}


def run_checks(result, methods: tuple[str, ...], progress=lambda what: None) -> CheckReport:
    started = time.perf_counter()
    reports: dict[str, MethodReport] = {}
    for name in METHODS:
        if name not in methods:
            continue
        progress(_DOING[name])
        t0 = time.perf_counter()
        if name == "sympy":
            from .symbolic import check as sympy_check  # sympy is slow to import
            reports[name] = sympy_check(result)
        elif name == "forward":
            from .tangent import check as forward_check
            reports[name] = forward_check(result)
        else:
            from .finite import check as fd_check
            reports[name] = fd_check(result)
        reports[name].seconds = time.perf_counter() - t0
    nodes = {n.name: merge({m: r.nodes[n.name] for m, r in reports.items() if n.name in r.nodes})
             for n in result.nodes}
    edges = {}
    for e in result.edges:
        key = (e.source, e.target)
        found = {m: r.edges[key] for m, r in reports.items() if key in r.edges}
        if found:
            edges[key] = merge(found)
    return CheckReport(reports, nodes, edges, time.perf_counter() - started)
