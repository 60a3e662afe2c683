"""`python -m aprcore <command>`: a registry of subcommands, one module each.

Each `aprcore/cli_<name>.py` exposes `add_parser(subparsers)` (adding its own
subparser, with `set_defaults(func=main)`) and `main(args) -> int`. Add a command by
adding its module name to `COMMANDS`; a module that is absent is skipped, so branches
can land in any order.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMANDS = ["cli_run", "cli_diff", "cli_inspect", "cli_pretrain", "cli_distill", "cli_fetch"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m aprcore",
                                     description="aprcore: a numpy reference Qwen2/Llama core")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f"aprcore.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"aprcore.{name}":
                continue  # not written (yet) in this checkout
            raise
        p = mod.add_parser(sub)
        if p is not None and p.get_default("func") is None:
            p.set_defaults(func=mod.main)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
