"""Robustness fuzzing: no graph text, however broken, gets past the error contract.

The contract for every input file: it evaluates (exit 0, or 1 for a sympy mismatch) or it ends
with exit 2, nothing on stdout and one message on stderr; an error inside the file reads
`FILE:LINE:COL: error: ...`, then the source line and a caret line. Never a traceback, never
exit 3, and JSON output is strict (non-finite numbers are the strings "NaN", "Infinity",
"-Infinity").

Two generators feed the contract, both checked in-process with CliRunner (fast):
  * text fuzzing: hypothesis text over an alphabet of the language's characters and the
    characters that break parsers (look-alike letters, NUL, BOM, CR, odd white space);
  * a grammar-based mutator: valid graphs (the samples and generated ones) with spans deleted
    or duplicated, characters or raw bytes inserted, parentheses unbalanced, numbers made huge,
    names swapped for unicode look-alikes and tokens swapped.
The core's parser is also called directly: it may raise GradcliError and nothing else.

Every input that once broke the contract is kept in tests/corpus/ and replayed by
test_corpus_regression. CI runs a fixed (derandomized) set of examples; HYPOTHESIS_PROFILE=long
runs a random campaign (see fuzz_settings).
"""

from __future__ import annotations

import gc
import json
import os
import re
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradcli.cli import main
from gradcli.core import load
from gradcli.errors import GradcliError, Source, SourceError
from gradcli.lexer import normalize
from gradcli.parser import parse_carefully, parse_fast

TESTS = Path(__file__).resolve().parent
SAMPLES = TESTS.parent / "samples"
CORPUS = TESTS / "corpus"

# --- settings ---------------------------------------------------------------------------------
# conftest.py loads the hypothesis profile named by HYPOTHESIS_PROFILE ('ci' by default). Under
# 'ci' each test here runs its own fixed, derandomized number of examples (about 40 s for the
# file on two cores); under any other profile (HYPOTHESIS_PROFILE=long) the profile decides:
# a random campaign of thousands of examples per test.
_CAMPAIGN = os.environ.get("HYPOTHESIS_PROFILE", "ci") != "ci"
_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
          HealthCheck.large_base_example]


def fuzz_settings(examples: int):
    if _CAMPAIGN:
        return settings(deadline=None, suppress_health_check=_QUIET, print_blob=True)
    return settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                    suppress_health_check=_QUIET, print_blob=True)


# Small inputs must be quick: the parser, evaluator and renderers are linear, and the sympy
# check has its own 20 s budget (README: "no graph can hang it").
SECONDS_NO_CHECK = 5.0
SECONDS_CHECK = 30.0

# --- the contract -----------------------------------------------------------------------------
_LOCATED = re.compile(r"^(?P<file>.*?):(?P<line>\d+):(?P<col>\d+): error: \S")
_CARET = re.compile(r"^ *\| *\^+$")


def _refuse_constant(constant):
    raise AssertionError(f"non-standard JSON constant {constant!r} (want the string form)")


def strict_json(text: str):
    return json.loads(text, parse_constant=_refuse_constant)


def assert_contract(code: int, stdout: str, stderr: str, name: str, json_output: bool,
                    text: str | None = None) -> None:
    """What every run must look like, whatever the graph file held.

    `name` is the graph's display name (the path, or '<stdin>'); `text`, when known, lets the
    located message's line number be checked against the file's lines.
    """
    assert "Traceback" not in stderr and "Traceback" not in stdout, stderr[-3000:]
    assert "internal error" not in stderr, stderr[-3000:]
    assert code in (0, 1, 2), f"exit {code}; stderr: {stderr[-2000:]!r}"
    if code in (0, 1):
        assert stdout, "a successful run printed nothing"
        if json_output:
            doc = strict_json(stdout)
            assert isinstance(doc, dict) and "gradients" in doc and "values" in doc
            if code == 1:
                assert doc["check"] and doc["check"]["mismatches"]
        return
    assert stdout == "", f"exit 2 but stdout has {stdout[:300]!r}"
    assert stderr.strip(), "exit 2 with no message"
    lines = stderr.splitlines()
    first = lines[0]
    located = _LOCATED.match(first)
    if located is None:
        # Not an error inside the file (binary, empty, missing values...): one "error: ..."
        # message, or click's usage message for bad arguments.
        assert first.startswith(("error: ", "Usage:")), stderr[:1000]
        return
    assert located["file"] == name, f"message names {located['file']!r}, want {name!r}"
    line, col = int(located["line"]), int(located["col"])
    assert line >= 1 and col >= 1, first
    if text is not None:
        from gradcli.lexer import normalize
        assert line <= normalize(text).count("\n") + 1, f"line {line} is past the end: {first}"
    assert len(lines) >= 3, f"a located error needs the source line and a caret line:\n{stderr}"
    assert lines[1].startswith(f"{line} | ") or lines[1] == f"{line} |", \
        f"second line is not the source line {line}:\n{stderr}"
    assert _CARET.match(lines[2]), f"third line is not a caret line:\n{stderr}"
    gutter = lines[1].index("|")
    assert lines[2].index("|") == gutter, f"caret line misaligned:\n{stderr}"


# --- running the command in-process ----------------------------------------------------------
_RUNNER = CliRunner()


def _input_values(text: str, pool: list[str] | None = None) -> list[str]:
    """--set NAME=VALUE for each input, if the graph loads (else nothing: it fails anyway);
    the values cycle through `pool` (default: a few ordinary numbers)."""
    try:
        graph = load("t", text)
    except GradcliError:
        return []
    pool = pool or ["0.5", "0.75", "1", "1.25", "1.5", "1.75", "2"]
    return [arg for i, name in enumerate(graph.inputs)
            for arg in ("--set", f"{name}={pool[i % len(pool)]}")]


def run_cli(data: bytes, *, check: bool = False, json_output: bool = True, symbolic: bool = False,
            values: bool = True, name: str = "-", args: list[str] | None = None,
            pool: list[str] | None = None, extra: tuple[str, ...] = ()):
    """Run `gradcli eval` on `data` in-process and assert the contract; returns the result.

    `args`, when given, are the arguments after the graph's name, exactly (the other keywords
    then only describe them); otherwise they are built from the keywords.
    """
    text = data.decode("utf-8", errors="replace")
    if args is None:
        args = _input_values(text, pool) if values else []
        args += ["--format", "json"] if json_output else []
        args += [] if check else ["--no-check"]
        args += ["--symbolic"] if symbolic else []
        args += list(extra)
    else:
        json_output = "json" in args or "--format=json" in args
        check, symbolic = "--no-check" not in args, "--symbolic" in args
    argv = ["eval", name, *args]
    started = time.perf_counter()
    try:
        # GRADCLI_DEBUG=1: an internal error propagates as the exception itself (with its
        # traceback in result.exc_info) instead of being turned into exit 3.
        result = _RUNNER.invoke(main, argv, input=data if name == "-" else None,
                                env={"GRADCLI_DEBUG": "1", "COLUMNS": "120"},
                                catch_exceptions=True)
    finally:
        gc.enable()  # the command disables the cycle collector for its (short) process
    elapsed = time.perf_counter() - started
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback
        tb = "".join(traceback.format_exception(*result.exc_info))
        raise AssertionError(f"gradcli raised on {data[:300]!r} (args {args[:8]}):\n{tb}")
    assert_contract(result.exit_code, result.stdout, result.stderr,
                    "<stdin>" if name == "-" else name, json_output, text)
    limit = SECONDS_CHECK if (check or symbolic) else SECONDS_NO_CHECK
    assert elapsed < limit, f"{elapsed:.1f} s on a {len(data)}-byte input: {data[:200]!r}"
    return result


def assert_parser_contract(text: str) -> None:
    """gradcli.core.load raises GradcliError or nothing; a located error renders with a caret;
    the fast parser either declines or gives exactly the careful parser's statements."""
    source = Source("fuzz.txt", normalize(text))
    fast = parse_fast(source.text)
    if fast is not None:
        assert fast == parse_carefully(source), text
    try:
        load("fuzz.txt", text)
    except GradcliError as error:
        rendered = error.render()
        assert isinstance(rendered, str) and rendered
        if isinstance(error, SourceError):
            lines = rendered.splitlines()
            assert _LOCATED.match(lines[0]) and _CARET.match(lines[2]), rendered


# --- alphabets --------------------------------------------------------------------------------
LOOKALIKES = {  # ASCII letter -> characters that look the same (Cyrillic, Greek, fullwidth)
    "a": "\u0430\u03b1\uff41", "e": "\u0435\uff45", "o": "\u043e\u03bf", "x": "\u0445\u03c7\uff58",
    "p": "\u0440\u03c1", "c": "\u0441", "i": "\u0456\u0131", "y": "\u0443", "u": "\u03c5",
    "w": "\u0461", "b": "\u042c", "s": "\u0455", "l": "\u04cf", "n": "\u0578", "v": "\u03bd",
}
ODD = ("\x00\ufeff\u00a0\u200b\u2028\u2029\x85\x0b\x0c\x1b\u202e\u0301\u3000\uff0b\uff08"
       "\U0001f600\u65e5\ud800\udfff\u2212\u00d7\u2217")
ALPHABET = ("0123456789" "xywabeEn_" "+-*/^()" "=;,#." " \t\n\r" "'\"[]{}:%@\\`$!<>~&|?"
            "\u0430\u0435\u043e\u0445\uff58" + ODD)
TOKENS = ["x", "y", "w", "u", "v", "a", "b", "_", "n0", "n1", "x1", "relu", "sigmoid", "tanh",
          "exp", "log", "sqrt", "sin", "cos", "abs", "softplus", "max", "min", "pi", "lambda",
          "if", "None", "True", "__import__", "os", "system", "0", "1", "2.5", ".5", "1e-3",
          "2E10", "1e308", "1e999", "10", "1.", "1e", "+", "-", "*", "/", "**", "^", "(", ")",
          ",", "=", "==", ";", "\n", "\r\n", "\r", " ", "\t", "#", ".", "[", "]", "'", ":",
          "\u0430", "\ufeff", "\x00"]


def encode(text: str) -> bytes:
    return text.encode("utf-8", errors="surrogatepass")  # lone surrogates become invalid UTF-8


# --- valid graphs: the samples and generated ones ---------------------------------------------
SEEDS = [p.read_text(encoding="utf-8") for p in sorted(SAMPLES.glob("*.txt"))] + [
    "u = x*w; v = u + b; a = relu(v)",
    "a = max(x, y) + min(x, -y) * abs(x - y)",
    "u = x^2^3\r\nv = -u**-2\r\nw = (u +\n v) / 2 # comment\n;;; a = softplus(w) + pi",
    "a = 10**10**10 + x",
    "z = sqrt(x) * log(y) - exp(-x/y)\nq = tanh(z) * sigmoid(z) + sin(cos(z))\n",
    "a = ((((((((((x))))))))))",
    "a = - - - - -x + +y",
]

NUMBERS = st.sampled_from(["0", "1", "2", "3", "0.5", ".5", "1.", "1e-3", "2E10", "1e2", "7",
                           "1e308", "5e-324", "800"])
# Input values where the numerics get interesting: signed zeros, kinks, overflow, inf and nan.
EXTREME_VALUES = ["0", "-0.0", "1", "-1", "0.5", "-2.5", "20", "800", "-800", "709.8", "1e308",
                  "-1e308", "5e-324", "inf", "-inf", "nan"]


@st.composite
def graphs(draw) -> str:
    """A valid graph: statements over earlier names, inputs and numbers, in varied layout."""
    inputs = draw(st.lists(st.sampled_from(["x", "y", "w", "b", "x1"]), min_size=1, max_size=3,
                           unique=True))
    names = list(inputs)
    statements = []
    for i in range(draw(st.integers(1, 6))):
        leaves = st.one_of(st.sampled_from(names), NUMBERS, st.just("pi"))
        expr = draw(st.recursive(leaves, lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "**", "^"]), inner).map(
                lambda t: f"{t[0]} {t[1]} {t[2]}" if t[1] in "+-" else f"({t[0]}){t[1]}({t[2]})"),
            st.tuples(st.sampled_from(["relu", "sigmoid", "tanh", "exp", "log", "sqrt", "sin",
                                       "cos", "abs", "softplus", "-"]), inner).map(
                lambda t: f"{t[0]}({t[1]})"),
            st.tuples(st.sampled_from(["max", "min"]), inner, inner).map(
                lambda t: f"{t[0]}({t[1]}, {t[2]})"),
        ), max_leaves=8))
        target = f"n{i}"
        statements.append(f"{target} = {expr}")
        names.append(target)
    separators = st.sampled_from(["\n", "; ", "\r\n", "\r", "\n\n", " # note\n", ";\n"])
    out = statements[0]
    for s in statements[1:]:
        out += draw(separators) + s
    return out + draw(st.sampled_from(["", "\n", ";", "\n# end"]))


valid_graphs = st.one_of(st.sampled_from(SEEDS), graphs())

# --- the mutator ------------------------------------------------------------------------------
_TOKEN = re.compile(r"\*\*|[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?|[A-Za-z_][A-Za-z0-9_]*|\S")
_NUMBER = re.compile(r"(?<![A-Za-z_0-9.])(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
HUGE = ["1e308", "1e999", "10**10**10", "9" * 400, "1e-400", "2**1024", "1e308*1e308",
        "(10**10**10)**10**10", "0**-1", "1" + "0" * 5000, "4.9e-324", "1.7976931348623157e308"]
POS = st.integers(0, 10**6)  # positions are taken modulo the length: they shrink toward 0


def _at(text: str, i: int) -> int:
    return i % (len(text) + 1)


def _span(text: str, i: int, j: int) -> tuple[int, int]:
    a, b = _at(text, i), _at(text, j)
    return min(a, b), max(a, b)


def _nth(pattern: re.Pattern, text: str, k: int):
    found = list(pattern.finditer(text))
    return found[k % len(found)] if found else None


def delete_span(text, i, j):
    a, b = _span(text, i, j)
    return text[:a] + text[b:]


def duplicate_span(text, i, j):
    a, b = _span(text, i, j)
    return text[:b] + text[a:b] + text[b:]


def insert(text, i, piece):
    a = _at(text, i)
    return text[:a] + piece + text[a:]


def unbalance(text, i, which):
    parens = [m.start() for m in re.finditer(r"[()]", text)]
    if which == "delete" and parens:
        k = parens[i % len(parens)]
        return text[:k] + text[k + 1:]
    return insert(text, i, "(" if which == "open" else ")")


def huge_number(text, k, huge):
    m = _nth(_NUMBER, text, k)
    if m is None:
        return insert(text, k, huge)
    return text[:m.start()] + huge + text[m.end():]


def lookalike(text, k, choice):
    m = _nth(_NAME, text, k)
    if m is None:
        return text
    name = m.group()
    spots = [p for p, ch in enumerate(name) if ch.lower() in LOOKALIKES]
    if not spots:
        return text[:m.start()] + "\uff58" + text[m.end():]
    p = spots[choice % len(spots)]
    options = LOOKALIKES[name[p].lower()]
    name = name[:p] + options[choice % len(options)] + name[p + 1:]
    return text[:m.start()] + name + text[m.end():]


def swap_tokens(text, k1, k2):
    toks = list(_TOKEN.finditer(text))
    if len(toks) < 2:
        return text
    a, b = sorted((toks[k1 % len(toks)], toks[k2 % len(toks)]), key=lambda m: m.start())
    if a.start() == b.start():
        return text
    return (text[:a.start()] + b.group() + text[a.end():b.start()] + a.group() + text[b.end():])


def replace_token(text, k, piece):
    m = _nth(_TOKEN, text, k)
    if m is None:
        return text + piece
    return text[:m.start()] + piece + text[m.end():]


MUTATIONS = st.one_of(
    st.tuples(st.just(delete_span), POS, POS),
    st.tuples(st.just(duplicate_span), POS, POS),
    st.tuples(st.just(insert), POS, st.text(ALPHABET, min_size=1, max_size=4)),
    st.tuples(st.just(insert), POS, st.sampled_from(TOKENS)),
    st.tuples(st.just(unbalance), POS, st.sampled_from(["open", "close", "delete"])),
    st.tuples(st.just(huge_number), POS, st.sampled_from(HUGE)),
    st.tuples(st.just(lookalike), POS, st.integers(0, 10)),
    st.tuples(st.just(swap_tokens), POS, POS),
    st.tuples(st.just(replace_token), POS, st.sampled_from(TOKENS)),
)


@st.composite
def mutated(draw) -> bytes:
    """A valid graph after 1-4 mutations, sometimes with raw (possibly invalid UTF-8) bytes."""
    text = draw(valid_graphs)
    for fn, *params in draw(st.lists(MUTATIONS, min_size=1, max_size=4)):
        text = fn(text, *params)
    data = encode(text)
    if draw(st.integers(0, 9)) == 0:  # one in ten: raw bytes spliced in
        at = draw(POS) % (len(data) + 1)
        data = data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at:]
    return data


# --- the tests --------------------------------------------------------------------------------
@fuzz_settings(1000)
@given(st.text(ALPHABET, max_size=80))
def test_text_fuzz_honours_the_contract(text):
    assert_parser_contract(text)
    run_cli(encode(text))


@fuzz_settings(600)
@given(st.lists(st.sampled_from(TOKENS), max_size=40).map("".join))
def test_token_soup_honours_the_contract(text):
    assert_parser_contract(text)
    run_cli(encode(text))


@fuzz_settings(1000)
@given(mutated())
def test_mutated_graphs_honour_the_contract(data):
    assert_parser_contract(data.decode("utf-8", errors="replace"))
    run_cli(data)


@fuzz_settings(300)
@given(mutated(), st.sampled_from(["table", "missing-values", "symbolic-json"]))
def test_mutated_graphs_other_outputs(data, mode):
    """Tables (rich and plain), inputs left without values, and closed forms."""
    if mode == "table":
        run_cli(data, json_output=False)
    elif mode == "missing-values":
        run_cli(data, values=False)
    else:
        run_cli(data, symbolic=True)


@fuzz_settings(150)
@given(st.one_of(mutated(), graphs().map(encode)))
def test_mutated_graphs_with_the_sympy_check(data):
    run_cli(data, check=True)


@fuzz_settings(150)
@given(graphs(), st.lists(st.sampled_from(EXTREME_VALUES), min_size=1, max_size=3),
       st.booleans(), st.sampled_from(["json", "table", "all", "rows1"]), st.integers(0, 12))
def test_generated_graphs_at_extreme_values_with_check_and_symbolic(text, pool, symbolic, shape,
                                                                    output):
    """Valid graphs at inf, nan, signed zeros and kinks, any node as the output, every output
    shape: the check (and --symbolic) may mark values unverified, but must never crash, hang or
    print non-strict JSON."""
    nodes = load("t", text).nodes
    extra = ("--output", nodes[output % len(nodes)]) if output else ()
    extra += {"json": (), "table": (), "all": ("--all",), "rows1": ("--rows", "1")}[shape]
    result = run_cli(encode(text), check=True, symbolic=symbolic, pool=pool,
                     json_output=shape == "json", extra=extra)
    assert result.exit_code in (0, 1)


@fuzz_settings(200)
@given(graphs())
def test_generated_graphs_evaluate(text):
    """Every generated graph is valid: it must evaluate, never be refused."""
    result = run_cli(encode(text))
    assert result.exit_code == 0, result.stderr


# --- regressions: every input that ever broke the contract ------------------------------------
# A corpus file whose first line is `# args: ...` is run with exactly those arguments after its
# name (split on white space); any other file gets a value for every input and runs with
# --no-check --format json. Inputs that still break the contract because of a known gradcli bug
# are listed here, each with the reason, and expected to fail (strictly: a fix must remove them).
KNOWN_BUGS: dict[str, str] = {}  # corpus files that still fail, with the reason (none now)


def _corpus_cases():
    return [pytest.param(p, id=p.stem, marks=[pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[
        p.stem])] if p.stem in KNOWN_BUGS else []) for p in sorted(CORPUS.glob("*.txt"))]


@pytest.mark.parametrize("path", _corpus_cases())
def test_corpus_regression(path):
    data = path.read_bytes()
    first = data.split(b"\n", 1)[0]
    args = first[len(b"# args:"):].decode().split() if first.startswith(b"# args:") else None
    run_cli(data, name=str(path), args=args)
