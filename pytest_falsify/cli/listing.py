"""`falsify list`: the entries, filtered by status or contract; text or JSON.

(The module is `listing`, not `list`, so it does not shadow the builtin.)
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os

from ._common import BadInput, load_contracts

HELP = "list entries (id, status, contract, file:line), filtered; --json for scripts"
DESCRIPTION = ("List every falsifier and gate with its status on disk, its contract, file:line\n"
               "and the tests whose evidence it keeps. --status matches a status or its\n"
               "prefix (PARTIAL matches PARTIAL_ALGORITHM_LEVEL); --contract is a contract\n"
               "name or a glob. Both may be repeated.\n\n"
               "examples:\n  falsify list --status FALSIFIED\n"
               "  falsify list --contract 'apr-*' --json | jq '.[].id'")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--status", action="append", default=[], metavar="S",
                   help="only entries whose status is S or starts with S (case-insensitive)")
    p.add_argument("--contract", action="append", default=[], metavar="C",
                   help="only entries of contract C (a name or a glob)")
    p.add_argument("--json", action="store_true", help="a JSON list instead of text")


def run(args: argparse.Namespace) -> int:
    cset = load_contracts(args)
    names = [c.name for c in cset.contracts]
    for pat in args.contract:
        if not fnmatch.filter(names, pat):
            raise BadInput(f"--contract {pat}: no contract of that name; "
                           f"contracts: {', '.join(sorted(names)[:8])}"
                           + (" ..." if len(names) > 8 else ""))
    wanted = [s.upper() for s in args.status]
    rows = []
    for c in cset.contracts:
        if args.contract and not any(fnmatch.fnmatchcase(c.name, p) for p in args.contract):
            continue
        for e in c.entries:
            status = e.status or "UNBOUND"
            if wanted and not any(status.upper().startswith(w) for w in wanted):
                continue
            rows.append({"id": e.qid, "status": status, "contract": c.name, "block": e.block,
                         "path": str(e.path), "line": e.line, "level": e.level,
                         "tests": [t["test"] for t in e.stored_tests]})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        return 0
    wid = max(len(r["id"]) for r in rows)
    wst = max(len(r["status"]) for r in rows)
    for r in rows:
        tests = f"  ({len(r['tests'])} test{'s' if len(r['tests']) != 1 else ''})" if r["tests"] else ""
        print(f"{r['id']:<{wid}}  {r['status']:<{wst}}  {os.path.relpath(r['path'])}:{r['line']}{tests}")
    return 0
