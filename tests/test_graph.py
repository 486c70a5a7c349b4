"""gradcli graph: dot, Mermaid and text figures against golden files, svg and png through
Graphviz (or its absence), each format's escaping, and graphs too big to draw naively."""

import os
import pty
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import SAMPLES, run
from conftest import SEED as SEED_TEXT

from gradcli import draw
from gradcli.cli import main
from gradcli.errors import InputError

GOLDEN = Path(__file__).parent / "golden" / "graph"
REGENERATE = os.environ.get("GRADCLI_REGENERATE") == "1"  # then review the diff before committing

SEED_FILE = str(SAMPLES / "seed.txt")
SEED = [SEED_FILE, "--x", "3", "--w", "2", "--b", "1"]
SEED_VALUES = {"x": "3", "w": "2", "b": "1", "u": "6", "v": "7", "a": "7"}
TRICKY = """\
# Names that are Mermaid or dot keywords, ** / ( ) and unary minus in expressions,
# a kink (relu at 0), non-finite values and gradients, and a dead branch (click).
graph = end**2/(_ - 1)
subgraph = -graph + relu(end - 2)
click = log(_ - 5)
node = subgraph*style
"""
TRICKY_ARGS = ["-", "--end", "2", "--_", "1", "--style", "3"]
TRICKY_NAMES = ["end", "_", "style", "graph", "subgraph", "click", "node"]

NO_DOT = "no Graphviz"
DOT_MISSING = ("error: --format svg needs Graphviz's `dot` program, which is not on PATH\n"
               "  = hint: install Graphviz (apt install graphviz, brew install graphviz, or "
               "https://graphviz.org/download/), or use --format dot / mermaid / text\n")
TEXT_WIDTH = 120  # as -o FILE.txt writes it
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not on PATH")


def invoke(*args, stdin=None):
    # A fixed width and no forced colour: the text figure is the same on every machine.
    return CliRunner().invoke(main, ["graph", *args], input=stdin,
                              env={"COLUMNS": str(TEXT_WIDTH), "FORCE_COLOR": None})


def chain(n: int) -> str:
    return "\n".join(["n0 = x"] + [f"n{i} = n{i - 1}*w + x" for i in range(1, n)])


# --- golden files --------------------------------------------------------------------------

GOLDEN_CASES = [
    ("seed.dot", [*SEED, "--format", "dot"], None),
    ("seed.mmd", [*SEED, "--format", "mermaid"], None),
    ("seed.txt", SEED, None),
    ("seed-values.txt", [*SEED, "--show", "values"], None),
    ("seed-partials.txt", [*SEED, "--show", "partials"], None),
    ("seed-partials.dot", [*SEED, "--format", "dot", "--show", "partials"], None),
    ("seed-output-u.txt", [*SEED, "--output", "u"], None),
    ("fanout.txt", [str(SAMPLES / "fanout.txt"), "--x", "3"], None),
    ("tricky.dot", [*TRICKY_ARGS, "--format", "dot"], TRICKY),
    ("tricky.mmd", [*TRICKY_ARGS, "--format", "mermaid"], TRICKY),
    ("tricky.txt", TRICKY_ARGS, TRICKY),
]


@pytest.mark.parametrize("name, args, stdin", GOLDEN_CASES, ids=[c[0] for c in GOLDEN_CASES])
def test_golden(name, args, stdin):
    out = invoke(*args, stdin=stdin)
    assert out.exit_code == 0, out.stderr
    golden = GOLDEN / name
    if REGENERATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(out.stdout, encoding="utf-8")
    assert out.stdout == golden.read_text(encoding="utf-8"), \
        f"differs from {golden}; GRADCLI_REGENERATE=1 rewrites it"


# --- every node, in every format -----------------------------------------------------------

def names_drawn(text: str, figure_format: str) -> list[str]:
    if figure_format == "dot":
        return re.findall(r'^  "(\w+)" \[label=', text, re.MULTILINE)
    if figure_format == "mermaid":
        return re.findall(r'^  n\d+\["<b>(\w+)</b>', text, re.MULTILINE)
    # the tree: a name follows the guides and, on a branch, the edge's local partial
    return re.findall(r"^[│├└─ ]*(?:∂\w+/∂\w+ = \S+ ◂ )?(\w+)", text, re.MULTILINE)


@pytest.mark.parametrize("figure_format", ["dot", "mermaid", "text"])
@pytest.mark.parametrize("args", [[str(SAMPLES / "dead_branch.txt"), "--x", "2"],
                                  [*SEED, "--output", "u"],
                                  [*SEED, "--output", "x"]])
def test_every_node_is_drawn_even_where_the_output_does_not_depend_on_it(figure_format, args):
    out = invoke(*args, "--format", figure_format)
    assert out.exit_code == 0, out.stderr
    drawn = names_drawn(out.stdout, figure_format)
    nodes = re.findall(r"^(\w+) =", Path(args[0]).read_text(), re.MULTILINE)
    assert set(drawn) >= set(nodes) | {"x"}
    if figure_format != "text":  # the tree names a node again where it is used again
        assert len(drawn) == len(set(drawn))


def test_the_output_and_the_kinds_are_told_apart():
    dot = invoke(*SEED, "--format", "dot").stdout
    defaults = re.findall(r'^  node \[fillcolor="(#\w+)", color="(#\w+)", peripheries=(\d)',
                          dot, re.MULTILINE)
    assert len(set(defaults)) == 3 and defaults[-1][2] == "2"  # input, intermediate, output
    mermaid = invoke(*SEED, "--format", "mermaid").stdout
    assert [line.rsplit(":::", 1)[1] for line in mermaid.splitlines() if ":::" in line] == \
        ["input"] * 3 + ["intermediate"] * 2 + ["output", "key"]


def test_kinks_and_nonfinite_values_are_marked_and_explained():
    dot = invoke(*TRICKY_ARGS, "--format", "dot", stdin=TRICKY).stdout
    subgraph = next(line for line in dot.splitlines() if line.startswith('  "subgraph" ['))
    assert 'style="rounded,filled,dashed"' in subgraph and "⚠ kink, nan/inf" in subgraph
    assert "⚠ relu at 0: derivative taken as 0 (PyTorch convention), in subgraph" in dot
    assert "⚠ non-finite: forward: graph: 4.0 / 0.0 gives inf" in dot
    assert '"end" -> "graph" [label=<∂graph/∂end = inf>, fontcolor="#dc2626"]' in dot
    mermaid = invoke(*TRICKY_ARGS, "--format", "mermaid", stdin=TRICKY).stdout
    assert "  class n4 kink\n" in mermaid and "  class n0,n1,n2,n3,n4,n5,n6 nonfinite\n" in mermaid
    text = invoke(*TRICKY_ARGS, stdin=TRICKY).stdout
    assert "⚠ kink, nan/inf" in text and "⚠ relu at 0" in text


def test_a_figure_lists_a_few_notes_and_counts_the_rest():
    graph = "\n".join(f"k{i} = relu(x)" for i in range(20)) + "\na = " + " + ".join(
        f"k{i}" for i in range(20))
    dot = invoke("-", "--x", "0", "--format", "dot", stdin=graph).stdout
    assert dot.count("⚠ relu at 0") == draw.MAX_NOTES
    assert "⚠ 12 more notes: gradcli eval lists them all" in dot


# --- escaping ------------------------------------------------------------------------------

def test_html_labels_escape_what_graphviz_reads_as_markup():
    assert draw.escape_html('a<b>&"c"') == "a&lt;b&gt;&amp;&quot;c&quot;"
    assert draw.escape_html("x**2 | {y} \\ z") == "x**2 | {y} \\ z"  # plain in HTML labels


def test_mermaid_text_uses_entities_for_every_character_that_could_end_a_label():
    assert draw.escape_mermaid('say "hi" <b> & #1 | `x`') == \
        "say #quot;hi#quot; #lt;b#gt; #amp; #35;1 #124; #96;x#96;"
    assert draw.escape_mermaid("x**2/(y - 1)") == "x**2/(y - 1)"


def mermaid_structure(text: str) -> None:
    """What a Mermaid flowchart needs: the header, every id declared once before it is linked,
    ids that are never keywords, labels that no character ends early, classes defined."""
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    declared, used_classes, defined_classes = [], set(), set()
    for line in lines[1:]:
        if m := re.fullmatch(r'  (\w+)\["([^"]*)"\]:::(\w+)', line):
            declared.append(m[1])
            used_classes.add(m[3])
            assert not re.search(r"<(?!/?b>|br/>)", m[2]), m[2]  # only our own <b> and <br/>
        elif m := re.fullmatch(r'  (\w+) -->(?:\|"([^"|]*)"\|)? (\w+)', line):
            assert m[1] in declared and m[3] in declared
        elif m := re.fullmatch(r"  classDef (\w+) \S.*", line):
            defined_classes.add(m[1])
        elif m := re.fullmatch(r"  class ([\w,]+) (\w+)", line):
            assert set(m[1].split(",")) <= set(declared)
            used_classes.add(m[2])
        else:
            assert line.startswith("  %% "), line
    assert len(declared) == len(set(declared))
    assert all(re.fullmatch(r"n\d+|key", i) for i in declared)
    assert used_classes <= defined_classes


@pytest.mark.parametrize("args, stdin", [(SEED, None), (TRICKY_ARGS, TRICKY),
                                         (["-", "--x", "1", "--w", "0.5"], chain(600))])
def test_mermaid_is_structurally_valid(args, stdin):
    out = invoke(*args, "--format", "mermaid", stdin=stdin)
    mermaid_structure(out.stdout)


def test_mermaid_past_its_default_limits_says_so_in_a_comment():
    out = invoke("-", "--x", "1", "--w", "0.5", "--format", "mermaid", stdin=chain(600))
    assert out.stdout.splitlines()[1] == draw.MERMAID_TOO_BIG
    assert draw.MERMAID_TOO_BIG not in invoke(*SEED, "--format", "mermaid").stdout


# --- svg and png through Graphviz ----------------------------------------------------------

def assert_svg_draws_the_seed(svg: bytes) -> None:
    root = ET.fromstring(svg)
    ns = {"svg": "http://www.w3.org/2000/svg"}
    titles = {t.text for t in root.iterfind(".//svg:g[@class='node']/svg:title", ns)}
    assert titles == set(SEED_VALUES)
    texts = {t.text for t in root.iterfind(".//svg:text", ns)}
    for name, value in SEED_VALUES.items():
        assert name in texts and f"value {value}" in texts
    assert {"∂u/∂x = 2", "∂u/∂w = 3", "∂v/∂u = 1", "∂v/∂b = 1", "∂a/∂v = 1"} <= texts


def test_the_committed_seed_svg_draws_the_seed():
    assert_svg_draws_the_seed((SAMPLES / "seed.svg").read_bytes())


@needs_dot
def test_svg_draws_the_seed():
    out = invoke(*SEED, "--format", "svg")
    assert out.exit_code == 0, out.stderr
    assert_svg_draws_the_seed(out.stdout_bytes)


@needs_dot
def test_graphviz_reads_the_escaped_tricky_names():
    result = CliRunner().invoke(main, ["graph", *TRICKY_ARGS, "--format", "svg"], input=TRICKY)
    assert result.exit_code == 0, result.stderr
    root = ET.fromstring(result.stdout_bytes)
    titles = {t.text for t in root.iter("{http://www.w3.org/2000/svg}title")}
    assert set(TRICKY_NAMES) <= titles


@needs_dot
def test_png_goes_to_a_file_or_a_pipe(gradcli_exe, tmp_path):
    path = tmp_path / "seed.png"
    assert invoke(*SEED, "-o", str(path)).exit_code == 0
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    piped = subprocess.run([gradcli_exe, "graph", *SEED, "--format", "png"], capture_output=True,
                           timeout=60)
    assert piped.returncode == 0 and piped.stdout.startswith(b"\x89PNG\r\n\x1a\n")


def test_png_is_not_written_to_a_terminal(gradcli_exe):
    for args in (["--format", "png"], ["--format", "png", "-o", "-"],
                 ["--format", "png", "-o", "/dev/stdout"]):
        leader, follower = pty.openpty()
        try:
            proc = subprocess.run([gradcli_exe, "graph", *SEED, *args], stdout=follower,
                                  stderr=subprocess.PIPE, text=True, timeout=60)
        finally:
            os.close(follower)
            os.close(leader)
        assert proc.returncode == 2
        assert proc.stderr == ("error: --format png is binary and the output is a terminal\n"
                               "  = hint: write it to a file with -o graph.png, or pipe it to a "
                               "program\n")


def test_without_graphviz_svg_and_png_say_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setattr(draw.shutil, "which", lambda name: None)
    out = invoke(*SEED, "-o", str(tmp_path / "seed.svg"))
    assert (out.exit_code, out.stdout, out.stderr) == (2, "", DOT_MISSING)
    assert not (tmp_path / "seed.svg").exists()  # no half-written file
    png = invoke(*SEED, "--format", "png")
    assert png.exit_code == 2 and png.stderr == DOT_MISSING.replace("svg", "png", 1)
    assert invoke(*SEED, "--format", "dot").exit_code == 0  # the rest needs nothing


def test_console_script_without_graphviz_on_path(gradcli_exe, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = subprocess.run([gradcli_exe, "graph", *SEED, "--format", "svg"], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PATH": str(empty)})
    assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", DOT_MISSING)
    mermaid = subprocess.run([gradcli_exe, "graph", *SEED, "--format", "mermaid"],
                             capture_output=True, text=True, timeout=60,
                             env={**os.environ, "PATH": str(empty)})
    assert mermaid.returncode == 0 and mermaid.stdout == (GOLDEN / "seed.mmd").read_text("utf-8")


def test_graphviz_timeout_and_failure_are_messages(monkeypatch):
    monkeypatch.setattr(draw.shutil, "which", lambda name: "/usr/bin/dot")

    def too_slow(command, **kwargs):
        assert kwargs["timeout"] == draw.GRAPHVIZ_TIMEOUT
        raise subprocess.TimeoutExpired(command, kwargs["timeout"])

    monkeypatch.setattr(draw.subprocess, "run", too_slow)
    with pytest.raises(InputError) as slow:
        draw.render_with_graphviz("digraph {}", "svg")
    assert str(slow.value) == ("Graphviz's `dot` ran for 60 s without finishing and was stopped\n"
                               "  = hint: use --format dot, mermaid or text for this graph")
    monkeypatch.setattr(draw.subprocess, "run", lambda command, **kwargs: subprocess.CompletedProcess(
        command, 1, b"", b"Error: <stdin>: syntax error in line 1 near '{'\n"))
    with pytest.raises(InputError) as failed:
        draw.render_with_graphviz("digraph {", "png")
    assert str(failed.value) == ("Graphviz's `dot` failed (exit status 1): Error: <stdin>: "
                                 "syntax error in line 1 near '{'")


def test_graphviz_is_not_asked_to_lay_out_a_huge_graph(monkeypatch):
    monkeypatch.setattr(draw, "render_with_graphviz", lambda *a: pytest.fail("dot was run"))
    out = invoke("-", "--x", "1", "--w", "0.5", "--format", "svg", stdin=chain(150))
    assert (out.exit_code, out.stdout) == (2, "")
    assert out.stderr == (
        "error: --format svg: too big for Graphviz to draw in reasonable time (22,801 nodes, "
        "edges and ranks crossed by edges to place; the limit is 15,000)\n  = hint: use --format "
        "dot (and run dot on it yourself: it may take minutes), --format mermaid or --format text\n")


def test_layout_cost_counts_the_ranks_edges_cross():
    seed = run(SEED_TEXT, x=3, w=2, b=1)
    assert draw.layout_cost(seed, labelled=False) == 6 + 5  # b sits beside u: no edge is long
    assert draw.layout_cost(seed, labelled=True) == 6 + 5 + 5  # a label is a rank of its own
    # x and w feed every node of a chain: edge k crosses k ranks, so the cost is quadratic
    assert draw.layout_cost(run(chain(60), x=1, w=0.5), labelled=False) == 62 + 178 + 3481


def test_partials_move_to_xlabels_where_labels_would_take_dot_minutes():
    assert '"x" -> "u" [label=<' in invoke(*SEED, "--format", "dot").stdout
    long = invoke("-", "--x", "1", "--w", "0.5", "--format", "dot", stdin=chain(60)).stdout
    assert '"x" -> "n59" [xlabel=<∂n59/∂x = 1>];' in long and "[label=<∂" not in long


@needs_dot
def test_a_chain_that_once_took_dot_minutes_is_drawn():
    out = invoke("-", "--x", "1", "--w", "0.5", "--format", "svg", stdin=chain(60))
    assert out.exit_code == 0, out.stderr
    ET.fromstring(out.stdout_bytes)


# --- -o and the format ---------------------------------------------------------------------

@pytest.mark.parametrize("name, starts", [
    ("g.dot", b"digraph gradcli {"), ("g.gv", b"digraph gradcli {"),
    ("g.mmd", b"flowchart LR"), ("g.mermaid", b"flowchart LR"), ("G.MMD", b"flowchart LR"),
    ("g.txt", b"a = relu(v)  (output)"),
    ("g.svg", b"svg from dot"), ("g.png", b"png from dot"),
])
def test_the_format_follows_the_file_extension(monkeypatch, tmp_path, name, starts):
    monkeypatch.setattr(draw, "render_with_graphviz",
                        lambda dot_text, image_format: f"{image_format} from dot".encode())
    out = invoke(*SEED, "-o", str(tmp_path / name))
    assert (out.exit_code, out.stdout, out.stderr) == (0, "", "")
    assert (tmp_path / name).read_bytes().startswith(starts)


def test_a_text_file_has_no_colour_whatever_the_terminal(tmp_path):
    path = tmp_path / "g.txt"
    CliRunner().invoke(main, ["graph", *SEED, "-o", str(path)], env={"FORCE_COLOR": "1"})
    assert path.read_text("utf-8") == (GOLDEN / "seed.txt").read_text("utf-8")


def test_format_wins_over_the_extension_and_dash_is_stdout(tmp_path):
    out = invoke(*SEED, "--format", "dot", "-o", str(tmp_path / "g.txt"))
    assert out.exit_code == 0 and (tmp_path / "g.txt").read_text("utf-8").startswith("digraph")
    assert invoke(*SEED, "-o", "-").stdout == (GOLDEN / "seed.txt").read_text("utf-8")
    assert invoke(*SEED, "-o", "-", "--format", "mermaid").stdout.startswith("flowchart LR\n")


@pytest.mark.parametrize("name, said", [("g.pdf", "the extension '.pdf'"),
                                        ("graph", "a name without an extension")])
def test_an_unknown_extension_is_an_error(tmp_path, name, said):
    out = invoke(*SEED, "-o", str(tmp_path / name))
    assert (out.exit_code, out.stdout) == (2, "")
    assert out.stderr == (
        f"error: -o {tmp_path / name}: cannot tell the figure format from {said}\n"
        "  = hint: add --format text|dot|mermaid|svg|png, or name the file .dot, .gv, .mmd, "
        ".mermaid, .svg, .png, .txt\n")
    assert not (tmp_path / name).exists()


def test_an_unwritable_file_is_a_message(tmp_path):
    out = invoke(*SEED, "-o", str(tmp_path / "missing" / "g.dot"))
    assert out.exit_code == 2
    assert out.stderr == (f"error: -o {tmp_path / 'missing' / 'g.dot'}: cannot write: "
                          "No such file or directory\n")


def test_graph_errors_are_the_same_as_evals():
    out = invoke("-", "--x", "1", stdin="a = x*y")
    assert (out.exit_code, out.stdout) == (2, "")
    assert out.stderr == "error: missing value for input y\n  = hint: add --y VALUE\n"


# --- big graphs ----------------------------------------------------------------------------

@pytest.mark.parametrize("figure_format", ["dot", "mermaid", "text"])
def test_a_10_000_node_chain_is_linear_text(figure_format):
    out = invoke("-", "--x", "1", "--w", "0.5", "--format", figure_format, stdin=chain(10_000))
    assert out.exit_code == 0, out.stderr
    nodes, edges = 10_002, 3 * 10_000 - 2
    assert len(out.stdout_bytes) < 200 * (nodes + edges)
    assert len(set(names_drawn(out.stdout, figure_format))) == nodes or figure_format == "text"
    if figure_format == "text":  # too deep for a tree: the listing, a node per line
        lines = out.stdout.splitlines()
        assert lines[0].startswith("10,002 nodes: more than a tree shows here")
        assert len(lines) == 2 + 1 + nodes
        assert lines[-1].split() == ["n9999", "output", "n9998*w", "+", "x", "2", "1",
                                     "n9998:", "0.5,", "w:", "2,", "x:", "1"]


def test_the_tree_turns_into_a_listing_past_its_depth():
    deepest = invoke("-", "--x", "1", "--w", "0.5", stdin=chain(draw.TREE_MAX_DEPTH))
    assert "└── " in deepest.stdout and "more than a tree shows" not in deepest.stdout
    deeper = invoke("-", "--x", "1", "--w", "0.5", stdin=chain(draw.TREE_MAX_DEPTH + 1))
    assert deeper.stdout.startswith(f"{draw.TREE_MAX_DEPTH + 3} nodes: more than a tree shows")


def test_the_tree_turns_into_a_listing_past_its_lines():
    wide = "a = " + " + ".join(f"x{i}" for i in range(draw.TREE_MAX_LINES))
    values = [f"--x{i}=1" for i in range(draw.TREE_MAX_LINES)]
    out = invoke("-", *values, stdin=wide)
    assert out.stdout.startswith("401 nodes: more than a tree shows here")
    fits = invoke("-", *values[:-1], stdin=wide.rsplit(" + ", 1)[0])
    assert fits.stdout.count("(input)") == draw.TREE_MAX_LINES - 1


def test_the_command_offers_every_format_draw_knows():
    command = main.commands["graph"]
    choices = {p.name: tuple(p.type.choices) for p in command.params if hasattr(p.type, "choices")}
    assert choices["figure_format"] == draw.FORMATS
    assert set(draw.EXTENSIONS.values()) == set(draw.FORMATS)


# --- found by the adversarial tester --------------------------------------------------------------

def test_a_statement_with_two_kinks_is_still_marked():
    result = run("a = relu(x) + relu(x)", x=0)
    assert result.kinks == ["relu at 0: derivative taken as 0 (PyTorch convention), in a (2 times)"]
    assert draw.marks(result) == {"a": "kink"}
    assert "dashed" in draw.to_dot(result)


def test_a_name_too_long_for_graphviz_gets_a_numbered_id():
    name = "n" + "x" * 20000
    text = draw.to_dot(run(f"{name} = x*2", x=1))
    assert '"node 1"' in text and max(len(part) for part in text.split('"')) < 16384
    if shutil.which("dot"):
        done = subprocess.run(["dot", "-Tsvg"], input=text, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr


def _chain(n: int) -> str:
    return "\n".join(["x1 = x0*2"] + [f"x{i} = x{i - 1}*0.5 + sin(x{i - 1})" for i in range(2, n)])


def test_a_full_disk_or_a_closed_pipe_is_an_error_not_a_short_file(gradcli_exe, tmp_path):
    (tmp_path / "g.txt").write_text(_chain(5000))
    base = [gradcli_exe, "graph", str(tmp_path / "g.txt"), "--x0", "0.3", "--format", "dot"]
    with open("/dev/full", "w") as full:
        done = subprocess.run(base, stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr == "error: cannot write the output: [Errno 28] No space left on device\n"
    piped = subprocess.run(" ".join(base) + " | head -c 10 > /dev/null; echo ${PIPESTATUS[0]}",
                           shell=True, executable="/bin/bash", capture_output=True, text=True,
                           timeout=60)
    assert piped.stdout.strip() == "141"


def test_o_into_a_directory_or_a_full_device(tmp_path):
    out = invoke(*SEED, "-o", str(tmp_path))
    assert out.exit_code == 2 and out.stderr.startswith(f"error: -o {tmp_path}: is a directory")
    out = invoke(*SEED, "--format", "dot", "-o", "/dev/full")
    assert out.exit_code == 2
    assert out.stderr == "error: -o /dev/full: cannot write: No space left on device\n"


def test_o_keeps_the_usual_mode_follows_symlinks_and_feeds_a_fifo(tmp_path):
    import stat
    import threading
    plain = tmp_path / "g.dot"
    assert invoke(*SEED, "-o", str(plain)).exit_code == 0
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(plain.stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0600
    real, link = tmp_path / "real.dot", tmp_path / "link.dot"
    real.write_text("")
    link.symlink_to(real)
    assert invoke(*SEED, "-o", str(link)).exit_code == 0
    assert link.is_symlink() and real.read_text().startswith("digraph")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    assert invoke(*SEED, "--format", "dot", "-o", str(fifo)).exit_code == 0
    reader.join(30)
    assert got and got[0].startswith(b"digraph")
