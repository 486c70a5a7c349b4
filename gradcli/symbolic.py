"""The sympy side: an independent check of every partial, and closed-form derivatives.

Independence: sympy differentiates each statement (built from our parsed RPN, never from
text) and the chain rule is accumulated again from those partials; only relu's convention
(relu'(0) = 0, as Heaviside(x, 0)) is given to sympy, because sympy has no relu.
Bounds: statements over a size or depth limit, numbers with too many digits and anything
past a time budget are skipped and said so; nothing here may hang or exhaust memory.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
from dataclasses import dataclass, field
from fractions import Fraction
from types import SimpleNamespace

import sympy as sp
from sympy.printing.latex import LatexPrinter

from . import ieee
from .check import MethodReport, Verdict, agree, nonfinite_paths
from .ops import OPS
from .printer import latex_name

RTOL = 1e-6  # agreement: |a - b| <= ATOL + RTOL * max(|a|, |b|)
ATOL = 1e-9
MAX_STATEMENT_OPS = 200  # a statement larger than this is not given to sympy
MAX_STATEMENT_DEPTH = 60
MAX_CLOSED_FORM = 400  # tree nodes in a closed form before we stop substituting
MAX_CLOSED_FORM_NODES = 60  # graphs larger than this get no fully substituted comparison
MAX_DIGITS = 2000  # exact numbers larger than this are too costly
MAX_EXACT_EXPONENT = 64  # larger integer exponents become Floats (see _apply)
CHECK_SECONDS = 10.0  # for the check, and again for --symbolic
MAX_SYMBOLIC_STATEMENTS = 2000  # --symbolic shows closed forms for graphs up to this size


class relu(sp.Function):
    """max(x, 0) with PyTorch's convention relu'(0) = 0, i.e. derivative Heaviside(x, 0)."""

    is_real = True

    @classmethod
    def eval(cls, x):
        if x.is_Number or x.is_NumberSymbol:
            return sp.Max(x, 0)
        return None

    def fdiff(self, argindex=1):
        return sp.Heaviside(self.args[0], 0)

    def _eval_rewrite_as_Max(self, x, **kwargs):
        return sp.Max(x, 0)


S = SimpleNamespace(exp=sp.exp, log=sp.log, sqrt=sp.sqrt, sin=sp.sin, cos=sp.cos,
                    tanh=sp.tanh, Abs=sp.Abs, Max=sp.Max, Min=sp.Min, pi=sp.pi, relu=relu)


class Skip(Exception):
    """sympy is not asked to do this: too large, too deep, or past the time budget."""


# --- building sympy expressions from RPN ------------------------------------------------

# Non-finite constants stay opaque symbols with a float64 value: sympy's own oo and nan
# would swallow the expression (nan + x is nan, so d/dx would be 0, where PyTorch says 1).
INF = sp.Symbol("oo", positive=True)
NAN = sp.Symbol("nan")
OPAQUE = {INF: math.inf, NAN: math.nan}


def sympy_number(value: float, text: str | None = None) -> sp.Expr:
    """Exact when small (so `0.1*x` shows as x/10), a Float otherwise: never a huge integer."""
    if not math.isfinite(value):
        return NAN if value != value else (INF if value > 0 else -INF)
    if text is not None and len(text) <= 24:
        exact = Fraction(text) if "e" not in text.lower() or abs(_exponent(text)) <= 12 else None
    else:
        exact = Fraction(value) if value == int(value) and abs(value) <= 1e12 else None
    if exact is not None and abs(exact.numerator) <= 10**12 and exact.denominator <= 10**12:
        return sp.Rational(exact.numerator, exact.denominator)
    return sp.Float(value)


def _exponent(text: str) -> int:
    return int(text.lower().split("e", 1)[1])


def build(rpn: list, symbol) -> sp.Expr:
    """A statement's expression; `symbol(name)` gives the symbol a name stands for."""
    if len(rpn) > 2 * MAX_STATEMENT_OPS + 1:
        raise Skip(f"more than {MAX_STATEMENT_OPS} operations")
    stack: list = []
    depth: list[int] = []
    for item in rpn:
        kind = item[0]
        if kind == "num":
            stack.append(sympy_number(item[1], item[3]))
            depth.append(0)
        elif kind == "name":
            stack.append(symbol(item[1]))
            depth.append(0)
        else:
            op = item[1]
            n = op.arity
            args = stack[len(stack) - n:] if n else []
            d = 1 + max(depth[len(depth) - n:], default=0)
            del stack[len(stack) - n:], depth[len(depth) - n:]
            if d > MAX_STATEMENT_DEPTH:
                raise Skip(f"nested deeper than {MAX_STATEMENT_DEPTH}")
            stack.append(_apply(op, args))
            depth.append(d)
    return stack[-1]


def _apply(op, args):
    if args and all(_is_constant(a) for a in args):
        # Fold constants in float64, as the evaluator does: sympy never computes an exact
        # 10**10**10, and 0/0 or log(-pi) become an opaque nan rather than sympy's nan or a
        # complex number. Only small exact arithmetic stays exact (so 0.1*x shows as x/10).
        folded = op.forward(*(float(a) for a in args))
        exact = all(a.is_Number for a in args) and op.name in ("+", "-", "*", "/", "neg")
        if not exact or not ieee.is_finite(folded):
            return sympy_number(folded)
    if op.name == "**" and args[1].is_Rational and abs(args[1]) > MAX_EXACT_EXPONENT:
        # (3*x)**1000000000 would make sympy compute 3**1000000000 exactly, in C, where no
        # time budget can interrupt it; a Float exponent is evaluated by mpmath instead.
        args = [args[0], sp.Float(float(args[1]))]
    try:
        result = op.sympy(S, *args)
    except Exception as error:  # noqa: BLE001 - sympy refuses in many ways; none may escape
        raise Skip(f"sympy failed on {op.name} ({type(error).__name__})") from None
    _guard_digits(result)
    return result


def _is_constant(expr) -> bool:
    return expr.is_Number or (not expr.free_symbols and expr.is_real is True)


def _guard_digits(expr) -> None:
    for atom in expr.atoms(sp.Rational):
        if max(abs(atom.p), atom.q).bit_length() > MAX_DIGITS * 3.33:
            raise Skip("exact numbers too large")


def _big_powers(expr) -> bool:
    return any(p.exp.is_Integer and abs(p.exp) > MAX_EXACT_EXPONENT for p in expr.atoms(sp.Pow))


def tree_size(expr, limit: int) -> int:
    """Nodes in the expression tree, counting no further than `limit`."""
    n = 0
    for _ in sp.preorder_traversal(expr):
        n += 1
        if n > limit:
            break
    return n


# --- numbers out of sympy expressions, with IEEE semantics ------------------------------

def _heaviside(x, h0=0.5):
    if x != x:
        return math.nan
    return 1.0 if x > 0 else 0.0 if x < 0 else h0


def _fold(fn):
    def reduce_all(*xs):
        acc = xs[0]
        for x in xs[1:]:
            acc = fn(acc, x)
        return acc
    return reduce_all


def _safe(fn):
    """math's function with IEEE results: overflow is ±inf, a domain error is nan."""
    def call(x: float) -> float:
        try:
            return fn(x)
        except OverflowError:
            return math.copysign(math.inf, x) if fn is math.sinh else math.inf
        except ValueError:
            return math.nan
    return call


def _sum(xs) -> float:
    """Correctly rounded where it can be; fsum raises where finite terms overflow, sum gives inf."""
    try:
        return math.fsum(xs)
    except (OverflowError, ValueError):
        return sum(xs)


def _product(*xs):
    acc = 1.0
    for x in xs:
        acc *= x
    return acc


_FUNCTIONS = {
    sp.exp: ieee.exp, sp.log: ieee.log, sp.sin: ieee.sin, sp.cos: ieee.cos,
    sp.tanh: math.tanh, sp.Abs: abs, sp.sign: ieee.sign, sp.Heaviside: _heaviside,
    sp.Max: _fold(ieee.maximum), sp.Min: _fold(ieee.minimum), relu: lambda x: OPS["relu"].forward(x),
    sp.Add: lambda *xs: _sum(xs),
    sp.Mul: _product, sp.Pow: ieee.pow,
    # d|f|/dx for an f sympy cannot prove real (w**w) is written with re, im and conjugate;
    # every value here is a real float.
    sp.re: lambda x: x, sp.im: lambda x: 0.0, sp.conjugate: lambda x: x,
    sp.arg: lambda x: 0.0 if x >= 0.0 else (math.pi if x < 0.0 else math.nan),
    sp.atan2: math.atan2,
    # ...and re/im of sin(z) bring in sinh and cosh, of log(z) atan, and so on.
    sp.sinh: _safe(math.sinh), sp.cosh: _safe(math.cosh), sp.tan: _safe(math.tan),
    sp.atan: _safe(math.atan), sp.asin: _safe(math.asin), sp.acos: _safe(math.acos),
}


def compile_numeric(expr, index: dict):
    """A Python closure that evaluates `expr` in float64 given a list of symbol values.

    No eval/exec: closures are composed over sympy's tree. IEEE results, never exceptions.
    """
    if expr.is_Symbol:
        if expr in OPAQUE:
            constant = OPAQUE[expr]
            return lambda env: constant
        i = index[expr]
        return lambda env: env[i]
    if expr.is_Number or expr.is_NumberSymbol:
        value = _to_float(expr)
        return lambda env: value
    fn = _FUNCTIONS.get(expr.func)
    if fn is None:
        raise Skip(f"no numeric rule for sympy's {expr.func.__name__}")
    parts = [compile_numeric(a, index) for a in expr.args]
    if len(parts) == 1:
        (p,) = parts
        return lambda env: fn(p(env))
    if len(parts) == 2:
        p, q = parts
        return lambda env: fn(p(env), q(env))
    return lambda env: fn(*[p(env) for p in parts])


def _to_float(number) -> float:
    if number is sp.zoo or number is sp.nan:
        return math.nan
    try:
        return float(number)
    except (OverflowError, TypeError, ValueError):
        return math.nan


def precise_value(expr, values: dict) -> float:
    """The same expression evaluated with 40 digits and unbounded exponents (mpmath)."""
    subs = {s: _sympy_nonfinite(v) if not ieee.is_finite(v) else sp.Float(v, 40)
            for s, v in values.items()}
    subs.update({s: _sympy_nonfinite(v) for s, v in OPAQUE.items()})
    try:
        result = expr.xreplace(subs).rewrite(sp.Max).evalf(40)
    except Exception:  # noqa: BLE001 - sympy may fail in many ways on odd values
        return math.nan
    if not result.is_real:
        return math.nan if result is not sp.oo and result is not -sp.oo else _to_float(result)
    return _to_float(result)


def _sympy_nonfinite(v: float):
    return sp.nan if v != v else (sp.oo if v > 0 else -sp.oo)


def _agree(a: float, b: float) -> bool:
    return agree(a, b, RTOL, ATOL)


# --- a time budget that works on sympy's Python code ------------------------------------

class _Timeout(BaseException):
    """A BaseException, so no `except Exception` around sympy can swallow the budget."""


@contextlib.contextmanager
def time_budget(seconds: float):
    """Raise _Timeout inside sympy after `seconds` (main thread, POSIX); elsewhere unbounded."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def on_alarm(signum, frame):
        raise _Timeout()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --- the check ---------------------------------------------------------------------------

class _Shapes:
    """Statement partials cached by shape: names become positional symbols, so a graph of
    10**5 statements of a few shapes is differentiated a few times."""

    def __init__(self):
        self.cache: dict = {}
        self.slots = [sp.Symbol(f"_{i}", real=True) for i in range(8)]

    def partials(self, statement):
        key, order = _shape_key(statement.rpn)
        hit = self.cache.get(key)
        if hit is None:
            while len(self.slots) < len(order):
                self.slots.append(sp.Symbol(f"_{len(self.slots)}", real=True))
            position = {name: self.slots[i] for i, name in enumerate(order)}
            try:
                expr = build(statement.rpn, position.__getitem__)
                index = {self.slots[i]: i for i in range(len(order))}
                parts = [sp.diff(expr, position[m]) for m in order]
                hit = (expr, parts, [compile_numeric(p, index) for p in parts])
            except Skip as reason:
                hit = reason
            except _Timeout:
                raise
            except (RecursionError, MemoryError, ValueError, TypeError, ArithmeticError) as e:
                hit = Skip(f"sympy failed ({type(e).__name__})")
            self.cache[key] = hit
        if isinstance(hit, Skip):
            raise hit
        return order, hit


def _shape_key(rpn):
    order: dict[str, int] = {}
    key = []
    for item in rpn:
        kind = item[0]
        if kind == "name":
            key.append(order.setdefault(item[1], len(order)))
        elif kind == "num":
            key.append(item[3])
        else:
            key.append(item[1].name)
    return tuple(key), list(order)


def check(result) -> MethodReport:
    graph = result.graph
    values = {n.name: n.value for n in result.nodes}
    grads = {n.name: n.grad for n in result.nodes}
    local = {(e.source, e.target): e.local for e in result.edges}
    report = MethodReport("sympy", rtol=RTOL, atol=ATOL)
    shapes = _Shapes()
    acc: dict[str, float] = {result.output: 1.0}  # the check's own chain rule
    unverifiable: set[str] = set()
    tainted_edges = nonfinite_paths(result)[1]
    done = 0
    try:
        with time_budget(CHECK_SECONDS):
            for s in reversed(graph.statements):
                _check_statement(s, shapes, values, local, acc, unverifiable, report,
                                 tainted_edges)
                done += 1
    except _Timeout:
        skipped = len(graph.statements) - done
        report.notes.append(f"time budget of {CHECK_SECONDS:g} s used up: {skipped} statement(s) "
                            "nearest the inputs were not checked")
        for s in graph.statements[:skipped]:
            unverifiable.add(s.target)
            unverifiable.update(n for n in _mentions(s))
    _compare_gradients(result, grads, acc, unverifiable, report)
    closed = _closed_form_comparison(result, report)
    report.how = ("sympy differentiated each statement and the chain rule was "
                  "accumulated again" + (f"; {closed}" if closed else ""))
    if result.kinks:
        report.notes.append("kinks checked with the same conventions: " + "; ".join(result.kinks))
    return report


def _mentions(statement) -> list[str]:
    seen: dict[str, None] = {}
    for item in statement.rpn:
        if item[0] == "name":
            seen[item[1]] = None
    return list(seen)


def _check_statement(s, shapes, values, local, acc, unverifiable, report, tainted_edges):
    mentions = _mentions(s)
    g = acc.get(s.target)
    try:
        order, (_, _, numeric) = shapes.partials(s)
    except Skip as reason:
        report.notes.append(f"{s.target}: not checked ({reason})")
        if g is not None or s.target in unverifiable:
            unverifiable.update(mentions)
        for m in mentions:
            report.edges[(m, s.target)] = Verdict("skipped")
        return
    env = [values[name] for name in order]
    for name, fn in zip(order, numeric):
        expected = fn(env)
        mine = local[(name, s.target)]
        if not _agree(mine, expected) and ieee.is_finite(mine) and not ieee.is_finite(expected):
            expr = shapes.cache[_shape_key(s.rpn)[0]][1][order.index(name)]
            expected = precise_value(expr, dict(zip(shapes.slots, env)))
        report.edges[(name, s.target)] = report.judge(
            mine, expected, f"local partial d{s.target}/d{name}",
            nonfinite_path=(name, s.target) in tainted_edges)
        if s.target in unverifiable:
            unverifiable.add(name)
        if g is not None:
            contribution = g * expected
            acc[name] = contribution if name not in acc else acc[name] + contribution


def _compare_gradients(result, grads, acc, unverifiable, report):
    tainted = nonfinite_paths(result)[0]
    for node in result.nodes:
        if node.name in unverifiable:
            report.nodes[node.name] = Verdict("skipped")
            continue
        expected = acc.get(node.name, 0.0)
        report.nodes[node.name] = report.judge(grads[node.name], expected,
                                               f"d{result.output}/d{node.name}",
                                               nonfinite_path=node.name in tainted)


def _closed_form_comparison(result, report) -> str:
    """Differentiate the fully substituted output directly, for each input."""
    graph = result.graph
    if len(graph.statements) > MAX_CLOSED_FORM_NODES or result.output in graph.inputs:
        return ""
    try:
        with time_budget(5.0):
            closed = substitute_all(graph, result.output)
            if closed is None:
                return ""
            values = {symbol(n.name): n.value for n in result.nodes if n.name in graph.inputs}
            compared = []
            for name in graph.inputs:
                d = sp.diff(closed, symbol(name))
                expected = compile_numeric(d, {s: i for i, s in enumerate(values)})(list(values.values()))
                mine = result.nodes[graph.inputs.index(name)].grad
                if not _agree(mine, expected) and not ieee.is_finite(expected):
                    expected = precise_value(d, values)
                verdict = report.judge(mine, expected, f"closed form d{result.output}/d{name}",
                                       nonfinite_path=name in nonfinite_paths(result)[0])
                if verdict.status == "mismatch":
                    report.nodes[name] = verdict
                compared.append(name)
            return "the closed form of the output was differentiated directly for " + \
                ", ".join(compared) if compared else ""
    except _Timeout:
        report.notes.append("the fully substituted closed form was too costly; not compared")
        return ""
    except (Skip, RecursionError, ValueError, TypeError, ArithmeticError) as reason:
        why = str(reason) or type(reason).__name__
        report.notes.append(f"the fully substituted closed form was not compared ({why})")
        return ""


_SYMBOLS: dict[str, sp.Symbol] = {}


def symbol(name: str) -> sp.Symbol:
    found = _SYMBOLS.get(name)
    if found is None:
        found = _SYMBOLS[name] = sp.Symbol(name, real=True)
    return found


def substitute_all(graph, upto: str | None = None, limit: int = MAX_CLOSED_FORM):
    """Closed forms of every node in terms of the inputs, while each stays under `limit`
    tree nodes; returns the closed form of `upto` (None if it grew too large)."""
    closed: dict[str, sp.Expr] = {name: symbol(name) for name in graph.inputs}
    sizes: dict[str, int] = {name: 1 for name in graph.inputs}
    for s in graph.statements:
        estimate = len(s.rpn)
        for item in s.rpn:
            if item[0] == "name":
                estimate += sizes.get(item[1], limit + 1)
        if estimate <= limit:
            try:
                expr = build(s.rpn, closed.__getitem__)
            except Skip:
                continue  # stays unsubstituted: nodes that use it are too large as well
            closed[s.target] = expr
            sizes[s.target] = tree_size(expr, limit)
        if s.target == upto:
            return closed.get(upto)
    return closed if upto is None else None


# --- closed-form derivatives for --symbolic -----------------------------------------------

@dataclass
class SymbolicForms:
    gradients: dict[str, str | None]  # node -> sympy string (None: too large)
    in_terms_of_inputs: dict[str, bool]
    notes: list[str] = field(default_factory=list)
    latex: dict[str, str | None] = field(default_factory=dict)  # the same forms in LaTeX


def closed_forms(result) -> SymbolicForms:
    graph = result.graph
    forms = SymbolicForms({}, {})
    if len(graph.statements) > MAX_SYMBOLIC_STATEMENTS:
        forms.gradients = {name: None for name in graph.nodes}
        forms.latex = dict(forms.gradients)
        forms.in_terms_of_inputs = {name: False for name in graph.nodes}
        forms.notes.append(f"closed forms are shown for graphs of up to {MAX_SYMBOLIC_STATEMENTS} "
                           f"statements; this one has {len(graph.statements)}")
        return forms
    try:
        with time_budget(CHECK_SECONDS):
            grads = _symbolic_adjoints(graph, result.output, forms)
            closed = substitute_all(graph) or {}
            for name in graph.nodes:
                expr = grads.get(name, sp.Integer(0))
                if expr is None:
                    forms.gradients[name], forms.in_terms_of_inputs[name] = None, False
                    forms.latex[name] = None
                    continue
                forms.gradients[name], forms.latex[name], forms.in_terms_of_inputs[name] = \
                    _shown(expr, graph, closed)
    except _Timeout:
        forms.notes.append(f"closed forms stopped after the {CHECK_SECONDS:g} s budget")
        for name in graph.nodes:
            forms.gradients.setdefault(name, None)
            forms.latex.setdefault(name, None)
            forms.in_terms_of_inputs.setdefault(name, False)
    partial = [n for n in graph.nodes if forms.gradients[n] and not forms.in_terms_of_inputs[n]]
    if partial:
        forms.notes.append("in terms of intermediate names (the closed form in inputs would be "
                           "too large): " + ", ".join(partial))
    missing = [n for n in graph.nodes if forms.gradients[n] is None]
    if missing:
        forms.notes.append("too large to show: " + ", ".join(missing))
    return forms


def _symbolic_adjoints(graph, output, forms) -> dict:
    """d output / d node as sympy expressions in node names, by reverse accumulation."""
    adj: dict[str, sp.Expr | None] = {output: sp.Integer(1)}
    for s in reversed(graph.statements):
        g = adj.get(s.target)
        if g is None:
            continue
        try:
            expr = build(s.rpn, symbol)
            parts = {m: sp.diff(expr, symbol(m)) for m in _mentions(s)}
        except (Skip, RecursionError, ValueError, TypeError, ArithmeticError) as reason:
            forms.notes.append(f"{s.target}: no closed form ({reason})")
            for m in _mentions(s):
                adj[m] = None
            continue
        for m, d in parts.items():
            if m in adj and adj[m] is None:
                continue
            term = g * d
            total = term if m not in adj else adj[m] + term
            adj[m] = total if tree_size(total, MAX_CLOSED_FORM) <= MAX_CLOSED_FORM else None
    return adj


def _shown(expr, graph, closed) -> tuple[str | None, str | None, bool]:
    """sympy's string and LaTeX for a gradient, in the inputs where that stays real and small."""
    for attempt in (True, False):
        try:
            shown, full = _in_terms_of_inputs(expr, graph, closed) if attempt else (expr, False)
            if shown.has(sp.I, sp.zoo):
                continue  # e.g. sqrt(u) with u = -1: complex, where the float value is nan
            shown = shown.replace(relu, lambda a: sp.Max(0, a))
            return sp.sstr(shown), to_latex(shown), full
        except Exception:  # noqa: BLE001 - sympy refuses in many ways; none may escape
            continue
    return None, None, False


class _LatexPrinter(LatexPrinter):
    """sympy's LaTeX with gradcli's names as written and H for relu's step (H(0) = 0)."""

    def _print_Symbol(self, expr, style="plain"):
        return {INF: r"\infty", NAN: r"\mathrm{NaN}"}.get(expr) or latex_name(expr.name)

    def _print_Heaviside(self, expr, exp=None):
        text = rf"H\left({self._print(expr.args[0])}\right)"
        return rf"{text}^{{{exp}}}" if exp else text


def to_latex(expr) -> str:
    return _LatexPrinter().doprint(expr)


def _in_terms_of_inputs(expr, graph, closed):
    names = [s for s in expr.free_symbols if s.name in closed and s.name not in graph.inputs]
    missing = [s for s in expr.free_symbols if s.name not in closed]
    if missing:
        return expr, False
    if not names:
        return expr, True
    if any(_big_powers(closed[s.name]) for s in names) or _big_powers(expr):
        return expr, False  # substituting could make sympy expand a huge exact power
    size = tree_size(expr, MAX_CLOSED_FORM) + sum(
        tree_size(closed[s.name], MAX_CLOSED_FORM) for s in names)
    if size > MAX_CLOSED_FORM * 2:
        return expr, False
    return expr.xreplace({s: closed[s.name] for s in names}), True
