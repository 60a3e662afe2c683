"""`falsify check [REPORT...]`: fail when contracts disagree with reports."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import engine, evidence, gate
from ..contracts import CLAIMING_STATUSES
from ._common import load_contracts, load_reports, report_trust, rewrite_options

HELP = "fail when contracts disagree with reports (or claim unbound evidence)"
DESCRIPTION = ("Derive the statuses from the stored evidence plus the given reports and fail\n"
               "(exit 1, with a diff) where the files disagree; exit 0 when they agree.\n\n"
               "examples:\n  falsify check\n  falsify check gpu.json --strict")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("reports", nargs="*", type=Path, metavar="REPORT")
    p.add_argument("--allow-unsigned", action="store_true",
                   help="use an unsigned report's algorithm-level results where signed reports "
                        "are required")
    p.add_argument("--strict", action="store_true", help="claimed status without evidence, or a "
                   "hand-set status the evidence does not support, is an error")


def run(args: argparse.Namespace) -> int:
    cset = load_contracts(args)
    results = (load_reports(args.reports, report_trust(args), args.allow_unsigned)
               if args.reports else {})
    options = rewrite_options(args)
    plan = engine.make_plan(cset, results)
    rendered, problems = engine.render(cset, plan, evidence.today(), options)
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
    for h in plan.hand_claims:
        print(f"{'error' if args.strict else 'warning'}: {h.entry.path}:{h.entry.line}: {h}")
        unbound.append(str(h))
    decision = gate.build(0, new_failures=[], still_falsified=[], stale=[], unproven=unbound,
                          drift=[str(r.path) for r in rendered] + problems, strict=args.strict)
    print("check " + (f"FAILED (exit {decision['exit']}): {decision['verdict']}"
                      if decision["exit"] else "passed"))
    return decision["exit"]
