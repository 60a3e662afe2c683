"""`falsify badge OUT.svg`: a README badge of the claims' statuses."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import badge
from ._common import BadInput, load_contracts

HELP = "write a shields-style SVG badge ('claims 53/56 discharged')"
DESCRIPTION = ("Write an SVG badge counting the discharged claims, coloured by the worst status\n"
               "present (falsified red, blocked orange, unbound grey, partial yellow, all\n"
               "discharged green).\n\n"
               "examples:\n  falsify badge docs/claims.svg\n"
               "  falsify badge docs/gpu.svg --contract apr-cpu-vs-gpu-output-parity-v1")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", type=Path, help="the SVG file to write")
    p.add_argument("--contract", metavar="KEY", help="only this contract (its key: path without .yaml)")
    p.add_argument("--label", default="claims", help="left-hand text (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    cset = load_contracts(args)
    contracts = cset.contracts
    if args.contract:
        contracts = [c for c in contracts if c.key == args.contract]
        if not contracts:
            keys = ", ".join(sorted(c.key for c in cset.contracts)[:10])
            raise BadInput(f"no contract {args.contract!r} (known: {keys})")
    statuses = [e.status or "UNBOUND" for c in contracts for e in c.entries]
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(badge.svg(statuses, args.label), encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"{args.out}: {exc.strerror or exc}") from None
    print(f"{args.out}: {args.label} {badge.message(statuses)}")
    return 0
