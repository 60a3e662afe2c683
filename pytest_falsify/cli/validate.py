"""`falsify validate`: load and validate every contract."""

from __future__ import annotations

import argparse

from ._common import BAD_INPUT, load_contracts

HELP = "load and validate every contract"
DESCRIPTION = ("Load and validate every contract. Each error is printed as file:line, the\n"
               "problem and a one-line fix; any error exits 2. Files that are not contracts,\n"
               "and blocks that hold no falsifiers, are notes, not errors.\n\n"
               "example:\n  falsify validate\n  falsify validate --notes --contracts spec/contracts")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--notes", action="store_true",
                   help="also list the files skipped as non-contracts and the blocks ignored")


def run(args: argparse.Namespace) -> int:
    cset = load_contracts(args)
    if args.notes:
        for note in cset.notes:
            print(note)
    n = len(cset.by_qid)
    with_evidence = sum(1 for e in cset.by_qid.values() if e.stored_tests)
    errors = len(cset.errors)
    line = (f"{len(cset.contracts)} contract(s), {n} falsifier(s), "
            f"{errors} error{'' if errors == 1 else 's'}; {with_evidence} of {n} carry test evidence")
    extra = []
    if cset.notes:
        extra.append(f"{len(cset.notes)} note(s)" + ("" if args.notes else " (--notes lists them)"))
    if cset.excluded:
        extra.append(f"{cset.excluded} file(s) excluded by falsify_exclude")
    print(line + ("; " + ", ".join(extra) if extra else ""))
    return BAD_INPUT if errors else 0
