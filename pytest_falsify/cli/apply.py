"""`falsify apply REPORT...`: merge JSON reports of several runs and rewrite contracts."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import engine, evidence, summary
from ..contracts import load_dir
from ._common import load_contracts, load_reports, rewrite_options

HELP = "merge JSON reports of several runs and rewrite contracts"
DESCRIPTION = ("Merge the JSON reports of several runs (e.g. CPU CI and a CUDA host) with the\n"
               "same verdict rules as a test run, and rewrite the contracts.\n\n"
               "example:\n  falsify apply cpu.json gpu.json")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("reports", nargs="+", type=Path)


def run(args: argparse.Namespace) -> int:
    cset = load_contracts(args)  # files with errors are not rewritten; the others are
    results = load_reports(args.reports)
    options = rewrite_options(args.ini)
    if results is None or options is None:
        return 1
    plan, written, problems = engine.write(
        args.contracts, lambda: load_dir(args.contracts, previous=cset, settings=args.settings),
        results, None, evidence.today(), options)
    for line in summary.lines(plan, "write", written, problems, [], 0):
        print(line)
    return 1 if problems or cset.errors else 0
