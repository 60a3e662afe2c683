"""`python -m fuzz`: generate hostile inputs, run them through the public entry points
under time and memory caps, and print the table of what happened.

    python -m fuzz                      # the short seeded run (the default suite runs it)
    python -m fuzz --long               # ~3,500 inputs (x12)
    python -m fuzz --only gguf -n 500 --seed 7 --keep out/

Exit 1 when any input ended in a bad column (traceback, hang, memory, silent wrong, data
loss); each such input is listed with its class, mutation, entry point and why, and with
--keep its directory is kept to reproduce it.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
from pathlib import Path

from . import entry, harness


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--long", action="store_true",
                   help=f"the long run: the short run's counts x {harness.LONG_FACTOR}")
    p.add_argument("--scale", type=int, default=None, help="the short run's counts x SCALE")
    p.add_argument("-n", type=int, default=None, help="inputs per class (overrides the run size)")
    p.add_argument("--only", action="append", choices=sorted(harness.CLASSES), help="class to run (repeatable)")
    p.add_argument("-j", "--jobs", type=int, default=2, help="child processes at once (default 2)")
    p.add_argument("--keep", type=Path, default=None, help="copy the directory of each defect here")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    entry.warm()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="fuzz-"))
    try:
        scale = args.scale or (harness.LONG_FACTOR if args.long else 1)
        sizes = harness.sizes(scale, args.n, args.only)
        table, defects = harness.run(rng, sizes, work, args.jobs, progress=not args.no_progress)
        for line in harness.format_table(table):
            print(line)
        for d in defects:
            print(f"{d.column}: [{d.cls}] {d.name} via {d.entry}: {d.why}")
            if args.keep:
                shutil.copytree(d.workdir, args.keep / d.workdir.name, symlinks=True, dirs_exist_ok=True,
                                ignore=harness.ignore_special)
        print(f"seed {args.seed}: {sum(r['tried'] for r in table.values())} inputs, "
              f"{len(defects)} defect(s)")
        return 1 if defects else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
