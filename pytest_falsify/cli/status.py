"""`falsify status`: the tally per contract, its denominators, and the claims that need a look."""

from __future__ import annotations

import argparse

from .. import engine, summary
from ._common import BAD_INPUT, load_contracts, stale_claims

HELP = "tally of statuses per contract; names the FALSIFIED, PARTIAL and stale claims"
DESCRIPTION = ("Tally the statuses on disk per contract, then the denominators (claims, how\n"
               "many carry evidence, falsified, partial, unbound) and one line per FALSIFIED\n"
               "claim (with its failing test) and per PARTIAL claim, and every stale claim:\n"
               "stored evidence whose code has changed since (named by file and function,\n"
               "with the commit and host of the evidence) or that was recorded from\n"
               "uncommitted code. Writes nothing. Exits 1 when a claim stands FALSIFIED.\n\n"
               "example:\n  falsify status\n  falsify status --contracts spec/contracts")


def add_arguments(p: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    cset = load_contracts(args)
    plan = engine.unchanged_plan(cset)
    stale = stale_claims(cset, args)
    rows = summary.tally(plan, [s["id"] for s in stale])
    width = max([len(n) for n in rows] + [5])
    total = summary.total(rows)
    for name in sorted(rows):
        print(summary.format_row(name, rows[name], width))
    print(summary.format_row("TOTAL", total, width))
    entries = [e for c in cset.contracts for e in c.entries]
    print(summary.denominators(plan, sum(1 for e in entries if e.stored_tests), "carry evidence"))
    for line in summary.named_claims(entries):
        print(line)
    for line in summary.stale_lines(stale):
        print(line)
    return BAD_INPUT if cset.errors else 1 if total["FALSIFIED"] else 0
