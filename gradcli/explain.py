"""The chain rule written out: each node's paths to the output as products of local partials."""

from __future__ import annotations

import bisect
import difflib
import heapq
import math
from dataclasses import dataclass, field

from .errors import InputError

# Bounds, so that no graph can make the explanation hang or explode (documented in the README).
MAX_PATHS = 20  # more paths than this (they grow exponentially): the recurrence instead
MAX_FACTORS = 12  # a path with more factors than this: the recurrence instead
MAX_STEPS = 10  # recurrence lines per node: the first STEPS_HEAD and the last ones
STEPS_HEAD = 3
MAX_TERMS = 6  # terms shown in one recurrence line: the largest
MAX_DEFAULT_NODES = 20  # without --wrt: the first nodes in graph order
MAX_WHYS = 8  # reasons for zeros per node
MAX_KINK_NOTES = 5  # the engine's kink notes repeated in the explanation
MAX_GATES = 10_000  # closed relu/abs/max/min applications looked at per statement
MAX_OPERAND_ITEMS = 60  # a longer operand (RPN items) is not written out in a reason
COUNT_CAP = 10**18  # path counts saturate here (a ladder of 10**5 nodes has ~10**20898 paths)
SYMBOLIC_SECONDS = 5.0  # sympy's budget for all the symbolic partials of one explanation
# The paths and the engine multiply and add in different orders; a difference below RTOL times
# the sum of the terms' magnitudes is rounding (float64 keeps ~1e-16; a few hundred roundings
# stay far below 1e-9), anything larger is reported as a disagreement.
RTOL = 1e-9


@dataclass(frozen=True, slots=True)
class Factor:
    source: str
    target: str
    value: float  # the engine's local partial, from Result.edges


@dataclass(frozen=True)
class Path:
    nodes: tuple[str, ...]
    factors: tuple[Factor, ...]
    product: float  # the factors multiplied in float64, left to right


@dataclass(frozen=True)
class Term:
    user: str
    user_grad: float  # the engine's gradient of the user
    factor: Factor


@dataclass(frozen=True)
class Step:
    """One line of the recurrence: grad(node) = Σ over its users of grad(user) · ∂user/∂node."""

    node: str
    grad: float  # the engine's
    terms: tuple[Term, ...]  # the first MAX_TERMS
    terms_left_out: int
    term_sum: float  # every term, added in float64
    agrees: bool


@dataclass(frozen=True)
class Remark:
    """A reason for a zero or a note; renderers word each kind (see explain_render)."""

    kind: str
    target: str = ""  # the statement, the output, or the node the remark is about
    source: str = ""  # the node whose local partial is meant, or the node explained
    op: str = ""
    operands: tuple = ()  # ((rpn or None if too long to show, value), ...) of the op meant
    numbers: tuple = ()
    count: int = 0


@dataclass
class NodeExplanation:
    name: str
    value: float
    grad: float  # the engine's gradient: what eval reports
    mode: str  # "paths" | "recurrence"
    path_count: int  # saturates at COUNT_CAP
    longest: int  # factors in the longest path (0 when there is none)
    paths: list[Path] = field(default_factory=list)
    path_sum: float | None = None  # the products added in float64 (paths mode)
    agrees: bool = True  # path_sum (or the recurrence) equals grad up to rounding
    steps: list[Step] = field(default_factory=list)
    steps_left_out: int = 0  # recurrence lines between steps[STEPS_HEAD - 1] and the rest
    why: list[Remark] = field(default_factory=list)
    why_more: bool = False  # more reasons than MAX_WHYS
    notes: list[Remark] = field(default_factory=list)

    @property
    def total(self) -> float:
        """The total shown: the engine's gradient unless the products disagree beyond rounding."""
        return self.grad if self.agrees or self.path_sum is None else self.path_sum


@dataclass(frozen=True)
class Partial:
    text: str  # sympy's partial in gradcli's notation: H(v) for Heaviside(v, 0)
    latex: str
    steps: frozenset  # Heaviside conventions used: "0" (relu) and "1/2" (max, min)


@dataclass
class Explanation:
    source: str
    output: str
    inputs: dict[str, float]
    nodes: list[NodeExplanation]
    partials: dict[tuple[str, str], Partial | None]  # (source, target) -> symbolic partial
    notes: list[Remark]
    nodes_left_out: int = 0


def explain(result, wrt: list[str] | None = None, symbolic: bool = True) -> Explanation:
    """The chain rule for each chosen node (default: every node but the output)."""
    chosen, left_out = choose_nodes(result, wrt)
    index = _Index(result)
    nodes = [explain_node(index, name) for name in chosen]
    partials, notes = ({}, []) if not symbolic else symbolic_partials(result, shown_edges(nodes))
    notes = _step_notes(partials) + notes + _kink_notes(result.kinks)
    if left_out:
        notes.append(Remark("nodes_left_out", count=left_out, numbers=(len(result.nodes),)))
    if not chosen:
        notes.append(Remark("nothing", target=result.output))
    return Explanation(result.graph.source.name, result.output, dict(result.inputs), nodes,
                       partials, notes, left_out)


def _kink_notes(kinks: list[str]) -> list[Remark]:
    """The engine's kink notes, each once and at most MAX_KINK_NOTES (a graph can hit 10**5)."""
    distinct = list(dict.fromkeys(kinks))
    notes = [Remark("engine_kink", op=k) for k in distinct[:MAX_KINK_NOTES]]
    if len(distinct) > MAX_KINK_NOTES:
        notes.append(Remark("kinks_left_out", count=len(distinct) - MAX_KINK_NOTES))
    return notes


def choose_nodes(result, wrt: list[str] | None) -> tuple[list[str], int]:
    """The nodes to explain and how many of the default ones were left out."""
    names = [n.name for n in result.nodes]
    if not wrt:
        rest = [n for n in names if n != result.output]
        return rest[:MAX_DEFAULT_NODES], max(0, len(rest) - MAX_DEFAULT_NODES)
    known = set(names)
    for name in wrt:
        if name not in known:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; nodes are: {', '.join(names[:20])}"
            raise InputError(f"--wrt {name}: no node of that name in "
                             f"{result.graph.source.name}{hint}")
    return list(dict.fromkeys(wrt)), 0


class _Index:
    """The edges by user and by statement, and paths to the output counted per node."""

    def __init__(self, result):
        self.result = result
        self.output = result.output
        self.value = {n.name: n.value for n in result.nodes}
        self.grad = {n.name: n.grad for n in result.nodes}
        self.users: dict[str, list] = {}  # name -> edges out of it, in file order
        self.mentions: dict[str, list] = {}  # statement target -> its edges
        for e in result.edges:
            self.users.setdefault(e.source, []).append(e)
            self.mentions.setdefault(e.target, []).append(e)
        self.counts, self.longest = count_paths(result.graph.statements, self.mentions, self.output)
        self.gates: dict[str, list] = {}  # statement target -> closed gates (cached)

    def on_path(self, name: str) -> bool:
        return name in self.counts


def count_paths(statements, mentions, output) -> tuple[dict[str, int], dict[str, int]]:
    """Paths to the output and the longest one's factors, per node, by dynamic programming
    over the statements in reverse file order (a loop: graphs can be 10**5 deep)."""
    counts, longest = {output: 1}, {output: 0}
    for s in reversed(statements):
        c = counts.get(s.target)
        if c is None:
            continue
        depth = longest[s.target] + 1
        for e in mentions.get(s.target, ()):
            counts[e.source] = min(COUNT_CAP, counts.get(e.source, 0) + c)
            longest[e.source] = max(longest.get(e.source, 0), depth)
    return counts, longest


def explain_node(index: _Index, name: str) -> NodeExplanation:
    count, longest = index.counts.get(name, 0), index.longest.get(name, 0)
    node = NodeExplanation(name, index.value[name], index.grad[name], "paths", count, longest)
    if name == index.output:
        node.paths = [Path((name,), (), 1.0)]
        node.path_sum = 1.0
        node.notes.append(Remark("output", target=name))
    elif count == 0:
        node.path_sum = 0.0
        node.agrees = node.grad == 0.0
        node.why.append(Remark("unreached", target=index.output, source=name))
    elif count > MAX_PATHS or longest > MAX_FACTORS:
        _explain_by_recurrence(index, node)
    else:
        _explain_by_paths(index, node)
    return node


# --- paths ------------------------------------------------------------------------------------

def enumerate_paths(index: _Index, start: str) -> list[Path]:
    """Every path from start to the output, users in file order (an explicit stack)."""
    paths = []
    stack: list[tuple[str, tuple]] = [(start, ())]
    while stack:
        name, edges = stack.pop()
        if name == index.output:
            paths.append(_path(start, edges))
            continue
        for e in reversed(index.users.get(name, ())):
            if index.on_path(e.target):
                stack.append((e.target, edges + (e,)))
    return paths


def _path(start: str, edges) -> Path:
    factors = tuple(Factor(e.source, e.target, e.local) for e in edges)
    product = factors[0].value if factors else 1.0
    for f in factors[1:]:
        product *= f.value
    return Path((start,) + tuple(e.target for e in edges), factors, product)


def _explain_by_paths(index: _Index, node: NodeExplanation) -> None:
    node.paths = enumerate_paths(index, node.name)
    products = [p.product for p in node.paths]
    node.path_sum = add(products)
    node.agrees = agree(node.path_sum, node.grad, products)
    for p in node.paths:
        # a factor of exactly 0 explains a zero, also where 0 · inf made the product nan and
        # the engine's hard zero (relu, max) kept the gradient 0
        zeros = [f for f in p.factors if f.value == 0.0]
        if zeros:
            _add_whys(node, [w for f in zeros for w in factor_whys(index, f)])
        elif p.product == 0.0:
            _add_whys(node, [Remark("underflow", source=node.name, target=index.output)])
    if node.grad == 0.0 and any(products) and node.agrees:
        _add_whys(node, [Remark("cancel", op="paths", numbers=tuple(products))])
    nonfinite = not all(math.isfinite(f.value) for p in node.paths for f in p.factors)
    what = "paths" if len(node.paths) > 1 else "product"
    node.notes += _sum_notes(node.path_sum, node.grad, node.agrees, node.name, what, nonfinite)


def _sum_notes(total: float, engine: float, agrees: bool, name: str, what: str,
               nonfinite: bool) -> list[Remark]:
    """Say when the sum shown is not bit for bit the engine's, and why."""
    if agrees and (total == engine or total != total):
        return []
    kind = "rounding" if agrees else "disagree_nonfinite" if nonfinite else "disagree_range"
    return [Remark(kind, source=name, op=what, numbers=(total, engine))]


def _add_whys(node: NodeExplanation, whys: list[Remark]) -> None:
    for w in whys:
        if w in node.why:
            continue
        if len(node.why) < MAX_WHYS:
            node.why.append(w)
        else:
            node.why_more = True


def add(xs) -> float:
    """A correctly rounded sum where fsum can give one; IEEE's where it raises (inf - inf)."""
    try:
        return math.fsum(xs)
    except (OverflowError, ValueError):
        return sum(xs, 0.0)


def agree(total: float, engine: float, terms) -> bool:
    """Equal up to rounding: |total - engine| <= RTOL * max(Σ|term|, |engine|); nan is nan."""
    if total == engine or (total != total and engine != engine):
        return True
    if not (math.isfinite(total) and math.isfinite(engine)):
        return False
    scale = add(abs(t) for t in terms)
    return abs(total - engine) <= RTOL * max(scale, abs(engine))


# --- the recurrence -----------------------------------------------------------------------------

def _explain_by_recurrence(index: _Index, node: NodeExplanation) -> None:
    node.mode = "recurrence"
    many = node.path_count > MAX_PATHS
    node.notes.append(Remark("many_paths" if many else "long_path", source=node.name,
                             target=index.output, count=node.path_count if many else node.longest,
                             numbers=(MAX_PATHS if many else MAX_FACTORS,)))
    between = nodes_between(index, node.name)
    if len(between) > MAX_STEPS:
        node.steps_left_out = len(between) - MAX_STEPS
        between = between[:STEPS_HEAD] + between[len(between) - (MAX_STEPS - STEPS_HEAD):]
    node.steps = [recurrence_step(index, name) for name in between]
    own = node.steps[-1]
    node.agrees = own.agrees
    for step in node.steps:
        _add_whys(node, [w for t in step.terms if t.factor.value == 0.0
                         for w in factor_whys(index, t.factor)])
        nonfinite = not all(math.isfinite(t.user_grad * t.factor.value) for t in step.terms)
        node.notes += _sum_notes(step.term_sum, step.grad, step.agrees, step.node, "terms",
                                 nonfinite or not math.isfinite(step.term_sum))
    if own.grad == 0.0 and own.terms and any(t.user_grad * t.factor.value for t in own.terms):
        _add_whys(node, [Remark("cancel", op="terms",
                                numbers=tuple(t.user_grad * t.factor.value for t in own.terms))])


def nodes_between(index: _Index, start: str) -> list[str]:
    """start, the output and every node on a path between them, in reverse file order."""
    reached = {start}
    order = [start]
    for s in index.result.graph.statements:
        if s.target in reached or not index.on_path(s.target):
            continue
        if any(e.source in reached for e in index.mentions.get(s.target, ())):
            reached.add(s.target)
            order.append(s.target)
    return order[::-1]


def recurrence_step(index: _Index, name: str) -> Step:
    if name == index.output:
        return Step(name, index.grad[name], (), 0, 1.0, index.grad[name] == 1.0)
    terms = [Term(e.target, index.grad[e.target], Factor(e.source, e.target, e.local))
             for e in index.users.get(name, ()) if index.on_path(e.target)]
    products = [t.user_grad * t.factor.value for t in terms]
    total = add(products)
    shown = terms
    if len(terms) > MAX_TERMS:  # the largest terms (non-finite first), kept in file order
        keep = heapq.nlargest(MAX_TERMS, range(len(terms)), key=lambda i: _magnitude(products[i]))
        shown = [terms[i] for i in sorted(keep)]
    return Step(name, index.grad[name], tuple(shown), len(terms) - len(shown),
                total, agree(total, index.grad[name], products))


def _magnitude(x: float) -> float:
    return math.inf if x != x else abs(x)


# --- why a local partial is 0 -------------------------------------------------------------------

def factor_whys(index: _Index, factor: Factor) -> list[Remark]:
    """Why an edge's local partial is 0: gates that closed on the name (relu off, relu's or
    abs's kink, max/min's losing side), else the partial itself is 0 at these values."""
    gates, positions = index.gates.get(factor.target) or index.gates.setdefault(
        factor.target, closed_gates(index.result, factor.target))
    rpn = index.result.graph.statements[positions["#"]].rpn
    at = positions.get(factor.source, [])
    found = []
    for kind, op, spans, values, loser in gates:
        start, end = spans[loser]
        j = bisect.bisect_left(at, start)
        if j < len(at) and at[j] < end:  # the name stands in the operand that got 0
            operands = tuple((rpn[b:e] if e - b <= MAX_OPERAND_ITEMS else None, v)
                             for (b, e), v in zip(spans, values))
            found.append(Remark(kind, factor.target, factor.source, op, operands, (loser,)))
            if len(found) > MAX_WHYS:
                break
    return found or [Remark("zero_partial", target=factor.target, source=factor.source)]


def closed_gates(result, target: str) -> tuple[list[tuple], dict]:
    """The statement's op applications whose backward rule passes 0, as (kind, op, operand
    spans in the RPN, operand values, the operand that gets 0), read from the engine's tape;
    and where each name stands in the RPN ("#": the statement's position)."""
    graph, tape, vals = result.graph, result.tape, result.slot_values
    position = tape.node_slot[target] - len(graph.inputs)
    k = tape.statement_ends[position - 1] if position else 0
    starts: list[int] = []  # where each operand on the stack begins in the RPN
    gates: list[tuple] = []
    positions: dict = {"#": position}
    for i, item in enumerate(graph.statements[position].rpn):
        if item[0] != "op":
            starts.append(i)
            if item[0] == "name":
                positions.setdefault(item[1], []).append(i)
            continue
        op, out, a, b = tape.instructions[k]
        k += 1
        n = item[1].arity
        begin = starts[len(starts) - n:] + [i]
        del starts[len(starts) - n:]
        starts.append(begin[0])
        gate = gate_of(op.name, [vals[s] for s in (a, b)[:n]], vals[out])
        if gate is not None and len(gates) < MAX_GATES:
            spans = tuple((begin[m], begin[m + 1]) for m in range(n))
            gates.append((gate[0], op.name, spans, tuple(vals[s] for s in (a, b)[:n]), gate[1]))
    return gates, positions


def gate_of(op: str, args: list[float], out: float) -> tuple[str, int] | None:
    """(kind, index of the operand that gets 0) where an op's backward rule passes 0."""
    if op == "relu" and out <= 0.0:  # ops.relu_gate: closed where the output is <= 0
        return ("relu_off" if args[0] < 0.0 else "kink"), 0
    if op == "abs" and args[0] == 0.0:
        return "kink", 0
    if op in ("max", "min") and args[0] == args[0] and args[1] == args[1] and args[0] != args[1]:
        first_wins = (args[0] > args[1]) == (op == "max")
        return "loses", 1 if first_wins else 0
    return None


# --- the symbolic side (sympy, imported only here) ---------------------------------------------

def shown_edges(nodes: list[NodeExplanation]) -> list[tuple[str, str]]:
    edges: dict[tuple[str, str], None] = {}
    for node in nodes:
        for p in node.paths:
            edges.update(((f.source, f.target), None) for f in p.factors)
        for step in node.steps:
            edges.update(((t.factor.source, t.factor.target), None) for t in step.terms)
    return list(edges)


def symbolic_partials(result, edges) -> tuple[dict, list[Remark]]:
    """sympy's partial of each edge, under the statement limits and a time budget."""
    from . import symbolic  # sympy is slow to import: only when explain runs
    graph, slot = result.graph, result.tape.node_slot
    partials: dict[tuple[str, str], Partial | None] = {edge: None for edge in edges}
    built: dict[str, object] = {}
    notes: list[Remark] = []
    try:
        with symbolic.time_budget(SYMBOLIC_SECONDS):
            for source, target in edges:
                if target not in built:
                    built[target] = _build(symbolic, graph.statements[slot[target] - len(graph.inputs)])
                    if isinstance(built[target], symbolic.Skip):
                        notes.append(Remark("symbolic_skipped", target=target, op=str(built[target])))
                if not isinstance(built[target], symbolic.Skip):
                    partials[source, target] = _partial(symbolic, built[target], source)
    except symbolic._Timeout:  # the budget's own exception: a BaseException, caught only here
        notes.append(Remark("symbolic_timeout", numbers=(SYMBOLIC_SECONDS,)))
    return partials, notes


def _build(symbolic, statement):
    try:
        return symbolic.build(statement.rpn, symbolic.symbol)
    except symbolic.Skip as reason:
        return reason
    except Exception as e:  # noqa: BLE001 - sympy refuses in many ways; none may escape
        return symbolic.Skip(f"sympy failed ({type(e).__name__})")


def _partial(symbolic, expr, name: str) -> Partial | None:
    import sympy as sp
    try:
        d = sp.powsimp(sp.diff(expr, symbolic.symbol(name)))  # light: x**w/x -> x**(w - 1)
        text, latex = _printers()
        steps = frozenset("0" if h.args[1] == 0 else "1/2" for h in d.atoms(sp.Heaviside))
        return Partial(text(d), latex(d), steps)
    except Exception:  # noqa: BLE001 - as in _build; the budget is a BaseException and passes
        return None


def _step_notes(partials) -> list[Remark]:
    steps = set().union(*(p.steps for p in partials.values() if p is not None))
    return [Remark("step", op=s) for s in ("0", "1/2") if s in steps]


_PRINTERS: list = []


def _printers():
    """(text, latex) printers: names as written, H(v) for relu's step (H(0) = 0) and H½(v) for
    max's and min's (a tie splits 1/2)."""
    if _PRINTERS:
        return _PRINTERS[0]
    from mpmath.libmp import to_str
    from sympy.printing.latex import LatexPrinter
    from sympy.printing.str import StrPrinter

    from . import symbolic
    from .printer import latex_name

    class Text(StrPrinter):
        def _print_Heaviside(self, expr):
            mark = "" if expr.args[1] == 0 else "½"
            return f"H{mark}({self._print(expr.args[0])})"

        def _print_Float(self, expr):
            return to_str(expr._mpf_, 10, strip_zeros=True)  # as many digits as render.fmt

        def _print_Symbol(self, expr):
            return {"oo": "inf"}.get(expr.name, expr.name) if expr in symbolic.OPAQUE else expr.name

    class Latex(LatexPrinter):
        def _print_Heaviside(self, expr, exp=None):
            mark = "" if expr.args[1] == 0 else "_{1/2}"
            text = rf"H{mark}\left({self._print(expr.args[0])}\right)"
            return rf"\left({text}\right)^{{{exp}}}" if exp else text

    def latex(expr) -> str:
        names = {s: safe_latex_name(s.name, latex_name) for s in expr.free_symbols}
        names.update({symbolic.INF: r"\infty", symbolic.NAN: r"\mathrm{nan}"})
        return Latex({"symbol_names": names}).doprint(expr)

    _PRINTERS.append((Text().doprint, latex))
    return _PRINTERS[0]


def safe_latex_name(name: str, latex_name) -> str:
    """printer.latex_name, except that a lone `_` (a valid name) is escaped too."""
    return r"\mathrm{\_}" if name == "_" else latex_name(name)
