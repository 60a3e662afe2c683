"""`falsify status`: the tally of statuses per contract."""

from __future__ import annotations

import argparse

from .. import engine, summary
from ._common import load_contracts

HELP = "tally of statuses per contract"
DESCRIPTION = "Tally the statuses on disk per contract.\n\nexample:\n  falsify status"


def add_arguments(p: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    cset = load_contracts(args)
    plan = engine.make_plan(cset, {})
    rows = summary.tally(plan)
    width = max([len(n) for n in rows] + [5])
    total = dict.fromkeys(summary.COLUMNS + ("OTHER",), 0)
    for name in sorted(rows):
        print(summary.format_row(name, rows[name], width))
        for k, v in rows[name].items():
            total[k] += v
    print(summary.format_row("TOTAL", total, width))
    return 1 if cset.errors else 0
