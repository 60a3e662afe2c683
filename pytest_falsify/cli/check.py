"""`falsify check [REPORT...]`: fail when contracts disagree with reports."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import engine, evidence, freshness, gate, summary
from ..contracts import CLAIMING_STATUSES
from ..fingerprint import SourceIndex
from ._common import load_contracts, load_reports, stale_claims

HELP = "fail when contracts disagree with reports (or claim unbound evidence)"
DESCRIPTION = ("Derive the statuses from the stored evidence plus the given reports and fail\n"
               "(exit 1, with a diff) where the files disagree.\n\n"
               "example:\n  falsify check gpu.json --strict")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("reports", nargs="*", type=Path)
    p.add_argument("--strict", action="store_true",
                   help="a claimed status without evidence, or stale evidence, is an error")


def run(args: argparse.Namespace) -> int:
    cset = load_contracts(args.contracts)
    if cset is None:
        return 1
    results = load_reports(args.reports) if args.reports else {}
    if results is None:
        return 1
    plan = engine.make_plan(cset, results, index=SourceIndex(args.root))
    rendered, problems = engine.render(cset, plan, evidence.today())
    for r in rendered:
        sys.stdout.write(r.diff())
    for p in problems:
        print(f"problem: {p}")
    unbound = []
    for e in cset.by_id.values():
        if e.status in CLAIMING_STATUSES and not e.stored_tests:
            kind = "error" if args.strict else "warning"
            print(f"{kind}: {e.path}:{e.line}: {e.id}: {e.status} claims evidence, no test binds it")
            unbound.append(e.id)
    stale = stale_claims(cset, args.root, freshness.refreshed_tests(results))
    for line in summary.stale_lines(stale):
        print(line)
    decision = gate.build(0, new_failures=[], still_falsified=[], stale=[s["id"] for s in stale],
                          unproven=unbound,
                          drift=[str(r.path) for r in rendered] + problems, strict=args.strict)
    print("check " + (f"FAILED (exit {decision['exit']}): {decision['verdict']}"
                      if decision["exit"] else "passed"))
    return decision["exit"]
