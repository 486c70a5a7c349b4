"""Result -> JSON text or rich renderables. Renderers compute nothing; rounding lives here."""

from __future__ import annotations

import json
import math

from .core import Result

_NONFINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def json_number(x: float):
    """RFC 8259 has no nan or infinity: they become strings, as in protobuf's JSON mapping."""
    if x != x:
        return "NaN"
    return _NONFINITE.get(x, x)


def to_json(result: Result) -> dict:
    doc = {
        "output": result.output,
        "inputs": {k: json_number(v) for k, v in result.inputs.items()},
        "values": {n.name: json_number(n.value) for n in result.nodes},
        "gradients": {n.name: json_number(n.grad) for n in result.nodes},
        "expressions": {n.name: n.expression for n in result.nodes if n.expression},
        "edges": [{"from": e.source, "to": e.target, "local": json_number(e.local)}
                  for e in result.edges],
        "kinks": result.kinks,
        "nonfinite": result.anomalies,
        "check": None if result.check is None else _check_json(result.check, result.edges),
    }
    if result.symbolic is not None:
        s = result.symbolic
        doc["symbolic"] = {"gradients": s.gradients, "in_terms_of_inputs": s.in_terms_of_inputs,
                           "notes": s.notes}
    return doc


def _check_json(c, edges) -> dict:
    return {
        "ok": c.ok,
        "method": c.method,
        "rtol": c.rtol,
        "atol": c.atol,
        "gradients": {name: _verdict_json(v) for name, v in c.nodes.items()},
        "edges": [{"from": e.source, "to": e.target, **_verdict_json(c.edges[e.source, e.target])}
                  for e in edges if (e.source, e.target) in c.edges],
        "mismatches": c.mismatches,
        "notes": c.notes,
    }


def _verdict_json(v) -> dict:
    return {"status": v.status,
            "sympy": None if v.expected is None else json_number(v.expected),
            "error": None if v.error is None else json_number(v.error)}


def dumps(result: Result, indent: int | None = None) -> str:
    # allow_nan=False: a non-finite number that escaped json_number fails loudly here.
    return json.dumps(to_json(result), allow_nan=False, ensure_ascii=False, indent=indent)


# --- tables -------------------------------------------------------------------------------

def fmt(x: float) -> str:
    """The one place numbers are rounded: 10 significant digits, no exponent below 1e16."""
    if x != x:
        return "nan"
    if x in (math.inf, -math.inf):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    return f"{x:.10g}"


_MARKS = {"ok": ("✓", "green"), "mismatch": ("✗", "bold red"),
          "unverified": ("?", "yellow"), "skipped": ("–", "dim")}


def _mark(verdict) -> str:
    from rich.text import Text
    if verdict is None:
        return Text("")
    symbol, style = _MARKS[verdict.status]
    return Text(symbol, style=style)


def tables(result: Result) -> list:
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    out = result.output
    check = result.check
    title = f"{escape(result.graph.source.name)}: ∂{escape(out)}/∂node at " + (
        ", ".join(f"{escape(k)}={fmt(v)}" for k, v in result.inputs.items()) or "no inputs")
    nodes = Table(title=title, title_justify="left", expand=False)
    nodes.add_column("node", no_wrap=True, style="bold")
    nodes.add_column("kind", no_wrap=True)
    nodes.add_column("expression", overflow="fold", ratio=1)
    nodes.add_column("value", justify="right", no_wrap=True)
    nodes.add_column(f"∂{escape(out)}/∂node", justify="right", no_wrap=True)
    if check is not None:
        nodes.add_column("check", justify="center", no_wrap=True)
    for n in result.nodes:
        row = [Text(n.name), n.kind, Text(n.expression), fmt(n.value), fmt(n.grad)]
        if check is not None:
            row.append(_mark(check.nodes.get(n.name)))
        nodes.add_row(*row)
    renderables = [nodes]
    if result.edges:
        edges = Table(title="local partials ∂to/∂from", title_justify="left")
        edges.add_column("edge", no_wrap=True)
        edges.add_column("local partial", justify="right", no_wrap=True)
        if check is not None:
            edges.add_column("check", justify="center", no_wrap=True)
        for e in result.edges:
            row = [Text(f"∂{e.target}/∂{e.source}"), fmt(e.local)]
            if check is not None:
                row.append(_mark(check.edges.get((e.source, e.target))))
            edges.add_row(*row)
        renderables.append(edges)
    if result.symbolic is not None:
        renderables.append(_symbolic_table(result))
    renderables.append(summary(result))
    return renderables


def _symbolic_table(result: Result):
    from rich.table import Table
    from rich.text import Text
    s = result.symbolic
    table = Table(title=f"closed forms of ∂{result.output}/∂node", title_justify="left")
    table.add_column("node", no_wrap=True, style="bold")
    table.add_column(f"∂{result.output}/∂node", overflow="fold")
    for name, form in s.gradients.items():
        shown = Text(form) if form is not None else Text("(too large)", style="dim")
        if form is not None and not s.in_terms_of_inputs.get(name, True):
            shown.append("  (in intermediate names)", style="dim")
        table.add_row(Text(name), shown)
    return table


def summary(result: Result):
    from rich.text import Text
    text = Text()
    c = result.check
    if c is None:
        text.append("check: skipped (--no-check)", style="dim")
    elif c.ok:
        counted = sum(v.status == "ok" for v in c.nodes.values())
        edges = sum(v.status == "ok" for v in c.edges.values())
        text.append("check: ✓ ", style="bold green")
        text.append(f"{counted} of {len(c.nodes)} gradients and {edges} of {len(c.edges)} local "
                    f"partials agree with sympy (rtol {c.rtol:g}, atol {c.atol:g})")
        text.append(f"\n  how: {c.method}", style="dim")
    else:
        text.append("check: ✗ MISMATCH ", style="bold red")
        text.append(f"{len(c.mismatches)} value(s) disagree with sympy (rtol {c.rtol:g}, "
                    f"atol {c.atol:g}):")
        for m in c.mismatches:
            text.append(f"\n  {m}")
    notes = list(result.kinks) + list(result.anomalies)
    if c is not None:
        notes += [n for n in c.notes if not n.startswith("kinks checked")]
    if result.symbolic is not None:
        notes += result.symbolic.notes
    for note in notes:
        text.append("\nnote: ", style="yellow")
        text.append(note)
    return text
