"""Explanation -> text, Markdown, LaTeX or JSON. Renderers compute nothing; numbers via render.fmt."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from dataclasses import dataclass

from .explain import COUNT_CAP, MAX_DEFAULT_NODES, RTOL, STEPS_HEAD, Explanation, NodeExplanation
from .printer import format_rpn, format_rpn_latex, latex_name, latex_number, latex_text, md_code, md_escape
from .render import fmt, json_number

WIDTH = 80  # text and the Markdown code blocks: readable in an 80-column terminal
MAX_SYMBOLIC_TEXT = 48  # a longer symbolic partial is shown by its name in the chain lines
MAX_SYMBOLIC_LATEX = 400
MAX_LATEX_ROW = 160  # characters of LaTeX source: a path this short stays on one row
SUM_NOTES = ("rounding", "disagree_nonfinite", "disagree_range")  # shown under their node


@dataclass(frozen=True)
class Style:
    """How one output format writes names, numbers, partials and prose around math."""

    name: Callable[[str], str]
    expr: Callable[[list | None], str]  # an operand's RPN (None: too long to show)
    num: Callable[[float], str]  # rounded (render.fmt)
    exact: Callable[[float], str]  # every digit: for the rounding notes
    partial: Callable[[str, str], str]  # ∂target/∂source
    grad: Callable[[str], str]
    symbolic: Callable[[object], str | None]  # a Partial in this format, None if too long
    math: Callable[[str], str]  # math inside prose
    text: Callable[[str], str]  # prose
    code: Callable[[str], str]  # a command or an option in prose
    dot: str
    arrow: str
    step_half: str  # the name of the H(0) = 1/2 step


def _text_expr(rpn: list | None) -> str:
    return "…" if rpn is None else format_rpn(rpn)  # None: too long to write out


def _text_symbolic(partial) -> str | None:
    return partial.text if len(partial.text) <= MAX_SYMBOLIC_TEXT else None


TEXT = Style(name=str, expr=_text_expr, num=fmt, exact=repr, partial=lambda t, s: f"∂{t}/∂{s}",
             grad=lambda n: f"grad({n})", symbolic=_text_symbolic, math=str, text=str, code=str,
             dot=" · ", arrow=" → ", step_half="H½")


# Inline Markdown that could change meaning in prose (GitHub's strikethrough and tables too).
MARKDOWN = Style(name=str, expr=_text_expr, num=fmt, exact=repr, partial=TEXT.partial,
                 grad=TEXT.grad, symbolic=_text_symbolic, math=md_code, text=md_escape,
                 code=md_code, dot=" · ", arrow=" → ", step_half="H½")


def why_label(node) -> str:
    """"why 0" explains the gradient; with a nonzero gradient it explains a path that is 0."""
    return "why 0" if node.grad == 0.0 else "why a path is 0"


def _latex_name(name: str) -> str:
    # pdflatex reads lines of at most 200,000 characters: a very long name is shown clipped
    return latex_name(name if len(name) <= MAX_LATEX_NAME else name[:MAX_LATEX_NAME - 1] + "…")


MAX_LATEX_NAME = 60
MAX_HEADER_INPUTS = 8  # the header names this many input values, then counts the rest


def _values(ex, one) -> str:
    """The input values for a header: the first few, then how many more."""
    items = list(ex.inputs.items())
    shown = ", ".join(one(k, v) for k, v in items[:MAX_HEADER_INPUTS])
    more = len(items) - MAX_HEADER_INPUTS
    return shown + (f", … ({more:,} more inputs)" if more > 0 else "")


LATEX = Style(
    name=_latex_name,
    expr=lambda rpn: r"\ldots" if rpn is None else format_rpn_latex(rpn),
    num=lambda x: latex_number(fmt(x)),
    exact=lambda x: latex_number(repr(x)),
    partial=lambda t, s: rf"\frac{{\partial {_latex_name(t)}}}{{\partial {_latex_name(s)}}}",
    grad=lambda n: rf"\operatorname{{grad}}\left({_latex_name(n)}\right)",
    symbolic=lambda p: p.latex if len(p.latex) <= MAX_SYMBOLIC_LATEX else None,
    math=lambda m: f"${m}$", text=latex_text, dot=r" \cdot ", arrow=r" \to ",
    code=lambda c: r"\texttt{" + latex_text(c).replace("-", "-{}") + "}",  # -- is not a dash
    step_half="H_{1/2}")


# --- the sentences: one template per Remark kind, written once for every format ----------------

def sentence(r, s: Style, ex: Explanation | None = None) -> str:
    """One Remark in words, in the format of `s`; `ex` gives the symbolic partials."""
    M, T = s.math, s.text
    zero = M(f"{s.partial(r.target, r.source)} = 0") if r.source else ""
    if r.kind == "unreached":
        return M(s.name(r.source)) + T(" does not reach ") + M(s.name(r.target))
    if r.kind == "relu_off":
        (rpn, v), = r.operands
        return T("relu is off: ") + M(f"{s.expr(rpn)} = {s.num(v)} < 0") + T(", so ") + zero
    if r.kind == "kink":
        (rpn, v), = r.operands
        return (T(f"{r.op} at 0 (") + M(f"{s.expr(rpn)} = 0") +
                T("): derivative taken as 0, the PyTorch convention, so ") + zero)
    if r.kind == "loses":
        lose = r.numbers[0]
        (win_rpn, win), (lose_rpn, lost) = r.operands[1 - lose], r.operands[lose]
        return (T(f"{r.op} takes ") + M(f"{s.expr(win_rpn)} = {s.num(win)}") + T(" over ") +
                M(f"{s.expr(lose_rpn)} = {s.num(lost)}") + T("; the losing side gets 0, so ") + zero)
    if r.kind == "zero_partial":
        partial = ex.partials.get((r.source, r.target)) if ex else None
        shown = s.symbolic(partial) if partial else None
        if not shown:  # no symbolic form (too large): the number is all there is
            return M(f"{s.partial(r.target, r.source)} = 0") + T(" at these values")
        if shown.strip() in ("0", "0.0"):  # a constant 0: nothing to evaluate
            return M(f"{s.partial(r.target, r.source)} = 0") + T(" everywhere")
        return M(f"{s.partial(r.target, r.source)} = {shown} = 0") + T(" at these values")
    if r.kind == "underflow":
        return T("the product of nonzero factors underflows to 0 in float64")
    if r.kind == "cancel":
        return T(f"the {r.op} cancel: ") + M(_joined(s, r.numbers, " + ") + " = 0")
    return _note(r, s)


def _note(r, s: Style) -> str:
    M, T = s.math, s.text
    if r.kind in ("many_paths", "long_path"):
        count = f"{r.count:,}" if r.count < COUNT_CAP else f"more than {COUNT_CAP:.0e}"
        what = (T(f" has {count} paths to ") if r.kind == "many_paths" else
                T("'s longest path to ") + M(s.name(r.target)) + T(f" has {count} factors"))
        tail = M(s.name(r.target)) if r.kind == "many_paths" else ""
        return (M(s.name(r.source)) + what + tail + T(f" (more than {r.numbers[0]}); showing the "
                                                        "recurrence that reverse mode computes instead"))
    if r.kind == "output":
        return (M(s.name(r.target)) + T(" is the output: ") +
                M(f"{s.partial(r.target, r.target)} = 1") + T(", trivially"))
    if r.kind in SUM_NOTES:
        return _sum_note(r, s)
    return _global_note(r, s)


def _global_note(r, s: Style) -> str:
    """The notes under the whole explanation."""
    M, T = s.math, s.text
    if r.kind == "step":
        if r.op == "0":
            return (T("H is the Heaviside step with relu's convention ") + M("H(0) = 0") +
                    T(", as in PyTorch"))
        return (T("the step ") + M(s.step_half) + T(" has ") + M(f"{s.step_half}(0) = 1/2") +
                T(": max and min split a tie half and half, as in PyTorch"))
    if r.kind == "engine_kink":
        return T(r.op)
    if r.kind == "nothing":
        return (M(s.name(r.target)) + T(" is the only node, so there is nothing to explain; ") +
                s.code(f"--wrt {r.target}") + T(" gives ") + M(f"{s.partial(r.target, r.target)} = 1"))
    if r.kind == "kinks_left_out":
        return T(f"… and {r.count:,} more kinks (") + s.code("gradcli eval") + T(" lists them all)")
    if r.kind == "symbolic_skipped":
        return (M(s.name(r.target)) + T(f": not given to sympy ({r.op}); its local partials are "
                                        "shown by name and number only"))
    if r.kind == "symbolic_timeout":
        return T(f"sympy's {r.numbers[0]:g} s budget ran out; the remaining local partials are "
                 "shown by name and number only")
    if r.kind == "nodes_left_out":
        return (T(f"explained the first {MAX_DEFAULT_NODES} of the {r.numbers[0] - 1:,} nodes "
                  "besides the output; ") + s.code("--wrt NAME") + T(" explains any node"))
    raise ValueError(f"no sentence for {r.kind}")


def _sum_note(r, s: Style) -> str:
    M, T = s.math, s.text
    total, engine = r.numbers
    adds_up = {"paths": "the paths add up to ", "terms": "the terms add up to ",
               "product": "the product is "}[r.op]
    head = T("for ") + M(s.name(r.source)) + T(", " + adds_up) + M(s.exact(total))
    if r.kind == "rounding":
        return head + T("; the engine's reverse sweep, rounding in another order, gives ") + \
            M(s.exact(engine)) + T(f", shown: the same up to rounding (within {RTOL:g} of the "
                                   "terms' magnitudes)")
    why = ("with inf or nan among the factors the order of the operations decides: 0 times inf "
           "is nan, where the engine's relu, max and min pass a hard 0"
           if r.kind == "disagree_nonfinite" else
           "multiplied in another order than the engine's sweep, float64 over- or underflows")
    return head + T(", but the engine's gradient, which eval reports, is ") + M(s.exact(engine)) + \
        T(f": {why}")


def _wrapped(s: Style, x: float) -> str:
    """A number as a factor or term: (-3), and in LaTeX (1.5 \\cdot 10^{-7}) too."""
    text = s.num(x)
    if s is LATEX and (text.startswith("-") or r"\cdot" in text):
        return rf"\left({text}\right)"
    return f"({text})" if text.startswith("-") else text


def _joined(s: Style, numbers, sep: str) -> str:
    return sep.join(_wrapped(s, x) for x in numbers)


# --- chain-rule lines as segments: `lhs = seg1 = seg2 = ...` -----------------------------------

def _factor_symbolic(ex: Explanation, s: Style, f, alone: bool = False) -> str:
    """The factor's symbolic partial, bracketed when it stands in a product and needs it."""
    partial = ex.partials.get((f.source, f.target))
    shown = s.symbolic(partial) if partial is not None else None
    if shown is None:
        return s.partial(f.target, f.source)
    if alone or not (shown.startswith("-") or _spaced(shown)):
        return shown
    return rf"\left({shown}\right)" if s is LATEX else f"({shown})"


def _spaced(text: str) -> bool:
    """A space outside every bracket: `b + w*x` is a sum, `H(u - v)` is not."""
    depth = 0
    for ch in text:
        depth += ch in "({["
        depth -= ch in ")}]"
        if ch == " " and depth == 0:
            return True
    return False


def path_segments(ex: Explanation, s: Style, path, total: float) -> list[str]:
    """names · ..., symbolic · ..., numbers · ..., the product (consecutive repeats dropped)."""
    if not path.factors:
        return ["1"]
    segments = [s.dot.join(s.partial(f.target, f.source) for f in path.factors),
                s.dot.join(_factor_symbolic(ex, s, f, len(path.factors) == 1) for f in path.factors),
                _joined(s, [f.value for f in path.factors], s.dot), s.num(total)]
    return _dedupe(segments)


def step_segments(ex: Explanation, s: Style, step) -> list[str]:
    more = f" + … ({step.terms_left_out:,} smaller terms)" if step.terms_left_out else ""
    if s is LATEX and more:
        more = rf" + \ldots\ \text{{({step.terms_left_out:,} smaller terms)}}"
    terms = step.terms
    segments = [
        " + ".join(f"{s.grad(t.user)}{s.dot}{s.partial(t.user, t.factor.source)}" for t in terms),
        " + ".join(f"{s.grad(t.user)}{s.dot}{_factor_symbolic(ex, s, t.factor)}" for t in terms),
        " + ".join(f"{_wrapped(s, t.user_grad)}{s.dot}{_wrapped(s, t.factor.value)}" for t in terms),
    ]
    shown_total = step.grad if step.agrees else step.term_sum
    return _dedupe([seg + more for seg in segments] + [s.num(shown_total)])


def _dedupe(segments: list[str]) -> list[str]:
    out: list[str] = []
    for seg in segments:
        if not out or seg != out[-1]:
            out.append(seg)
    return out


def _count(n: int) -> str:
    return f"{n:,}" if n < COUNT_CAP else f"more than {COUNT_CAP:.0e}"


def node_summary(ex: Explanation, node: NodeExplanation, s: Style) -> str:
    """`1 path to a`, `no path to a`, `1,048,576 paths to a`."""
    if node.path_count == 0:
        paths = s.text("no path to ")
    else:
        paths = s.text(f"{_count(node.path_count)} path{'s' * (node.path_count != 1)} to ")
    return paths + s.math(s.name(ex.output))


# --- text ----------------------------------------------------------------------------------------

def to_text(ex: Explanation, width: int = WIDTH) -> str:
    values = _values(ex, lambda k, v: f"{k}={fmt(v)}")
    lines = [f"{ex.source}: the chain rule for ∂{ex.output}/∂node " +
             (f"at {values}" if values else "(no inputs)")]
    for node in ex.nodes:
        lines += [""] + text_node(ex, node, width)
    if ex.notes:
        lines.append("")
        for r in ex.notes:
            lines += _prose("note: ", sentence(r, TEXT, ex), width)
    return "\n".join(lines) + "\n"


def text_node(ex: Explanation, node: NodeExplanation, width: int = WIDTH) -> list[str]:
    head = (f"{node.name}: value {fmt(node.value)}, ∂{ex.output}/∂{node.name} = {fmt(node.grad)}, "
            f"{node_summary(ex, node, TEXT)}")
    lines = textwrap.wrap(head, width, subsequent_indent="  ", break_on_hyphens=False)
    for r in node.notes:
        if r.kind in ("many_paths", "long_path", "output"):
            lines += _prose("  ", sentence(r, TEXT, ex), width)
    lines += chain_lines(ex, TEXT, node, width)
    for r in node.why:
        lines += _prose(f"  {why_label(node)}: ", sentence(r, TEXT, ex), width)
    if node.why_more:
        lines.append(f"  {why_label(node)}: … and more reasons")
    for r in node.notes:
        if r.kind in SUM_NOTES:
            lines += _prose("  note: ", sentence(r, TEXT, ex), width)
    return lines


def chain_lines(ex: Explanation, s: Style, node: NodeExplanation, width: int) -> list[str]:
    """The chain rule as text lines (the text format and the Markdown code blocks)."""
    lhs = s.partial(ex.output, node.name)
    if node.mode == "recurrence":
        return recurrence_lines(ex, s, node, width)
    if len(node.paths) == 1:
        return layout("  ", _dedupe([lhs] + path_segments(ex, s, node.paths[0], node.total)), width)
    lines = []
    widest = max((len(s.arrow.join(p.nodes)) for p in node.paths), default=0)
    for path in node.paths:
        label = f"  {(s.arrow.join(path.nodes) + ':').ljust(widest + 1)}  "  # aligned products
        segments = path_segments(ex, s, path, path.product)
        if len(label) + len(" = ".join(segments)) <= width:
            lines.append(label + " = ".join(segments))
        else:
            lines += _prose("  ", label.strip(), width) + layout("    ", segments, width)
    if node.paths:
        lines += layout("  ", [lhs, _joined(s, [p.product for p in node.paths], " + "),
                               s.num(node.total)], width)
    return lines


def recurrence_lines(ex: Explanation, s: Style, node: NodeExplanation, width: int) -> list[str]:
    lines = _prose("  ", f"grad(node) = Σ over its users of grad(user) · ∂user/∂node, from "
                   f"{ex.output} back to {node.name}:", width)
    for i, step in enumerate(node.steps):
        if i == STEPS_HEAD and node.steps_left_out:
            lines.append(f"  … {node.steps_left_out:,} more nodes on the way, left out …")
        if step.node == ex.output:
            lines.append(f"  {s.grad(step.node)} = {s.num(step.grad)} (the output)")
            continue
        lines += layout("  ", [s.grad(step.node)] + step_segments(ex, s, step), width)
    return lines


def layout(indent: str, segments: list[str], width: int) -> list[str]:
    """`lhs = a = b` on one line if it fits, else one `= segment` a line under the first `=`;
    a segment still too wide is broken after its ` · ` or ` + `."""
    one = indent + " = ".join(segments)
    if len(one) <= width or len(segments) < 2:
        return [one]
    pad = indent + " " * len(segments[0])
    lines = []
    for i, seg in enumerate(segments[1:]):
        lead = indent + segments[0] if i == 0 else pad
        lines += _break(lead + " = ", pad + "     ", seg, width)
    return lines


def _break(first: str, rest: str, seg: str, width: int) -> list[str]:
    if len(first) + len(seg) <= width:
        return [first + seg]
    pieces = seg.replace(" · ", " ·\0").replace(" + ", " +\0").split("\0")
    lines, line = [], first
    for piece in pieces:
        if len(line) + len(piece) > width and line.strip() not in ("", "="):
            lines.append(line.rstrip())
            line = rest
        line += piece + " "
    return lines + [line.rstrip()]


def _prose(prefix: str, text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width, initial_indent=prefix, subsequent_indent=" " * len(prefix),
                         break_on_hyphens=False, break_long_words=False) or [prefix.rstrip()]


# --- Markdown ------------------------------------------------------------------------------------

def to_markdown(ex: Explanation) -> str:
    values = _values(ex, lambda k, v: md_code(f"{k} = {fmt(v)}"))
    out = [f"## The chain rule for {md_code(f'∂{ex.output}/∂node')}", "",
           f"Graph {md_code(ex.source)} {f'at {values}' if values else 'with no inputs'}; "
           f"output {md_code(ex.output)}."]
    for node in ex.nodes:
        out += [""] + markdown_node(ex, node)
    if ex.notes:
        out += ["", "Notes:", ""] + [f"- {sentence(r, MARKDOWN, ex)}" for r in ex.notes]
    return "\n".join(out) + "\n"


def markdown_node(ex: Explanation, node: NodeExplanation) -> list[str]:
    out = [f"### {md_code(node.name)}", "",
           f"Value {md_code(fmt(node.value))}, "
           f"{md_code(f'∂{ex.output}/∂{node.name} = {fmt(node.grad)}')}, "
           f"{node_summary(ex, node, MARKDOWN)}."]
    for r in node.notes:
        if r.kind in ("many_paths", "long_path", "output"):
            out += ["", sentence(r, MARKDOWN, ex) + "."]
    lines = [line[2:] for line in chain_lines(ex, TEXT, node, WIDTH + 2)]
    out += ["", "```text"] + lines + ["```"] if lines else []
    bullets = [f"- {why_label(node)}: {sentence(r, MARKDOWN, ex)}" for r in node.why]
    if node.why_more:
        bullets.append(f"- {why_label(node)}: … and more reasons")
    bullets += [f"- note: {sentence(r, MARKDOWN, ex)}" for r in node.notes
                if r.kind in SUM_NOTES]
    return out + ([""] + bullets if bullets else [])


# --- LaTeX ---------------------------------------------------------------------------------------

# Plain article and amsmath only (texlive-latex-base); no T1 fontenc: prose never holds < > |,
# which is what it would be for, and it needs fonts a minimal TeX lacks.
LATEX_PREAMBLE = ["\\documentclass{article}", "\\usepackage{amsmath}", "\\allowdisplaybreaks",
                  "\\begin{document}"]


def to_latex(ex: Explanation) -> str:
    s = LATEX
    values = _values(ex, lambda k, v: f"${s.name(k)} = {s.num(v)}$").replace("… (", r"\ldots{} (")
    per_node = rf"\frac{{\partial {s.name(ex.output)}}}{{\partial\, \mathrm{{node}}}}"
    out = LATEX_PREAMBLE + [
        rf"\section*{{The chain rule for ${per_node}$}}",
        rf"Graph \texttt{{{latex_text(ex.source)}}} {f'at {values}' if values else 'with no inputs'}; "
        rf"output ${s.name(ex.output)}$."]
    for node in ex.nodes:
        out += latex_node(ex, node)
    if ex.notes:
        out += [r"\paragraph{Notes.}", r"\begin{itemize}"]
        out += [rf"\item {sentence(r, s, ex)}" for r in ex.notes] + [r"\end{itemize}"]
    return "\n".join(out + [r"\end{document}"]) + "\n"


def latex_node(ex: Explanation, node: NodeExplanation) -> list[str]:
    s = LATEX
    out = [rf"\subsection*{{${s.name(node.name)}$}}",
           f"Value ${s.num(node.value)}$, ${s.partial(ex.output, node.name)} = {s.num(node.grad)}$, "
           f"{node_summary(ex, node, LATEX)}."]
    for r in node.notes:
        if r.kind in ("many_paths", "long_path", "output"):
            out.append(sentence(r, s, ex) + ".")
    if node.mode == "recurrence":
        out.append(rf"Reverse mode, from ${s.name(ex.output)}$ back to ${s.name(node.name)}$: "
                   r"$\operatorname{grad}(n) = \sum_{m} \operatorname{grad}(m) \cdot "
                   r"\frac{\partial m}{\partial n}$ over the users $m$ of $n$.")
    rows = latex_rows(ex, node)
    if rows:
        out += [r"\begin{align*}"] + [row + r" \\" for row in rows[:-1]] + [rows[-1], r"\end{align*}"]
    label = why_label(node).replace("0", "$0$")
    items = [rf"\item {label}: {sentence(r, s, ex)}" for r in node.why]
    if node.why_more:
        items.append(rf"\item {label}: \ldots\ and more reasons")
    items += [rf"\item {sentence(r, s, ex)}" for r in node.notes if r.kind in SUM_NOTES]
    return out + ([r"\begin{itemize}"] + items + [r"\end{itemize}"] if items else [])


def latex_rows(ex: Explanation, node: NodeExplanation) -> list[str]:
    s = LATEX
    lhs = s.partial(ex.output, node.name)
    if node.mode == "recurrence":
        return _latex_recurrence(ex, node)
    if len(node.paths) == 1:
        return _latex_equation(lhs, _dedupe([lhs] + path_segments(ex, s, node.paths[0],
                                                                   node.total))[1:])
    rows = []
    for p in node.paths:
        label = rf"&\text{{path }} {s.arrow.join(s.name(n) for n in p.nodes)}\colon"
        segments = path_segments(ex, s, p, p.product)
        if len(" = ".join(segments)) <= MAX_LATEX_ROW:
            rows.append(rf"{label}\quad " + " = ".join(segments))
        else:
            rows += [label] + _latex_equation("", segments)
    if node.paths:
        rows += _latex_equation(lhs, [_joined(s, [p.product for p in node.paths], " + "),
                                      s.num(node.total)])
    return rows


def _latex_recurrence(ex: Explanation, node: NodeExplanation) -> list[str]:
    s = LATEX
    rows = []
    for i, step in enumerate(node.steps):
        if i == STEPS_HEAD and node.steps_left_out:
            rows.append(rf"&\vdots\quad \text{{({node.steps_left_out:,} more nodes on the way)}}")
        if step.node == ex.output:
            rows.append(rf"{s.grad(step.node)} &= {s.num(step.grad)} \quad \text{{(the output)}}")
        else:
            rows += _latex_equation(s.grad(step.node), step_segments(ex, s, step))
    return rows


def _latex_equation(lhs: str, segments: list[str]) -> list[str]:
    """`lhs &= segment` rows, one per segment, a long sum or product broken every few terms."""
    rows = []
    for i, segment in enumerate(segments):
        plus = _split_top(segment, " + ")
        pieces, per_row = (plus, 3) if plus else (_split_top(segment, r" \cdot ") or [segment], 4)
        for k in range(0, len(pieces), per_row):
            lead = (lhs if i == 0 else "") + " &= " if k == 0 else r" &\quad "
            rows.append((lead + "".join(pieces[k:k + per_row]).lstrip()).strip())
    return rows


def _split_top(text: str, sep: str) -> list[str]:
    """text cut before each `sep` outside braces and brackets; [] if there is none."""
    pieces, depth, start, i = [], 0, 0, 0
    while i < len(text):
        if depth == 0 and text.startswith(sep, i) and i > start:
            pieces.append(text[start:i])
            start = i
            i += len(sep)
            continue
        depth += text[i] in "({["
        depth -= text[i] in ")}]"
        i += 1
    return pieces + [text[start:]] if pieces else []


# --- JSON ----------------------------------------------------------------------------------------

def to_json(ex: Explanation) -> dict:
    return {"graph": ex.source, "output": ex.output,
            "inputs": {k: json_number(v) for k, v in ex.inputs.items()},
            "nodes": [node_json(ex, n) for n in ex.nodes], "nodes_left_out": ex.nodes_left_out,
            "notes": [_remark_json(ex, r) for r in ex.notes]}


def node_json(ex: Explanation, n: NodeExplanation) -> dict:
    return {
        "name": n.name, "value": json_number(n.value), "grad": json_number(n.grad), "mode": n.mode,
        "path_count": n.path_count, "path_count_exact": n.path_count < COUNT_CAP,
        "longest_path": n.longest,
        "paths": [{"nodes": list(p.nodes), "factors": [_factor_json(ex, f) for f in p.factors],
                   "product": json_number(p.product)} for p in n.paths],
        "steps": [_step_json(ex, step) for step in n.steps],
        "steps_left_out": {"after": STEPS_HEAD, "count": n.steps_left_out},
        "path_sum": None if n.path_sum is None else json_number(n.path_sum),
        "sum": json_number(n.total), "agrees": n.agrees,
        "why": [_remark_json(ex, r) for r in n.why], "why_more": n.why_more,
        "notes": [_remark_json(ex, r) for r in n.notes],
    }


def _factor_json(ex: Explanation, f) -> dict:
    partial = ex.partials.get((f.source, f.target))
    return {"edge": f"∂{f.target}/∂{f.source}", "from": f.source, "to": f.target,
            "symbolic": partial and partial.text, "latex": partial and partial.latex,
            "value": json_number(f.value)}


def _step_json(ex: Explanation, step) -> dict:
    return {"node": step.node, "grad": json_number(step.grad),
            "terms": [{"user": t.user, "user_grad": json_number(t.user_grad),
                       **_factor_json(ex, t.factor)} for t in step.terms],
            "terms_left_out": step.terms_left_out, "term_sum": json_number(step.term_sum),
            "agrees": step.agrees}


def _remark_json(ex: Explanation, r) -> dict:
    return {"kind": r.kind, "text": sentence(r, TEXT, ex)}


def dumps(ex: Explanation, indent: int | None = None) -> str:
    # allow_nan=False: a non-finite number that escaped json_number fails loudly here.
    return json.dumps(to_json(ex), allow_nan=False, ensure_ascii=False, indent=indent)


def render(ex: Explanation, output_format: str, indent: int | None = None) -> str:
    if output_format == "json":
        return dumps(ex, indent) + "\n"
    return {"text": to_text, "markdown": to_markdown, "latex": to_latex}[output_format](ex)
