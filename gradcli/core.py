"""The pure core: graph text and input values in, a Result out. It never prints or exits."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from .anomalies import AnomalyReport
from .check import CheckReport, run_checks
from .errors import InputError, Source, SourceError
from .evaluate import Edge, Tape, evaluate, trace_backward
from .graph import Graph, build_graph, select_output
from .lexer import normalize


class Node(NamedTuple):  # a tuple: made by the million, so made fast
    name: str
    kind: str  # "input" | "intermediate" | "output"
    expression: str  # the defining expression as written, or "" for an input
    value: float
    grad: float


@dataclass
class Result:
    graph: Graph
    output: str
    inputs: dict[str, float]
    nodes: list[Node]
    edges: list[Edge]
    kinks: list[str]
    anomalies: AnomalyReport
    tape: Tape
    slot_values: list[float]
    check: CheckReport | None = None
    symbolic: object | None = None  # symbolic.SymbolicForms
    trace: list | None = None  # evaluate.TraceStep, in the order the backward pass ran

    @property
    def ok(self) -> bool:
        return self.check is None or self.check.ok


def load(name: str, text: str) -> Graph:
    return build_graph(Source(name, normalize(text)))


# Inputs with these names clash with an option of a gradcli command: they take --set NAME=VALUE.
OPTION_NAMES = {"set", "output", "format", "rows", "all", "symbolic", "check", "no_check", "help",
                "h", "version", "trace", "wrt", "show", "o"}


def bind_inputs(graph: Graph, values: dict[str, float]) -> list[float]:
    """Input values in graph order; every input needs one and nothing else may have one."""
    for name in values:
        if name in graph.inputs:
            continue
        if name in graph.assigned:
            raise InputError(f"'{name}' is assigned in {graph.source.name}, so it takes no value; "
                             f"inputs are: {', '.join(graph.inputs) or '(none)'}")
        close = difflib.get_close_matches(name, graph.inputs, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else \
            f"; inputs are: {', '.join(graph.inputs) or '(none)'}"
        raise InputError(f"'{name}' is not an input of {graph.source.name}{hint}")
    missing = [n for n in graph.inputs if n not in values]
    if missing:
        flags = " ".join(f"--set {n}=VALUE" if n in OPTION_NAMES else f"--{n} VALUE" for n in missing)
        plural = "s for inputs" if len(missing) > 1 else " for input"
        raise InputError(f"missing value{plural} "
                         f"{', '.join(missing)}\n  = hint: add {flags}")
    return [values[n] for n in graph.inputs]


def differentiate(graph: Graph, values: dict[str, float], output: str | None = None,
                  check: bool | tuple[str, ...] = True, symbolic: bool = False,
                  trace: bool = False, progress: Callable[[str], None] | None = None) -> Result:
    """check: True for the sympy check, False for none, or a tuple of check.METHODS;
    trace: also record the backward pass step by step (Result.trace);
    progress: told what is being done, phase by phase (the CLI shows it on a terminal)."""
    say = progress or _quiet
    out = select_output(graph, output)
    say(f"evaluating and differentiating {len(graph.statements):,} statements")
    ev = evaluate(graph, bind_inputs(graph, values), out)
    result = Result(graph, out, {n: values[n] for n in graph.inputs},
                    _nodes(graph, out, ev.values, ev.grads), ev.edges, ev.kinks, ev.anomalies,
                    ev.tape, ev.slot_values)
    if trace:
        result.trace = trace_backward(ev.tape, graph, ev.slot_values, out, ev.edges)
    methods = ("sympy",) if check is True else (check or ())
    if methods:
        result.check = run_checks(result, tuple(methods), say)
    if symbolic:
        say("closed forms with sympy")
        from .symbolic import closed_forms  # sympy is slow to import: only when asked for
        result.symbolic = closed_forms(result)
    return result


def _quiet(what: str) -> None:
    pass


def expression_text(graph: Graph, statement) -> str:
    """The expression as the user wrote it; re-printed if it spans lines or has tabs."""
    text = graph.source.text[statement.start:statement.end]
    if "\n" in text or "\t" in text:
        from .printer import format_rpn
        return format_rpn(statement.rpn)
    return text


def _nodes(graph: Graph, output: str, values, grads) -> list[Node]:
    nodes = []
    for i, name in enumerate(graph.inputs):
        nodes.append(Node(name, "output" if name == output else "input", "", values[i], grads[i]))
    n = len(graph.inputs)
    for j, s in enumerate(graph.statements):
        kind = "output" if s.target == output else "intermediate"
        nodes.append(Node(s.target, kind, expression_text(graph, s), values[n + j], grads[n + j]))
    return nodes


def decode(name: str, data: bytes, limit: int) -> str:
    """Bytes of a graph file -> text, refusing what is not a small UTF-8 text file."""
    if len(data) > limit:
        raise InputError(f"{name}: larger than {limit // (1024 * 1024)} MiB; "
                         "gradcli reads graph files up to that size")
    if b"\x00" in data:
        at = data.index(b"\x00")
        prefix = data[:at].decode("utf-8", errors="replace")
        shown = Source(name, normalize(prefix + "\ufffd" + data[at + 1:].decode("utf-8", errors="replace")))
        raise SourceError(shown, len(normalize(prefix)), f"looks binary: a NUL byte (offset {at}); "
                          "a graph file is UTF-8 text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        # Point at the bad byte in the text as far as it decodes, replacing what does not.
        shown = Source(name, normalize(data[:e.start].decode("utf-8") + "\ufffd" +
                                       data[e.end:].decode("utf-8", errors="replace")))
        offset = len(normalize(data[:e.start].decode("utf-8")))
        raise SourceError(shown, offset, f"not UTF-8 text: byte 0x{data[e.start]:02x} cannot "
                          "start or continue a character", hint="save the file as UTF-8") from None
