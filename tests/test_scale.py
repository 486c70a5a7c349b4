"""Size: a 100,000-node chain evaluates with no recursion limit. (No timing asserted here:
speed targets live in bench/.)"""

import math

from conftest import grads, run


def test_100k_chain_gradients_are_exact():
    n = 100_000
    lines = ["n0 = x"] + [f"n{i} = n{i - 1} + x" for i in range(1, n)]
    r = run("\n".join(lines), x=1)
    g = grads(r)
    assert g["x"] == float(n)  # each statement adds one path
    assert g["n0"] == 1.0 and g[f"n{n - 1}"] == 1.0
    assert r.nodes[-1].value == float(n)


def test_100k_term_single_expression():
    r = run("a = " + " + ".join(["x"] * 100_000), x=0.5)
    assert grads(r)["x"] == 100_000.0 and r.edges[0].local == 100_000.0


def test_deep_product_chain_with_check_stays_bounded():
    lines = ["n0 = x"] + [f"n{i} = sin(n{i - 1})*0.5 + n{i - 1}" for i in range(1, 3000)]
    r = run("\n".join(lines), check=True, x=0.3)
    assert r.check.ok and all(math.isfinite(n.grad) for n in r.nodes)
