"""`falsify status`: the tally of statuses per contract."""

from __future__ import annotations

import argparse

from .. import engine, summary
from ._common import load_contracts, stale_claims

HELP = "tally of statuses per contract, and every stale claim"
DESCRIPTION = ("Tally the statuses on disk per contract, and list every claim whose stored\n"
               "evidence is stale: the code its test ran has changed since (named by file and\n"
               "function), or it was recorded from uncommitted code. Writes nothing.\n\n"
               "example:\n  falsify status")


def add_arguments(p: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    cset = load_contracts(args.contracts)
    if cset is None:
        return 1
    plan = engine.make_plan(cset, {})
    stale = stale_claims(cset, args.root)
    rows = summary.tally(plan, [s["id"] for s in stale])
    width = max([len(n) for n in rows] + [5])
    total = dict.fromkeys(summary.COLUMNS + ("OTHER",) + summary.FLAGS, 0)
    for name in sorted(rows):
        print(summary.format_row(name, rows[name], width))
        for k, v in rows[name].items():
            total[k] += v
    print(summary.format_row("TOTAL", total, width))
    for line in summary.stale_lines(stale):
        print(line)
    return 0
