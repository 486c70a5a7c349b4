"""Result -> Markdown or LaTeX: the tables of values and gradients, ready to paste."""

from __future__ import annotations

from .core import Result, expression_text
from .printer import format_rpn_latex, latex_name, latex_number, latex_text, md_code, md_escape
from .render import (
    TRACE_GAP,
    _mark_text,
    _title,
    fmt,
    select_rows,
    summary_lines,
    trace_footer,
    trace_rows,
    trace_window,
)

# --- Markdown (GitHub-flavoured) --------------------------------------------------------------

def _md_table(header: list[str], align: str, rows) -> list[str]:
    spec = {"l": ":--", "r": "--:", "c": ":-:"}
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(spec[a] for a in align) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def markdown(result: Result, rows: int | None) -> str:
    nodes, edges = select_rows(result, rows)
    check, out = result.check, result.output
    methods = len(check.methods) if check else 0
    node_rows = [[md_code(n.name), n.kind, md_code(n.expression), fmt(n.value), fmt(n.grad)] +
                 ([_mark_text(check.nodes.get(n.name), methods)] if check else []) for n in nodes]
    header = ["node", "kind", "expression", "value", md_escape(f"∂{out}/∂node")] + \
        (["check"] if check else [])
    lines = [f"**{md_escape(_title(result))}**", ""]
    lines += _md_table(header, "lllrr" + "c" * bool(check), node_rows)
    edge_rows = [[md_escape(f"∂{e.target}/∂{e.source}"), fmt(e.local)] +
                 ([_mark_text(check.edges.get((e.source, e.target)), methods)] if check else [])
                 for e in edges]
    if edge_rows:
        lines += ["", "| edge | local partial |" + " check |" * bool(check),
                  "|:--|--:|" + ":-:|" * bool(check)]
        lines += ["| " + " | ".join(row) + " |" for row in edge_rows]
    if result.symbolic is not None:
        shown = {n.name for n in nodes}
        forms = [[md_code(name), md_code(form) if form else "(too large)"]
                 for name, form in result.symbolic.gradients.items() if name in shown]
        lines += ["", md_escape(f"Closed forms of ∂{out}/∂node:"), ""]
        lines += _md_table(["node", md_escape(f"∂{out}/∂node")], "ll", forms)
    if result.trace is not None:
        steps, cut = trace_window(trace_rows(result), rows, TRACE_GAP)
        lines += ["", md_escape(f"The backward pass, step by step ({trace_footer(result, cut)}):"), ""]
        lines += _md_table(["#", "node", "what happens", md_escape(f"∂{out}/∂node")], "rllr",
                           [[n, md_code(node), md_escape(what), total]
                            for n, node, what, total in steps])
    lines += [""] + [f"- {md_escape(line.strip())}" for line in summary_lines(result)]
    return "\n".join(lines)


# --- LaTeX --------------------------------------------------------------------------------------
# A whole document that pdflatex compiles as it is (article and amsmath, like `explain`'s);
# the table environment in it is what to paste into a paper or slides.

def latex_value(x: float) -> str:
    return latex_number(fmt(x))


MAX_LATEX_NAME = 60  # characters of a name or an expression in a cell: pdflatex reads lines
MAX_LATEX_NOTE = 400  # of at most 200,000 characters, and a cell does not wrap
MAX_CAPTION_INPUTS = 8


def _name(name: str) -> str:
    return latex_name(name if len(name) <= MAX_LATEX_NAME else name[:MAX_LATEX_NAME - 1] + "…")


def _partial(top: str, bottom: str) -> str:
    return rf"\partial {_name(top)}/\partial {_name(bottom)}"


def _expression(graph, statement) -> str:
    """Typeset, or for a long expression its first characters as written."""
    text = expression_text(graph, statement)
    if len(text) <= MAX_LATEX_NAME:
        return f"${format_rpn_latex(statement.rpn)}$"
    return r"\texttt{" + latex_text(text[:MAX_LATEX_NAME - 1] + "…") + "}"


def _longtable(spec: str, header: str, rows: list[str], caption: str = "") -> list[str]:
    """A table that breaks across pages (a tabular in a float cannot be taller than one)."""
    top = [rf"\caption{{{caption}}}\\"] if caption else []
    return ([rf"\begin{{longtable}}{{{spec}}}"] + top + [r"\hline", header + r" \\", r"\hline",
            r"\endhead"] + rows + [r"\hline", r"\end{longtable}"])


def latex(result: Result, rows: int | None) -> str:
    nodes, edges = select_rows(result, rows)
    check, out = result.check, result.output
    statements = {s.target: s for s in result.graph.statements}
    d_out = rf"$\partial {_name(out)}/\partial\,\mathrm{{node}}$"
    node_rows = []
    for n in nodes:
        expression = _expression(result.graph, statements[n.name]) if n.kind != "input" and \
            n.name in statements else ""
        cells = [f"${_name(n.name)}$", n.kind, expression, f"${latex_value(n.value)}$",
                 f"${latex_value(n.grad)}$"]
        if check:
            verdict = check.nodes.get(n.name)
            cells.append(verdict.status if verdict else "")
        node_rows.append(" & ".join(cells) + r" \\")
    lines = [r"\documentclass{article}", r"\usepackage{amsmath}", r"\usepackage{longtable}",
             r"\begin{document}"]
    lines += _longtable("lllrr" + "l" * bool(check),
                        f"node & kind & expression & value & {d_out}" + (" & check" if check else ""),
                        node_rows, caption=_caption(result, d_out))
    if edges:
        lines += _longtable("lr", "edge & local partial", [
            rf"${_partial(e.target, e.source)}$ & ${latex_value(e.local)}$ \\" for e in edges])
    if result.symbolic is not None:
        shown = {n.name for n in nodes}
        lines += _longtable("ll", f"node & {d_out}", [
            rf"${_name(name)}$ & " + (f"${form}$" if form else "(too large)") + r" \\"
            for name, form in result.symbolic.latex.items() if name in shown])
    if result.trace is not None:
        lines += _latex_trace(result, rows)
    lines += [r"{\footnotesize"]
    lines += [latex_text(_clip_note(line.strip())) + r"\par" for line in summary_lines(result)]
    lines += ["}", r"\end{document}"]
    return "\n".join(lines)


def _caption(result: Result, d_out: str) -> str:
    inputs = list(result.inputs.items())
    at = ", ".join(f"${_name(k)} = {latex_value(v)}$" for k, v in inputs[:MAX_CAPTION_INPUTS])
    if len(inputs) > MAX_CAPTION_INPUTS:
        at += rf", \ldots{{}} ({len(inputs) - MAX_CAPTION_INPUTS:,} more inputs)"
    name = result.graph.source.name
    return (r"\texttt{" + latex_text(name if len(name) <= 200 else name[:199] + "…") + "}: " +
            f"{d_out} at {at or 'no inputs'}")


def _clip_note(line: str) -> str:
    return line if len(line) <= MAX_LATEX_NOTE else line[:MAX_LATEX_NOTE - 1] + "…"


def _latex_trace(result: Result, rows: int | None) -> list[str]:
    shown, cut = trace_window(list(enumerate(result.trace, 1)), rows, None)
    body = [r"\ldots & & \ldots \\" if row is None else
            rf"{row[0]} & ${_name(row[1].node)}$ & {_latex_step(result, row[1])} \\" for row in shown]
    footer = latex_text(trace_footer(result, cut))
    return _longtable("rll", r"\# & node & what happens in the backward pass", body) + \
        [rf"{{\footnotesize {footer}}}\par"]


def _latex_step(result: Result, step) -> str:
    d = _partial(result.output, step.node)
    if step.event == "seed":
        return f"${d} = 1$ (the pass starts at the output)"
    if step.event == "add":
        return (f"${d} \\mathrel{{+}}= {_partial(result.output, step.user)} \\cdot "
                f"{_partial(step.user, step.node)} = {latex_value(step.user_grad)} \\cdot "
                f"{latex_value(step.local)} = {latex_value(step.contribution)}$")
    if step.event == "final":
        return f"${d} = {latex_value(step.total)}$ is final (a hook fires)"
    return f"${d} = 0$: no path from the output"
