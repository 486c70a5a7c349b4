"""Command-line input values: `--x 3`, `--x=-3`, `--set x=3` -> {name: float}. Pure."""

from __future__ import annotations

import re

from .errors import InputError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_NUMBER = re.compile(r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)\Z",
                     re.IGNORECASE)


# A pair is (name, value text, the option as the user wrote it, for messages).


def split_value_tokens(tokens: list[str]) -> list[tuple[str, str, str]]:
    """Pair `--NAME VALUE` and `--NAME=VALUE` tokens; a value may start with '-'."""
    pairs = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--") or token == "--":
            raise InputError(f"unexpected argument '{token}'\n"
                             "  = hint: give input values as --NAME VALUE (for example --x 3)")
        name, eq, value = token[2:].partition("=")
        if not eq:
            if i + 1 >= len(tokens) or (tokens[i + 1].startswith("--") and
                                        not _NUMBER.match(tokens[i + 1])):
                raise InputError(f"--{name} needs a value, as in --{name} 3")
            value = tokens[i + 1]
            i += 1
        pairs.append((name, value, f"--{name}"))
        i += 1
    return pairs


def split_set_option(items: tuple[str, ...]) -> list[tuple[str, str, str]]:
    pairs = []
    for item in items:
        name, eq, value = item.partition("=")
        if not eq:
            raise InputError(f"--set {item}: expected NAME=VALUE, as in --set x=3")
        pairs.append((name.strip(), value, f"--set {item}"))
    return pairs


def parse_values(pairs: list[tuple[str, ...]]) -> dict[str, float]:
    """(name, value text[, option as written]) pairs -> {name: value}."""
    values: dict[str, float] = {}
    given: dict[str, str] = {}
    for name, text, *written in pairs:
        option = written[0] if written else f"--{name}"
        if not _NAME.match(name):
            raise InputError(f"{option}: not a valid input name (letters, digits and _)")
        shown = option if option.startswith("--set") else f"{option} {text}"
        if name in values:
            raise InputError(f"input '{name}' is given a value twice ({given[name]} and {shown})")
        if not _NUMBER.match(text.strip()):
            raise InputError(f"{option}: '{text}' is not a number "
                             "(decimal, optionally with an exponent; inf and nan are allowed)")
        values[name] = float(text)
        given[name] = shown
    return values
