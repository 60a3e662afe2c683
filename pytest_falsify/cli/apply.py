"""`falsify apply REPORT...`: merge JSON reports of several runs and rewrite contracts."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import engine, evidence, summary
from ..contracts import load_dir
from ._common import contracts_dir, load_contracts, load_reports, rewrite_options

HELP = "merge JSON reports of several runs and rewrite contracts"
DESCRIPTION = ("Merge the JSON reports of several runs (e.g. CPU CI and a CUDA host) with the\n"
               "same verdict rules as a test run, and rewrite the contracts. Exits 1 when a\n"
               "file could not be written or a claim is FALSIFIED after the merge.\n\n"
               "example:\n  falsify apply cpu.json gpu.json && git diff contracts/")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("reports", nargs="+", type=Path, metavar="REPORT")


def run(args: argparse.Namespace) -> int:
    load_contracts(args)
    results = load_reports(args.reports)
    options = rewrite_options(args)
    directory = contracts_dir(args)
    plan, written, problems = engine.write(directory, lambda: load_dir(directory),
                                           results, None, evidence.today(), options)
    for line in summary.lines(plan, "write", written, problems, [], 0):
        print(line)
    falsified = any(new == "FALSIFIED" for _c, _o, new in plan.statuses.values())
    return 1 if problems or falsified else 0
