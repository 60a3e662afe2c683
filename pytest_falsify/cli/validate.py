"""`falsify validate`: load and validate every contract."""

from __future__ import annotations

import argparse

from ._common import load_contracts

HELP = "load and validate every contract"
DESCRIPTION = ("Load and validate every contract. Each error is printed as file:line, the\n"
               "problem and a one-line fix; any error exits 2.\n\n"
               "example:\n  falsify validate\n  falsify validate --contracts spec/contracts")


def add_arguments(p: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    cset = load_contracts(args)
    n = len(cset.by_id)
    with_evidence = sum(1 for e in cset.by_id.values() if e.stored_tests)
    print(f"{len(cset.contracts)} contract(s), {n} falsifier(s), 0 errors; "
          f"{with_evidence} of {n} carry test evidence")
    return 0
