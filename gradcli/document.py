"""Result -> Markdown or LaTeX: the tables of values and gradients, ready to paste."""

from __future__ import annotations

from .core import Result
from .printer import format_rpn_latex, latex_name, latex_number, latex_text
from .render import (
    TRACE_GAP,
    _mark_text,
    _title,
    fmt,
    select_rows,
    summary,
    trace_footer,
    trace_rows,
    trace_window,
)

# --- Markdown (GitHub-flavoured) --------------------------------------------------------------

# Inline specials only: lines never start with text we escape, so `#`, `-`, `+`, `1.` are safe.
_MD_SPECIAL = set("\\`*_[]<>|~")


def md_text(text: str) -> str:
    """Plain text that Markdown shows as it is (no emphasis, links or table breaks)."""
    return "".join("\\" + c if c in _MD_SPECIAL else c for c in text)


def md_code(text: str) -> str:
    """A code span; `|` is escaped because a table cell would otherwise end there."""
    return "`" + text.replace("|", "\\|") + "`" if text else ""


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
    header = ["node", "kind", "expression", "value", f"∂{out}/∂node"] + (["check"] if check else [])
    lines = [f"**{md_text(_title(result))}**", ""]
    lines += _md_table(header, "lllrr" + "c" * bool(check), node_rows)
    edge_rows = [[f"∂{e.target}/∂{e.source}", fmt(e.local)] +
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
        lines += ["", f"Closed forms of ∂{out}/∂node:", ""] + _md_table(["node", f"∂{out}/∂node"],
                                                                         "ll", forms)
    if result.trace is not None:
        steps, cut = trace_window(trace_rows(result), rows, TRACE_GAP)
        lines += ["", md_text(f"The backward pass, step by step ({trace_footer(result, cut)}):"), ""]
        lines += _md_table(["#", "node", "what happens", f"∂{out}/∂node"], "rllr",
                           [[n, md_code(node), what, total] for n, node, what, total in steps])
    lines += [""] + [f"- {md_text(line.strip())}" for line in _summary_lines(result)]
    return "\n".join(lines)


def _summary_lines(result: Result) -> list[str]:
    return [line for line in summary(result).plain.splitlines() if line.strip()]


# --- LaTeX --------------------------------------------------------------------------------------
# A whole document that pdflatex compiles as it is (article and amsmath, like `explain`'s);
# the table environment in it is what to paste into a paper or slides.

def latex_value(x: float) -> str:
    text = fmt(x)
    return {"nan": r"\mathrm{NaN}", "inf": r"\infty", "-inf": r"-\infty"}.get(text) or \
        latex_number(text)


def _partial(top: str, bottom: str) -> str:
    return rf"\partial {latex_name(top)}/\partial {latex_name(bottom)}"


def latex(result: Result, rows: int | None) -> str:
    nodes, edges = select_rows(result, rows)
    check, out = result.check, result.output
    statements = {s.target: s for s in result.graph.statements}
    at = ", ".join(f"${latex_name(k)} = {latex_value(v)}$" for k, v in result.inputs.items())
    lines = [r"\documentclass{article}", r"\usepackage{amsmath}", r"\begin{document}",
             r"\begin{table}[ht]", r"\centering",
             rf"\caption{{{latex_text(result.graph.source.name)}: "
             rf"$\partial {latex_name(out)}/\partial\,\mathrm{{node}}$ at {at or 'no inputs'}}}",
             r"\begin{tabular}{lllrr" + "l" * bool(check) + "}", r"\hline",
             rf"node & kind & expression & value & $\partial {latex_name(out)}/\partial\,"
             r"\mathrm{node}$" + (" & check" if check else "") + r" \\", r"\hline"]
    for n in nodes:
        expression = f"${format_rpn_latex(statements[n.name].rpn)}$" if n.kind != "input" and \
            n.name in statements else ""
        cells = [f"${latex_name(n.name)}$", n.kind, expression, f"${latex_value(n.value)}$",
                 f"${latex_value(n.grad)}$"]
        if check:
            verdict = check.nodes.get(n.name)
            cells.append(verdict.status if verdict else "")
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\hline", r"\end{tabular}"]
    if edges:
        lines += [r"\par\medskip", r"\begin{tabular}{lr}", r"\hline", r"edge & local partial \\",
                  r"\hline"]
        lines += [rf"${_partial(e.target, e.source)}$ & ${latex_value(e.local)}$ \\" for e in edges]
        lines += [r"\hline", r"\end{tabular}"]
    if result.symbolic is not None:
        lines += _latex_closed_forms(result, {n.name for n in nodes})
    if result.trace is not None:
        lines += _latex_trace(result, rows)
    lines += [r"\par\smallskip", r"{\footnotesize"]
    lines += [latex_text(line.strip()) + r"\par" for line in _summary_lines(result)]
    lines += ["}", r"\end{table}", r"\end{document}"]
    return "\n".join(lines)


def _latex_closed_forms(result: Result, shown: set[str]) -> list[str]:
    out = latex_name(result.output)
    lines = [r"\par\medskip", r"\begin{tabular}{ll}", r"\hline",
             rf"node & $\partial {out}/\partial\,\mathrm{{node}}$ \\", r"\hline"]
    for name, form in result.symbolic.latex.items():
        if name in shown:
            lines.append(rf"${latex_name(name)}$ & " + (f"${form}$" if form else "(too large)") +
                         r" \\")
    return lines + [r"\hline", r"\end{tabular}"]


def _latex_trace(result: Result, rows: int | None) -> list[str]:
    numbered = list(enumerate(result.trace, 1))
    shown, cut = trace_window(numbered, rows, None)
    lines = [r"\par\medskip", r"\begin{tabular}{rll}", r"\hline",
             r"\# & node & what happens in the backward pass \\", r"\hline"]
    for row in shown:
        if row is None:
            lines.append(r"\ldots & & \ldots \\")
            continue
        number, step = row
        lines.append(rf"{number} & ${latex_name(step.node)}$ & {_latex_step(result, step)} \\")
    footer = latex_text(trace_footer(result, cut))
    return lines + [r"\hline", r"\end{tabular}", rf"\par{{\footnotesize {footer}}}"]


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
