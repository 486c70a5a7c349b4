"""Statements -> a validated graph: inputs, nodes in order, the output."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InputError, Source, SourceError
from .parser import Statement, parse


@dataclass(frozen=True)
class Graph:
    source: Source
    statements: list[Statement]
    inputs: list[str]  # in order of first use
    input_offsets: dict[str, int]  # first use, for messages

    @property
    def assigned(self) -> list[str]:
        return [s.target for s in self.statements]

    @property
    def nodes(self) -> list[str]:
        return self.inputs + self.assigned


def build_graph(source: Source) -> Graph:
    statements = parse(source)
    if not statements:
        raise InputError(f"{source.name}: the graph is empty (no statements)\n"
                         "  = hint: write statements like `u = x*w; v = u + b; a = relu(v)`")
    defined_at = _assignments(source, statements)
    inputs, first_use = _inputs(source, statements, defined_at)
    return Graph(source, statements, inputs, first_use)


def _assignments(source: Source, statements: list[Statement]) -> dict[str, int]:
    """Where each name is assigned; a second assignment is an error naming both places."""
    defined_at: dict[str, int] = {}
    for s in statements:
        first = defined_at.get(s.target)
        if first is not None:
            raise SourceError(source, s.offset, f"'{s.target}' is assigned twice",
                              length=len(s.target), also=(first, "first assigned here"),
                              hint="each name is assigned exactly once; use a new name")
        defined_at[s.target] = s.offset
    return defined_at


def _inputs(source, statements, defined_at):
    """Names used but never assigned, in order of first use; checks define-before-use."""
    inputs: list[str] = []
    first_use: dict[str, int] = {}
    done: set[str] = set()
    for s in statements:
        for item in s.rpn:
            if item[0] != "name" or item[1] in done:
                continue
            name, offset = item[1], item[2]
            where = defined_at.get(name)
            if where is None:
                if name not in first_use:
                    first_use[name] = offset
                    inputs.append(name)
                continue
            raise SourceError(source, offset, f"'{name}' is used before it is assigned",
                              length=len(name), also=(where, "assigned here"),
                              hint="move the assignment above its first use")
        done.add(s.target)
    return inputs, first_use


def select_output(graph: Graph, output: str | None) -> str:
    if output is None:
        return graph.statements[-1].target
    if output not in graph.nodes:
        import difflib
        close = difflib.get_close_matches(output, graph.nodes, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise InputError(f"--output {output}: no node of that name in {graph.source.name}{hint}")
    return output
