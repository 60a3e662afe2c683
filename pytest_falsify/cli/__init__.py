"""`falsify`: contracts without a test run. One module per subcommand.

Each subcommand module defines `HELP` (one line), `DESCRIPTION` (with an example),
`add_arguments(parser)` and `run(args) -> int`. The list below is explicit, so a missing
module is an ImportError at once, never a silently dropped command.

Exit codes (`EXIT_CODES` is the one table; `check` shares the gate's codes with
`pytest --falsify=check`, see gate.py): 0 the contracts agree, 1 a claim is FALSIFIED
(or, in `check`, a new failure in a report), 2 bad input or usage (a malformed contract,
report or config file, a bad option), 6 drift, 7 stale and 8 unproven claims (`check`,
the last two with --strict), 141 the output pipe was closed (`falsify list | head`).
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib import metadata
from pathlib import Path

from .. import gate
from . import apply, badge, bind, check, html, init, listing, status, validate
from ._common import BAD_INPUT, BadInput

#: name -> module, in the order `falsify --help` lists them.
COMMANDS = {
    "init": init,
    "validate": validate,
    "status": status,
    "list": listing,
    "apply": apply,
    "check": check,
    "bind": bind,
    "html": html,
    "badge": badge,
}

OK, FALSIFIED, CLOSED_PIPE = gate.OK, gate.NEW_FAILURE, 141
EXIT_CODES = {
    OK: "the contracts agree with the evidence and reports",
    FALSIFIED: "a claim is FALSIFIED (status, apply; check: a new failure in a report)",
    BAD_INPUT: "bad input or usage: a malformed contract, report or config file, a bad option",
    **{code: f"check: {why}" for code, why in gate.EXIT_CODES.items() if code not in (OK, FALSIFIED)},
    CLOSED_PIPE: "the output pipe was closed early (e.g. `falsify list | head`)",
}


def _version() -> str:
    try:
        return metadata.version("pytest-falsify")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree
        return "unknown"


def _global_options(p: argparse.ArgumentParser, default: object) -> None:
    # Added to the main parser and to every subparser, so `falsify --contracts D status`
    # and `falsify status --contracts D` both work. Subparsers use SUPPRESS as default:
    # an option left out after the subcommand must not reset one given before it.
    p.add_argument("--contracts", type=Path, default=default, metavar="DIR",
                   help="contracts directory (default: falsify_contracts of the pytest config "
                        "file found as pytest finds it, else contracts/ beside it)")


def build_parser() -> argparse.ArgumentParser:
    epilog = "exit codes:\n" + "\n".join(f"  {k:<4}{v}" for k, v in EXIT_CODES.items())
    p = argparse.ArgumentParser(prog="falsify", description=__doc__.splitlines()[0],
                                epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"falsify (pytest-falsify) {_version()}")
    _global_options(p, None)
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    for name, mod in COMMANDS.items():
        sp = sub.add_parser(name, help=mod.HELP, description=mod.DESCRIPTION, epilog=epilog,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
        _global_options(sp, argparse.SUPPRESS)
        mod.add_arguments(sp)
    return p


def _run(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.cmd].run(args)
    except BadInput as exc:
        print(f"falsify: error: {exc}", file=sys.stderr)
        return BAD_INPUT


def main(argv: list[str] | None = None) -> int:
    try:
        code = _run(argv)
        sys.stdout.flush()  # here, not at exit: a closed pipe must land in the except below
        return code
    except BrokenPipeError:
        # The reader went away (`falsify check | head`): stop quietly. Point stdout at
        # /dev/null so the interpreter's final flush does not raise a second time
        # (the recipe of Python's signal module documentation).
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):  # stdout is no real file (tests capture it)
            pass
        return CLOSED_PIPE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
