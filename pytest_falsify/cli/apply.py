"""`falsify apply REPORT...`: merge JSON reports of several runs and rewrite contracts."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import engine, evidence, summary
from ..contracts import load_dir
from ..fingerprint import SourceIndex
from ._common import load_contracts, load_reports

HELP = "merge JSON reports of several runs and rewrite contracts"
DESCRIPTION = ("Merge the JSON reports of several runs (e.g. CPU CI and a CUDA host) with the\n"
               "same verdict rules as a test run, and rewrite the contracts.\n\n"
               "example:\n  falsify apply cpu.json gpu.json")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("reports", nargs="+", type=Path)


def run(args: argparse.Namespace) -> int:
    if load_contracts(args.contracts) is None:
        return 1
    results = load_reports(args.reports)
    if results is None:
        return 1
    plan, written, problems = engine.write(args.contracts, lambda: load_dir(args.contracts),
                                           results, None, evidence.today(), SourceIndex(args.root))
    for line in summary.lines(plan, "write", written, problems, [], 0):
        print(line)
    return 1 if problems else 0
