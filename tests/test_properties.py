"""Property-based tests over random graphs (tests/strategies.py).

(a) reverse-mode gradients equal central finite differences, for every input and every
    intermediate node; (b) the sympy check agrees everywhere; (c) d out/d out = 1 and nodes
    the output does not depend on get exactly 0; (d) the JSON is strict and complete, in
    graph order; (e) printing and parsing again gives the same graph and bit-identical
    values; (f) edge-case values never raise and still give strict JSON.

The number of examples comes from the hypothesis profile registered in conftest.py ('ci' by
default, HYPOTHESIS_PROFILE=long for a campaign).
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import example, given, note, settings
from hypothesis import strategies as st
from strategies import (
    Case,
    case_from_text,
    edge_graphs,
    evaluate_tree,
    graphs,
    print_back,
    printed_graphs,
    to_rpn,
)

from gradcli import render
from gradcli.core import differentiate, load
from gradcli.errors import Source
from gradcli.parser import parse

try:  # the check methods beside sympy (forward mode, finite differences), where there are any
    from gradcli.check import METHODS as CHECK_METHODS
except ImportError:
    CHECK_METHODS = ("sympy",)

RTOL, ATOL = 1e-4, 1e-6
EPS = 2.0 ** -52

# Budgets relative to the loaded profile: the sympy-checked properties cost the most.
EXAMPLES = settings().max_examples


def budget(fraction: float):
    return settings(max_examples=max(10, int(EXAMPLES * fraction)))


# --- helpers -----------------------------------------------------------------------------------

def run(text: str, values: dict, output: str | None = None, check=False, symbolic: bool = False):
    return differentiate(load("g.txt", text), values, output=output, check=check, symbolic=symbolic)


def node_map(result, attr: str) -> dict:
    return {n.name: getattr(n, attr) for n in result.nodes}


def output_value(text: str, values: dict) -> float:
    result = run(text, values)
    return node_map(result, "value")[result.output]


def magnitude(case: Case, values: dict | None = None) -> float:
    """The largest |value| any op application sees or makes: the scale of rounding error."""
    env = dict(case.values if values is None else values)
    biggest = max((abs(v) for v in env.values()), default=0.0)
    for target, tree in case.statements:
        applications: list = []
        env[target] = evaluate_tree(tree, env, applications)
        for _, _, args, value in applications:
            biggest = max(biggest, abs(value), *(abs(a) for a in args))
    return max(biggest, 1.0)


def central_difference(f, x: float) -> tuple[float, float]:
    """(D(h), |D(h) - D(2h)|): f'(x) by central differences with h = 1e-6*max(1,|x|), divided
    by the step as rounded, and an error bar for the difference itself, since |D(h) - D(2h)|
    is about 3x the h**2 truncation error of D(h) (large only where the curvature is, e.g. exp
    of a steep power). A wrong gradient is not covered by it: D(h) and D(2h) agree then."""
    def d(h):
        up, down = x + h, x - h
        return (f(up) - f(down)) / (up - down)
    h = 1e-6 * max(1.0, abs(x))
    fd = d(h)
    return fd, abs(fd - d(2 * h))


def close(actual: float, expected: float, noise: float = 0.0) -> bool:
    return abs(actual - expected) <= ATOL + RTOL * max(abs(actual), abs(expected)) + noise


def same_bits(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))


def _refuse(constant):
    raise AssertionError(f"non-standard JSON constant {constant!r}")


def strict_json(text: str):
    return json.loads(text, parse_constant=_refuse)


def json_number(x: float):
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def rpn_items(rpn) -> list:
    """(kind, payload) ignoring offsets and number text; ops by name, numbers by their bits."""
    out = []
    for item in rpn:
        kind, payload = item[0], item[1]
        if kind == "op":
            payload = payload.name
        elif kind == "num":
            payload = float(payload).hex()
        out.append((kind, payload))
    return out


def tree_items(tree) -> list:
    return [(k, float(p).hex() if k == "num" else p) for k, p in to_rpn(tree)]


# --- (a) finite differences --------------------------------------------------------------------

@given(graphs())
@budget(1.0)
# Steep: f''' = -1.8e12, so the h = 2e-6 difference is off by 1.2 (the truncation error bar).
@example(case_from_text("u0 = (x + 2.21)**x\nu1 = 1.83\nu2 = exp((u0**u1) - 302.47)\n"
                        "u3 = 0.01 + 0.01\nu4 = u2*u2\n", {"x": -2.0}))
def test_gradients_match_central_differences(case: Case):
    text = case.text
    note(text)
    result = run(text, case.values)
    grads = node_map(result, "grad")
    noise_scale = 64 * EPS * magnitude(case)  # rounding in f(x+h) - f(x-h): divided by h below

    for name in case.inputs:
        def f(v, name=name):
            return output_value(text, {**case.values, name: v})
        fd, truncation = central_difference(f, case.values[name])
        h = 1e-6 * max(1.0, abs(case.values[name]))
        assert close(grads[name], fd, truncation + noise_scale / h), \
            f"d{result.output}/d{name}: reverse mode {grads[name]!r}, central difference {fd!r}"

    # An intermediate u: its statement becomes `u = __fd` (a fresh input), so d out/d __fd is
    # d out/d u with everything upstream held fixed, which is what the adjoint of u means.
    values = node_map(result, "value")
    for target in case.targets:
        held = case.text_with(target, "__fd")
        graph_inputs = load("g.txt", held).inputs

        def f(v, held=held, graph_inputs=graph_inputs):
            env = {**case.values, "__fd": v}
            return output_value(held, {k: env[k] for k in graph_inputs})
        fd, truncation = central_difference(f, values[target])
        h = 1e-6 * max(1.0, abs(values[target]))
        assert close(grads[target], fd, truncation + noise_scale / h), \
            f"d{result.output}/d{target}: reverse mode {grads[target]!r}, central difference {fd!r}"


# --- (b) the sympy check ----------------------------------------------------------------------

@given(graphs())
@budget(1.0)
def test_sympy_check_agrees_on_every_node(case: Case):
    note(case.text)
    result = run(case.text, case.values, check=True)
    assert result.check.ok, result.check.mismatches
    for node in result.nodes:
        status = result.check.nodes[node.name].status
        if status == "unverified":
            assert not (math.isfinite(node.value) and math.isfinite(node.grad)), node
        else:
            assert status == "ok", (node, result.check.nodes[node.name], result.check.notes)


@given(graphs())
@budget(0.5)
def test_every_check_method_agrees_on_every_node(case: Case):
    """Each of gradcli's own checks (sympy, forward mode, finite differences) passes too."""
    note(case.text)
    result = run(case.text, case.values, check=tuple(CHECK_METHODS))
    assert result.check.ok, result.check.mismatches
    for node in result.nodes:
        assert result.check.nodes[node.name].status == "ok", \
            (node, result.check.nodes[node.name], result.check.notes)


# --- (c) seeds and structural zeros -----------------------------------------------------------

@given(graphs(), st.data())
@budget(1.0)
def test_output_seed_and_structural_zeros(case: Case, data):
    for output in (None, data.draw(st.sampled_from(case.inputs + case.targets), label="output")):
        result = run(case.text, case.values, output=output)
        out = output or case.output
        assert result.output == out
        grads = node_map(result, "grad")
        assert grads[out] == 1.0
        ancestors = case.ancestors(out)
        for name, g in grads.items():
            if name not in ancestors:  # unused, downstream of the output, or a parallel branch
                assert g == 0.0 and math.copysign(1.0, g) == 1.0, (name, g)


# --- (d) JSON ---------------------------------------------------------------------------------

@given(graphs(), st.booleans(), st.data())
@budget(0.5)
def test_json_is_strict_complete_and_in_graph_order(case: Case, check: bool, data):
    output = data.draw(st.sampled_from([None] + case.inputs + case.targets), label="output")
    result = run(case.text, case.values, output=output, check=check)
    assert_json_complete(case, result)


def assert_json_complete(case: Case, result) -> dict:
    text = render.dumps(result)
    # the compact writer streams the big parts; it must write exactly to_json's document
    assert text == json.dumps(render.to_json(result), allow_nan=False, ensure_ascii=False)
    doc = strict_json(text)
    order = case.inputs + case.targets
    assert list(doc["values"]) == order
    assert list(doc["gradients"]) == order
    assert list(doc["inputs"]) == case.inputs
    assert doc["output"] == result.output
    for node in result.nodes:
        for key, x in (("values", node.value), ("gradients", node.grad)):
            got, want = doc[key][node.name], json_number(x)
            assert got == want and (not isinstance(want, float) or same_bits(got, want)), \
                (key, node.name, got, want)
    for name in case.inputs:
        want = json_number(case.values[name])
        assert doc["inputs"][name] == want or (want == "NaN" and doc["inputs"][name] == "NaN")
    return doc


# --- (e) printer round trip -------------------------------------------------------------------

@given(printed_graphs())
@budget(1.0)
def test_printing_then_parsing_gives_the_same_graph(pair):
    case, printed = pair
    note(printed)
    original = parse(Source("a.txt", case.text))
    again = parse(Source("b.txt", printed))
    assert [s.target for s in again] == [s.target for s in original] == case.targets
    for (target, tree), s, t in zip(case.statements, original, again):
        assert rpn_items(s.rpn) == tree_items(tree), target  # the parser against the tree
        assert rpn_items(t.rpn) == rpn_items(s.rpn), target  # the printer's text parses back
    assert print_back(printed) == printed  # printing is a fixed point

    a = run(case.text, case.values)
    b = run(printed, case.values)
    independent = case.node_values()
    for x, y in zip(a.nodes, b.nodes):
        assert x.name == y.name
        assert same_bits(x.value, y.value) and same_bits(x.value, independent[x.name]), x.name
        assert same_bits(x.grad, y.grad), x.name


# --- (f) edge-case values ---------------------------------------------------------------------

@given(edge_graphs(), st.data())
@budget(0.5)
def test_edge_values_never_raise_and_json_stays_strict(case: Case, data):
    note(case.text)
    output = data.draw(st.sampled_from([None] + case.inputs + case.targets), label="output")
    check = data.draw(st.sampled_from([True, tuple(CHECK_METHODS)]), label="check")
    symbolic = data.draw(st.booleans(), label="symbolic")
    result = run(case.text, case.values, output=output, check=check, symbolic=symbolic)
    assert_json_complete(case, result)


# --- regressions found by the properties above ------------------------------------------------

@pytest.mark.parametrize("text, values", [
    ("a = abs(sqrt(x))", {"x": 0.7}),
    ("a = abs(x**0.5)", {"x": 0.7}),
    ("a = abs(x**y)", {"x": 0.7, "y": 1.5}),
    ("u2 = abs(w**w) + abs(w**w)", {"w": 1.0}),
])
def test_regression_abs_of_sqrt_or_pow_is_checked(text, values):
    """Was 'skipped' (no numeric rule for the atan2/im in sympy's d|f|/dx when f is not provably
    real) at 8a82d78, failing test_sympy_check_agrees_on_every_node with e.g.
    `u2 = abs(w**w) + abs(w**w)`, w = 1; fixed by d59e7ac, 1fcd832 and aa75ab0."""
    result = run(text, values, check=True)
    assert result.check.ok
    assert {name: v.status for name, v in result.check.nodes.items()} == \
        {name: "ok" for name in result.check.nodes}, result.check.notes


@pytest.mark.parametrize("text", ["a = max(pi, relu(pi + pi))", "a = max(x, relu(pi + pi))"])
def test_regression_symbolic_max_of_a_constant_relu_does_not_raise(text):
    """Raised ValueError ('relu(2*pi)' is not comparable) from sympy's Max under --symbolic up to
    a471047; fixed in 87e1ba6. Found by test_edge_values_never_raise_and_json_stays_strict."""
    graph = load("g.txt", text)
    result = differentiate(graph, {name: 1.0 for name in graph.inputs}, check=True, symbolic=True)
    strict_json(render.dumps(result))


@pytest.mark.parametrize("text", ["a = exp(x + y)", "a = sin(x + 1e308)", "a = max(abs(x), -y)"])
def test_regression_check_of_a_sum_past_the_float_range_does_not_raise(text):
    """Raised OverflowError ('intermediate overflow in fsum': the sympy check summed sympy's Add
    with math.fsum; exit 3 from the CLI) at 8a82d78..aa75ab0; fixed in da72914. Found by
    test_edge_values_never_raise_and_json_stays_strict with `u1 = max(abs(x), x)`, x = -8.988e307."""
    graph = load("g.txt", text)
    result = differentiate(graph, {name: 1e308 for name in graph.inputs}, check=True)
    strict_json(render.dumps(result))


@pytest.mark.parametrize("text", ["a = max(max(x, y), x)", "a = min(x, min(x, y))",
                                  "a = max(x, max(2, x))"])
def test_regression_nested_ties_check_with_the_same_convention(text):
    """At a tie of nested max/min the sympy check flattened Max(Max(x, y), x) to Max(x, y)
    (0.5/0.5) and reported a mismatch against the reverse sweep's PyTorch split (0.75/0.25);
    exit 1 at 8a82d78..aa75ab0, fixed in da72914. Found exploring graphs with exact ties."""
    graph = load("g.txt", text)
    result = differentiate(graph, {name: 2.0 for name in graph.inputs}, check=True)
    assert node_map(result, "grad")["x"] == 0.75  # two half-splits, as torch.maximum
    assert result.check.ok, result.check.mismatches


@pytest.mark.skipif("fd" not in CHECK_METHODS, reason="no finite-difference check method")
def test_regression_fd_check_on_a_steep_output_does_not_cry_mismatch():
    """The 'fd' check used one fixed step (2^-17*max(1,|x|)) with no truncation estimate and
    said -4681.05 for d sin(e^x)/dx at 9 = cos(e^9)*e^9 = -4931.7127 (--check fd exited 1) at
    9590732..aa75ab0; fixed in da72914 (Richardson with an error estimate)."""
    result = run("a = sin(exp(x))", {"x": 9.0}, check=("fd",))
    assert node_map(result, "grad")["x"] == pytest.approx(-4931.712732293, rel=1e-9)
    assert result.check.ok, result.check.mismatches


# --- (g) the fast parser --------------------------------------------------------------------------

@given(st.one_of(graphs().map(lambda c: c.text), edge_graphs().map(lambda c: c.text),
                 printed_graphs().map(lambda pair: pair[1])))
def test_fast_parser_gives_the_careful_parsers_statements(text: str):
    from gradcli.lexer import normalize
    from gradcli.parser import parse_carefully, parse_fast
    text = normalize(text)
    careful = parse_carefully(Source("t.txt", text))
    fast = parse_fast(text)
    assert fast is None or fast == careful
    many = text * 80  # enough repeats that every shape is reused: the fast path must not decline
    if "\n" in text.rstrip("\n") or ";" in text:
        assert parse_fast(many) == parse_carefully(Source("t.txt", many))


@pytest.mark.parametrize("text", ["y = x\n2 = x\n", "y = x*w\nz = y*2\n3 = z*w\n", "a = x; .5 = x",
                                  "a = x\npi = x\n", "a = x\nif = x\n", "a = x\nrelu = x\n"])
def test_fast_parser_declines_what_only_the_careful_parser_can_explain(text):
    from gradcli.errors import SourceError
    from gradcli.parser import parse, parse_fast
    assert parse_fast(text) is None
    with pytest.raises(SourceError):
        parse(Source("t.txt", text))
