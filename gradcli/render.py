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
    nodes = result.nodes
    return {**_head(result),
            "values": {n.name: json_number(n.value) for n in nodes},
            "gradients": {n.name: json_number(n.grad) for n in nodes},
            "expressions": {n.name: n.expression for n in nodes if n.expression},
            "edges": [{"from": e.source, "to": e.target, "local": json_number(e.local)}
                      for e in result.edges],
            **_tail(result)}


def _head(result: Result) -> dict:
    return {"output": result.output,
            "inputs": {k: json_number(v) for k, v in result.inputs.items()}}


def _tail(result: Result) -> dict:
    doc = {"kinks": result.kinks, "nonfinite": _anomalies_json(result.anomalies),
           "check": None if result.check is None else _check_json(result.check, result.edges)}
    if result.trace is not None:
        doc["trace"] = [_step_json(step) for step in result.trace]
    if result.symbolic is not None:
        s = result.symbolic
        doc["symbolic"] = {"gradients": s.gradients, "in_terms_of_inputs": s.in_terms_of_inputs,
                           "notes": s.notes}
    return doc


def _step_json(step) -> dict:
    if step.event == "add":
        return {"event": "add", "node": step.node, "from": step.user,
                "from_grad": json_number(step.user_grad), "local": json_number(step.local),
                "added": json_number(step.contribution), "grad": json_number(step.total)}
    return {"event": step.event, "node": step.node, "grad": json_number(step.total)}


def _anomalies_json(a) -> dict:
    def origin(x):
        return {"node": x.node, "op": x.op, "text": x.text, "result": json_number(x.result),
                "operands": [{"as": text, "value": json_number(v)} for text, v in x.operands],
                **({"into": x.into} if x.into is not None else {})}
    return {"inputs": [n for n, _ in a.nonfinite_inputs],
            "forward": [origin(x) for x in a.forward], "passed_on_forward": a.passed_on_forward,
            "backward": [origin(x) for x in a.backward], "passed_on_backward": a.passed_on_backward,
            "more": a.more}


def _check_json(c, edges) -> dict:
    return {
        "ok": c.ok,
        "methods": {m.name: {"how": m.how, "rtol": m.rtol, "atol": m.atol,
                             "seconds": round(m.seconds, 6), "mismatches": m.mismatches,
                             "notes": m.notes} for m in c.methods.values()},
        "gradients": {name: _verdict_json(v) for name, v in c.nodes.items()},
        "edges": [{"from": e.source, "to": e.target, **_verdict_json(c.edges[e.source, e.target])}
                  for e in edges if (e.source, e.target) in c.edges],
        "mismatches": c.mismatches,
        "notes": c.notes,
    }


def _verdict_json(v) -> dict:
    return {"status": v.status, "agreed": v.agreed,
            "error": None if v.error is None else json_number(v.error),
            "values": {m: None if x is None else json_number(x) for m, x in v.values.items()}}


def dumps(result: Result, indent: int | None = None) -> str:
    """The JSON document: to_json(result), written (indented for a person at a terminal)."""
    if indent is not None:
        # allow_nan=False: a non-finite number that escaped json_number fails loudly here.
        return json.dumps(to_json(result), allow_nan=False, ensure_ascii=False, indent=indent)
    return "".join(json_chunks(result))


def json_chunks(result: Result, edges_per_chunk: int = 20_000):
    """The compact document in pieces, so a big graph's JSON is never all in memory at once:
    the per-node parts go straight to text instead of millions of small dicts first (the test
    suite checks the text is exactly json.dumps(to_json(result)))."""
    encode = _COMPACT.encode
    names = [n.name for n in result.nodes]
    yield "{" + ", ".join(f"{encode(key)}: {encode(value)}" for key, value in _head(result).items())
    yield ', "values": ' + _number_map(names, [n.value for n in result.nodes])
    yield ', "gradients": ' + _number_map(names, [n.grad for n in result.nodes])
    yield ', "expressions": ' + encode({n.name: n.expression for n in result.nodes if n.expression})
    quoted = {n: encode(n) for n in names}
    edges = result.edges
    yield ', "edges": ['
    for start in range(0, len(edges), edges_per_chunk):
        yield (", " if start else "") + _edges_text(edges[start:start + edges_per_chunk], quoted)
    yield "]"
    for key, value in _tail(result).items():
        yield f", {encode(key)}: {encode(value)}"
    yield "}"


_COMPACT = json.JSONEncoder(allow_nan=False, ensure_ascii=False)


def _number_map(names: list[str], numbers: list[float]) -> str:
    if not all(map(math.isfinite, numbers)):
        numbers = [json_number(x) for x in numbers]
    return _COMPACT.encode(dict(zip(names, numbers)))


def _edges_text(edges, quoted: dict[str, str]) -> str:
    number = float.__repr__  # what json writes for a finite float
    return ", ".join(
        f'{{"from": {quoted[e.source]}, "to": {quoted[e.target]}, "local": '
        f'{number(e.local) if math.isfinite(e.local) else _COMPACT.encode(json_number(e.local))}}}'
        for e in edges)


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


_MARKS = {"ok": ("✓", "green"), "mismatch": ("✗", "bold red"), "unverified": ("?", "yellow"),
          "excluded": ("~", "cyan"), "skipped": ("–", "dim")}


def _mark_text(verdict, methods: int) -> str:
    """✓ alone for one method; with several, which ones agreed: ✓ sympy·fwd·fd."""
    if verdict is None:
        return ""
    symbol = _MARKS[verdict.status][0]
    if methods > 1 and verdict.agreed:
        return f"{symbol} {'·'.join(_SHORT[m] for m in verdict.agreed)}"
    return symbol


def _mark(verdict, methods: int):
    from rich.text import Text
    if verdict is None:
        return Text("")
    return Text(_mark_text(verdict, methods), style=_MARKS[verdict.status][1])


DEFAULT_ROWS = 50  # a table longer than this shows its most telling rows
PLAIN_ROWS = 1000  # past this many rows, plain text: a rich Table costs ~0.3 ms a row
EXPRESSION_WIDTH = 60  # characters of an expression in a table, a figure or a document


def _priority(verdict, is_output: bool, is_input: bool, x: float) -> tuple:
    """Which rows a short table keeps: mismatches, the output, inputs, then by |x|."""
    mismatch = verdict is not None and verdict.status == "mismatch"
    return (mismatch, is_output, is_input, x != x or x - x != 0, abs(x) if x == x else 0.0)


def select_rows(result: Result, rows: int | None):
    """(nodes, edges) to show, in graph order; rows=None means all of them."""
    nodes, edges = result.nodes, result.edges
    if rows is None or (len(nodes) <= rows and len(edges) <= rows):
        return nodes, edges
    import heapq
    verdicts = result.check.nodes if result.check else {}
    node_keys = ((_priority(verdicts.get(n.name), n.kind == "output", n.kind == "input", n.grad), i)
                 for i, n in enumerate(nodes))
    keep = sorted(i for _, i in heapq.nlargest(rows, node_keys))
    shown = [nodes[i] for i in keep]
    edge_verdicts = result.check.edges if result.check else {}
    names = {n.name for n in shown}
    edge_keys = ((_priority(edge_verdicts.get((e.source, e.target)), e.target in names,
                            e.source in names, e.local), i) for i, e in enumerate(edges))
    return shown, [edges[i] for i in sorted(i for _, i in heapq.nlargest(rows, edge_keys))]


def clip(text: str, width: int = EXPRESSION_WIDTH) -> str:
    """At most `width` characters, the last of a longer text being …"""
    return text if len(text) <= width else text[:width - 1] + "…"


def _fits(result: Result, nodes, width: int) -> bool:
    """Whether the boxed table fits without squeezing a name or a number."""
    widest = [max((len(f(n)) for n in nodes), default=0) for f in
              (lambda n: n.name, lambda n: fmt(n.value), lambda n: fmt(n.grad))]
    header = len(f"∂{result.output}/∂node")
    needed = widest[0] + len("intermediate") + 10 + widest[1] + max(widest[2], header) + 5
    return needed + 3 * 6 + 1 <= width


def tables(result: Result, rows: int | None = DEFAULT_ROWS, width: int = 80) -> list:
    """Rich renderables, or plain str blocks (written as they are) for tables too long for
    rich or too wide for the terminal: numbers are never cut or wrapped."""
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    out = result.output
    check = result.check
    shown_nodes, shown_edges = select_rows(result, rows)
    if len(shown_nodes) > PLAIN_ROWS or len(shown_edges) > PLAIN_ROWS or \
            not _fits(result, shown_nodes, width):
        return [plain_rows(result, shown_nodes, shown_edges), *_trace(result, rows, width),
                summary(result)]
    nodes = Table(title=escape(_title(result)), title_justify="left", expand=False)
    nodes.add_column("node", no_wrap=True, style="bold")
    nodes.add_column("kind", no_wrap=True)
    nodes.add_column("expression", overflow="fold", ratio=1)
    nodes.add_column("value", justify="right", no_wrap=True)
    nodes.add_column(f"∂{escape(out)}/∂node", justify="right", no_wrap=True)
    if check is not None:
        nodes.add_column("check", justify="left" if len(check.methods) > 1 else "center",
                         no_wrap=True)
    for n in shown_nodes:
        row = [Text(n.name), n.kind, Text(clip(n.expression)), fmt(n.value), fmt(n.grad)]
        if check is not None:
            row.append(_mark(check.nodes.get(n.name), len(check.methods)))
        nodes.add_row(*row)
    renderables = [nodes]
    if shown_edges:
        edges = Table(title="local partials ∂to/∂from", title_justify="left")
        edges.add_column("edge", no_wrap=True)
        edges.add_column("local partial", justify="right", no_wrap=True)
        if check is not None:
            edges.add_column("check", justify="center", no_wrap=True)
        for e in shown_edges:
            row = [Text(f"∂{e.target}/∂{e.source}"), fmt(e.local)]
            if check is not None:
                row.append(_mark(check.edges.get((e.source, e.target)), len(check.methods)))
            edges.add_row(*row)
        renderables.append(edges)
    if result.symbolic is not None:
        renderables.append(_symbolic_table(result, {n.name for n in shown_nodes}))
    if len(shown_nodes) < len(result.nodes) or len(shown_edges) < len(result.edges):
        renderables.append(Text(_left_out(result, shown_nodes, shown_edges), style="dim"))
    renderables += _trace(result, rows, width)
    renderables.append(summary(result))
    return renderables


def plain_rows(result: Result, nodes, edges) -> str:
    """A long table as aligned plain text: fast at 10**6 rows, and still greppable."""
    check = result.check
    methods = len(check.methods) if check else 0
    mark = (lambda v: _mark_text(v, methods)) if check else (lambda v: "")
    verdicts = check.nodes if check else {}
    cells = [(n.name, n.kind, clip(n.expression, 40), fmt(n.value), fmt(n.grad),
              mark(verdicts.get(n.name))) for n in nodes]
    header = ("node", "kind", "expression", "value", f"∂{result.output}/∂node", "check")
    lines = align([header] + cells, right={3, 4})
    edge_verdicts = check.edges if check else {}
    edge_cells = [(f"∂{e.target}/∂{e.source}", fmt(e.local), mark(edge_verdicts.get((e.source, e.target))))
                  for e in edges]
    lines = [_title(result), ""] + lines
    lines += [""] + align([("edge", "local partial", "check")] + edge_cells, right={1})
    if result.symbolic is not None:
        names = {n.name for n in nodes}
        forms = [(name, form or "(too large)") for name, form in result.symbolic.gradients.items()
                 if name in names]
        lines += ["", f"closed forms of ∂{result.output}/∂node:"] + align(forms, right=set())
    if len(nodes) < len(result.nodes) or len(edges) < len(result.edges):
        lines += ["", _left_out(result, nodes, edges)]
    return "\n".join(lines)


def _title(result: Result) -> str:
    values = ", ".join(f"{k}={fmt(v)}" for k, v in result.inputs.items()) or "no inputs"
    return f"{result.graph.source.name}: ∂{result.output}/∂node at {values}"


def _left_out(result: Result, nodes, edges) -> str:
    return (f"{len(result.nodes) - len(nodes):,} of {len(result.nodes):,} nodes and "
            f"{len(result.edges) - len(edges):,} of {len(result.edges):,} edges not shown (kept: "
            "mismatches, the output, the inputs, the largest gradients); --rows N or --all shows "
            "more, --format json everything")


def align(rows: list[tuple], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.rjust(w) if i in right else c.ljust(w)
                      for i, (c, w) in enumerate(zip(r, widths))).rstrip() for r in rows]


def _symbolic_table(result: Result, rows: set[str]):
    from rich.table import Table
    from rich.text import Text
    s = result.symbolic
    table = Table(title=f"closed forms of ∂{result.output}/∂node", title_justify="left")
    table.add_column("node", no_wrap=True, style="bold")
    table.add_column(f"∂{result.output}/∂node", overflow="fold")
    for name, form in s.gradients.items():
        if name not in rows:
            continue
        shown = Text(form) if form is not None else Text("(too large)", style="dim")
        if form is not None and not s.in_terms_of_inputs.get(name, True):
            shown.append("  (in intermediate names)", style="dim")
        table.add_row(Text(name), shown)
    return table


_SHORT = {"sympy": "sympy", "forward": "fwd", "fd": "fd"}


def summary(result: Result):
    """The check's verdict and the notes, as rich Text (summary_pieces is the same in plain)."""
    from rich.text import Text
    text = Text()
    for piece, style in summary_pieces(result):
        text.append(piece, style=style)
    return text


def summary_lines(result: Result) -> list[str]:
    """The summary as plain lines, for Markdown and LaTeX (no rich to import)."""
    return [line for line in "".join(p for p, _ in summary_pieces(result)).splitlines()
            if line.strip()]


def summary_pieces(result: Result) -> list[tuple[str, str]]:
    """(text, style) pieces of the check's verdict and the notes."""
    pieces: list[tuple[str, str]] = []
    c = result.check
    if c is None:
        pieces.append(("check: skipped (--no-check)", "dim"))
    else:
        pieces.append(("check: ✓ " if c.ok else "check: ✗ MISMATCH ",
                       "bold green" if c.ok else "bold red"))
        agreed = sum(v.status == "ok" for v in c.nodes.values())
        pieces.append((f"{agreed} of {len(c.nodes)} gradients confirmed by "
                       f"{', '.join(c.methods)}" +
                       (f"; {len(c.mismatches)} mismatch(es):" if not c.ok else ""), ""))
        pieces += [(f"\n  {m}", "red") for m in c.mismatches]
        for m in c.methods.values():
            edges = f", local partials {_counts(m.edges.values())}" if m.edges else ""
            pieces.append((f"\n  {m.name}: gradients {_counts(m.nodes.values())}{edges} "
                           f"(rtol {m.rtol:g}, atol {m.atol:g}); {m.how}", "dim"))
    notes = list(result.kinks) + [f"non-finite: {line}" for line in result.anomalies.lines()]
    if c is not None:
        notes += [n for n in c.notes if "kinks checked with the same conventions" not in n]
    if result.symbolic is not None:
        notes += result.symbolic.notes
    if len(notes) > MAX_NOTES:
        notes = notes[:MAX_NOTES] + [f"{len(notes) - MAX_NOTES:,} more notes not shown: "
                                     "--format json lists them all"]
    for note in notes:
        pieces += [("\nnote: ", "yellow"), (note, "")]
    return pieces


MAX_NOTES = 20  # a graph with 3,000 kinks would otherwise bury its tables


def _counts(verdicts) -> str:
    verdicts = list(verdicts)
    parts = [f"{sum(v.status == 'ok' for v in verdicts)} of {len(verdicts)} agree"]
    for status in ("mismatch", "excluded", "unverified", "skipped"):
        n = sum(v.status == status for v in verdicts)
        if n:
            parts.append(f"{n} {status}")
    return ", ".join(parts)


# --- the backward pass, step by step (--trace) ----------------------------------------------

def trace_rows(result: Result) -> list[tuple[str, str, str, str]]:
    """(step, node, what happens, ∂out/∂node so far) for each step of the backward pass."""
    out = result.output
    rows = []
    for i, step in enumerate(result.trace, 1):
        d = f"∂{out}/∂{step.node}"
        if step.event == "seed":
            what = f"{d} = 1: the pass starts at the output"
        elif step.event == "add":
            what = (f"{d} += ∂{out}/∂{step.user} · ∂{step.user}/∂{step.node} = "
                    f"{fmt(step.user_grad)} · {fmt(step.local)} = {fmt(step.contribution)}")
        elif step.event == "final":
            what = f"{d} = {fmt(step.total)} is final: a hook on {step.node} fires now"
        else:
            what = f"{d} = 0: no path from {out}, the pass never gets here"
        rows.append((str(i), step.node, what, fmt(step.total)))
    return rows


def trace_window(rows: list, limit: int | None, gap) -> tuple[list, int]:
    """The first and last steps, with `gap` between, when there are more than `limit`; and
    how many were cut."""
    if limit is None or len(rows) <= limit:
        return rows, 0
    head = limit - limit // 2
    return rows[:head] + [gap] + rows[len(rows) - limit // 2:], len(rows) - limit


TRACE_GAP = ("…", "", "…", "")


def trace_title(result: Result) -> str:
    return f"the backward pass, step by step: one sweep from {result.output} serves every node"


def trace_footer(result: Result, cut: int) -> str:
    finals = sum(step.event == "final" for step in result.trace)
    gradients = "gradient" if finals == 1 else "gradients"
    text = (f"{len(result.trace):,} steps; {finals:,} {gradients} became final, each once all the "
            "nodes that use it were done (register_hook fires then; retain_grad keeps the value)")
    return text + (f"; {cut:,} steps not shown (--rows N or --all)" if cut else "")


def _trace(result: Result, rows: int | None, width: int) -> list:
    return [] if result.trace is None else [trace_table(result, rows, width)]


def trace_table(result: Result, rows: int | None, width: int = 80):
    """A rich Table of the trace, or plain aligned text when long or narrow."""
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text
    shown, cut = trace_window(trace_rows(result), rows, TRACE_GAP)
    widest = max((len(r[2]) for r in shown), default=0)
    if len(shown) > PLAIN_ROWS or widest + 30 > width:
        header = ("#", "node", "what happens", f"∂{result.output}/∂node")
        lines = [trace_title(result), ""] + align([header] + shown, right={0, 3})
        return "\n".join(lines + [trace_footer(result, cut)])
    table = Table(title=escape(trace_title(result)), title_justify="left",
                  caption=escape(trace_footer(result, cut)), caption_justify="left")
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("node", no_wrap=True, style="bold")
    table.add_column("what happens", no_wrap=True)
    table.add_column(f"∂{escape(result.output)}/∂node", justify="right", no_wrap=True)
    for number, node, what, total in shown:
        table.add_row(number, Text(node), Text(what), total)
    return table
