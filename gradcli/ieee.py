"""Float64 math with IEEE results where Python would raise or go complex."""

from __future__ import annotations

import math

inf = math.inf
nan = math.nan


def div(a: float, b: float) -> float:
    try:
        return a / b
    except ZeroDivisionError:
        if a != a or a == 0.0:
            return nan
        return math.copysign(inf, a) * math.copysign(1.0, b)


def _is_odd_integer(y: float) -> bool:
    return math.isfinite(y) and y == math.floor(y) and math.fmod(y, 2.0) != 0.0


def pow(a: float, b: float) -> float:
    try:
        return math.pow(a, b)
    except ValueError:
        if a == 0.0:  # 0 ** negative
            return math.copysign(inf, a) if _is_odd_integer(b) else inf
        return nan  # negative base, non-integer exponent: real pow is undefined
    except OverflowError:
        return -inf if a < 0.0 and _is_odd_integer(b) else inf


def exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return inf


def log(x: float) -> float:
    if x > 0.0:
        return math.log(x)
    if x == 0.0:
        return -inf
    return nan  # negative or nan


def sqrt(x: float) -> float:
    return math.sqrt(x) if x >= 0.0 else nan


def sin(x: float) -> float:
    return math.sin(x) if math.isfinite(x) else nan


def cos(x: float) -> float:
    return math.cos(x) if math.isfinite(x) else nan


def sigmoid(x: float) -> float:
    """torch.sigmoid's formula: exactly 0 below x ≈ -709.78, where e**-x overflows."""
    return 1.0 / (1.0 + exp(-x))


SOFTPLUS_THRESHOLD = 20.0  # PyTorch's default: above it softplus(x) is x itself


def softplus(x: float) -> float:
    """torch.nn.functional.softplus with beta 1: log1p(e**x), or x above the threshold."""
    if x > SOFTPLUS_THRESHOLD:
        return x
    return math.log1p(exp(x))


def sign(x: float) -> float:
    """torch.sign: +0.0 for either zero and for nan."""
    if x > 0.0:
        return 1.0
    if x < 0.0:
        return -1.0
    return 0.0


def maximum(a: float, b: float) -> float:
    if a != a or b != b:
        return nan  # torch.maximum propagates nan
    return max(a, b)


def minimum(a: float, b: float) -> float:
    if a != a or b != b:
        return nan
    return min(a, b)


def is_finite(x: float) -> bool:
    return x - x == 0.0
