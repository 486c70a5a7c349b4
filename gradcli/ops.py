"""THE op table: each op's forward, backward (vector-Jacobian) rule, derivative for forward
mode, sympy counterpart and kink.

Backward rules follow PyTorch's float64 formulas (tools/autograd/derivatives.yaml) term by term,
so inf/nan propagate as they do there: a rule that PyTorch writes as a multiply multiplies
(0 * inf is nan), and a rule it writes as a `where` selects (relu's gate is a hard 0).
The local partial of an edge is the rule applied to g = 1.
`derivative` is written separately, as the textbook partials, for the forward-mode check: a
slip in one rule then shows up as a disagreement instead of being copied into both modes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from . import ieee

Backward = Callable[..., tuple]


@dataclass(frozen=True)
class Kink:
    """Where an op is not differentiable: `where(*args)` is 0 there and changes sign across it
    (x for relu, a - b for max); `convention` says what gradcli takes as the derivative."""

    where: Callable[..., float]
    convention: str

    def note(self, op: str, args) -> str | None:
        if self.where(*args) != 0.0:
            return None
        at = f"tie at {args[0]!r}" if len(args) == 2 else "at 0"
        return f"{op} {at}: {self.convention} (PyTorch convention)"


@dataclass(frozen=True)
class Op:
    name: str  # as written in a graph: "+", "relu", ...; unary minus is "neg"
    arity: int
    forward: Callable[..., float]
    backward: Backward  # (g, *args, out) -> one contribution per argument
    sympy: Callable  # (S, *args) -> sympy expression; S is symbolic.py's namespace
    precedence: int  # for printing and parsing: higher binds tighter
    derivative: Callable[..., tuple] = lambda *args: ()  # (*args, out) -> ∂out/∂arg_i
    kink: Kink | None = None
    domain: tuple[tuple[float, float], ...] = ()  # where tests sample it (smooth there)
    infix: bool = False
    doc: str = ""


# --- kink conventions, each decided once (PyTorch's choices) ---------------------------

def relu_gate(g: float, out: float) -> float:
    """relu'(0) = 0: threshold_backward passes g only where the output is > 0."""
    return 0.0 if out <= 0.0 else g


def tie_split(g: float, mine: float, other: float, i_win_when_greater: bool) -> float:
    """max/min: a tie splits g half and half; the loser gets a hard 0."""
    if mine == other:
        return g / 2.0
    loses = mine < other if i_win_when_greater else mine > other
    return 0.0 if loses else g


def pow_base_grad(g: float, a: float, b: float) -> float:
    """d(a**b)/da; PyTorch makes it a hard 0 when the exponent is 0."""
    return 0.0 if b == 0.0 else g * (b * ieee.pow(a, b - 1.0))


def pow_exponent_grad(g: float, a: float, b: float, out: float) -> float:
    """d(a**b)/db = out*log(a), taken as 0 where a == 0 and b >= 0; PyTorch multiplies g
    by that 0, so an infinite g still gives nan."""
    return g * (0.0 if (a == 0.0 and b >= 0.0) else out * ieee.log(a))


def _pow_backward(g, a, b, out):
    return pow_base_grad(g, a, b), pow_exponent_grad(g, a, b, out)


def _softplus_backward(g, x, out):
    """PyTorch's softplus_backward (beta 1, threshold 20), in its order of operations."""
    if x > ieee.SOFTPLUS_THRESHOLD:
        return (g,)
    z = ieee.exp(x)
    return (g * z / (z + 1.0),)


def _at_zero(derivative: str) -> Kink:
    return Kink(lambda x: x, f"derivative taken as {derivative}")


_TIE = Kink(lambda a, b: a - b, "the gradient is split half and half")


def _max_partials(a, b, o):
    if a != a or b != b:
        return 1.0, 1.0  # torch.maximum sends g to both sides when one is nan
    return (0.5, 0.5) if a == b else ((1.0, 0.0) if a > b else (0.0, 1.0))


def _min_partials(a, b, o):
    if a != a or b != b:
        return 1.0, 1.0
    return (0.5, 0.5) if a == b else ((1.0, 0.0) if a < b else (0.0, 1.0))


def _pow_partials(a, b, o):
    d_base = 0.0 if b == 0.0 else b * ieee.pow(a, b - 1.0)
    d_exponent = 0.0 if (a == 0.0 and b >= 0.0) else o * ieee.log(a)
    return d_base, d_exponent


_ANY = (-3.0, 3.0)
_POSITIVE = (0.2, 4.0)

_TABLE = [
    Op("+", 2, lambda a, b: a + b, lambda g, a, b, o: (g, g),
       lambda S, a, b: a + b, 1, infix=True, derivative=lambda a, b, o: (1.0, 1.0),
       domain=(_ANY, _ANY), doc="sum"),
    Op("-", 2, lambda a, b: a - b, lambda g, a, b, o: (g, -g),
       lambda S, a, b: a - b, 1, infix=True, derivative=lambda a, b, o: (1.0, -1.0),
       domain=(_ANY, _ANY), doc="difference"),
    Op("*", 2, lambda a, b: a * b, lambda g, a, b, o: (g * b, g * a),
       lambda S, a, b: a * b, 2, infix=True, derivative=lambda a, b, o: (b, a),
       domain=(_ANY, _ANY), doc="product"),
    Op("/", 2, ieee.div, lambda g, a, b, o: (ieee.div(g, b), -g * ieee.div(o, b)),
       lambda S, a, b: a / b, 2, infix=True,
       derivative=lambda a, b, o: (ieee.div(1.0, b), -ieee.div(a, b * b)),
       domain=(_ANY, (0.5, 4.0)), doc="quotient; x/0 is ±inf, 0/0 is nan"),
    Op("neg", 1, lambda a: -a, lambda g, a, o: (-g,),
       lambda S, a: -a, 3, derivative=lambda a, o: (-1.0,), domain=(_ANY,), doc="unary minus"),
    Op("**", 2, ieee.pow, _pow_backward,
       lambda S, a, b: a ** b, 4, infix=True, derivative=_pow_partials,
       domain=(_POSITIVE, _ANY),
       doc="power, also written ^; right-associative; negative base with a "
           "non-integer exponent is nan"),
    Op("relu", 1, lambda x: 0.0 if x < 0.0 else x,  # nan and -0.0 pass, as in torch.relu
       lambda g, x, o: (relu_gate(g, o),), lambda S, x: S.relu(x), 5,
       derivative=lambda x, o: (1.0 if x > 0.0 else 0.0,),
       kink=_at_zero("0"), domain=(_ANY,), doc="max(x, 0)"),
    Op("sigmoid", 1, ieee.sigmoid, lambda g, x, o: (g * (1.0 - o) * o,),
       lambda S, x: 1 / (1 + S.exp(-x)), 5,
       derivative=lambda x, o: (ieee.sigmoid(x) * ieee.sigmoid(-x),), domain=(_ANY,),
       doc="1/(1+e^-x); exactly 0 below x ≈ -709.78, as PyTorch"),
    Op("tanh", 1, math.tanh,
       lambda g, x, o: (g * (1.0 - o * o),), lambda S, x: S.tanh(x), 5,
       derivative=lambda x, o: (ieee.div(1.0, math.cosh(x) ** 2) if abs(x) < 350 else 0.0,),
       domain=(_ANY,), doc="hyperbolic tangent"),
    Op("exp", 1, ieee.exp, lambda g, x, o: (g * o,), lambda S, x: S.exp(x), 5,
       derivative=lambda x, o: (ieee.exp(x),), domain=(_ANY,), doc="e^x; overflow is inf"),
    Op("log", 1, ieee.log, lambda g, x, o: (ieee.div(g, x),), lambda S, x: S.log(x), 5,
       derivative=lambda x, o: (ieee.div(1.0, x),),
       domain=(_POSITIVE,), doc="natural log; log(0) is -inf, log(x<0) is nan"),
    Op("sqrt", 1, ieee.sqrt, lambda g, x, o: (ieee.div(g, 2.0 * o),),
       lambda S, x: S.sqrt(x), 5, derivative=lambda x, o: (0.5 * ieee.pow(x, -0.5),),
       kink=_at_zero("inf"),
       domain=(_POSITIVE,), doc="square root; sqrt(x<0) is nan, sqrt'(0) is inf"),
    Op("sin", 1, ieee.sin, lambda g, x, o: (g * ieee.cos(x),), lambda S, x: S.sin(x), 5,
       derivative=lambda x, o: (ieee.cos(x),), domain=(_ANY,), doc="sine"),
    Op("cos", 1, ieee.cos, lambda g, x, o: (g * -ieee.sin(x),), lambda S, x: S.cos(x), 5,
       derivative=lambda x, o: (-ieee.sin(x),), domain=(_ANY,), doc="cosine"),
    Op("abs", 1, abs, lambda g, x, o: (g * ieee.sign(x),), lambda S, x: S.Abs(x), 5,
       derivative=lambda x, o: (1.0 if x > 0.0 else -1.0 if x < 0.0 else 0.0,),
       kink=_at_zero("0"), domain=(_ANY,), doc="absolute value"),
    Op("softplus", 1, ieee.softplus, _softplus_backward,
       lambda S, x: S.log(1 + S.exp(x)), 5,
       derivative=lambda x, o: (1.0 if x > ieee.SOFTPLUS_THRESHOLD else ieee.sigmoid(x),),
       domain=(_ANY,), doc="log(1+e^x); x itself above x = 20, as PyTorch (off by < 2e-9)"),
    # Unevaluated: sympy would flatten max(max(x, y), x) to Max(x, y), whose tie splits 1/2
    # where PyTorch's nested maxima split 3/4 and 1/4.
    Op("max", 2, ieee.maximum,
       lambda g, a, b, o: (tie_split(g, a, b, True), tie_split(g, b, a, True)),
       lambda S, a, b: S.Max(a, b, evaluate=False), 5, derivative=_max_partials, kink=_TIE,
       domain=(_ANY, _ANY), doc="larger of two; nan if either is nan"),
    Op("min", 2, ieee.minimum,
       lambda g, a, b, o: (tie_split(g, a, b, False), tie_split(g, b, a, False)),
       lambda S, a, b: S.Min(a, b, evaluate=False), 5, derivative=_min_partials, kink=_TIE,
       domain=(_ANY, _ANY), doc="smaller of two; nan if either is nan"),
    Op("pi", 0, lambda: 3.141592653589793, lambda g, o: (), lambda S: S.pi, 6,
       doc="the constant π"),
]

OPS: dict[str, Op] = {op.name: op for op in _TABLE}
FUNCTIONS: dict[str, Op] = {op.name: op for op in _TABLE if not op.infix and op.name != "neg"}
IDENTITY = Op("=", 1, lambda a: a, lambda g, a, o: (g,), lambda S, a: a, 6,
              derivative=lambda a, o: (1.0,), doc="a node defined as another node or a number")
