"""`falsify check [REPORT...]`: fail when contracts disagree with reports."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import engine, evidence
from ..contracts import CLAIMING_STATUSES
from ._common import load_contracts, load_reports

HELP = "fail when contracts disagree with reports (or claim unbound evidence)"
DESCRIPTION = ("Derive the statuses from the stored evidence plus the given reports and fail\n"
               "(exit 1, with a diff) where the files disagree.\n\n"
               "example:\n  falsify check gpu.json --strict")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("reports", nargs="*", type=Path)
    p.add_argument("--strict", action="store_true", help="claimed status without evidence is an error")


def run(args: argparse.Namespace) -> int:
    cset = load_contracts(args)
    results = load_reports(args.reports) if args.reports else {}
    if results is None:
        return 1
    plan = engine.make_plan(cset, results)
    rendered, problems = engine.render(cset, plan, evidence.today())
    status = 1 if cset.errors else 0
    for r in rendered:
        sys.stdout.write(r.diff())
        status = 1
    for p in problems:
        print(f"problem: {p}")
        status = 1
    for e in cset.by_qid.values():
        if e.status in CLAIMING_STATUSES and not e.stored_tests:
            kind = "error" if args.strict else "warning"
            print(f"{kind}: {e.path}:{e.line}: {e.qid}: {e.status} claims evidence, no test binds it")
            if args.strict:
                status = 1
    print("check " + ("FAILED" if status else "passed"))
    return status
