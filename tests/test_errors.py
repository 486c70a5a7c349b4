"""Every bad input gets its exact message, exit status 2 and nothing on stdout."""

import pytest
from click.testing import CliRunner

from gradcli.cli import main


def eval_text(tmp_path, text, *args, raw: bytes | None = None):
    path = tmp_path / "g.txt"
    if raw is None:
        path.write_text(text, encoding="utf-8", newline="")
    else:
        path.write_bytes(raw)
    result = CliRunner().invoke(main, ["eval", str(path), *args])
    return result, str(path)


SYNTAX = [
    ("a = rellu(x)", """\
{f}:1:5: error: unknown function 'rellu'
1 | a = rellu(x)
  |     ^^^^^
  = hint: did you mean 'relu'?"""),
    ("a = x +", """\
{f}:1:8: error: expected an operand, found the end of the file
1 | a = x +
  |        ^
  = hint: the expression is incomplete"""),
    ("u = x\na = x +\nb = 2", """\
{f}:2:8: error: expected an operand, found the end of the line
2 | a = x +
  |        ^
  = hint: the expression is incomplete"""),
    ("a = x; a = x*2", """\
{f}:1:8: error: 'a' is assigned twice
1 | a = x; a = x*2
  |        ^
{f}:1:1: note: first assigned here
1 | a = x; a = x*2
  | ^
  = hint: each name is assigned exactly once; use a new name"""),
    ("u = v*2\nv = x", """\
{f}:1:5: error: 'v' is used before it is assigned
1 | u = v*2
  |     ^
{f}:2:1: note: assigned here
2 | v = x
  | ^
  = hint: move the assignment above its first use"""),
    ("relu = x", """\
{f}:1:1: error: cannot assign to 'relu': it is a built-in function
1 | relu = x
  | ^^^^
  = hint: choose another name"""),
    ("pi = 3", """\
{f}:1:1: error: cannot assign to 'pi': it is a built-in constant
1 | pi = 3
  | ^^
  = hint: choose another name"""),
    ("a = max(x)", """\
{f}:1:5: error: 'max' takes 2 arguments, got 1
1 | a = max(x)
  |     ^^^"""),
    ("a = relu(x, x)", """\
{f}:1:5: error: 'relu' takes 1 argument, got 2
1 | a = relu(x, x)
  |     ^^^^"""),
    ("a = relu()", """\
{f}:1:5: error: 'relu' takes 1 argument, got 0
1 | a = relu()
  |     ^^^^"""),
    ("a = ((x)", """\
{f}:1:5: error: '(' is never closed
1 | a = ((x)
  |     ^
  = hint: add ')' before the end of the file"""),
    ("a = x)", """\
{f}:1:6: error: unmatched ')'
1 | a = x)
  |      ^"""),
    ("a = 2x", """\
{f}:1:6: error: a number cannot be followed by 'x'
1 | a = 2x
  |      ^
  = hint: write 2*x for a product"""),
    ("a = x == 1", """\
{f}:1:7: error: comparisons ('==') are not part of the graph language
1 | a = x == 1
  |       ^^"""),
    ('a = "text"', """\
{f}:1:5: error: strings are not part of the graph language
1 | a = "text"
  |     ^"""),
    ("a = x.real", """\
{f}:1:6: error: attribute access is not part of the graph language
1 | a = x.real
  |      ^"""),
    ("a = x[0]", """\
{f}:1:6: error: subscripts are not part of the graph language
1 | a = x[0]
  |      ^"""),
    ("a = (lambda: 1)()", """\
{f}:1:6: error: 'lambda' is a reserved word, not part of the graph language
1 | a = (lambda: 1)()
  |      ^^^^^^"""),
    ("a = x if x else 1", """\
{f}:1:7: error: 'if' is a reserved word, not part of the graph language
1 | a = x if x else 1
  |       ^^"""),
    ("a = __import__('os').system('true')", """\
{f}:1:5: error: unknown function '__import__'
1 | a = __import__('os').system('true')
  |     ^^^^^^^^^^
  = hint: functions: relu, sigmoid, tanh, exp, log, sqrt, sin, cos, abs, softplus, max, min"""),
    ("a = relu + 1", """\
{f}:1:5: error: 'relu' is a function; call it as relu(...)
1 | a = relu + 1
  |     ^^^^"""),
    ("a = pi(2)", """\
{f}:1:5: error: 'pi' is a constant, not a function
1 | a = pi(2)
  |     ^^
  = hint: write pi without parentheses"""),
    ("a = x\n b", """\
{f}:2:3: error: expected '=' after 'b', found the end of the file
2 |  b
  |   ^
  = hint: a statement is `name = expression`"""),
    ("= x", """\
{f}:1:1: error: expected a name to assign to, found '='
1 | = x
  | ^
  = hint: a statement is `name = expression`"""),
    ("a = b = c", """\
{f}:1:7: error: unexpected '='; a statement assigns one name
1 | a = b = c
  |       ^
  = hint: put each statement on its own line or separate them with ';'"""),
    ("a = x y", """\
{f}:1:7: error: expected an operator, ')' or the end of the statement, found 'y'
1 | a = x y
  |       ^
  = hint: separate statements with ';' or a new line"""),
    ("a = 2 (x)", """\
{f}:1:7: error: expected an operator, ')' or the end of the statement, found '('
1 | a = 2 (x)
  |       ^
  = hint: write '*' for a product"""),
    ("a = \u0430 + 1", """\
{f}:1:5: error: unexpected character '\u0430' (U+0430 CYRILLIC SMALL LETTER A)
1 | a = \u0430 + 1
  |     ^
  = hint: names use ASCII letters, digits and _"""),
    ("a = 1e", """\
{f}:1:5: error: malformed number '1e': an exponent needs digits
1 | a = 1e
  |     ^^
  = hint: write 1e3 or 1e-3"""),
    ("a = 1_000", """\
{f}:1:5: error: digit separators are not supported: '1_000'
1 | a = 1_000
  |     ^^^^^
  = hint: write 1000"""),
    ("a = 0x10", """\
{f}:1:5: error: hexadecimal, binary and octal literals are not supported: '0x10'
1 | a = 0x10
  |     ^^^^
  = hint: write the number in decimal"""),
    ("a = .e3", """\
{f}:1:5: error: malformed number '.e3': digits are needed before the exponent
1 | a = .e3
  |     ^^^
  = hint: write 1e3 or 0.1e3"""),
    ("a = 1.2.3", """\
{f}:1:5: error: malformed number '1.2.3'
1 | a = 1.2.3
  |     ^^^^^
  = hint: a number is digits, an optional '.' and digits, and an optional exponent: 2, 2.5, .5, 1e-3"""),
    ("a = (x + 1\nb = a", """\
{f}:2:1: error: expected an operator or ')', found 'b'
2 | b = a
  | ^
{f}:1:5: note: this '(' is still open
1 | a = (x + 1
  |     ^
  = hint: add the missing ')'"""),
    ("a = x\tb", """\
{f}:1:7: error: expected an operator, ')' or the end of the statement, found 'b'
1 | a = x b
  |       ^
  = hint: separate statements with ';' or a new line"""),
]


@pytest.mark.parametrize("text, message", SYNTAX, ids=[t for t, _ in SYNTAX])
def test_syntax_and_graph_errors_are_exact(tmp_path, text, message):
    result, f = eval_text(tmp_path, text, "--x", "1", "--no-check")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.rstrip("\n") == message.format(f=f)


def test_nesting_limit_is_a_clean_error(tmp_path):
    ok, _ = eval_text(tmp_path, "a = " + "(" * 100 + "x" + ")" * 100, "--x", "2", "--no-check")
    assert ok.exit_code == 0
    deep, f = eval_text(tmp_path, "a = " + "(" * 1001 + "x" + ")" * 1001, "--x", "2")
    assert deep.exit_code == 2 and deep.stdout == ""
    assert deep.stderr.startswith(f"{f}:1:1005: error: nesting deeper than 1000 levels\n")


VALUE_ERRORS = [
    (["--x", "3"], "error: missing values for inputs w, b\n  = hint: add --w VALUE --b VALUE"),
    (["--x", "3", "--w", "2", "--b", "1", "--q", "1"],
     "error: 'q' is not an input of {f}; inputs are: x, w, b"),
    (["--x", "3", "--w", "2", "--bb", "1"], "error: 'bb' is not an input of {f}; did you mean 'b'?"),
    (["--x", "3", "--w", "2", "--b", "1", "--u", "1"],
     "error: 'u' is assigned in {f}, so it takes no value; inputs are: x, w, b"),
    (["--x", "3", "--x", "4"], "error: input 'x' is given a value twice (--x 3 and --x 4)"),
    (["--x", "3", "--set", "x=4"], "error: input 'x' is given a value twice (--x 3 and --set x=4)"),
    (["--set", "1b=3"], "error: --set 1b=3: not a valid input name (letters, digits and _)"),
    (["--x", "abc"], "error: --x: 'abc' is not a number (decimal, optionally with an exponent; "
                     "inf and nan are allowed)"),
    (["--x"], "error: --x needs a value, as in --x 3"),
    (["--x", "--w", "2"], "error: --x needs a value, as in --x 3"),
    (["--set", "x"], "error: --set x: expected NAME=VALUE, as in --set x=3"),
    (["--x", "3", "--w", "2", "--b", "1", "--output", "q"],
     "error: --output q: no node of that name in {f}"),
    (["--x", "3", "--w", "2", "--b", "1", "--output", "uu"],
     "error: --output uu: no node of that name in {f}; did you mean 'u'?"),
    (["stray"], "error: unexpected argument 'stray'\n"
                "  = hint: give input values as --NAME VALUE (for example --x 3)"),
]


@pytest.mark.parametrize("args, message", VALUE_ERRORS, ids=[" ".join(a) for a, _ in VALUE_ERRORS])
def test_value_errors_are_exact(tmp_path, args, message):
    result, f = eval_text(tmp_path, "u = x*w; v = u + b; a = relu(v)", *args)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.rstrip("\n") == message.format(f=f)


FILE_ERRORS = [
    (b"", "error: {f}: the graph is empty (no statements)\n"
          "  = hint: write statements like `u = x*w; v = u + b; a = relu(v)`"),
    (b"# only a comment\n\n", "error: {f}: the graph is empty (no statements)\n"
                              "  = hint: write statements like `u = x*w; v = u + b; a = relu(v)`"),
    (b"a = x\x00", """\
{f}:1:6: error: looks binary: a NUL byte (offset 5); a graph file is UTF-8 text
1 | a = x\ufffd
  |      ^"""),
    (b"a = x\nb = \xff", """\
{f}:2:5: error: not UTF-8 text: byte 0xff cannot start or continue a character
2 | b = \ufffd
  |     ^
  = hint: save the file as UTF-8"""),
]


@pytest.mark.parametrize("raw, message", FILE_ERRORS)
def test_file_content_errors_are_exact(tmp_path, raw, message):
    result, f = eval_text(tmp_path, "", "--x", "1", raw=raw)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.rstrip("\n") == message.format(f=f)


def test_missing_file_and_directory(tmp_path):
    missing = CliRunner().invoke(main, ["eval", str(tmp_path / "nope.txt"), "--x", "1"])
    assert missing.exit_code == 2 and missing.stdout == ""
    assert missing.stderr == f"error: {tmp_path / 'nope.txt'}: cannot read: No such file or directory\n"
    directory = CliRunner().invoke(main, ["eval", str(tmp_path), "--x", "1"])
    assert directory.exit_code == 2
    assert directory.stderr == f"error: {tmp_path}: is a directory, not a graph file\n"


def test_bom_and_cr_only_line_ends_are_accepted(tmp_path):
    result, _ = eval_text(tmp_path, "", "--x", "3", "--w", "2", "--b", "1", "--format", "json",
                          raw="\ufeffu = x*w\rv = u + b\ra = relu(v)\r".encode())
    assert result.exit_code == 0, result.stderr
    assert '"x": 2.0' in result.stdout


def test_errors_on_later_lines_point_at_the_right_column_with_crlf(tmp_path):
    result, f = eval_text(tmp_path, "u = x\r\nv = u +* 2\r\n", "--x", "1")
    assert result.stderr.splitlines()[0] == \
        f"{f}:2:8: error: expected an operand (a number, a name, '(' or a function call), found '*'"


def test_bad_format_is_a_usage_error(tmp_path):
    result, _ = eval_text(tmp_path, "a = x", "--x", "1", "--format", "xml")
    assert result.exit_code == 2 and result.stdout == ""
    assert "'xml' is not one of 'table', 'json'" in result.stderr
