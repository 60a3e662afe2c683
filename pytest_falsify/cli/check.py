"""`falsify check [REPORT...]`: fail when contracts disagree with reports."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import engine, evidence, findings, freshness, gate, summary
from ..fingerprint import SourceIndex
from ._common import (
    BAD_INPUT,
    load_contracts,
    load_reports,
    project_root,
    report_trust,
    rewrite_options,
    stale_claims,
)

HELP = "fail when contracts disagree with reports (or claim unbound evidence)"
DESCRIPTION = ("Derive the statuses from the stored evidence plus the given reports and fail\n"
               "(exit 1, with a diff) where the files disagree; exit 0 when they agree.\n\n"
               "--format sarif prints a SARIF 2.1.0 log instead (for code-scanning tools);\n"
               "--format github, or any run under GITHUB_ACTIONS=true, adds ::error lines\n"
               "that point at the contract lines.\n\n"
               "examples:\n  falsify check\n  falsify check gpu.json --strict\n"
               "  falsify check --format sarif > falsify.sarif")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("reports", nargs="*", type=Path, metavar="REPORT")
    p.add_argument("--allow-unsigned", action="store_true",
                   help="use an unsigned report's algorithm-level results where signed reports "
                        "are required")
    p.add_argument("--strict", action="store_true", help="claimed status without evidence, a "
                   "hand-set status the evidence does not support, or stale evidence, is an error")
    p.add_argument("--format", choices=("text", "sarif", "github"), default="text",
                   help="output format (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    cset = load_contracts(args)
    results = (load_reports(args.reports, report_trust(args), args.allow_unsigned)
               if args.reports else {})
    options = rewrite_options(args)
    plan = engine.make_plan(cset, results, index=SourceIndex(project_root(args)))
    rendered, problems = engine.render(cset, plan, evidence.today(), options)
    found = findings.from_plan(plan, cset, strict=args.strict)
    if args.format == "sarif":
        sys.stdout.write(findings.sarif(found, _version(), base=Path.cwd()))
        decision = gate.build(0, new_failures=[], still_falsified=[], stale=[],
                              unproven=[f.message for f in found
                                        if f.rule in ("unbound-claim", "hand-claim")],
                              drift=[str(r.path) for r in rendered] + problems, strict=args.strict)
        return decision["exit"]
    if args.format == "github" or findings.in_github_actions():
        for line in findings.github_annotations(found, base=Path.cwd()):
            print(line)
    for r in rendered:
        sys.stdout.write(r.diff())
    for p in problems:
        print(f"problem: {p}")
    unbound = []
    for e in plan.unbound_claims:  # no stored evidence, and no report binds it
        kind = "error" if args.strict else "warning"
        print(f"{kind}: {e.path}:{e.line}: {e.qid}: {e.status} claims evidence, no test binds it")
        unbound.append(e.qid)
    for h in plan.hand_claims:
        print(f"{'error' if args.strict else 'warning'}: {h.entry.path}:{h.entry.line}: {h}")
        unbound.append(str(h))
    stale = stale_claims(cset, args, freshness.refreshed_tests(results))
    for line in summary.stale_lines(stale):
        print(line)
    decision = gate.build(0, new_failures=[], still_falsified=[], stale=[s["id"] for s in stale],
                          unproven=unbound,
                          drift=[str(r.path) for r in rendered] + problems, strict=args.strict)
    if cset.errors:  # the files could not be checked: bad input, whatever else was seen
        print(f"check FAILED (exit {BAD_INPUT}): {len(cset.errors)} contract error(s)")
        return BAD_INPUT
    print("check " + (f"FAILED (exit {decision['exit']}): {decision['verdict']}"
                      if decision["exit"] else "passed"))
    return decision["exit"]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version("pytest-falsify")
    except PackageNotFoundError:  # run from a source tree
        return "0"
