"""Table-driven tests of gradcli.ops.OPS: every op with arguments is checked against finite
differences and sympy at seeded points of its domain, so adding an op adds its tests.
Kink and IEEE expectations below were confirmed against PyTorch 2.13 (CPU, float64)."""

from __future__ import annotations

import functools
import math
import random

import pytest
import sympy as sp

from gradcli.ops import OPS
from gradcli.symbolic import S

inf, nan = math.inf, math.nan
N_POINTS = 20
SYMBOLS = sp.symbols("x0:8", real=True)
DIFFERENTIABLE = [op for op in OPS.values() if op.arity >= 1]
over_ops = pytest.mark.parametrize("op", DIFFERENTIABLE, ids=lambda op: op.name)


# --- helpers -----------------------------------------------------------------------------

def sample_points(op, n: int = N_POINTS) -> list[tuple[float, ...]]:
    """Seeded per op name, so adding an op to the table does not move other ops' points."""
    rng = random.Random(f"test_ops:{op.name}")
    return [tuple(rng.uniform(lo, hi) for lo, hi in op.domain) for _ in range(n)]


def partials(op, args, g: float = 1.0) -> tuple:
    return op.backward(g, *args, op.forward(*args))


def central_difference(op, args, i: int) -> float:
    h = 1e-6 * max(1.0, abs(args[i]))
    up, down = list(args), list(args)
    up[i] += h
    down[i] -= h
    return (op.forward(*up) - op.forward(*down)) / (up[i] - down[i])  # the step as rounded


@functools.cache
def symbolic(op):
    """(symbols, sympy expression, its partial derivatives) for an op."""
    symbols = SYMBOLS[:op.arity]
    expr = op.sympy(S, *symbols)
    return symbols, expr, tuple(sp.diff(expr, s) for s in symbols)


def sympy_value(expr, symbols, args) -> float:
    exact = {s: sp.Float(a, 40) for s, a in zip(symbols, args)}  # each float's exact value
    return float(expr.xreplace(exact).evalf(40))


def is_ieee(actual: float, expected: float) -> bool:
    """Exact equality, where nan equals nan."""
    return math.isnan(actual) if math.isnan(expected) else actual == expected


# --- 1. partials agree with finite differences and sympy; forward agrees with sympy -----

@over_ops
def test_partials_match_central_differences(op):
    for args in sample_points(op):
        for i, partial in enumerate(partials(op, args)):
            numeric = central_difference(op, args, i)
            assert math.isclose(partial, numeric, rel_tol=1e-5, abs_tol=1e-7), (args, i)


@over_ops
def test_partials_match_sympy_diff(op):
    symbols, _, derivatives = symbolic(op)
    for args in sample_points(op):
        mine = partials(op, args)
        assert len(mine) == op.arity
        for i, derivative in enumerate(derivatives):
            expected = sympy_value(derivative, symbols, args)
            assert math.isclose(mine[i], expected, rel_tol=1e-9, abs_tol=1e-12), (args, i)


@over_ops
def test_forward_matches_sympy(op):
    symbols, expr, _ = symbolic(op)
    for args in sample_points(op):
        expected = sympy_value(expr, symbols, args)
        assert math.isclose(op.forward(*args), expected, rel_tol=1e-9, abs_tol=1e-12), args


# --- 2. backward is a vector-Jacobian product: linear in g ------------------------------

@over_ops
def test_backward_is_linear_in_g(op):
    for args in sample_points(op):
        scaled, unit = partials(op, args, g=2.5), partials(op, args, g=1.0)
        for s, u in zip(scaled, unit):
            assert math.isclose(s, 2.5 * u, rel_tol=1e-15, abs_tol=0.0), args


# --- 3. kinks, with PyTorch's conventions ------------------------------------------------

KINKS = {  # op -> (arguments at its kink, arguments away from it)
    "relu": ((0.0,), (1.0,)),
    "abs": ((0.0,), (-2.0,)),
    "sqrt": ((0.0,), (4.0,)),
    "max": ((1.5, 1.5), (1.5, 2.0)),
    "min": ((-1.0, -1.0), (0.0, -1.0)),
}


def test_every_op_with_a_kink_has_a_kink_case():
    assert {op.name for op in OPS.values() if op.kink is not None} == set(KINKS)


@pytest.mark.parametrize("name", sorted(KINKS))
def test_kink_note_only_at_the_kink(name):
    at, away = KINKS[name]
    note = OPS[name].kink.note(name, at)
    assert isinstance(note, str) and note.startswith(name)
    assert OPS[name].kink.note(name, away) is None


@over_ops
def test_forward_mode_derivative_agrees_with_the_backward_rule(op):
    # Two independently written rules: the textbook partials and PyTorch's VJP at g = 1.
    for args in sample_points(op):
        out = op.forward(*args)
        for d, p in zip(op.derivative(*args, out), partials(op, args)):
            assert math.isclose(d, p, rel_tol=1e-12, abs_tol=1e-15), (args, d, p)


@pytest.mark.parametrize("name", sorted(KINKS))
def test_forward_mode_derivative_uses_the_same_kink_convention(name):
    at, _ = KINKS[name]
    op = OPS[name]
    assert op.derivative(*at, op.forward(*at)) == partials(op, at)


@pytest.mark.parametrize("x", [0.0, -0.0])
def test_relu_derivative_at_zero_is_zero(x):
    assert partials(OPS["relu"], (x,)) == (0.0,)


def test_abs_derivative_at_zero_is_zero():
    assert partials(OPS["abs"], (0.0,)) == (0.0,)


@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("x", [-1.0, 0.0, 1.5])
def test_tie_splits_gradient_half_and_half(name, x):
    assert partials(OPS[name], (x, x)) == (0.5, 0.5)


def test_sqrt_derivative_at_zero_is_inf():
    assert partials(OPS["sqrt"], (0.0,)) == (inf,)


# --- 4. IEEE values: forward, then backward rules ----------------------------------------

def forward(name, *args):
    return lambda: OPS[name].forward(*args)


def backward(name, g, *args, argument):
    return lambda: partials(OPS[name], args, g)[argument]


IEEE_CASES = {
    "1/0 = inf": (forward("/", 1.0, 0.0), inf),
    "-1/0 = -inf": (forward("/", -1.0, 0.0), -inf),
    "0/0 = nan": (forward("/", 0.0, 0.0), nan),
    "log(0) = -inf": (forward("log", 0.0), -inf),
    "log(-1) = nan": (forward("log", -1.0), nan),
    "sqrt(-1) = nan": (forward("sqrt", -1.0), nan),
    "exp(1000) = inf": (forward("exp", 1000.0), inf),
    "10**400 = inf": (forward("**", 10.0, 400.0), inf),
    "(-8)**(1/3) = nan": (forward("**", -8.0, 1.0 / 3.0), nan),
    "0**-1 = inf": (forward("**", 0.0, -1.0), inf),
    "(-0.0)**-1 = -inf": (forward("**", -0.0, -1.0), -inf),
    "sin(inf) = nan": (forward("sin", inf), nan),
    "cos(inf) = nan": (forward("cos", inf), nan),
    "sigmoid(-1000) = 0": (forward("sigmoid", -1000.0), 0.0),
    "sigmoid(1000) = 1": (forward("sigmoid", 1000.0), 1.0),
    "softplus(1000) = 1000": (forward("softplus", 1000.0), 1000.0),
    "softplus(-1000) = 0": (forward("softplus", -1000.0), 0.0),
    "softplus(0) = log 2": (forward("softplus", 0.0), math.log(2.0)),
    "max(nan, 1) = nan": (forward("max", nan, 1.0), nan),
    "min(1, nan) = nan": (forward("min", 1.0, nan), nan),
    "relu(nan) = nan": (forward("relu", nan), nan),
    "relu backward g=inf at -1 is a hard 0": (backward("relu", inf, -1.0, argument=0), 0.0),
    "mul backward g=inf, other factor 0 is nan": (backward("*", inf, 0.0, 5.0, argument=1), nan),
    "pow d/dbase at 0**0 is 0": (backward("**", 1.0, 0.0, 0.0, argument=0), 0.0),
    "pow d/dexponent at 0**2 is 0": (backward("**", 1.0, 0.0, 2.0, argument=1), 0.0),
    "log backward at 0 is inf": (backward("log", 1.0, 0.0, argument=0), inf),
}


@pytest.mark.parametrize("case", list(IEEE_CASES))
def test_ieee_value(case):
    compute, expected = IEEE_CASES[case]
    actual = compute()  # must not raise
    assert is_ieee(actual, expected), f"{case}: got {actual!r}"


# --- 5. every table entry is complete ----------------------------------------------------

@pytest.mark.parametrize("op", list(OPS.values()), ids=lambda op: op.name)
def test_table_entry_is_complete(op):
    assert isinstance(op.doc, str) and op.doc.strip()
    assert isinstance(op.sympy(S, *SYMBOLS[:op.arity]), sp.Basic)
    assert len(op.domain) == op.arity
    assert all(lo < hi for lo, hi in op.domain)
    middle = tuple((lo + hi) / 2.0 for lo, hi in op.domain)
    assert len(partials(op, middle)) == op.arity
