"""Graph text -> tokens (kind, text, offset), one pass with one regular expression."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

from .errors import Source, SourceError

# Kinds: num name op ( ) , = ; nl eof. Anything else is an error raised here.
_TOKEN = re.compile(r"""
   (?P<ws>[ \t\f\v]+)
  |(?P<comment>\#[^\n]*)
  |(?P<nl>\n)
  |(?P<num>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
  |(?P<name>[A-Za-z_][A-Za-z0-9_]*)
  |(?P<op>\*\*|[-+*/^])
  |(?P<punct>[(),;])
  |(?P<cmp>==|!=|<=|>=|<|>)
  |(?P<eq>=)
  |(?P<bad>.)
""", re.VERBOSE)

_NUMBER_TAIL = re.compile(r"[A-Za-z0-9_.]")

Token = tuple  # (kind, text, offset)


def normalize(text: str) -> str:
    """One line-end convention and no byte-order mark, so columns match an editor's."""
    text = text.removeprefix("\ufeff")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def tokenize(source: Source) -> Iterator[Token]:
    text = source.text
    names: dict[str, str] = {}  # one string object per distinct name: a big graph repeats them
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind == "ws" or kind == "comment":
            continue
        start = m.start()
        if kind == "punct":
            yield m.group(), m.group(), start
        elif kind == "num":
            end = m.end()
            if end < len(text) and _NUMBER_TAIL.match(text, end):
                raise _bad_number(source, start, end)
            yield "num", m.group(), start
        elif kind == "eq":
            yield "=", "=", start
        elif kind == "cmp" or kind == "bad":
            raise _unexpected(source, start, m.group())
        elif kind == "name":
            name = m.group()
            yield kind, names.setdefault(name, name), start
        else:
            yield kind, m.group(), start
    while True:  # the end repeats, so a reader may look past it
        yield "eof", "", len(text)


_NUMBER_RUN = re.compile(r"[A-Za-z0-9_.]*")


def _bad_number(source: Source, start: int, end: int) -> SourceError:
    text = source.text
    tail = text[end]
    number = text[start:end]
    whole = text[start:_NUMBER_RUN.match(text, start).end()]
    if tail in "eE" and "e" not in number.lower():
        return SourceError(source, start, f"malformed number '{number}{tail}': an exponent "
                           "needs digits", hint="write 1e3 or 1e-3", length=end - start + 1)
    if tail == "_" and whole.replace("_", "").replace(".", "").isdigit():
        return SourceError(source, start, f"digit separators are not supported: '{whole}'",
                           hint=f"write {whole.replace('_', '')}", length=len(whole))
    if number == "0" and tail in "xXbBoO":
        return SourceError(source, start, f"hexadecimal, binary and octal literals are not "
                           f"supported: '{whole}'", hint="write the number in decimal",
                           length=len(whole))
    if tail == "." or (tail in "eE" and "e" in number.lower()):
        return SourceError(source, start, f"malformed number '{whole}'", length=len(whole),
                           hint="a number is digits, an optional '.' and digits, and an optional "
                                "exponent: 2, 2.5, .5, 1e-3")
    if tail.isalpha() or tail == "_":
        return SourceError(source, end, f"a number cannot be followed by '{tail}'",
                           hint=f"write {number}*{tail} for a product")
    return SourceError(source, start, f"malformed number '{whole}'", length=len(whole))


_MESSAGES = {
    '"': "strings are not part of the graph language",
    "'": "strings are not part of the graph language",
    ".": "attribute access is not part of the graph language",
    "[": "subscripts are not part of the graph language",
    "]": "subscripts are not part of the graph language",
    "{": "braces are not part of the graph language",
    "}": "braces are not part of the graph language",
    ":": "':' is not part of the graph language (no lambdas, slices or annotations)",
    "%": "'%' is not an operator here; operators are + - * / ** ^",
    "@": "'@' is not an operator here; operators are + - * / ** ^",
}


def _unexpected(source: Source, offset: int, text: str) -> SourceError:
    if text in ("==", "!=", "<=", ">=", "<", ">"):
        return SourceError(source, offset, f"comparisons ('{text}') are not part of the graph language",
                           length=len(text))
    if text == "." and re.match(r"\.[eE][+-]?[0-9]", source.text[offset:offset + 4]):
        whole = _NUMBER_RUN.match(source.text, offset).group()
        return SourceError(source, offset, f"malformed number '{whole}': digits are needed "
                           "before the exponent", hint="write 1e3 or 0.1e3", length=len(whole))
    if text in _MESSAGES:
        return SourceError(source, offset, _MESSAGES[text])
    code = f"U+{ord(text):04X}"
    name = unicodedata.name(text, "")
    described = f"{code} {name}" if name else code
    hint = ""
    if text.isalpha():
        hint = "names use ASCII letters, digits and _"
    elif text.isspace():
        hint = "only ASCII spaces and tabs separate tokens"
    shown = repr(text) if text.isprintable() else code
    if not text.isprintable():
        return SourceError(source, offset, f"unexpected character {described}", hint=hint)
    return SourceError(source, offset, f"unexpected character {shown} ({described})", hint=hint)
