"""`falsify`: contracts without a test run. One module per subcommand.

Each subcommand module defines `HELP` (one line), `DESCRIPTION` (with an example),
`add_arguments(parser)` and `run(args) -> int`. The list below is explicit, so a missing
module is an ImportError at once, never a silently dropped command.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import apply, check, status, validate
from ._common import default_contracts, default_root

#: name -> module, in the order `falsify --help` lists them.
COMMANDS = {
    "validate": validate,
    "status": status,
    "apply": apply,
    "check": check,
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="falsify", description=__doc__.splitlines()[0])
    p.add_argument("--contracts", type=Path, default=None,
                   help="contracts directory (default: falsify_contracts of pyproject.toml, else ./contracts)")
    p.add_argument("--root", type=Path, default=None,
                   help="project root that evidence fingerprints are relative to (default: the "
                        "nearest directory above the contracts with pyproject.toml, pytest.ini, "
                        "tox.ini or setup.cfg)")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name, mod in COMMANDS.items():
        sp = sub.add_parser(name, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP),
                            formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(sp)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.contracts is None:
        args.contracts = default_contracts()
    if args.root is None:
        args.root = default_root(args.contracts)
    return COMMANDS[args.cmd].run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
