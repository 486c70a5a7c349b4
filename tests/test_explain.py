"""gradcli explain: the chain rule written out, path by path or as the recurrence, always with
the engine's own numbers; every format, every reason for a zero, and graphs built to explode."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT, SAMPLES, SEED, run
from hypothesis import given, note, settings
from strategies import Case, edge_graphs, graphs

from gradcli import explain as ex
from gradcli.cli import main
from gradcli.explain_render import render, to_text

GOLDEN = Path(__file__).parent / "golden" / "explain"
REGENERATE = os.environ.get("GRADCLI_REGENERATE") == "1"  # then review the diff before committing
SEED_ARGS = ["samples/seed.txt", "--x", "3", "--w", "2", "--b", "1"]
NOTEBOOK = {"x": 2.0, "w": 3.0, "b": 1.0, "u": 1.0, "v": 1.0}


def invoke(*args, stdin=None):
    return CliRunner().invoke(main, ["explain", *args], input=stdin)


@pytest.fixture
def in_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # graph paths as the README writes them: samples/seed.txt


def explained(text: str, wrt=None, symbolic=True, output=None, **values):
    return ex.explain(run(text, output=output, **values), wrt, symbolic=symbolic)


def node(explanation, name):
    return next(n for n in explanation.nodes if n.name == name)


def flat(text: str) -> str:
    """Text with its line wrapping undone, for sentences that wrap at 80 columns."""
    return " ".join(text.split())


def strict_json(text: str):
    def refuse(constant):
        raise AssertionError(f"non-standard JSON constant {constant}")
    return json.loads(text, parse_constant=refuse)


# --- the notebook ------------------------------------------------------------------------------

def test_the_notebooks_numbers_for_every_node():
    e = explained(SEED, x=3, w=2, b=1)
    assert [n.name for n in e.nodes] == ["x", "w", "b", "u", "v"]  # graph order, not the output
    assert {n.name: n.total for n in e.nodes} == NOTEBOOK
    assert all(n.mode == "paths" and len(n.paths) == 1 and n.agrees for n in e.nodes)
    w = node(e, "w")
    assert w.paths[0].nodes == ("w", "u", "v", "a")
    assert [f.value for f in w.paths[0].factors] == [3.0, 1.0, 1.0]
    assert [e.partials[f.source, f.target].text for f in w.paths[0].factors] == ["x", "1", "H(v)"]


def test_the_notebooks_chain_rule_line(in_root):
    out = invoke(*SEED_ARGS)
    assert out.exit_code == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "  ∂a/∂w = ∂u/∂w · ∂v/∂u · ∂a/∂v = x · 1 · H(v) = 3 · 1 · 1 = 3" in lines
    assert "  ∂a/∂x = ∂u/∂x · ∂v/∂u · ∂a/∂v = w · 1 · H(v) = 2 · 1 · 1 = 2" in lines
    assert "  ∂a/∂b = ∂v/∂b · ∂a/∂v = 1 · H(v) = 1 · 1 = 1" in lines
    assert "  ∂a/∂v = H(v) = 1" in lines
    assert lines.count("note: H is the Heaviside step with relu's convention H(0) = 0, as in "
                       "PyTorch") == 1
    assert max(len(line) for line in lines) <= 80


def test_every_local_partial_and_total_is_the_engines():
    r = run("u = x*0.1; v = u*0.2; a = v*0.3 + x/3", x=1.7)
    e = ex.explain(r)
    edges = {(g.source, g.target): g.local for g in r.edges}
    grads = {n.name: n.grad for n in r.nodes}
    for n in e.nodes:
        assert n.total == grads[n.name]
        for p in n.paths:
            assert all(f.value == edges[f.source, f.target] for f in p.factors)


# --- zeros and their reasons ------------------------------------------------------------------

def test_relu_off_says_why_for_every_node(in_root):
    e = explained(SEED, x=-3, w=2, b=1)
    assert all(n.total == 0.0 for n in e.nodes)
    assert all(n.why[0].kind == "relu_off" for n in e.nodes)
    text = invoke("samples/seed.txt", "--x", "-3", "--w", "2", "--b", "1").stdout
    assert "  ∂a/∂w = ∂u/∂w · ∂v/∂u · ∂a/∂v = x · 1 · H(v) = (-3) · 1 · 0 = 0" in text
    assert text.count("  why 0: relu is off: v = -5 < 0, so ∂a/∂v = 0") == 5


def test_relu_at_its_kink_names_the_convention():
    e = explained("v = x*w + b; a = relu(v)", x=1, w=2, b=-2)
    text = flat(to_text(e))
    assert "why 0: relu at 0 (v = 0): derivative taken as 0, the PyTorch convention, so" in text
    assert "note: relu at 0: derivative taken as 0 (PyTorch convention), in a" in text


def test_relu_inside_an_expression_names_its_argument():
    e = explained("a = relu(x*w + b)*x", x=1, w=2, b=-3)
    assert "relu is off: x*w + b = -1 < 0, so ∂a/∂x = 0" in to_text(e)


def test_a_dead_branch_does_not_reach_the_output():
    e = ex.explain(run((SAMPLES / "dead_branch.txt").read_text(), x=2))
    side = node(e, "side")
    assert math.isnan(side.value) and side.total == 0.0 and side.paths == []
    assert [w.kind for w in side.why] == ["unreached"]
    assert "  why 0: side does not reach a" in to_text(e).splitlines()
    doc = strict_json(render(e, "json"))
    assert node_doc(doc, "side")["value"] == "NaN"


def node_doc(doc, name):
    return next(n for n in doc["nodes"] if n["name"] == name)


def test_max_tie_splits_the_gradient_half_and_half():
    e = explained("u = x*2; v = x + 2; a = max(u, v)", x=2)
    x = node(e, "x")
    assert [p.product for p in x.paths] == [1.0, 0.5] and x.total == 1.5
    text = to_text(e)
    assert "  x → u → a:  ∂u/∂x · ∂a/∂u = 2 · H½(u - v) = 2 · 0.5 = 1" in text
    assert "  ∂a/∂x = 1 + 0.5 = 1.5" in text
    assert "note: the step H½ has H½(0) = 1/2: max and min split a tie half and half" in text


def test_max_names_the_losing_side():
    e = explained("u = x*2; v = x + 3; a = max(u, v)", x=2, wrt=["u"])
    assert ("why 0: max takes v = 5 over u = 4; the losing side gets 0, so ∂a/∂u = 0"
            in to_text(e))


def test_paths_that_cancel():
    e = explained("u = x*w; v = x*w; a = u - v", x=1, w=2, wrt=["x"])
    assert [p.product for p in node(e, "x").paths] == [2.0, -2.0]
    assert "  why 0: the paths cancel: 2 + (-2) = 0" in to_text(e)


def test_a_partial_that_is_zero_at_these_values():
    e = explained("u = x*w; a = u + 1", x=1, w=0, wrt=["x"])
    assert "  why 0: ∂u/∂x = w = 0 at these values" in to_text(e)


# --- several paths ------------------------------------------------------------------------------

def test_fan_out_sums_one_line_per_path():
    e = explained("y = x*x; z = y + x", x=3)
    x = node(e, "x")
    assert [p.nodes for p in x.paths] == [("x", "y", "z"), ("x", "z")]
    assert [p.product for p in x.paths] == [6.0, 1.0] and x.total == 7.0
    lines = to_text(e).splitlines()
    i = lines.index("x: value 3, ∂z/∂x = 7, 2 paths to z")
    assert lines[i + 1:i + 4] == ["  x → y → z:  ∂y/∂x · ∂z/∂y = 2*x · 1 = 6 · 1 = 6",
                                  "  x → z:      ∂z/∂x = 1",
                                  "  ∂z/∂x = 6 + 1 = 7"]


def test_fanout_sample_three_paths():
    e = ex.explain(run((SAMPLES / "fanout.txt").read_text(), x=3))
    assert [p.product for p in node(e, "x").paths] == [54.0, 72.0, 9.0]
    assert node(e, "x").total == 135.0


def test_a_constant_statement_has_no_edges():
    e = explained("c = 3; a = c*x", x=2)
    assert node(e, "c").total == 2.0 and node(e, "c").paths[0].nodes == ("c", "a")
    assert node(e, "x").total == 3.0


def test_the_output_itself_is_trivially_one():
    out = invoke("-", "--x", "3", "--wrt", "a", stdin="a = x*x")
    assert out.exit_code == 0
    assert "  a is the output: ∂a/∂a = 1, trivially" in out.stdout
    assert "  ∂a/∂a = 1" in out.stdout.splitlines()


def test_a_graph_with_only_its_output():
    out = invoke("-", stdin="a = 3")
    assert out.exit_code == 0 and "a is the only node" in out.stdout


# --- rounding and disagreements ---------------------------------------------------------------

def test_rounding_shows_the_engines_value_and_says_so():
    x = node(explained("u = x*0.1; v = u*0.2; a = v*0.3", x=1, wrt=["x"]), "x")
    assert x.paths[0].product == 0.006000000000000001 and x.grad == 0.006
    assert x.agrees and x.total == 0.006 and [r.kind for r in x.notes] == ["rounding"]


def test_overflow_in_another_order_is_reported_not_hidden():
    e = explained("u = x*1e200; v = u*1e200; a = v*1e-300", x=1, wrt=["x"])
    x = node(e, "x")
    assert not x.agrees and x.total == math.inf and x.grad == 1e100
    assert "the engine's gradient, which eval reports, is 1e+100" in flat(to_text(e))


def test_zero_times_inf_is_reported_not_hidden():
    e = explained("u = x*1e308*10; v = relu(-u); a = v + x", x=1, wrt=["x"])
    x = node(e, "x")
    assert math.isnan(x.path_sum) and x.grad == 1.0 and not x.agrees
    assert [r.kind for r in x.notes] == ["disagree_nonfinite"]
    doc = strict_json(render(e, "json"))
    assert node_doc(doc, "x")["path_sum"] == "NaN" and node_doc(doc, "x")["agrees"] is False


# --- exponentially many paths, and very deep graphs ---------------------------------------------

def diamonds(k: int) -> str:
    lines = ["x0 = x"]
    for i in range(1, k + 1):
        lines += [f"p{i} = x{i - 1}*2", f"q{i} = x{i - 1}*3", f"x{i} = p{i} + q{i}"]
    return "\n".join(lines)


def test_exponentially_many_paths_switch_to_the_recurrence():
    e = explained(diamonds(20), x=1, wrt=["x"])
    x = node(e, "x")
    assert x.mode == "recurrence" and x.path_count == 2**20 and x.total == 5.0**20
    assert len(x.steps) == ex.MAX_STEPS and x.steps_left_out == 62 - ex.MAX_STEPS
    assert x.steps[0].node == "x20" and x.steps[-1].node == "x"
    assert all(s.agrees for s in x.steps)
    text = to_text(e)
    assert ("x has 1,048,576 paths to x20 (more than 20); showing the recurrence that reverse "
            "mode computes instead") in flat(text)
    assert "  grad(x0) = grad(p1) · ∂p1/∂x0 + grad(q1) · ∂q1/∂x0" in text
    assert "  … 52 more nodes on the way, left out …" in text


def test_path_counts_saturate_without_recursion():
    ladder = "\n".join(["x1 = x0*2"] + [f"x{i} = x{i - 1} + x{i - 2}" for i in range(2, 3000)])
    e = explained(ladder, x0=1, wrt=["x0"], symbolic=False)
    assert node(e, "x0").path_count == ex.COUNT_CAP and node(e, "x0").mode == "recurrence"
    assert "more than 1e+18 paths" in to_text(e)


def test_a_100k_chain_finishes_with_bounded_output():
    n = 100_000
    text = "\n".join(["n0 = x0"] + [f"n{i} = n{i - 1}*1.5 - n{i - 1}*0.5" for i in range(1, n)])
    result = run(text, x0=0.3)
    start = time.perf_counter()
    e = ex.explain(result, ["x0"])
    rendered = {f: render(e, f) for f in ("text", "markdown", "latex", "json")}
    assert time.perf_counter() - start < 30  # ~0.5 s: generous against a slow CI machine
    x0 = node(e, "x0")
    assert x0.mode == "recurrence" and x0.path_count == 1 and x0.longest == n
    assert x0.total == 1.0 and len(x0.steps) == ex.MAX_STEPS
    assert "x0's longest path to n99999 has 100,000 factors (more than 12)" in \
        flat(rendered["text"])
    assert all(len(r.splitlines()) < 80 for r in rendered.values())


def test_many_users_show_the_largest_terms():
    text = "\n".join(["n0 = x0"] + [f"n{i} = n{i - 1}*w + x0" for i in range(1, 30)])
    e = explained(text, x0=1, w=0.5, wrt=["x0"])
    own = node(e, "x0").steps[-1]
    assert [t.user for t in own.terms] == ["n24", "n25", "n26", "n27", "n28", "n29"]
    assert own.terms_left_out == 24 and own.agrees
    assert "… (24 smaller terms)" in to_text(e)


def test_a_statement_too_large_for_sympy_keeps_names_and_numbers():
    e = explained("a = " + " + ".join(f"x*{i}" for i in range(1, 300)), x=1)
    assert e.partials == {("x", "a"): None}
    assert [r.kind for r in e.notes] == ["symbolic_skipped"]
    assert "  ∂a/∂x = 44850" in to_text(e).splitlines()


def test_many_closed_relus_in_one_statement_stay_bounded():
    text = "a = " + " + ".join(f"relu(relu(x*{i}))" for i in range(1, 3000))
    e = explained(text, x=-1, symbolic=False)
    x = node(e, "x")
    assert len(x.why) == ex.MAX_WHYS and x.why_more
    assert [r.kind for r in e.notes] == ["engine_kink"]  # "relu at 0 ..., in a", once


def test_the_engines_kink_notes_are_bounded():
    text = "\n".join(f"h{i} = relu(x*0)" for i in range(9)) + "\na = " + \
        " + ".join(f"h{i}" for i in range(9))
    notes = explained(text, x=1, symbolic=False).notes
    assert [r.kind for r in notes] == ["engine_kink"] * ex.MAX_KINK_NOTES + ["kinks_left_out"]
    assert notes[-1].count == 9 - ex.MAX_KINK_NOTES


# --- the command line ---------------------------------------------------------------------------

def test_unknown_wrt_is_an_input_error_with_a_hint():
    out = invoke("-", "--x", "1", "--w", "2", "--wrt", "ww", stdin="a = x*w")
    assert out.exit_code == 2 and out.stdout == ""
    assert out.stderr == "error: --wrt ww: no node of that name in <stdin>; did you mean 'w'?\n"


def test_wrt_is_repeatable_and_keeps_its_order(in_root):
    doc = strict_json(invoke(*SEED_ARGS, "--wrt", "v", "--wrt", "x", "--wrt", "v",
                             "--format", "json").stdout)
    assert [n["name"] for n in doc["nodes"]] == ["v", "x"]


def test_default_explains_the_first_nodes_only():
    text = "\n".join(["n0 = x"] + [f"n{i} = n{i - 1}*2" for i in range(1, 40)])
    e = explained(text, x=1, symbolic=False)
    assert len(e.nodes) == ex.MAX_DEFAULT_NODES and e.nodes_left_out == 40 - ex.MAX_DEFAULT_NODES
    assert "explained the first 20 of the 40 nodes besides the output" in to_text(e)


def test_json_schema(in_root):
    doc = strict_json(invoke(*SEED_ARGS, "--wrt", "w", "--format", "json").stdout)
    assert set(doc) == {"graph", "output", "inputs", "nodes", "nodes_left_out", "notes"}
    w = doc["nodes"][0]
    assert {k: w[k] for k in ("name", "value", "grad", "mode", "sum", "agrees", "why")} == \
        {"name": "w", "value": 2.0, "grad": 3.0, "mode": "paths", "sum": 3.0, "agrees": True,
         "why": []}
    assert w["paths"] == [{"nodes": ["w", "u", "v", "a"], "product": 3.0, "factors": [
        {"edge": "∂u/∂w", "from": "w", "to": "u", "symbolic": "x", "latex": "x", "value": 3.0},
        {"edge": "∂v/∂u", "from": "u", "to": "v", "symbolic": "1", "latex": "1", "value": 1.0},
        {"edge": "∂a/∂v", "from": "v", "to": "a", "symbolic": "H(v)",
         "latex": r"H\left(v\right)", "value": 1.0}]}]


def test_console_script_explains_the_notebook(gradcli_exe):
    proc = subprocess.run([gradcli_exe, "explain", str(SAMPLES / "seed.txt"), "--x", "3", "--w",
                           "2", "--b", "1", "--wrt", "w"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "  ∂a/∂w = ∂u/∂w · ∂v/∂u · ∂a/∂v = x · 1 · H(v) = 3 · 1 · 1 = 3\n" in proc.stdout
    bad = subprocess.run([gradcli_exe, "explain", "-", "--x", "1", "--wrt", "y"], input="a = x*2",
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stdout == "" and "Traceback" not in bad.stderr


# --- golden files -------------------------------------------------------------------------------

@pytest.mark.parametrize("name, args", [
    ("seed.txt", SEED_ARGS),
    ("seed-relu-off.txt", ["samples/seed.txt", "--x", "-3", "--w", "2", "--b", "1"]),
    ("seed.md", SEED_ARGS + ["--format", "markdown"]),
    ("seed.tex", SEED_ARGS + ["--format", "latex"]),
    ("seed.json", SEED_ARGS + ["--format", "json"]),
    ("fanout.md", ["samples/fanout.txt", "--x", "3", "--format", "markdown"]),
])
def test_golden(in_root, name, args):
    out = invoke(*args)
    assert out.exit_code == 0, out.stderr
    text = out.stdout
    if name.endswith(".json"):  # stored indented for review; compared as data
        text = json.dumps(strict_json(text), indent=2, ensure_ascii=False) + "\n"
    golden = GOLDEN / name
    if REGENERATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8"), \
        f"differs from {golden}; GRADCLI_REGENERATE=1 rewrites it (review the diff)"


# --- LaTeX and Markdown are well formed ---------------------------------------------------------

TRICKY = [  # names with _, ties, kinks, non-finite values, long products and the recurrence
    ("n_1 = x_1**2/w; side = log(x_1 - 5); a = relu(n_1 + b) + _*d_a", dict(x_1=3, w=2, b=-10,
                                                                          _=1, d_a=2)),
    ("u = x*2; v = x + 2; a = max(u, v) + abs(x - 2)", dict(x=2)),
    ("u = x*1e308*10; v = relu(-u); a = v + x*1e-30", dict(x=1)),
    (diamonds(6), dict(x=1)),
    ("\n".join(["n0 = x"] + [f"n{i} = n{i - 1}*w + x" for i in range(1, 30)]), dict(x=1, w=0.5)),
]


def latex_problems(tex: str) -> list[str]:
    problems = []
    bare = re.sub(r"\\[{}_$&%#]", "", tex)  # escaped characters are text
    depth = 0
    for ch in bare:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            problems.append("a } closes nothing")
    if depth:
        problems.append(f"{depth} unclosed {{")
    if re.search(r"_(?!\{)", bare):
        problems.append("a raw _ that is not a subscript")
    if bare.count("$") % 2:
        problems.append("unbalanced $")
    for env in ("document", "align*", "itemize"):
        if tex.count(rf"\begin{{{env}}}") != tex.count(rf"\end{{{env}}}"):
            problems.append(f"unbalanced {env}")
    if tex.count(r"\left") != tex.count(r"\right"):
        problems.append(r"unbalanced \left \right")
    if any(ord(c) > 127 for c in tex):
        problems.append("non-ASCII (pdflatex without inputenc)")
    return problems


@pytest.mark.parametrize("text, values", TRICKY)
def test_latex_is_well_formed(text, values):
    assert latex_problems(render(explained(text, **values), "latex")) == []


def markdown_problems(md: str) -> list[str]:
    prose = re.sub(r"```text\n.*?\n```", "", md, flags=re.S)  # code blocks are literal
    prose = re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", prose)  # so are code spans
    return [f"unescaped {c!r} in {line!r}" for line in prose.splitlines()
            for c in re.findall(r"(?<!\\)[_*|<>\[\]`]", line)]


@pytest.mark.parametrize("text, values", TRICKY)
def test_markdown_prose_is_escaped(text, values):
    assert markdown_problems(render(explained(text, **values), "markdown")) == []


@pytest.mark.parametrize("text, values", TRICKY)
def test_json_is_strict(text, values):
    doc = strict_json(render(explained(text, **values), "json"))
    assert all(isinstance(n["why"], list) for n in doc["nodes"])


@pytest.mark.skipif(not (os.environ.get("GRADCLI_PDFLATEX") and shutil.which("pdflatex")),
                    reason="a local check: GRADCLI_PDFLATEX=1 and pdflatex on PATH")
@pytest.mark.parametrize("text, values", TRICKY)
def test_latex_compiles_with_pdflatex(tmp_path, text, values):
    (tmp_path / "x.tex").write_text(render(explained(text, **values), "latex"), encoding="ascii")
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "x.tex"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:]


# --- property: the paths add up to the engine's gradient ---------------------------------------

@given(graphs())
@settings(max_examples=max(20, settings().max_examples // 2))
def test_path_products_sum_to_the_engines_gradient(case: Case):
    note(case.text)
    result = run(case.text, **case.values)
    e = ex.explain(result, [n.name for n in result.nodes], symbolic=False)
    finite = all(math.isfinite(n.value) and math.isfinite(n.grad) for n in result.nodes) and \
        all(math.isfinite(g.local) for g in result.edges)
    for n in e.nodes:
        assert n.total == n.grad or not n.agrees
        if finite:
            assert n.agrees, (n.name, n.path_sum, n.grad, n.notes)
            if n.mode == "paths":
                scale = math.fsum(abs(p.product) for p in n.paths)
                assert abs(n.path_sum - n.grad) <= ex.RTOL * max(scale, abs(n.grad))
                assert n.path_count == len(n.paths)


@given(edge_graphs())
@settings(max_examples=max(20, settings().max_examples // 5))
def test_edge_values_never_raise_and_every_format_stays_well_formed(case: Case):
    note(case.text)
    result = run(case.text, **case.values)
    e = ex.explain(result, [n.name for n in result.nodes])
    strict_json(render(e, "json"))
    assert latex_problems(render(e, "latex")) == []
    assert markdown_problems(render(e, "markdown")) == []
    render(e, "text")
    for n in e.nodes:  # the engine's gradient is the total unless a note says they differ
        same = n.total == n.grad or (n.total != n.total and n.grad != n.grad)
        assert same or any(r.kind.startswith("disagree") for r in n.notes)


def test_a_hard_zero_times_inf_still_says_why_and_a_zero_path_under_a_nonzero_gradient():
    from click.testing import CliRunner

    from gradcli.cli import main
    out = CliRunner().invoke(main, ["explain", "-", "--x", "-1", "--k", "inf", "--wrt", "u"],
                             input="u = x*1\nv = relu(u)\na = v*k\n")
    assert "why 0: relu is off: u = -1 < 0, so ∂v/∂u = 0" in out.stdout
    out = CliRunner().invoke(main, ["explain", "-", "--x", "-1", "--wrt", "x"],
                             input="y = relu(x)\nz = y + x\n")
    assert "why a path is 0: relu is off: x = -1 < 0, so ∂y/∂x = 0" in out.stdout
