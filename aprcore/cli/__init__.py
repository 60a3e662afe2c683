"""`python -m aprcore <command>`: the command-line interface, one module per command.

Each module named in `COMMANDS` exposes `register(subparsers)`, which adds its
subparser(s) with `set_defaults(func=...)`; `func(args) -> int` is the exit status
(0 success, 1 a failed check, 2 bad input or usage, 3 a training gate). The list is
explicit and imported without a safety net: a missing module is an ImportError at
start-up, never a command that silently disappears.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

from .. import faults as _faults
from .args import Parser

COMMANDS = ("run", "inspect", "diff", "convert", "train", "fetch")


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Module docstrings as written, and every option's default in `--help`."""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m aprcore", formatter_class=HelpFormatter,
                    description="aprcore: a numpy reference Qwen2/Llama core")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for name in COMMANDS:
        if name == "train" and _faults.on("train_commands_unregistered") is not None:
            continue  # a fault, on purpose
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)
