"""The command line, in-process (CliRunner) and as the installed console script."""

import dataclasses
import json
import math
import subprocess

import pytest
import sympy
from click.testing import CliRunner
from conftest import SAMPLES, SEED

from gradcli import __version__, parser
from gradcli.cli import main
from gradcli.inputs import split_value_tokens

SEED_FILE = str(SAMPLES / "seed.txt")


def invoke(*args, stdin=None, env=None):
    return CliRunner().invoke(main, list(args), input=stdin, env=env)


def strict_json(text: str):
    def refuse(constant):
        raise AssertionError(f"non-standard JSON constant {constant}")
    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("tokens, pairs", [
    (["--x", "3"], [("x", "3")]),
    (["--x=3"], [("x", "3")]),
    (["--x", "-3"], [("x", "-3")]),
    (["--x=-3"], [("x", "-3")]),
    (["--x", "-inf", "--y", "1e-3"], [("x", "-inf"), ("y", "1e-3")]),
])
def test_value_tokens_split(tokens, pairs):
    assert [pair[:2] for pair in split_value_tokens(tokens)] == pairs


def test_negative_values_in_both_forms():
    for args in (["--x", "-3"], ["--x=-3"]):
        out = invoke("eval", SEED_FILE, *args, "--w", "2", "--b", "1", "--format", "json")
        doc = strict_json(out.output)
        assert doc["values"]["v"] == -5.0 and doc["gradients"]["x"] == 0.0


def test_stdin_and_set_for_a_name_that_clashes_with_an_option():
    out = invoke("eval", "-", "--set", "format=2", "--x", "3", "--format", "json",
                 stdin="output = format*x\n")
    assert out.exit_code == 0, out.stderr
    doc = strict_json(out.stdout)
    assert doc["gradients"] == {"format": 3.0, "x": 2.0, "output": 1.0}


def test_json_is_strict_with_nonfinite_numbers():
    out = invoke("eval", "-", "--x", "0", "--format", "json",
                 stdin="u = 1/x; n = -1/x; z = log(x - 1); a = u + n + z")
    doc = strict_json(out.stdout)
    assert doc["values"]["u"] == "Infinity" and doc["values"]["n"] == "-Infinity"
    assert doc["values"]["z"] == "NaN" and doc["gradients"]["x"] == "NaN"
    origins = doc["nonfinite"]["forward"]
    assert [o["text"] for o in origins] == ["u: 1.0 / x at x=0.0 gives inf",
                                            "n: -1.0 / x at x=0.0 gives -inf",
                                            "z: log(-1.0) gives nan"]
    assert [o["into"] for o in doc["nonfinite"]["backward"]] == ["x", "x"]
    assert origins[0]["operands"] == [{"as": "1.0", "value": 1.0}, {"as": "x", "value": 0.0}]
    assert origins[0]["result"] == "Infinity"
    assert doc["nonfinite"]["passed_on_forward"] == ["a"]


def test_json_keeps_full_precision():
    out = invoke("eval", "-", "--x", "0.1", "--format", "json", stdin="a = x*3")
    doc = strict_json(out.stdout)
    assert doc["values"]["a"] == 0.1 * 3 == 0.30000000000000004


def test_symbolic_strings_read_back_with_parse_expr():
    out = invoke("eval", SEED_FILE, "--x", "3", "--w", "2", "--b", "1", "--format", "json",
                 "--symbolic")
    doc = strict_json(out.stdout)
    forms = doc["symbolic"]["gradients"]
    assert forms["x"] == "w*Heaviside(b + w*x, 0)"
    names = {n: sympy.Symbol(n, real=True) for n in "xwb"}
    for node, text in forms.items():
        expr = sympy.parse_expr(text, local_dict=names)
        value = float(expr.subs({names["x"]: 3, names["w"]: 2, names["b"]: 1}))
        assert value == doc["gradients"][node]


def test_symbolic_with_relu_inside_reads_back():
    out = invoke("eval", "-", "--x", "1.5", "--format", "json", "--symbolic",
                 stdin="h = relu(x)**2; a = h*x")
    doc = strict_json(out.stdout)
    x = sympy.Symbol("x", real=True)
    for node, text in doc["symbolic"]["gradients"].items():
        value = float(sympy.parse_expr(text, local_dict={"x": x}).subs(x, 1.5))
        assert value == pytest.approx(doc["gradients"][node], rel=1e-12)


def test_check_mismatch_exits_1_and_still_prints(monkeypatch):
    times = parser.BINARY["*"]
    wrong = dataclasses.replace(times, backward=lambda g, a, b, o: (g * b * 1.5, g * a))
    monkeypatch.setitem(parser.BINARY, "*", wrong)
    out = invoke("eval", SEED_FILE, "--x", "3", "--w", "2", "--b", "1", "--format", "json")
    assert out.exit_code == 1
    doc = strict_json(out.stdout)
    assert doc["check"]["ok"] is False
    assert "sympy: local partial du/dx: gradcli gives 3.0, sympy gives 2.0" in doc["check"]["mismatches"]
    assert doc["check"]["gradients"]["x"]["status"] == "mismatch"
    assert doc["check"]["gradients"]["x"]["values"] == {"sympy": 2.0}
    table = invoke("eval", SEED_FILE, "--x", "3", "--w", "2", "--b", "1")
    assert table.exit_code == 1 and "MISMATCH" in table.stdout


def test_table_output_has_every_node_edge_and_the_check():
    out = invoke("eval", SEED_FILE, "--x", "3", "--w", "2", "--b", "1", env={"COLUMNS": "100"})
    assert out.exit_code == 0
    text = out.stdout
    for cell in ("x*w", "u + b", "relu(v)", "∂u/∂x", "∂a/∂v", "intermediate", "output", "✓"):
        assert cell in text
    assert "check: ✓ 6 of 6 gradients confirmed by sympy" in text
    assert "sympy: gradients 6 of 6 agree, local partials 5 of 5 agree (rtol 1e-06, atol 1e-09)" in text
    assert "\x1b[" not in text  # not a terminal: no colour codes


def test_narrow_terminal_never_splits_numbers():
    out = invoke("eval", "-", "--x", "0.123456789", "--w", "987654.321", "--b", "1", "--no-check",
                 stdin=SEED, env={"COLUMNS": "30"})
    assert out.exit_code == 0
    rows = {line.split()[0]: line.split() for line in out.stdout.splitlines() if line.strip()}
    assert rows["x"] == ["x", "input", "0.123456789", "987654.321"]
    assert rows["a"] == ["a", "output", "relu(v)", "121933.6311", "1"]


def test_kink_is_named_in_the_table():
    out = invoke("eval", str(SAMPLES / "relu_kink.txt"), "--x", "1", "--w", "2", "--b", "-2",
                 env={"COLUMNS": "120"})
    assert "note: relu at 0: derivative taken as 0 (PyTorch convention), in a" in out.stdout


def test_symbolic_table():
    out = invoke("eval", SEED_FILE, "--x", "3", "--w", "2", "--b", "1", "--symbolic",
                 env={"COLUMNS": "120"})
    assert "w*Heaviside(b + w*x, 0)" in out.stdout


def test_help_and_version():
    assert "--NAME VALUE" in invoke("eval", "--help").stdout
    assert "Examples:" in invoke("eval", "--help").stdout
    assert invoke("--version").stdout.strip() == f"gradcli, version {__version__}"


# --- the installed console script, in a subprocess ---------------------------------------

def test_console_script_gives_the_notebook_numbers(gradcli_exe):
    proc = subprocess.run([gradcli_exe, "eval", SEED_FILE, "--x", "3", "--w", "2", "--b", "1",
                           "--format", "json"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert strict_json(proc.stdout)["gradients"] == {"x": 2.0, "w": 3.0, "b": 1.0, "u": 1.0,
                                                     "v": 1.0, "a": 1.0}


BAD_INPUTS = ["a = rellu(x)", "a = x +", "a = x; a = x*2", "a = __import__('os').system('true')",
              "a = x.real", "a = (lambda: 1)()", "a = y*2", 'a = "text"', "u = v; v = x",
              "relu = x", "a = max(x)", "", "a = x\x00", "a = " + "(" * 5000 + "x"]


@pytest.mark.parametrize("text", BAD_INPUTS)
def test_console_script_bad_input_exit_2_without_traceback(gradcli_exe, tmp_path, text):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    proc = subprocess.run([gradcli_exe, "eval", str(path), "--x", "1"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr and proc.stderr.count("error") >= 1


def test_console_script_value_errors_and_stdin(gradcli_exe):
    for args in (["--x", "nope"], ["--w", "1"], ["--x", "1", "--x", "2"]):
        proc = subprocess.run([gradcli_exe, "eval", "-", *args], input="a = x*2",
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr
    ok = subprocess.run([gradcli_exe, "eval", "-", "--x", "2", "--format", "json"], input="a = x*2",
                        capture_output=True, text=True, timeout=60)
    assert strict_json(ok.stdout)["gradients"]["x"] == 2.0


def test_console_script_nonfinite_values_do_not_raise(gradcli_exe):
    proc = subprocess.run([gradcli_exe, "eval", "-", "--x", "0", "--format", "json"],
                          input="a = log(x) + 1/x + sqrt(x - 1) + 10**10**10",
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert math.isnan(float(strict_json(proc.stdout)["values"]["a"].replace("NaN", "nan")))


def _chain(n: int) -> str:
    return "\n".join(["n0 = x"] + [f"n{i} = n{i - 1}*w + x" for i in range(1, n)])


def test_long_tables_keep_the_telling_rows_and_say_what_was_left_out():
    out = invoke("eval", "-", "--x", "1", "--w", "0.5", "--rows", "5", "--no-check",
                 stdin=_chain(200), env={"COLUMNS": "120"})
    assert out.exit_code == 0
    text = out.stdout
    assert "n199" in text and "│ x " in text and "│ w " in text  # the output and the inputs
    assert "n100 " not in text
    assert "197 of 202 nodes and 593 of 598 edges not shown" in text
    assert "∂n199/∂w" in text and "∂n5/" not in text  # edges between the rows shown come first


def test_all_rows_of_a_big_graph_are_plain_aligned_text():
    out = invoke("eval", "-", "--x", "1", "--w", "0.5", "--all", "--no-check", stdin=_chain(2000))
    lines = out.stdout.splitlines()
    assert lines[0] == "<stdin>: ∂n1999/∂node at x=1, w=0.5"
    assert lines[2].split() == ["node", "kind", "expression", "value", "∂n1999/∂node", "check"]
    assert lines[3].split() == ["x", "input", "1", "2"]  # d n1999/d x = 1 + 0.5 + 0.25 + ...
    assert sum(line.split()[0][1:].isdigit() for line in lines if line.startswith("n")) == 2000


def test_no_color_is_honoured_on_a_colour_terminal():
    import re
    colour = re.compile(r"\x1b\[[0-9;]*3[0-7]m")  # a foreground colour, not bold or dim
    forced = invoke("eval", SEED_FILE, "--x", "3", "--w", "2", "--b", "1", env={"FORCE_COLOR": "1"})
    assert colour.search(forced.stdout)
    plain = invoke("eval", SEED_FILE, "--x", "3", "--w", "2", "--b", "1",
                   env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert not colour.search(plain.stdout) and "✓" in plain.stdout


def test_output_failures_are_messages_not_internal_errors(gradcli_exe, tmp_path):
    args = [gradcli_exe, "eval", SEED_FILE, "--x", "3", "--w", "2", "--b", "1"]
    with open("/dev/full", "w") as full:
        proc = subprocess.run(args, stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.startswith("error: cannot write the output")
    piped = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    piped.stdout.close()  # the reader goes away, as with `| true`
    assert piped.wait(timeout=60) in (0, 141) and b"Traceback" not in piped.stderr.read()


def test_an_input_named_like_an_option_is_pointed_at_set():
    out = invoke("eval", "-", "--no-check", stdin="a = rows*2")
    assert out.stderr == "error: missing value for input rows\n  = hint: add --set rows=VALUE\n"


def test_symbolic_table_shows_every_row():
    out = invoke("eval", SEED_FILE, "--x", "1", "--w", "2", "--b", "3", "--symbolic",
                 env={"COLUMNS": "120"})
    forms = out.stdout.split("closed forms")[1]
    assert all(f"│ {n}" in forms for n in "xwbuva")


# --- progress on stderr ---------------------------------------------------------------------------

class _Terminal:
    """A stderr that says it is a terminal and keeps what is written."""

    def __init__(self):
        self.written = []

    def isatty(self):
        return True

    def write(self, text):
        self.written.append(text)
        return len(text)

    def flush(self):
        pass

    @property
    def text(self):
        return "".join(self.written)


def test_progress_shows_the_phase_on_a_terminal_only_after_the_delay(monkeypatch):
    import time

    from gradcli import cli
    terminal = _Terminal()
    monkeypatch.setattr(cli.sys, "stderr", terminal)
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setattr(cli, "PROGRESS_AFTER", 0.05)
    with cli.progress_on_stderr() as say:
        say("checking with sympy")
        time.sleep(0.6)
    assert "checking with sympy" in terminal.text
    quick = _Terminal()
    monkeypatch.setattr(cli.sys, "stderr", quick)
    monkeypatch.setattr(cli, "PROGRESS_AFTER", 5.0)
    with cli.progress_on_stderr() as say:
        say("parsing")
    assert quick.text == ""  # quick work shows nothing


def test_no_progress_when_stderr_is_not_a_terminal(gradcli_exe, tmp_path):
    text = "\n".join(["x1 = x0*2"] + [f"x{i} = sin(x{i - 1})*0.5" for i in range(2, 20001)])
    (tmp_path / "g.txt").write_text(text)
    done = subprocess.run([gradcli_exe, "eval", str(tmp_path / "g.txt"), "--x0", "1"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == ""
