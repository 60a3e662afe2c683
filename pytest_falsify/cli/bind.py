"""`falsify bind --suggest [--apply]`: markers for the tests that contracts name in prose."""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from ..atomic import atomic_write
from ..contracts import ALIASES, Entry
from . import _bindings as B
from ._common import BadInput, load_contracts, project

HELP = "suggest falsifier markers for the tests named in contracts' test: fields"
DESCRIPTION = ("Read each entry's `test:` field (prose such as `tests/test_x.py::test_y` or\n"
               "`test_y in tests/test_x.py`), find the test function it names in the tree,\n"
               "and print the @pytest.mark.falsifier lines to add as a unified patch (for\n"
               "`git apply`). Nothing is written without --apply. Names that match several\n"
               "tests, or none, are reported on stderr and left alone.\n\n"
               "examples:\n  falsify bind --suggest\n  falsify bind --suggest | git apply\n"
               "  falsify bind --suggest --apply")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--suggest", action="store_true",
                   help="derive the markers from the contracts' test: fields (the only mode)")
    p.add_argument("--apply", action="store_true", help="write the patch into the test files")


def _prose(entry: Entry) -> str:
    values = [entry.data.get(k) for k in ("test", *ALIASES["test"])]
    parts = [v if isinstance(v, str) else " ".join(map(str, v)) for v in values
             if isinstance(v, (str, list))]
    return " ".join(parts)


def _index(root: Path, refs: list[B.Ref]) -> list[B.TestDef]:
    files = set(B.test_files(root))
    files.update(p for ref in refs for rel in ref.paths if (p := root / rel).is_file())
    index: list[B.TestDef] = []
    for path in sorted(files):
        rel = path.relative_to(root).as_posix()
        try:
            index.extend(B.parse_tests(rel, path.read_bytes().decode("utf-8")))
        except (SyntaxError, UnicodeDecodeError, OSError) as exc:
            print(f"note: {rel}: not read ({type(exc).__name__}); its tests are not suggested",
                  file=sys.stderr)
    return index


def run(args: argparse.Namespace) -> int:
    if not args.suggest:
        raise BadInput("bind: pass --suggest (markers derived from the contracts' test: fields)")
    cset = load_contracts(args, full=True)  # reads each entry's `test:` field
    root = project(args).rootdir
    wanted = [(e, B.references(_prose(e))) for c in cset.contracts for e in c.entries]
    index = _index(root, [r for _, refs in wanted for r in refs])
    markers: dict[str, dict[int, list[str]]] = {}  # rel -> def line -> ids
    counts = {"suggested": 0, "already bound": 0, "ambiguous": 0, "not found": 0, "file only": 0}
    for entry, refs in wanted:
        if not refs and (files := B.named_files(_prose(entry))):
            counts["file only"] += 1
            print(f"file only: {entry.path}:{entry.line}: {entry.qid}: {', '.join(files)} names no "
                  "test function; bind one by hand", file=sys.stderr)
        # The bare id where it is unique, else the qualified `KEY::ID` a marker must use.
        fid = entry.id if len(cset.qids_of.get(entry.id, ())) == 1 else entry.qid
        for ref in refs:
            found = B.resolve(ref, index)
            where = f"{entry.path}:{entry.line}: {entry.qid}"
            if len(found) != 1:
                kind = "ambiguous" if found else "not found"
                counts[kind] += 1
                choices = f": {', '.join(t.nodeid for t in found)}" if found else ""
                print(f"{kind}: {where}: {ref.name}{choices}", file=sys.stderr)
                continue
            test = found[0]
            if any(cset.resolve(m)[0] == entry.qid for m in test.bound):
                counts["already bound"] += 1
                continue
            ids = markers.setdefault(test.rel, {}).setdefault(test.line, [])
            if fid not in ids:
                ids.append(fid)
                counts["suggested"] += 1
                print(f"suggest: {where} -> {test.nodeid}", file=sys.stderr)
    patched = 0
    for rel in sorted(markers):
        path = root / rel
        old = path.read_bytes().decode("utf-8")  # as is: CRLF files stay CRLF
        new = B.insert_markers(old, markers[rel])
        sys.stdout.write("".join(difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True),
            fromfile=f"a/{rel}", tofile=f"b/{rel}")))
        if args.apply:
            atomic_write(path, new.encode("utf-8"))
            patched += 1
    print(", ".join(f"{n} {k}" for k, n in counts.items())
          + (f"; applied to {patched} file(s)" if args.apply else
             ("; nothing written (pass --apply)" if markers else "")), file=sys.stderr)
    return 0
