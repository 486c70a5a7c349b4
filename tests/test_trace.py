"""`eval --trace` (the backward pass step by step) and `eval --format markdown|latex`."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import SAMPLES, SEED, run
from hypothesis import given
from hypothesis import strategies as st
from strategies import Case, edge_graphs, graphs
from test_cli import invoke, strict_json

from gradcli import document
from gradcli.core import differentiate, load

GOLDEN = Path(__file__).parent / "golden" / "eval"
SEED_ARGS = [str(SAMPLES / "seed.txt"), "--x", "3", "--w", "2", "--b", "1"]
REGENERATE = os.environ.get("GRADCLI_REGENERATE") == "1"


def traced(text: str, output: str | None = None, **values):
    return differentiate(load("t.txt", text), {k: float(v) for k, v in values.items()},
                         output=output, check=False, trace=True)


def same(a: float, b: float) -> bool:
    return (a != a and b != b) or (a == b and math.copysign(1, a) == math.copysign(1, b))


# --- the trace's meaning ------------------------------------------------------------------------

def test_seed_trace_is_the_notebooks_backward_pass():
    steps = [(s.event, s.node, s.user, s.total) for s in traced(SEED, x=3, w=2, b=1).trace]
    assert steps == [
        ("seed", "a", None, 1.0), ("final", "a", None, 1.0),
        ("add", "v", "a", 1.0), ("final", "v", None, 1.0),
        ("add", "u", "v", 1.0), ("add", "b", "v", 1.0),
        ("final", "b", None, 1.0), ("final", "u", None, 1.0),
        ("add", "x", "u", 2.0), ("add", "w", "u", 3.0),
        ("final", "x", None, 2.0), ("final", "w", None, 3.0),
    ]


def test_fan_out_adds_once_per_user_and_is_final_after_the_first_user():
    trace = traced("y = x*x; z = y + x", x=3).trace
    into_x = [(s.user, s.contribution, s.total) for s in trace if s.event == "add" and s.node == "x"]
    assert into_x == [("z", 1.0, 1.0), ("y", 6.0, 7.0)]  # x*x adds 3 + 3 inside one statement
    events = [(s.event, s.node) for s in trace]
    assert events.index(("final", "x")) > events.index(("add", "x")) + 1
    add = next(s for s in trace if s.event == "add" and s.user == "y")
    assert (add.user_grad, add.local) == (1.0, 6.0)


def test_unreached_nodes_and_an_intermediate_output():
    trace = traced(SEED, output="u", x=3, w=2, b=1).trace
    assert [s.node for s in trace if s.event == "unreached"] == ["b", "v", "a"]
    assert not any(s.event == "add" and s.user in ("v", "a") for s in trace)


def test_relu_off_adds_zero():
    trace = traced(SEED, x=-3, w=2, b=1).trace
    add = next(s for s in trace if s.event == "add" and s.node == "v")
    assert (add.user_grad, add.local, add.contribution) == (1.0, 0.0, 0.0)


@given(st.one_of(graphs(), edge_graphs()), st.data())
def test_trace_totals_are_the_engines_gradients_bit_for_bit(case: Case, data):
    output = data.draw(st.sampled_from([None] + list(case.values) + [t for t, _ in case.statements]))
    result = run(case.text, output=output, **case.values)
    trace = traced(case.text, output=output, **case.values).trace
    final = {s.node: s.total for s in trace if s.event == "final"}
    unreached = {s.node for s in trace if s.event == "unreached"}
    assert set(final) | unreached == {n.name for n in result.nodes}
    assert not set(final) & unreached
    for node in result.nodes:
        assert same(final.get(node.name, 0.0), node.grad), (node, final.get(node.name))
    _assert_users_finish_first(trace)


def _assert_users_finish_first(trace):
    """A node is final only after every add into it, and each add comes from a final user."""
    done: set[str] = set()
    for step in trace:
        if step.event == "add":
            assert step.node not in done and step.user in done, step
        elif step.event == "final":
            assert step.node not in done
            done.add(step.node)


# --- output formats -------------------------------------------------------------------------------

def test_trace_in_json():
    doc = strict_json(invoke("eval", *SEED_ARGS, "--no-check", "--trace", "--format", "json").stdout)
    assert doc["trace"][2] == {"event": "add", "node": "v", "from": "a", "from_grad": 1.0,
                               "local": 1.0, "added": 1.0, "grad": 1.0}
    assert [s["event"] for s in doc["trace"]].count("final") == 6
    assert "trace" not in strict_json(invoke("eval", *SEED_ARGS, "--format", "json").stdout)


def test_trace_json_with_nonfinite_values_is_strict():
    out = invoke("eval", "-", "--x", "0", "--trace", "--no-check", "--format", "json",
                 stdin="u = 1/x; a = u*0")
    doc = strict_json(out.stdout)
    add = next(s for s in doc["trace"] if s["node"] == "u" and s["event"] == "add")
    assert add["local"] == 0.0 and add["from_grad"] == 1.0
    into_x = next(s for s in doc["trace"] if s["node"] == "x" and s["event"] == "add")
    assert into_x["local"] == "-Infinity" and into_x["added"] == "NaN"  # 0 · -inf, as PyTorch


def test_long_trace_is_cut_in_the_middle_and_says_so():
    text = "\n".join(["x1 = x0*2"] + [f"x{i} = x{i - 1}*2" for i in range(2, 101)])
    out = invoke("eval", "-", "--x0", "1", "--trace", "--no-check", "--rows", "10", stdin=text)
    assert out.exit_code == 0
    assert "192 steps not shown (--rows N or --all)" in out.stdout
    assert "∂x100/∂x0 = 1.2676506e+30 is final" in out.stdout
    full = invoke("eval", "-", "--x0", "1", "--trace", "--no-check", "--all", stdin=text)
    assert "not shown" not in full.stdout and full.stdout.count("is final") == 101


@pytest.mark.parametrize("name, args", [
    ("seed.table.txt", ["--trace"]),
    ("seed.md", ["--format", "markdown", "--symbolic", "--trace"]),
    ("seed.tex", ["--format", "latex", "--symbolic", "--trace"]),
    ("seed-nocheck.md", ["--format", "markdown", "--no-check"]),
])
def test_golden(name, args, monkeypatch):
    monkeypatch.chdir(SAMPLES.parent)  # the file name shown is as given: samples/seed.txt
    out = invoke("eval", "samples/seed.txt", *SEED_ARGS[1:], *args,
                 env={"COLUMNS": "100", "NO_COLOR": "1"})
    assert out.exit_code == 0, out.stderr
    text = _without_timings(out.stdout)
    golden = GOLDEN / name
    if REGENERATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert text == golden.read_text(), f"differs from {golden}; GRADCLI_REGENERATE=1 rewrites it"


def _without_timings(text: str) -> str:
    return re.sub(r"\d+(\.\d+)? ?(ms|s)\b", "<time>", text)


def test_markdown_escapes_what_markdown_would_read():
    result = differentiate(load("my*file_[1].txt", "d_a = x*w; e = abs(d_a)"), {"x": 1.0, "w": 2.0},
                           check=False, trace=True)
    text = document.markdown(result, None)
    assert "my\\*file\\_\\[1\\].txt" in text
    assert "| `d_a` | intermediate | `x*w` |" in text
    lines = text.splitlines()
    assert {line.count(" | ") for line in lines if line.startswith("| `")} == {4}  # 5 cells
    assert {line.count(" | ") for line in lines if re.match(r"\| \d", line)} == {3}  # the trace


def test_latex_names_numbers_and_specials():
    result = traced("d_a = x*1e-3; e = d_a/0; f = e - e", x=1)
    text = document.latex(result, None)
    assert r"$\mathrm{d\_a}$" in text and r"x \cdot 10^{-3}" in text
    assert r"$\infty$" in text and r"$\mathrm{NaN}$" in text
    assert r"\frac{\mathrm{d\_a}}{0}" in text
    _assert_balanced(text)


def _assert_balanced(text: str):
    depth = 0
    for c in re.sub(r"\\[{}]", "", text):
        depth += {"{": 1, "}": -1}.get(c, 0)
        assert depth >= 0
    assert depth == 0
    assert text.count("$") % 2 == 0


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
@pytest.mark.parametrize("sample, values", [
    ("seed.txt", ["--x", "3", "--w", "2", "--b", "1"]),
    ("nonfinite.txt", None),
    ("two_layer.txt", None),
])
def test_latex_compiles(tmp_path, sample, values):
    if values is None:
        values = _sample_values(sample)
    out = invoke("eval", str(SAMPLES / sample), *values, "--format", "latex", "--symbolic",
                 "--trace")
    tex = tmp_path / "t.tex"
    tex.write_text(out.stdout)
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]


def _sample_values(sample: str) -> list[str]:
    """The inputs of a sample file, each given the value 0.5."""
    graph = load(sample, (SAMPLES / sample).read_text())
    return [arg for name in graph.inputs for arg in (f"--{name}", "0.5")]


def test_console_script_trace_markdown(gradcli_exe):
    done = subprocess.run([gradcli_exe, "eval", *SEED_ARGS, "--trace", "--format", "markdown"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == ""
    assert "| 10 | `w` | ∂a/∂w += ∂a/∂u · ∂u/∂w = 1 · 3 = 3 | 3 |" in done.stdout
    assert json.loads(subprocess.run(
        [gradcli_exe, "eval", *SEED_ARGS, "--trace", "--format", "json"],
        capture_output=True, text=True, timeout=60).stdout)["gradients"]["w"] == 3.0


# --- found by the adversarial tester ------------------------------------------------------------

def test_markdown_escapes_names_in_every_column():
    result = differentiate(load("us.txt", "_a_ = x_*_y; __ = _a_ + x_; b__c = __*__"),
                           {"x_": 1.0, "_y": 2.0}, check=False, trace=True)
    text = document.markdown(result, None)
    assert "∂b\\_\\_c/∂node" in text and "| ∂\\_a\\_/∂x\\_ | 2 |" in text
    assert "a hook on \\_a\\_ fires now" in text
    outside_code = re.sub(r"`[^`]*`", "", text)
    assert not re.search(r"(?<!\\)_", outside_code)  # every _ outside a code span is escaped


def test_latex_never_writes_a_line_pdflatex_cannot_read():
    long_name = "n" + "x" * 5000
    texts = [
        document.latex(traced("a = " + " + ".join(["x*2"] * 5000), x=1), None),
        document.latex(traced("a = " + " + ".join(f"x{i}" for i in range(3000)),
                              **{f"x{i}": 1 for i in range(3000)}), None),
        document.latex(traced(f"{long_name} = x*2; a = relu({long_name})", x=0), None),
    ]
    for text in texts:
        assert max(map(len, text.splitlines())) < 2000
        assert r"\begin{longtable}" in text and r"\begin{table}" not in text
        _assert_balanced(text)


def test_latex_file_name_is_typewriter_text():
    result = differentiate(load("<stdin>", "a = x*2"), {"x": 1.0}, check=False)
    assert r"\caption{\texttt{\textless{}stdin\textgreater{}}:" in document.latex(result, None)


def test_many_notes_are_cut_with_a_count():
    text = "\n".join(["x1 = relu(x0)"] + [f"x{i} = relu(x{i - 1})" for i in range(2, 101)])
    out = invoke("eval", "-", "--x0", "0", "--no-check", stdin=text)
    assert out.stdout.count("note: relu at 0") == 20
    assert "note: 80 more notes not shown: --format json lists them all" in out.stdout
