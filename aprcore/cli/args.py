"""Argument types and the parser class every command uses: bad input is one line, exit 2.

Each type turns a command-line string into a value or raises `argparse.ArgumentTypeError`
with what was expected; `Parser.error` prints `prog: error: ...` as one line (no usage
block) and exits 2, the documented status for usage errors.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _number(text: str, kind: type) -> int | float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, "
                                         f"got {text!r}") from None
    if kind is float and math.isnan(value):
        raise argparse.ArgumentTypeError("expected a number, got nan")
    return value


def _checked(kind: type, ok: Callable[[float], bool], expected: str) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        v = _number(text, kind)
        if not ok(v):
            raise argparse.ArgumentTypeError(f"must be {expected}, got {v}")
        return v

    return parse


positive_int = _checked(int, lambda v: v > 0, "a positive integer")
non_negative_int = _checked(int, lambda v: v >= 0, "0 or more")
positive_float = _checked(float, lambda v: v > 0, "greater than 0")
non_negative_float = _checked(float, lambda v: v >= 0, "0 or more")
unit_interval = _checked(float, lambda v: 0.0 <= v <= 1.0, "in [0, 1]")


def existing_path(text: str) -> str:
    if not Path(text).exists():
        raise argparse.ArgumentTypeError(f"{text}: no such file or directory")
    return text


def fail(prog: str, message: str) -> int:
    """Print `prog: error: message` on stderr and return the usage-error status, 2."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    return 2
