"""`falsify check [REPORT...]`: fail when contracts disagree with reports."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import engine, evidence, findings
from ..contracts import CLAIMING_STATUSES
from ._common import load_contracts, load_reports

HELP = "fail when contracts disagree with reports (or claim unbound evidence)"
DESCRIPTION = ("Derive the statuses from the stored evidence plus the given reports and fail\n"
               "(exit 1, with a diff) where the files disagree.\n\n"
               "--format sarif prints a SARIF 2.1.0 log instead (for code-scanning tools);\n"
               "--format github, or any run under GITHUB_ACTIONS=true, adds ::error lines\n"
               "that point at the contract lines.\n\n"
               "examples:\n  falsify check gpu.json --strict\n"
               "  falsify check --format sarif > falsify.sarif")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("reports", nargs="*", type=Path)
    p.add_argument("--strict", action="store_true", help="claimed status without evidence is an error")
    p.add_argument("--format", choices=("text", "sarif", "github"), default="text",
                   help="output format (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    cset = load_contracts(args.contracts)
    if cset is None:
        return 1
    results = load_reports(args.reports) if args.reports else {}
    if results is None:
        return 1
    plan = engine.make_plan(cset, results)
    rendered, problems = engine.render(cset, plan, evidence.today())
    found = findings.from_plan(plan, cset, strict=args.strict)
    if args.format == "sarif":
        from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

        try:
            ver = version("pytest-falsify")
        except PackageNotFoundError:
            ver = "0"
        sys.stdout.write(findings.sarif(found, ver, base=Path.cwd()))
        return 1 if (rendered or problems or any(f.level == "error" for f in found)) else 0
    if args.format == "github" or findings.in_github_actions():
        for line in findings.github_annotations(found, base=Path.cwd()):
            print(line)
    status = 0
    for r in rendered:
        sys.stdout.write(r.diff())
        status = 1
    for p in problems:
        print(f"problem: {p}")
        status = 1
    for e in cset.by_id.values():
        if e.status in CLAIMING_STATUSES and not e.stored_tests:
            kind = "error" if args.strict else "warning"
            print(f"{kind}: {e.path}:{e.line}: {e.id}: {e.status} claims evidence, no test binds it")
            if args.strict:
                status = 1
    print("check " + ("FAILED" if status else "passed"))
    return status
