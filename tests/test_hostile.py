"""Hostile inputs against the installed console script, each in a bounded subprocess.

Each case runs `gradcli eval` as a real process (tracebacks, exit codes, signals and memory are
what a user sees) under a wall-clock timeout and an address-space limit, and must honour the
contract of tests/test_fuzz.py: exit 0/1 with the results (strict JSON where asked), or exit 2
with nothing on stdout and one message on stderr, `FILE:LINE:COL: error:` plus the source line
and a caret for an error inside the file. Where the result is stable it is asserted exactly: the
value, the gradient, the message and its place. Payloads that would run code if the file ever
reached eval, exec or sympify must leave a marker file absent.

The slowest case, a 1,000,000-statement file, takes about 30 s (test_million_statements).
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_fuzz import assert_contract, strict_json

GiB = 1024 ** 3
SMALL = dict(timeout=20, memory=1 * GiB)
HUGE = dict(timeout=60, memory=3 * GiB)


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float

    def json(self):
        return strict_json(self.stdout)


@pytest.fixture
def exe(gradcli_exe) -> str:
    """The installed console script, found next to sys.executable by conftest.py."""
    return gradcli_exe


def gradcli(exe: str, graph: Path | str, *args: str, timeout: float = 20, memory: int = GiB,
            stdin: bytes | None = None, cwd: Path | None = None, json_output: bool | None = None,
            stdout_path: Path | None = None) -> Run:
    """Run `gradcli eval GRAPH ARGS...` bounded in time and memory; assert the contract."""

    def limit_memory():
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    env = {k: v for k, v in os.environ.items() if k != "GRADCLI_DEBUG"}
    env["COLUMNS"] = "100"
    out = open(stdout_path, "wb") if stdout_path else subprocess.PIPE  # noqa: SIM115
    started = time.perf_counter()
    try:
        proc = subprocess.run([exe, "eval", str(graph), *args], input=stdin, stdout=out,
                              stderr=subprocess.PIPE, timeout=timeout, preexec_fn=limit_memory,
                              cwd=cwd, env=env, stdin=None if stdin is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail(f"gradcli eval {str(graph)[-40:]} {' '.join(args)} ran past {timeout} s")
    finally:
        if stdout_path:
            out.close()
    seconds = time.perf_counter() - started
    assert proc.returncode >= 0, f"killed by signal {-proc.returncode}: {proc.stderr[-500:]!r}"
    stdout = "" if stdout_path else proc.stdout.decode("utf-8", errors="replace")
    stderr = proc.stderr.decode("utf-8", errors="replace")
    if json_output is None:
        json_output = "json" in args
    name = "<stdin>" if str(graph) == "-" else str(graph)
    if stdout_path and proc.returncode == 2:
        assert stdout_path.stat().st_size == 0, "exit 2 but stdout is not empty"
        stdout = ""
    elif stdout_path:
        stdout, json_output = "(in a file)", False
    assert_contract(proc.returncode, stdout, stderr, name, json_output)
    return Run(proc.returncode, stdout, stderr, seconds)


def write(tmp_path: Path, data: bytes | str, name: str = "g.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def assert_located(run: Run, path: Path, line: int, col: int, message: str) -> None:
    """exit 2 and `PATH:LINE:COL: error: MESSAGE`, then the source line and a caret."""
    assert run.code == 2, run.stderr
    first = run.stderr.splitlines()[0]
    assert first == f"{path}:{line}:{col}: error: {message}", run.stderr[:500]


# --- huge numbers: IEEE inf, never exact big integers -------------------------------------------
HUGE_NUMBERS = [  # (text, input values, value of a, gradient of the one input or None)
    ("a = 10**10**10", [], "Infinity", None),
    ("a = 10^10^10", [], "Infinity", None),
    ("a = 1e308*1e308", [], "Infinity", None),
    ("a = 1e999", [], "Infinity", None),
    ("a = x**1000000000", ["--x", "1"], 1.0, 1e9),
    ("a = x**1000000000", ["--x", "2"], "Infinity", "Infinity"),
    ("a = x**(10**10**10)", ["--x", "0.5"], 0.0, "NaN"),  # inf * 0.5**inf, as PyTorch
    ("a = 1e308*1e308*x", ["--x", "1"], "Infinity", "Infinity"),
    ("a = x*10**10**10 - 10**10**10", ["--x", "1"], "NaN", "Infinity"),
    ("a = x*1" + "0" * 3000, ["--x", "1"], "Infinity", "Infinity"),  # a 3001-digit literal
    ("a = x*1" + "0" * 300, ["--x", "1"], 1e300, 1e300),
    ("a = (x*1e-400)**-1", ["--x", "1"], "Infinity", None),
]


@pytest.mark.parametrize("mode", ["check", "symbolic"])
@pytest.mark.parametrize("text, values, value, grad", HUGE_NUMBERS,
                         ids=[t[:30] + (f" {v[1]}" if v else "") for t, v, *_ in HUGE_NUMBERS])
def test_huge_numbers(exe, tmp_path, text, values, value, grad, mode):
    """Huge constants evaluate in float64 with the sympy check and with --symbolic."""
    extra = ["--symbolic"] if mode == "symbolic" else []
    run = gradcli(exe, write(tmp_path, text + "\n"), *values, "--format", "json", *extra, **HUGE)
    assert run.code == 0, run.stderr
    doc = run.json()
    assert doc["values"]["a"] == value
    if grad is not None:
        assert doc["gradients"]["x"] == grad
    if mode == "symbolic":
        assert set(doc["symbolic"]["gradients"]) == set(doc["gradients"])


@pytest.mark.parametrize("statement, count", [
    ("n{i} = n{j}**n{j} * sin(n{j}) + max(n{j}, x)", 60),  # closed forms grow as towers
    ("n{i} = exp(n{j}) * log(n{j} + pi) / (n{j} + 1)", 400),
    ("n{i} = n{j}*n{j} + x*n{j} - n{j}/x", 2000),  # every shape the same: cached
], ids=["pow_towers", "exp_log_chain", "2000_statements"])
def test_symbolic_blowup_is_bounded(exe, tmp_path, statement, count):
    """Closed forms that would grow without bound are cut off (and said so) within the budget."""
    lines = ["n0 = x"] + [statement.format(i=i, j=i - 1) for i in range(1, count)]
    path = write(tmp_path, "\n".join(lines) + "\n")
    run = gradcli(exe, path, "--x", "0.5", "--symbolic", "--format", "json", **HUGE)
    assert run.code in (0, 1), run.stderr
    doc = run.json()
    assert set(doc["symbolic"]["gradients"]) == set(doc["gradients"])
    assert run.seconds < 45  # the check and --symbolic have a budget each


# --- nesting ----------------------------------------------------------------------------------
@pytest.mark.parametrize("depth", [100, 1000])
def test_nested_parentheses_evaluate(exe, tmp_path, depth):
    path = write(tmp_path, "a = " + "(" * depth + "x*2" + ")" * depth + "\n")
    run = gradcli(exe, path, "--x", "1.5", "--format", "json", **SMALL)
    assert run.code == 0 and run.json()["values"]["a"] == 3.0 and run.json()["gradients"]["x"] == 2.0


@pytest.mark.parametrize("depth", [1001, 100_000])
def test_nesting_past_the_limit_is_refused_at_the_1001st_parenthesis(exe, tmp_path, depth):
    path = write(tmp_path, "a = " + "(" * depth + "x" + ")" * depth + "\n")
    run = gradcli(exe, path, "--x", "1", **SMALL)
    assert_located(run, path, 1, 4 + 1000 + 1, "nesting deeper than 1000 levels")
    assert "  = hint: split the expression into several statements" in run.stderr


def test_nested_calls_past_the_limit(exe, tmp_path):
    path = write(tmp_path, "a = " + "relu(" * 1001 + "x" + ")" * 1001)
    run = gradcli(exe, path, "--x", "1", **SMALL)
    assert_located(run, path, 1, 4 + 5 * 1000 + 1, "nesting deeper than 1000 levels")


def test_1000_nested_calls_evaluate(exe, tmp_path):
    path = write(tmp_path, "a = " + "sin(" * 1000 + "x" + ")" * 1000)
    run = gradcli(exe, path, "--x", "0", "--format", "json", **SMALL)
    assert run.code == 0 and run.json()["gradients"]["x"] == 1.0  # sin'(0) = 1 at every level


def test_deep_unclosed_and_excess_parentheses(exe, tmp_path):
    path = write(tmp_path, "a = " + "(" * 1000 + "x\n")
    assert_located(gradcli(exe, path, "--x", "1", **SMALL), path, 1, 4 + 999 + 1,
                   "'(' is never closed")
    path = write(tmp_path, "a = x" + ")" * 100_000)
    assert_located(gradcli(exe, path, "--x", "1", **SMALL), path, 1, 6, "unmatched ')'")


# --- long expressions -------------------------------------------------------------------------
@pytest.mark.parametrize("count", [10_000, 100_000, 100_001])
@pytest.mark.parametrize("spaced", [False, True], ids=["tight", "spaced"])
def test_unary_minus_chains(exe, tmp_path, count, spaced):
    path = write(tmp_path, "a = " + ("- " if spaced else "-") * count + "x\n")
    run = gradcli(exe, path, "--x", "3", "--format", "json", **SMALL)  # default: the check runs
    assert run.code == 0, run.stderr
    sign = -1.0 if count % 2 else 1.0
    assert run.json()["values"]["a"] == 3.0 * sign and run.json()["gradients"]["x"] == sign


def test_100k_term_single_expression_with_the_check(exe, tmp_path):
    path = write(tmp_path, "a = " + " + ".join(f"x*{i % 7}" for i in range(100_000)) + "\n")
    run = gradcli(exe, path, "--x", "2", "--format", "json", **HUGE)
    assert run.code == 0, run.stderr
    doc = run.json()
    assert doc["gradients"]["x"] == float(sum(i % 7 for i in range(100_000)))
    statuses = {entry["status"] for entry in doc["check"]["gradients"].values()}
    assert statuses <= {"ok", "skipped"}  # past 200 operations sympy is not asked


def test_100k_term_expression_as_a_table(exe, tmp_path):
    path = write(tmp_path, "a = " + "+".join(["x"] * 100_000) + "\n")
    run = gradcli(exe, path, "--x", "2", "--no-check", **SMALL)
    assert run.code == 0 and "100000" in run.stdout.replace(",", "")


def test_50mb_single_line(exe, tmp_path):
    """25 million terms on one line: gradcli may refuse it, but located and in bounded time."""
    terms = 25 * 1024 * 1024
    path = write(tmp_path, "a = " + "+".join(["x"] * terms) + "\n")
    run = gradcli(exe, path, "--x", "1", "--no-check", "--format", "json", **HUGE)
    if run.code == 0:
        assert run.json()["gradients"]["x"] == float(terms)
    else:
        assert re.match(rf"{re.escape(str(path))}:1:\d+: error: expression longer than ", run.stderr)


def test_50mb_comment_line_evaluates(exe, tmp_path):
    path = write(tmp_path, "# " + "c" * (50 * 1024 * 1024) + "\na = x*2\n")
    run = gradcli(exe, path, "--x", "1", "--format", "json", **HUGE)
    assert run.code == 0 and run.json()["gradients"]["x"] == 2.0


def test_file_past_64_mib_is_refused(exe, tmp_path):
    path = write(tmp_path, "#" * (64 * 1024 * 1024) + "\na = x\n")
    run = gradcli(exe, path, "--x", "1", **HUGE)
    assert run.code == 2
    assert run.stderr == f"error: {path}: larger than 64 MiB; gradcli reads graph files up to that size\n"


def test_error_after_two_million_blank_lines_is_located(exe, tmp_path):
    path = write(tmp_path, "\n" * 2_000_000 + "a = x +\n")
    run = gradcli(exe, path, "--x", "1", **HUGE)
    assert_located(run, path, 2_000_001, 8, "expected an operand, found the end of the line")


def test_million_statements(exe, tmp_path):
    """The README's 1,000,000-statement chain, --no-check --format json (160 MB of JSON):
    about 30 s and 1.8 GB on two cores, the slowest test here."""
    n = 1_000_000
    path = write(tmp_path, "n0 = x\n" + "".join(f"n{i} = n{i - 1} + x\n" for i in range(1, n)))
    out = tmp_path / "out.json"
    run = gradcli(exe, path, "--x", "1", "--no-check", "--format", "json", timeout=120,
                  memory=4 * GiB, stdout_path=out)
    assert run.code == 0, run.stderr
    with open(out, "rb") as f:
        f.seek(-200, os.SEEK_END)
        tail = f.read().decode()
    assert tail.endswith('"check": null}\n') and '"to": "n999999", "local": 1.0}' in tail
    print(f"1,000,000 statements: {run.seconds:.1f} s")


def test_100k_statements_json(exe, tmp_path):
    n = 100_000
    path = write(tmp_path, "n0 = x\n" + "".join(f"n{i} = n{i - 1} + x\n" for i in range(1, n)))
    run = gradcli(exe, path, "--x", "1", "--no-check", "--format", "json", **HUGE)
    assert run.code == 0, run.stderr
    doc = run.json()
    assert doc["gradients"]["x"] == float(n) and doc["values"][f"n{n - 1}"] == float(n)


# --- long names -------------------------------------------------------------------------------
def test_100k_character_names(exe, tmp_path):
    long_input, long_node = "i" * 100_000, "n" * 100_000
    path = write(tmp_path, f"{long_node} = {long_input}*3\na = {long_node} + 1\n")
    run = gradcli(exe, path, "--set", f"{long_input}=2", "--format", "json", **SMALL)
    assert run.code == 0, run.stderr
    assert run.json()["gradients"] == {long_input: 3.0, long_node: 1.0, "a": 1.0}
    table = gradcli(exe, path, "--set", f"{long_input}=2", **SMALL)
    assert table.code == 0 and len(table.stdout) < 2_000_000


def test_100k_character_name_in_an_error_is_windowed(exe, tmp_path):
    name = "r" * 100_000
    path = write(tmp_path, f"a = {name}(x)\n")
    run = gradcli(exe, path, "--x", "1", **SMALL)
    assert run.code == 2 and run.stderr.startswith(f"{path}:1:5: error: unknown function 'rrrr")
    assert all(len(line) < 1000 for line in run.stderr.splitlines()[1:3])  # the excerpt is cut


# --- bytes: NUL, invalid UTF-8, BOM, line ends ------------------------------------------------
SEED = b"u = x*w\nv = u + b\na = relu(v)\n"
SEED_ARGS = ("--x", "3", "--w", "2", "--b", "1", "--format", "json")


@pytest.mark.parametrize("data, offset", [(b"u = x\x00*w\n", 5), (b"u = x\n\x00", 6),
                                          ("u = x".encode("utf-16"), 3)],
                         ids=["nul", "nul_line2", "utf16"])
def test_nul_bytes_are_refused_as_binary(exe, tmp_path, data, offset):
    path = write(tmp_path, data)
    run = gradcli(exe, path, "--x", "1", **SMALL)
    assert run.code == 2
    first = run.stderr.splitlines()[0]
    assert first.startswith(f"{path}:") and first.endswith(
        f": error: looks binary: a NUL byte (offset {offset}); a graph file is UTF-8 text")
    assert run.stderr.splitlines()[2].strip().endswith("^")  # a caret under the NUL


@pytest.mark.parametrize("data, line, col, byte", [
    (b"u = x\nv = \xff + x\n", 2, 5, "ff"),
    (b"u = x # caf\xe9\n", 1, 12, "e9"),  # latin-1 in a comment: 11 characters before it
    (b"u = x\xe2\x82", 1, 6, "e2"),  # truncated sequence at the end
    (b"u = x \xed\xa0\x80\n", 1, 7, "ed"),  # an encoded surrogate
    (b"u = x\r\nv = \xff\r\n", 2, 5, "ff"),
    (b"u = x\rv = \xff\r", 2, 5, "ff"),
    (b"\xef\xbb\xbfu = \xff", 1, 5, "ff"),  # a BOM is not a column
])
def test_invalid_utf8_is_located(exe, tmp_path, data, line, col, byte):
    path = write(tmp_path, data)
    run = gradcli(exe, path, "--x", "1", **SMALL)
    assert_located(run, path, line, col,
                   f"not UTF-8 text: byte 0x{byte} cannot start or continue a character")
    assert "  = hint: save the file as UTF-8" in run.stderr


@pytest.mark.parametrize("data", [
    b"\xef\xbb\xbf" + SEED,
    SEED.replace(b"\n", b"\r"),  # CR-only (classic Mac) line ends
    SEED.replace(b"\n", b"\r\n"),
    b"\xef\xbb\xbf" + SEED.replace(b"\n", b"\r"),
    b"u = x*w\r\nv = u + b\ra = relu(v)",  # mixed, no final line end
    b"u = x*w;;\r\r\n\n;v = u + b # c\r# d\ra = relu(\r v\r)\r",
], ids=["bom", "cr", "crlf", "bom_cr", "mixed", "cr_in_parens"])
def test_bom_and_line_ends_evaluate(exe, tmp_path, data):
    run = gradcli(exe, write(tmp_path, data), *SEED_ARGS, **SMALL)
    assert run.code == 0, run.stderr
    assert run.json()["gradients"] == {"x": 2.0, "w": 3.0, "b": 1.0, "u": 1.0, "v": 1.0, "a": 1.0}


@pytest.mark.parametrize("data, line, col, message", [
    (b"\xef\xbb\xbfu = x*$", 1, 7, "unexpected character '$' (U+0024 DOLLAR SIGN)"),
    (b"u = x\rv = u\rw = v + )\r", 3, 9,
     "expected an operand (a number, a name, '(' or a function call), found ')'"),
    (b"u = x\r\nv = u\r\nw = v + )\r\n", 3, 9,
     "expected an operand (a number, a name, '(' or a function call), found ')'"),
    (b"u = x\n\xef\xbb\xbfv = u", 2, 1, "unexpected character U+FEFF ZERO WIDTH NO-BREAK SPACE"),
    (b"a = x\x0b+ 1\x1b", 1, 10, "unexpected character U+001B"),
])
def test_errors_in_odd_bytes_are_located(exe, tmp_path, data, line, col, message):
    path = write(tmp_path, data)
    run = gradcli(exe, path, "--x", "1", **SMALL)
    assert_located(run, path, line, col, message)


def test_stdin_gets_the_same_contract(exe):
    run = gradcli(exe, "-", "--x", "1", stdin=b"a = x +\r", **SMALL)
    assert run.code == 2 and run.stderr.startswith("<stdin>:1:8: error: expected an operand")
    run = gradcli(exe, "-", "--x", "1", stdin=b"a = x\x00", **SMALL)
    assert run.code == 2 and run.stderr.startswith("<stdin>:1:6: error: looks binary")


# --- code-execution payloads: nothing runs ----------------------------------------------------
PAYLOADS = [  # (text, line, col, message start)
    ("a = __import__('os').system('touch MARKER')", 1, 5, "unknown function '__import__'"),
    ("__import__('os').system('touch MARKER')", 1, 11, "expected '=' after '__import__'"),
    ("a = x.__class__.__base__.__subclasses__()", 1, 6, "attribute access is not part"),
    ("a = x[0]", 1, 6, "subscripts are not part"),
    ("a = ().__class__", 1, 6, "expected an operand (a number, a name, '(' or a function call)"),
    ("a = (lambda: __import__('os').system('touch MARKER'))()", 1, 6, "'lambda' is a reserved"),
    ("a = lambda x: x", 1, 5, "'lambda' is a reserved word"),
    ("a = eval(\"__import__('os').system('touch MARKER')\")", 1, 5, "unknown function 'eval'"),
    ("a = exec('open(\"MARKER\", \"w\")')", 1, 5, "unknown function 'exec'"),
    ("a = getattr(x, '__class__')", 1, 5, "unknown function 'getattr'"),
    ("a = open('MARKER', 'w')", 1, 5, "unknown function 'open'"),
    ("a = os.system('touch MARKER')", 1, 7, "attribute access is not part"),
    ("a = Symbol('x').__class__", 1, 5, "unknown function 'Symbol'"),
    ("a = sympify('__import__(\"os\").system(\"touch MARKER\")')", 1, 5,
     "unknown function 'sympify'"),
    ("a = x if x else y", 1, 7, "'if' is a reserved word"),
    ("import os; a = x", 1, 1, "cannot assign to 'import'"),
    ("a = [x for x in ().__class__.__bases__]", 1, 5, "subscripts are not part"),
    ("a = f\"{__import__('os').system('touch MARKER')}\"", 1, 6, "strings are not part"),
    ("a = x; exec('touch MARKER')", 1, 12, "expected '=' after 'exec', found '('"),
]


@pytest.mark.parametrize("mode", ["check", "symbolic"])
@pytest.mark.parametrize("text, line, col, message", PAYLOADS, ids=[p[0][:40] for p in PAYLOADS])
def test_payloads_run_nothing(exe, tmp_path, text, line, col, message, mode):
    path = write(tmp_path, text + "\n")
    extra = ["--symbolic"] if mode == "symbolic" else []
    run = gradcli(exe, path, "--x", "1", "--y", "2", *extra, cwd=tmp_path, **SMALL)
    assert run.code == 2, run.stderr
    assert run.stderr.startswith(f"{path}:{line}:{col}: error: {message}"), run.stderr
    assert not (tmp_path / "MARKER").exists()


def test_payloads_in_arguments_run_nothing(exe, tmp_path):
    path = write(tmp_path, "a = x*2\n")
    payload = "__import__('os').system('touch MARKER')"
    run = gradcli(exe, path, "--x", payload, cwd=tmp_path, **SMALL)
    assert run.code == 2 and "is not a number" in run.stderr
    run = gradcli(exe, path, "--x", "1", "--output", payload, "--symbolic", cwd=tmp_path, **SMALL)
    assert run.code == 2 and "no node of that name" in run.stderr
    run = gradcli(exe, path, "--set", f"{payload}=1", "--x", "1", cwd=tmp_path, **SMALL)
    assert run.code == 2 and "not a valid input name" in run.stderr
    assert not (tmp_path / "MARKER").exists()


def test_names_that_mean_something_to_sympy_or_python_are_plain_inputs(exe, tmp_path):
    """E, I, S, N, oo, nan... are symbols here: never sympy's constants, never Python's builtins."""
    names = ["E", "I", "S", "N", "O", "Q", "oo", "zoo", "nan", "exec", "eval", "Symbol",
             "sympify", "print", "__import__", "__builtins__", "lambda_", "Integer", "Float"]
    path = write(tmp_path, "a = " + " + ".join(names) + "\nb = E*I - oo/N\n")
    values = [arg for n in names for arg in ("--set", f"{n}=2")]
    run = gradcli(exe, path, *values, "--symbolic", "--format", "json", cwd=tmp_path, **SMALL)
    assert run.code == 0, run.stderr
    doc = run.json()
    assert doc["values"]["b"] == 3.0
    assert doc["gradients"]["E"] == 2.0 and doc["gradients"]["oo"] == -0.5
    assert doc["symbolic"]["gradients"]["E"] == "I"
    assert all(s["status"] == "ok" for s in doc["check"]["gradients"].values())
    assert list(tmp_path.iterdir()) == [path]
