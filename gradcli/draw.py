"""Result -> the computation graph as a figure: Graphviz dot, Mermaid, a terminal tree, svg or png."""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess

from .core import Node, Result
from .errors import InputError
from .evaluate import Edge
from .render import align, clip, fmt

FORMATS = ("text", "dot", "mermaid", "svg", "png")
EXTENSIONS = {".dot": "dot", ".gv": "dot", ".mmd": "mermaid", ".mermaid": "mermaid",
              ".svg": "svg", ".png": "png", ".txt": "text"}

# Graphviz's time is not a function of the node count: each rank an edge crosses is a virtual
# node, and an edge label doubles the ranks. A 60-node chain whose input feeds every node took
# minutes with labels on the edges; a 1,000-node chain takes 0.2 s. So the budgets count
# nodes, edges and the ranks the edges cross (layout_cost). Measured with Graphviz 2.43:
# up to ~4 s at the label budget, ~7 s at the Graphviz budget.
LABEL_BUDGET = 3_500  # past it a partial is an xlabel, placed after the layout (no rank of its own)
GRAPHVIZ_BUDGET = 15_000  # past it svg and png are refused; dot text is still written
GRAPHVIZ_TIMEOUT = 60  # seconds
PNG_DPI = 144  # Graphviz's 96 dpi blurs on a projector; svg is resolution-free and keeps 72

# A tree indents four columns a level, so a deep chain would print quadratically many spaces;
# past these the terminal figure is a listing of one node per line instead.
TREE_MAX_DEPTH = 16
TREE_MAX_LINES = 400
MAX_NOTES = 8  # a figure's legend; 10,000 relus at 0 would bury the graph

# Mermaid's own defaults (maxEdges, maxTextSize), which GitHub keeps: past them it draws an
# error instead of the graph. The text is still valid Mermaid, so it is written, with a warning.
MERMAID_MAX_EDGES, MERMAID_MAX_TEXT = 500, 50_000
MERMAID_TOO_BIG = ("  %% More than Mermaid draws by default (500 edges, 50,000 characters): GitHub "
                   "will show an error. Raise maxEdges and maxTextSize, or use gradcli graph "
                   "--format dot.")

FONT = "Helvetica,Arial,sans-serif"
INK, MUTED, BACKWARD = "#0f172a", "#64748b", "#b91c1c"  # backward: gradients and partials
KIND_STYLE = {  # fill, border
    "input": ("#dbeafe", "#2563eb"),
    "intermediate": ("#f8fafc", "#94a3b8"),
    "output": ("#dcfce7", "#15803d"),
}
KINK, NONFINITE = "#d97706", "#dc2626"


# --- shared pieces ------------------------------------------------------------------------

def format_for_path(path: str) -> str:
    """The format an -o FILE asks for by its extension; anything else is an error."""
    extension = os.path.splitext(path)[1].lower()
    if extension in EXTENSIONS:
        return EXTENSIONS[extension]
    known = ", ".join(EXTENSIONS)
    said = f"the extension '{extension}'" if extension else "a name without an extension"
    raise InputError(f"-o {path}: cannot tell the figure format from {said}\n"
                     f"  = hint: add --format {'|'.join(FORMATS)}, or name the file {known}")


def value_text(node: Node) -> str:
    return f"value {fmt(node.value)}"


def grad_text(node: Node, output: str) -> str:
    return f"∂{output}/∂{node.name} = {fmt(node.grad)}"


def partial_text(edge: Edge) -> str:
    return f"∂{edge.target}/∂{edge.source} = {fmt(edge.local)}"


def operand_edges(result: Result) -> dict[str, list[Edge]]:
    """Each node's incoming edges, in the order its statement first mentions them."""
    by_target: dict[str, list[Edge]] = {}
    for e in result.edges:
        by_target.setdefault(e.target, []).append(e)
    return by_target


_KINK_PLACE = re.compile(r", in (\w+)(?: \(\d+ times\))?$")


def marks(result: Result) -> dict[str, str]:
    """Nodes to flag: where a kink convention decided a partial, where a number is not finite."""
    found: dict[str, list[str]] = {}
    for note in result.kinks:
        # evaluate.kinks_hit ends every note with ", in NAME" or ", in NAME (N times)".
        found.setdefault(_KINK_PLACE.search(note).group(1), []).append("kink")
    for n in result.nodes:
        if not (math.isfinite(n.value) and math.isfinite(n.grad)):
            found.setdefault(n.name, []).append("nan/inf")
    return {name: ", ".join(dict.fromkeys(flags)) for name, flags in found.items()}


def notes(result: Result, limit: int = MAX_NOTES) -> list[str]:
    """The kinks and non-finite origins, as the tables' notes say them, the first `limit`."""
    found = list(result.kinks) + [f"non-finite: {line}" for line in result.anomalies.lines()]
    if len(found) <= limit:
        return found
    return found[:limit] + [f"{len(found) - limit:,} more notes: gradcli eval lists them all"]


def key(result: Result, show: str, red: str = " (red)") -> list[str]:
    """What the colours and numbers mean, a line each."""
    output = clip(result.output, MAX_DOT_NAME)
    lines = [f"blue: inputs · grey: intermediates · green: the output {output}"]
    if show != "partials":
        lines.append(f"in each node: its value and its gradient ∂{output}/∂node{red}")
    if show != "values":
        lines.append(f"on each arrow: its local partial ∂to/∂from{red}")
    return lines


def _node_lines(node: Node, output: str, show: str, flag: str) -> list[tuple[str, str]]:
    """(role, text) lines of a node's box: head, value, grad, flag."""
    lines = [("head", node.name)]
    if show != "partials":
        lines += [("value", value_text(node)), ("grad", grad_text(node, output))]
    if flag:
        lines.append(("flag", f"⚠ {flag}"))
    return lines


# --- Graphviz dot ---------------------------------------------------------------------------

def escape_html(text: str) -> str:
    """Escape for an HTML-like label: only these four are special there (| { \\ are not)."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


MAX_DOT_NAME = 200  # Graphviz refuses quoted strings over 16,384 characters


def _dot_ids(result: Result) -> dict[str, str]:
    """Each node's id: its name, quoted so dot keywords (graph, node, edge, subgraph, strict)
    stay names; a name too long for Graphviz gets a numbered id (the label still shows it)."""
    return {n.name: f'"{n.name}"' if len(n.name) <= MAX_DOT_NAME else f'"node {i}"'
            for i, n in enumerate(result.nodes)}


def _dot_label(node: Node, output: str, show: str, flag: str) -> str:
    parts = []
    for role, text in _node_lines(node, output, show, flag):
        if role == "head":
            expression = f" = {escape_html(clip(node.expression))}" if node.expression else ""
            parts.append(f"<b>{escape_html(clip(text, MAX_DOT_NAME))}</b>{expression}")
        elif role == "grad":
            parts.append(f'<font color="{BACKWARD}">{escape_html(clip(text, MAX_DOT_NAME))}</font>')
        elif role == "flag":
            parts.append(f'<font color="{NONFINITE if "nan" in flag else KINK}">{escape_html(text)}</font>')
        else:
            parts.append(escape_html(text))
    return "<" + "<br/>".join(parts) + ">"


def _dot_defaults(kind: str) -> str:
    """Node defaults for a run of nodes of one kind: each node's own line stays short."""
    fill, border = KIND_STYLE[kind]
    peripheries, pen = ("2", "1.5") if kind == "output" else ("1", "1")
    return f'  node [fillcolor="{fill}", color="{border}", peripheries={peripheries}, penwidth={pen}];'


def _dot_node(node: Node, output: str, show: str, flag: str, node_id: str) -> str:
    attrs = {"label": _dot_label(node, output, show, flag)}
    if "nan" in flag:
        attrs.update(color=f'"{NONFINITE}"', penwidth="2")
    if "kink" in flag:  # a kink outranks nan/inf: it is the rarer news
        attrs.update(color=f'"{KINK}"', style='"rounded,filled,dashed"', penwidth="2")
    return f"  {node_id} [{', '.join(f'{k}={v}' for k, v in attrs.items())}];"


def _dot_edge(edge: Edge, label: str, ids: dict[str, str]) -> str:
    attrs = ""
    if label:
        colour = "" if math.isfinite(edge.local) else f', fontcolor="{NONFINITE}"'
        attrs = f" [{label}=<{escape_html(clip(partial_text(edge), MAX_DOT_NAME))}>{colour}]"
    return f"  {ids[edge.source]} -> {ids[edge.target]}{attrs};"


def layout_cost(result: Result, labelled: bool) -> int:
    """About how many things dot places: nodes, edges, and the virtual node it makes for each
    rank an edge crosses (ranks doubled when edges have labels). A node's rank is its longest
    path from a node without operands; those sit just before their nearest user, as dot puts them."""
    operands = operand_edges(result)
    rank: dict[str, int] = {}
    for n in result.nodes:  # file order is a topological order
        rank[n.name] = 1 + max((rank[e.source] for e in operands.get(n.name, ())), default=-1)
    nearest: dict[str, int] = {}
    for e in result.edges:
        if e.source not in operands:
            nearest[e.source] = min(nearest.get(e.source, rank[e.target]), rank[e.target])
    rank.update((name, r - 1) for name, r in nearest.items())
    factor = 2 if labelled else 1
    crossed = sum(max(0, factor * (rank[e.target] - rank[e.source]) - 1) for e in result.edges)
    return len(result.nodes) + len(result.edges) + crossed


def edge_label(result: Result, show: str) -> str:
    """The attribute the local partials go in: label (dot makes room for it, the clearest), or
    xlabel for a graph whose labels would take dot minutes; "" when partials are not shown."""
    if show == "values":
        return ""
    return "label" if layout_cost(result, labelled=True) <= LABEL_BUDGET else "xlabel"


def to_dot(result: Result, show: str = "both") -> str:
    """The graph in Graphviz's language, flowing left to right, arrows operand -> user. Inputs
    are not forced into the first column: beside their user, their arrows cross far less."""
    flags, ids = marks(result), _dot_ids(result)
    legend = key(result, show) + [f"⚠ {clip(note, MAX_DOT_NAME)}" for note in notes(result)]
    label = "<br/>" + "".join(escape_html(line) + '<br align="left"/>' for line in legend)
    lines = [
        "digraph gradcli {",
        f'  graph [rankdir=LR, ordering=in, fontname="{FONT}", fontsize=10, fontcolor="{MUTED}",'
        f" nodesep=0.25, ranksep=0.55, labelloc=b, labeljust=l, label=<{label}>];",
        f'  node [shape=box, style="rounded,filled", fontname="{FONT}", fontsize=12,'
        f' fontcolor="{INK}", margin="0.14,0.07"];',
        f'  edge [fontname="{FONT}", fontsize=10, color="{MUTED}", fontcolor="{BACKWARD}",'
        " arrowsize=0.7];",
    ]
    kind = None
    for n in result.nodes:
        if n.kind != kind:
            kind = n.kind
            lines.append(_dot_defaults(kind))
        lines.append(_dot_node(n, result.output, show, flags.get(n.name, ""), ids[n.name]))
    partial_attr = edge_label(result, show)
    lines += [_dot_edge(e, partial_attr, ids) for e in result.edges]
    lines.append("}")
    return "\n".join(lines) + "\n"


# --- Mermaid ---------------------------------------------------------------------------------

_MERMAID_ENTITIES = {"&": "#amp;", "<": "#lt;", ">": "#gt;", '"': "#quot;", "#": "#35;",
                     "|": "#124;", "`": "#96;"}


def escape_mermaid(text: str) -> str:
    """Escape for quoted Mermaid text: entities, so no character can end the label early."""
    return "".join(_MERMAID_ENTITIES.get(ch, ch) for ch in text)


def _mermaid_label(node: Node, output: str, show: str, flag: str) -> str:
    parts = []
    for role, text in _node_lines(node, output, show, flag):
        if role == "head":
            expression = f" = {escape_mermaid(clip(node.expression))}" if node.expression else ""
            parts.append(f"<b>{escape_mermaid(text)}</b>{expression}")
        else:
            parts.append(escape_mermaid(text))
    return "<br/>".join(parts)


def to_mermaid(result: Result, show: str = "both") -> str:
    """A Mermaid flowchart (GitHub renders it). Ids are n0, n1, ...: a name like `end` or
    `graph` is a Mermaid keyword, so names appear only inside quoted labels."""
    flags = marks(result)
    ids = {n.name: f"n{i}" for i, n in enumerate(result.nodes)}
    lines = ["flowchart LR"]
    lines += [f'  {ids[n.name]}["{_mermaid_label(n, result.output, show, flags.get(n.name, ""))}"]'
              f":::{n.kind}" for n in result.nodes]
    for e in result.edges:
        label = f'|"{escape_mermaid(partial_text(e))}"|' if show != "values" else ""
        lines.append(f"  {ids[e.source]} -->{label} {ids[e.target]}")
    legend = key(result, show, red="") + [f"⚠ {note}" for note in notes(result)]
    lines.append(f'  key["{"<br/>".join(escape_mermaid(line) for line in legend)}"]:::key')
    lines += [
        f"  classDef input fill:{KIND_STYLE['input'][0]},stroke:{KIND_STYLE['input'][1]},color:{INK}",
        f"  classDef intermediate fill:{KIND_STYLE['intermediate'][0]},"
        f"stroke:{KIND_STYLE['intermediate'][1]},color:{INK}",
        f"  classDef output fill:{KIND_STYLE['output'][0]},stroke:{KIND_STYLE['output'][1]},"
        f"stroke-width:3px,color:{INK}",
        f"  classDef key fill:none,stroke:none,color:{MUTED}",
        f"  classDef kink stroke:{KINK},stroke-width:2px,stroke-dasharray:5 3",
        f"  classDef nonfinite stroke:{NONFINITE},stroke-width:2px",
    ]
    for flag, css in (("kink", "kink"), ("nan/inf", "nonfinite")):
        flagged = [ids[n.name] for n in result.nodes if flag in flags.get(n.name, "")]
        if flagged:
            lines.append(f"  class {','.join(flagged)} {css}")
    text = "\n".join(lines) + "\n"
    if len(result.edges) > MERMAID_MAX_EDGES or len(text) > MERMAID_MAX_TEXT:
        return text.replace("\n", "\n" + MERMAID_TOO_BIG + "\n", 1)
    return text


# --- the terminal ----------------------------------------------------------------------------

_KIND_TEXT = {"input": "bold blue", "intermediate": "bold", "output": "bold green"}


def to_text(result: Result, show: str = "both"):
    """A rich tree from the output back to the inputs, the way the backward pass walks it; for
    a graph too deep or too big to read as a tree, a listing of one node per line (a str)."""
    rows = tree_rows(result)
    if rows is None:
        return listing(result, show)
    return _tree(result, rows, show)


def tree_rows(result: Result, max_depth: int = TREE_MAX_DEPTH, max_lines: int = TREE_MAX_LINES):
    """(depth, node, edge to its parent, shown before) in drawing order: the output's tree, then
    one for each node the output does not depend on, latest first; None past the limits.
    A node is drawn out once; where it is used again it is named (a DAG, not a tree)."""
    by_name = {n.name: n for n in result.nodes}
    operands = operand_edges(result)
    shown: set[str] = set()
    rows = []
    for root in [result.output] + [n.name for n in reversed(result.nodes)]:
        if root in shown:
            continue
        stack = [(0, root, None)]
        while stack:
            depth, name, edge = stack.pop()
            if depth > max_depth or len(rows) >= max_lines:
                return None
            seen = name in shown
            rows.append((depth, by_name[name], edge, seen))
            if not seen:
                shown.add(name)
                stack.extend((depth + 1, e.source, e) for e in reversed(operands.get(name, ())))
    return rows


def _tree(result: Result, rows, show: str):
    from rich.console import Group
    from rich.text import Text
    from rich.tree import Tree

    flags = marks(result)
    parts: list = []
    path: list = []  # the Tree drawn at each depth on the way down
    for depth, node, edge, seen in rows:
        label = _text_label(node, edge, seen, result.output, show, flags.get(node.name, ""))
        if depth == 0:
            if len(parts) == 1:
                parts.append(Text(f"the output {result.output} does not depend on these "
                                  "(gradient 0):", style="dim"))
            path = [Tree(label, guide_style="dim")]
            parts.append(path[0])
        else:
            del path[depth:]
            path.append(path[-1].add(label))
    parts += [_text_note(note) for note in notes(result)]
    return Group(*parts)


def _text_label(node: Node, edge: Edge | None, seen: bool, output: str, show: str, flag: str):
    from rich.text import Text  # Text, not markup: no name or expression is read as a style

    text = Text()
    if edge is not None and show != "values":
        text.append(partial_text(edge), style="red" if math.isfinite(edge.local) else "bold red")
        text.append(" ◂ ", style="dim")
    text.append(node.name, style=_KIND_TEXT[node.kind])
    if node.expression:
        text.append(f" = {clip(node.expression)}")
    if seen:
        return text.append("  (shown above)", style="dim")
    if node.kind != "intermediate":
        text.append(f"  ({node.kind})", style="dim")
    if show != "partials":
        text.append(f"   {value_text(node)}   ")
        text.append(grad_text(node, output), style="red")
    if flag:
        text.append(f"  ⚠ {flag}", style="bold yellow" if flag == "kink" else "bold red")
    return text


def _text_note(note: str):
    from rich.text import Text
    return Text.assemble(("⚠ ", "bold yellow"), note)


def listing(result: Result, show: str = "both") -> str:
    """One aligned line per node, in file order: linear in the graph's size, and greppable."""
    flags = marks(result)
    operands = operand_edges(result)
    values, partials = show != "partials", show != "values"
    header = ["node", "kind", "expression"] + ["value", f"∂{result.output}/∂node"] * values + \
        ["local partials ∂node/∂operand"] * partials + ["⚠"] * bool(flags)
    rows = [header]
    for n in result.nodes:
        row = [n.name, n.kind, clip(n.expression, 40)]
        if values:
            row += [fmt(n.value), fmt(n.grad)]
        if partials:
            row.append(", ".join(f"{e.source}: {fmt(e.local)}" for e in operands.get(n.name, ())))
        if flags:
            row.append(flags.get(n.name, ""))
        rows.append(row)
    intro = (f"{len(result.nodes):,} nodes: more than a tree shows here ({TREE_MAX_DEPTH} levels, "
             f"{TREE_MAX_LINES} lines), so one node per line in file order; --format dot or "
             "mermaid draws the graph")
    return "\n".join([intro, ""] + align(rows, right={3, 4} if values else set()) +
                     [f"⚠ {note}" for note in notes(result)])


# --- svg and png, by Graphviz ----------------------------------------------------------------

def image(result: Result, image_format: str, show: str = "both") -> bytes:
    """svg or png bytes; refuses a graph Graphviz would take minutes over."""
    cost = layout_cost(result, labelled=False)
    if cost > GRAPHVIZ_BUDGET:
        raise InputError(
            f"--format {image_format}: too big for Graphviz to draw in reasonable time "
            f"({cost:,} nodes, edges and ranks crossed by edges to place; the limit is "
            f"{GRAPHVIZ_BUDGET:,})\n  = hint: use --format dot (and run dot on it yourself: it "
            "may take minutes), --format mermaid or --format text")
    return render_with_graphviz(to_dot(result, show), image_format)


def render_with_graphviz(dot_text: str, image_format: str) -> bytes:
    """Run Graphviz's `dot`; every way that can fail is an InputError with what to do."""
    program = shutil.which("dot")
    if program is None:
        raise InputError(
            f"--format {image_format} needs Graphviz's `dot` program, which is not on PATH\n"
            "  = hint: install Graphviz (apt install graphviz, brew install graphviz, or "
            "https://graphviz.org/download/), or use --format dot / mermaid / text")
    command = [program, f"-T{image_format}"] + [f"-Gdpi={PNG_DPI}"] * (image_format == "png")
    try:
        done = subprocess.run(command, input=dot_text.encode("utf-8"), capture_output=True,
                              timeout=GRAPHVIZ_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise InputError(f"Graphviz's `dot` ran for {GRAPHVIZ_TIMEOUT} s without finishing and was "
                         "stopped\n  = hint: use --format dot, mermaid or text for this graph") from None
    except OSError as e:
        raise InputError(f"cannot run Graphviz's `dot` ({program}): {e.strerror or e}") from None
    if done.returncode != 0 or not done.stdout:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise InputError(f"Graphviz's `dot` failed (exit status {done.returncode})"
                         + (f": {said[-1]}" if said else ""))
    return done.stdout
