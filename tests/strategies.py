"""Hypothesis strategies that write random gradcli graphs as text.

A generated graph is a `Case`: a few inputs, 1..12 statements `target = expression`, each
expression a tree of depth <= 3 over the op table (gradcli.ops.OPS is read at draw time, so
an op added to the table is generated without touching this file; constants such as `pi`
are leaves). Leaves are earlier names or small decimal literals; names are defined before use;
some binary ops get the same subtree twice (`u = x*x`) and some nodes are never used (dead).

Two flavours:

* `graphs()` (domain-safe): every op's arguments stay where the op is smooth, by design and
  then by one cheap check. By design: input values are drawn first (in [-3, 3]), so the
  generator knows every subexpression's value while it builds; a literal argument is drawn
  inside the op's domain interval (Op.domain), an argument whose domain is positive (log,
  sqrt, a pow base, a denominator) is shifted by a literal when it is below the interval
  (`log(e + 2.5)`), and an op application that would overflow or sit near a kink or a tie is
  fixed by shifting an argument into its interval (`exp(e - 40)`, `max(a, b + 1.5)`). Then
  `smooth_at()` walks the expression trees with their computed values (independently of
  gradcli's evaluator: only the ops' forward functions) and `assume()`s that every value is
  finite and |v| <= 1e4, every positive-domain argument is >= its lower bound, and every op
  is smooth within a relative margin of 1e-3 of its arguments (one-sided slopes agree, so no
  relu/abs kink or max/min tie is near), which keeps finite differences honest. About 0.3% of
  drawn graphs are rejected.
* `edge_graphs()`: no domain care at all, literals like 1e308, 5e-324, 1e400 (inf) and 0, and
  input values from 0, -0.0, huge, tiny, nan and inf. For "never raises" properties.

`printed_graphs()` gives a graph together with the same graph printed back by the printer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hypothesis import assume
from hypothesis import strategies as st

from gradcli import ops as ops_module
from gradcli.errors import Source
from gradcli.parser import parse
from gradcli.printer import format_rpn

# A tree is ("name", name) | ("num", text) | ("const", op_name) | ("op", op_name, (args...)).

MAX_DEPTH = 3
MAX_STATEMENTS = 12
INPUT_NAMES = ("x", "w", "b", "y")
TARGET_PREFIXES = ("u", "v", "h", "n")

# The domain-safe check (smooth_at): values stay moderate so finite differences keep most of
# their digits; the smoothness margin is relative, as the finite-difference steps are.
VALUE_BOUND = 1e4
KINK_MARGIN = 1e-3


def op_table() -> dict:
    """The op table as it is now (read at draw time: ops added concurrently are picked up)."""
    return ops_module.OPS


def writable(op) -> bool:
    """Ops that can be written in graph text: infix operators, functions and unary minus."""
    return op.infix or op.name == "neg" or op.name in ops_module.FUNCTIONS


def function_ops() -> list:
    return [op for op in op_table().values() if op.arity >= 1 and writable(op)]


def constant_ops() -> list:
    return [op for op in op_table().values() if op.arity == 0 and op.name in ops_module.FUNCTIONS]


# --- text ------------------------------------------------------------------------------------

def _atomic(tree) -> bool:
    if tree[0] != "op":
        return True
    op = op_table()[tree[1]]
    return not op.infix and op.name != "neg"


def to_text(tree, caret: bool = False, top: bool = True) -> str:
    """The tree as text with parentheses around every compound operand (no precedence needed)."""
    kind = tree[0]
    if kind == "name" or kind == "num" or kind == "const":
        return tree[1]
    op = op_table()[tree[1]]
    args = tree[2]
    if op.name == "neg":
        inner = to_text(args[0], caret, top=False)
        return "-" + (inner if _atomic(args[0]) else f"({inner})")
    if op.infix:
        left, right = (to_text(a, caret, top=False) for a in args)
        left = left if _atomic(args[0]) else f"({left})"
        right = right if _atomic(args[1]) else f"({right})"
        sym = "^" if caret and op.name == "**" else op.name
        sep = f" {sym} " if sym in ("+", "-") else sym
        return f"{left}{sep}{right}"
    return f"{op.name}(" + ", ".join(to_text(a, caret, top=False) for a in args) + ")"


def to_rpn(tree) -> list:
    """Postorder (kind, payload) items, as gradcli's parser should give them."""
    out = []
    todo = [(tree, False)]
    while todo:
        node, expanded = todo.pop()
        kind = node[0]
        if kind == "name":
            out.append(("name", node[1]))
        elif kind == "num":
            out.append(("num", float(node[1])))
        elif kind == "const":
            out.append(("op", node[1]))
        elif expanded:
            out.append(("op", node[1]))
        else:
            todo.append((node, True))
            todo.extend((a, False) for a in reversed(node[2]))
    return out


def names_in(tree) -> list[str]:
    """Names in left-to-right (= first use) order, repeats kept."""
    return [item[1] for item in to_rpn(tree) if item[0] == "name"]


# --- evaluation independent of gradcli's evaluator -------------------------------------------

def evaluate_tree(tree, env: dict, applications: list | None = None) -> float:
    """The tree's value with the op table's forward functions; records (op, arg trees, arg
    values, value) for every op application when `applications` is a list."""
    kind = tree[0]
    if kind == "name":
        return env[tree[1]]
    if kind == "num":
        return float(tree[1])
    op = op_table()[tree[1]]
    if kind == "const":
        value = op.forward()
        if applications is not None:
            applications.append((op, (), (), value))
        return value
    args = [evaluate_tree(a, env, applications) for a in tree[2]]
    value = op.forward(*args)
    if applications is not None:
        applications.append((op, tree[2], tuple(args), value))
    return value


@dataclass(frozen=True)
class Case:
    statements: tuple  # ((target, tree), ...)
    values: dict = field(hash=False)  # input name -> value (exactly the graph's inputs)
    caret: bool = False  # write ** as ^
    separator: str = "\n"

    @property
    def lines(self) -> list[str]:
        return [f"{t} = {to_text(tree, self.caret)}" for t, tree in self.statements]

    @property
    def text(self) -> str:
        return self.separator.join(self.lines) + "\n"

    @property
    def targets(self) -> list[str]:
        return [t for t, _ in self.statements]

    @property
    def inputs(self) -> list[str]:
        """Inputs in order of first use."""
        return inputs_of(self.statements)

    @property
    def output(self) -> str:
        return self.statements[-1][0]

    def text_with(self, target: str, replacement: str) -> str:
        """The graph with `target`'s expression replaced by `replacement` text."""
        return "\n".join(f"{t} = {replacement}" if t == target else line
                         for (t, _), line in zip(self.statements, self.lines)) + "\n"

    def node_values(self, values: dict | None = None) -> dict:
        env = dict(self.values if values is None else values)
        for t, tree in self.statements:
            env[t] = evaluate_tree(tree, env)
        return env

    def ancestors(self, node: str) -> set[str]:
        """Names `node` depends on, itself included."""
        uses = {t: set(names_in(tree)) for t, tree in self.statements}
        seen, todo = {node}, [node]
        while todo:
            for m in uses.get(todo.pop(), ()):
                if m not in seen:
                    seen.add(m)
                    todo.append(m)
        return seen

    def __repr__(self) -> str:  # what hypothesis prints for a falsifying example
        return f"Case(text={self.text!r}, values={self.values!r})"


def case_from_text(text: str, values: dict) -> Case:
    """A Case for a hand-written graph (for @example), its trees read from gradcli's parser."""
    statements = []
    for s in parse(Source("<example>", text)):
        stack: list = []
        for item in s.rpn:
            kind, payload = item[0], item[1]
            if kind == "name":
                stack.append(("name", payload))
            elif kind == "num":
                stack.append(("num", item[3]))
            elif payload.arity == 0:
                stack.append(("const", payload.name))
            else:
                args = tuple(stack[len(stack) - payload.arity:])
                del stack[len(stack) - payload.arity:]
                stack.append(("op", payload.name, args))
        statements.append((s.target, stack[-1]))
    return Case(tuple(statements), dict(values))


def inputs_of(statements) -> list[str]:
    assigned = {t for t, _ in statements}
    seen: dict[str, None] = {}
    for _, tree in statements:
        for name in names_in(tree):
            if name not in assigned:
                seen.setdefault(name)
    return list(seen)


def smooth_at(case: Case) -> bool:
    """Whether every op application is evaluated well inside its domain (see module doc)."""
    env = dict(case.values)
    for x in env.values():
        if not math.isfinite(x):
            return False
    for t, tree in case.statements:
        applications: list = []
        env[t] = evaluate_tree(tree, env, applications)
        for op, arg_trees, args, value in applications:
            if not (math.isfinite(value) and abs(value) <= VALUE_BOUND):
                return False
            for i, x in enumerate(args):
                lo = op.domain[i][0] if i < len(op.domain) else -math.inf
                if lo > 0 and not x >= lo * (1 - 1e-12):
                    return False
            if not _smooth(op, arg_trees, args, value):
                return False
        if not (math.isfinite(env[t]) and abs(env[t]) <= VALUE_BOUND):
            return False
    return True


def _constant(tree) -> bool:
    return not names_in(tree)


def _smooth(op, arg_trees, args, value) -> bool:
    """One-sided slopes agree along each independent direction within a KINK_MARGIN step;
    identical argument subtrees move together (max(u, u) is no tie to worry about), constant
    arguments do not move (no gradient flows through them)."""
    groups: dict = {}
    for i, tree in enumerate(arg_trees):
        if not _constant(tree):
            groups.setdefault(tree, []).append(i)
    for positions in groups.values():
        delta = KINK_MARGIN * max(1.0, *(abs(args[i]) for i in positions))
        up, down = list(args), list(args)
        for i in positions:
            up[i] += delta
            down[i] -= delta
        right = (op.forward(*up) - value) / delta
        left = (value - op.forward(*down)) / delta
        if not (math.isfinite(right) and math.isfinite(left)):
            return False
        if abs(right - left) > 0.1 * max(abs(right), abs(left)) + 0.05:
            return False
    return True


# --- the generators ----------------------------------------------------------------------------
#
# The domain-safe generator knows the input values while it builds expressions (they are drawn
# first), so it knows every subexpression's value and fixes an argument where it is needed, by
# shifting it with a literal: `log(e + 2.5)` if e = -2.3, `exp(e - 40)` if e = 41.2, `max(a,
# b + 1.5)` if a and b nearly tie. A literal argument is drawn inside the domain.

def _literal_text(draw, lo: float, hi: float) -> str:
    """A short positive decimal strictly inside (lo, hi), written in one of several forms."""
    lo_c, hi_c = int(math.floor(lo * 100)) + 1, int(math.ceil(hi * 100)) - 1
    k = draw(st.integers(max(lo_c, 1), max(hi_c, 1)))  # positive: a leading '-' is unary minus
    return _decimal(draw, k)


def _decimal(draw, k: int) -> str:
    """k/100 as text: 2.5, 250e-2, 2.5 with no leading zero (.25), 2. for a whole number."""
    form = draw(st.sampled_from(["plain", "exp", "dot"]))
    if form == "exp":
        return f"{k}e-2"
    if k % 100 == 0:
        return f"{k // 100}." if form == "dot" else str(k // 100)
    text = repr(k / 100)
    return text[1:] if form == "dot" and text.startswith("0.") else text


def _num(text: str):
    return ("num", text)


def _bin(name: str, a, b):
    return ("op", name, (a, b))


def _inside(op, args) -> bool:
    """The positive-domain arguments (log, sqrt, a pow base, a denominator) are >= lo."""
    for i, x in enumerate(args):
        lo = op.domain[i][0] if i < len(op.domain) else -math.inf
        if lo > 0 and not x >= lo * (1 - 1e-12):
            return False
    return True


def _good(op, trees, args) -> bool:
    """What smooth_at() will ask of this op application."""
    if not all(math.isfinite(x) and abs(x) <= VALUE_BOUND for x in args) or not _inside(op, args):
        return False
    value = op.forward(*args)
    return math.isfinite(value) and abs(value) <= VALUE_BOUND and _smooth(op, trees, args, value)


def _shift(draw, tree, value: float, interval):
    """`tree ± c` with c a short literal that moves `value` to a point drawn inside `interval`."""
    lo, hi = interval
    lo_c, hi_c = int(math.floor(lo * 100)) + 1, int(math.ceil(hi * 100)) - 1
    target = draw(st.integers(lo_c, hi_c)) / 100
    k = round((target - value) * 100)
    if k == 0:
        k = 1 if target < hi - 0.01 else -1
    name = "+" if k > 0 else "-"
    c = _num(_decimal(draw, abs(k)))
    shifted = (_bin(name, tree, c))
    return shifted, op_table()[name].forward(value, float(c[1]))


def _leaf(draw, names: list[str], env: dict | None):
    consts = constant_ops()
    choices = ["num"] * 2 + (["name"] * 7 if names else []) + (["const"] if consts else [])
    kind = draw(st.sampled_from(choices))
    if kind == "name":
        recent = draw(st.booleans())  # lean on recent nodes, so graphs are deep, not only wide
        tree = ("name", draw(st.sampled_from(names[-3:] if recent else names)))
    elif kind == "const":
        tree = ("const", draw(st.sampled_from([op.name for op in consts])))
    elif env is not None:
        tree = _num(_literal_text(draw, 0.0, 3.0))
    else:
        tree = _num(draw(st.sampled_from(EDGE_LITERALS)))
    return tree, (evaluate_tree(tree, env) if env is not None else None)


def _expression(draw, depth: int, names: list[str], env: dict | None):
    """(tree, value); env (name -> value) makes it domain-safe, None makes it careless."""
    if depth <= 0 or draw(st.integers(0, 3)) == 0:
        return _leaf(draw, names, env)
    op = draw(st.sampled_from(function_ops()))
    first = _expression(draw, depth - 1, names, env)
    same = op.arity == 2 and draw(st.integers(0, 4)) == 0  # u = x*x, max(e, e), ...
    raw = [first] + [first if same else _expression(draw, depth - 1, names, env)
                     for _ in range(1, op.arity)]
    if env is None:
        return ("op", op.name, tuple(t for t, _ in raw)), None
    intervals = [op.domain[i] if i < len(op.domain) else (-3.0, 3.0) for i in range(op.arity)]
    trees, args = [t for t, _ in raw], [v for _, v in raw]
    for i, (lo, hi) in enumerate(intervals):
        if trees[i][0] == "num":
            trees[i] = _num(_literal_text(draw, lo, hi))
            args[i] = float(trees[i][1])
        elif lo > 0 and math.isfinite(args[i]) and not args[i] >= lo:
            trees[i], args[i] = _shift(draw, trees[i], args[i], (lo, hi))
    # Still overflowing, or near a kink or a tie: move arguments into their domain intervals.
    for _ in range(4):
        if _good(op, tuple(trees), args):
            break
        i = draw(st.integers(0, op.arity - 1))
        if trees[i][0] != "num" and not _constant(trees[i]) and math.isfinite(args[i]):
            trees[i], args[i] = _shift(draw, trees[i], args[i], intervals[i])
    assume(_good(op, tuple(trees), args))  # rare: smooth_at() would reject the graph anyway
    tree = ("op", op.name, tuple(trees))
    return tree, op.forward(*args)


EDGE_LITERALS = ("0", "0.0", "1", "2", "0.5", ".5", "7.", "3", "1e308", "1.7976931348623157e308",
                 "1e-308", "5e-324", "1e-320", "1e400", "1e-400", "1e16", "709.8", "745.2",
                 "20", "1e-7", "123456789012345678901234567890",
                 "0.1000000000000000055511151231257827021181583404541015625")


@st.composite
def statement_lists(draw, values: dict | None = None, max_depth: int = MAX_DEPTH,
                    max_statements: int = MAX_STATEMENTS):
    """Statements over the inputs named in `values` (domain-safe at those values), or over a
    few inputs with no care for domains when `values` is None."""
    if values is None:
        names, env = list(INPUT_NAMES[:draw(st.integers(1, len(INPUT_NAMES)))]), None
    else:
        names, env = list(values), dict(values)
    prefix = draw(st.sampled_from(TARGET_PREFIXES))
    statements = []
    n = draw(st.integers(1, max_statements))
    for i in range(n):
        last = i == n - 1  # the output: an expression, not a copy or a constant
        depth = draw(st.sampled_from([d for d in range(last, max_depth + 1) for _ in range(1 + (d > 0))]))
        tree, value = _expression(draw, depth, names, env)
        target = f"{prefix}{i}"
        statements.append((target, tree))
        names.append(target)
        if env is not None:
            env[target] = value
    return tuple(statements)


SAFE_INPUT = st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False)
EDGE_INPUT = st.one_of(
    st.sampled_from([0.0, -0.0, 1.0, -1.0, 1e308, -1e308, 1.7976931348623157e308, 5e-324, -5e-324,
                     1e-300, 2.2250738585072014e-308, math.nan, math.inf, -math.inf, 20.0,
                     709.78, -745.2, 1e16, 0.5]),
    st.floats(allow_nan=True, allow_infinity=True),
)
_LAYOUT = st.tuples(st.booleans(), st.sampled_from(["\n", "; ", "\n\n", " ;\n"]))


@st.composite
def graphs(draw, max_statements: int = MAX_STATEMENTS):
    """Domain-safe graphs with input values (see the module doc)."""
    pool = {name: draw(SAFE_INPUT) for name in INPUT_NAMES[:draw(st.integers(1, len(INPUT_NAMES)))]}
    statements = draw(statement_lists(pool, max_statements=max_statements))
    values = {name: pool[name] for name in inputs_of(statements)}
    caret, separator = draw(_LAYOUT)
    case = Case(statements, values, caret, separator)
    assume(smooth_at(case))
    return case


@st.composite
def edge_graphs(draw, max_depth: int = MAX_DEPTH):
    """Graphs with no domain care and edge-case literals and input values."""
    statements = draw(statement_lists(None, max_depth=max_depth))
    values = {name: draw(EDGE_INPUT) for name in inputs_of(statements)}
    caret, separator = draw(_LAYOUT)
    return Case(statements, values, caret, separator)


def print_back(text: str) -> str:
    """The graph text printed back statement by statement by gradcli's printer."""
    return "\n".join(f"{s.target} = {format_rpn(s.rpn)}"
                     for s in parse(Source("<generated>", text))) + "\n"


@st.composite
def printed_graphs(draw, safe: bool = False, max_depth: int = 5):
    """(case, the case's graph printed back via the printer): same graph, other text."""
    case = draw(graphs() if safe else edge_graphs(max_depth=max_depth))
    return case, print_back(case.text)
