"""Source positions, the error hierarchy and exit codes."""

from __future__ import annotations

import bisect
import enum
from dataclasses import dataclass


class ExitCode(enum.IntEnum):
    OK = 0
    CHECK_MISMATCH = 1  # results printed, but the sympy check disagreed
    BAD_INPUT = 2  # usage, graph file or values


@dataclass(frozen=True)
class Source:
    """A graph's text and the name it is reported under (a path or '<stdin>')."""

    name: str
    text: str

    def line_col(self, offset: int) -> tuple[int, int]:
        """1-based line and column of a character offset."""
        starts = self._line_starts()
        line = bisect.bisect_right(starts, offset) - 1
        return line + 1, offset - starts[line] + 1

    def line_text(self, line: int) -> str:
        starts = self._line_starts()
        start = starts[line - 1]
        end = starts[line] - 1 if line < len(starts) else len(self.text)
        return self.text[start:end].rstrip("\r")

    def _line_starts(self) -> list[int]:
        cached = self.__dict__.get("_starts")
        if cached is None:
            cached = [0]
            find = self.text.find
            i = find("\n")
            while i != -1:
                cached.append(i + 1)
                i = find("\n", i + 1)
            object.__setattr__(self, "_starts", cached)
        return cached


class GradcliError(Exception):
    """An error the user caused; `exit_code` says how the command ends."""

    exit_code = ExitCode.BAD_INPUT

    def render(self) -> str:
        return f"error: {self}"


# Long source lines are cut to a window around the caret so one error stays readable.
_WINDOW = 100


class SourceError(GradcliError):
    """An error at a place in a graph file, shown rustc-style with a caret."""

    def __init__(self, source: Source, offset: int, message: str, hint: str = "",
                 length: int = 1, also: tuple[int, str] | None = None):
        super().__init__(message)
        self.source, self.offset, self.message = source, offset, message
        self.hint, self.length, self.also = hint, max(1, length), also

    def render(self) -> str:
        line, col = self.source.line_col(self.offset)
        out = [f"{self.source.name}:{line}:{col}: error: {self.message}"]
        out += _excerpt(self.source, line, col, self.length)
        if self.also is not None:
            other, label = self.also
            oline, ocol = self.source.line_col(other)
            out.append(f"{self.source.name}:{oline}:{ocol}: note: {label}")
            out += _excerpt(self.source, oline, ocol, 1)
        if self.hint:
            out.append(f"  = hint: {self.hint}")
        return "\n".join(out)

    def __str__(self) -> str:
        return self.render()


def _excerpt(source: Source, line: int, col: int, length: int) -> list[str]:
    text = source.line_text(line).expandtabs(1)
    start = max(0, col - 1 - _WINDOW // 2) if len(text) > _WINDOW else 0
    shown = text[start:start + _WINDOW]
    prefix = "..." if start else ""
    suffix = "..." if start + _WINDOW < len(text) else ""
    shown = "".join(ch if ch.isprintable() else "?" for ch in shown)
    gutter = f"{line} | "
    caret_at = len(prefix) + col - 1 - start
    width = max(1, min(length, len(shown) - (col - 1 - start)))
    return [f"{gutter}{prefix}{shown}{suffix}",
            " " * (len(gutter) - 2) + "| " + " " * caret_at + "^" * width]


class InputError(GradcliError):
    """Bad values on the command line or an unreadable graph file."""
