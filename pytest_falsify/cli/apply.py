"""`falsify apply REPORT...`: merge JSON reports of several runs and rewrite contracts."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import engine, evidence, summary
from ..fingerprint import SourceIndex
from ._common import (
    BAD_INPUT,
    contracts_dir,
    load_contracts,
    load_reports,
    project_root,
    report_trust,
    rewrite_options,
)

HELP = "merge JSON reports of several runs and rewrite contracts"
DESCRIPTION = ("Merge the JSON reports of several runs (e.g. CPU CI and a CUDA host) with the\n"
               "same verdict rules as a test run, and rewrite the contracts. Exits 1 when a\n"
               "file could not be written or a claim is FALSIFIED after the merge.\n\n"
               "example:\n  falsify apply cpu.json gpu.json && git diff contracts/")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("reports", nargs="+", type=Path, metavar="REPORT")
    p.add_argument("--allow-unsigned", action="store_true",
                   help="where the project requires signed reports (falsify_report_key): apply "
                        "an unsigned report's algorithm-level results, never its live-level ones")


def run(args: argparse.Namespace) -> int:
    before = load_contracts(args)  # files with errors are not rewritten; the others are
    results = load_reports(args.reports, report_trust(args), args.allow_unsigned)
    options = rewrite_options(args)
    directory = contracts_dir(args)
    try:
        plan, written, problems = engine.write(
            directory, lambda: args.index.load(directory, previous=before), results, None,
            evidence.today(), options, SourceIndex(project_root(args)),
            written_hook=args.index.written, spares=args.index.spare_dir)
    except KeyboardInterrupt:  # engine.write left no temp file and changed no contract
        print("falsify apply: interrupted (Ctrl-C): no contract was changed", file=sys.stderr)
        return 130
    entries = [e for c in before.contracts for e in c.entries]
    for line in summary.lines(plan, "write", written, problems, [], 0, entries=entries,
                              results=results):
        print(line)
    falsified = any(new == "FALSIFIED" for _c, _o, new in plan.statuses.values())
    return BAD_INPUT if before.errors else 1 if problems or falsified else 0
