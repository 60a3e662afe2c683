"""Benchmark of the pytest-falsify plugin on a synthetic project (issue 2, Performance).

Generates 2,000 contracts with 10,000 falsifiers and 10,000 trivial bound tests in a
temporary directory and prints two figures from one run:

1. wall time of `pytest --falsify=report` over the same run with the plugin disabled
   (`-p no:falsify`), warm (pytest's cache, which holds the plugin's parse cache, filled
   by one untimed run of each): must be <= 1.05x;
2. the rewrite of all 2,000 contract files when every status changes (locked, atomic,
   minimal-diff): must take < 5 s.

Usage: python benchmarks/bench_plugin.py [--contracts 2000] [--per-contract 5] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONTRACT = """\
# synthetic contract {c}
metadata:
  version: 1.0.0
  status: ACTIVE
  description: synthetic contract number {c}
  changelog:
    - {{version: 1.0.0, date: 2026-01-01, changes: [generated]}}

falsification_tests:
{entries}"""
ENTRY = """\
  - id: FALSIFY-BENCH-{c:04d}-{f}
    rule: claim {f} of contract {c}
    prediction: the trivial test passes
    test: tests/test_bench_{file:03d}.py
    if_fails: nothing, it is a benchmark
    discharge_level: algorithm
"""


def generate(root: Path, contracts: int, per: int, tests_per_file: int = 100) -> int:
    (root / "contracts").mkdir()
    (root / "tests").mkdir()
    # Markers registered in the ini so the no-plugin baseline is not slowed by warnings.
    (root / "pytest.ini").write_text("[pytest]\nfalsify_contracts = contracts\n"
                                     "markers =\n    falsifier: bound falsifier\n")
    ids = []
    for c in range(contracts):
        entries = []
        for f in range(per):
            n = c * per + f
            entries.append(ENTRY.format(c=c, f=f, file=n // tests_per_file))
            ids.append(f"FALSIFY-BENCH-{c:04d}-{f}")
        (root / "contracts" / f"bench-{c:04d}.yaml").write_text(CONTRACT.format(c=c, entries="".join(entries)))
    for start in range(0, len(ids), tests_per_file):
        body = ["import pytest\n"]
        for i, fid in enumerate(ids[start:start + tests_per_file]):
            body.append(f'\n@pytest.mark.falsifier("{fid}")\ndef test_{start + i}():\n    pass\n')
        (root / "tests" / f"test_bench_{start // tests_per_file:03d}.py").write_text("".join(body))
    return len(ids)


def compile_plugin() -> str:
    """Byte-compile the plugin's modules, as installing it does, and say so.

    pip byte-compiles every package it installs, so a user's plugin loads from bytecode,
    like pytest and every other plugin of the baseline. An editable checkout only gets
    bytecode on its first import, which `PYTHONDONTWRITEBYTECODE` (set on our shared
    machines) forbids: the plugin's ~8,000 lines would then be compiled again in every run
    (~0.07 s of CPU: a cost of that setup, not of the plugin). py_compile writes the files
    whatever that variable says; Python reads them either way."""
    import compileall

    import pytest_falsify

    pkg = Path(pytest_falsify.__file__).resolve().parent
    ok = compileall.compile_dir(pkg, quiet=1, force=False)
    return "plugin byte-compiled, as pip install does" if ok else "plugin NOT byte-compiled"


def timed_pytest(root: Path, *args: str) -> float:
    # pytest's cache stays on (as users run it): the plugin keeps its parse cache there.
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", *args]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=root, capture_output=True, text=True, check=False)
    dt = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"pytest failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return dt


def rewrite_all(root: Path) -> tuple[float, int]:
    from pytest_falsify import engine, evidence
    from pytest_falsify.contracts import load_dir

    cdir = root / "contracts"
    cset = load_dir(cdir)
    results = {}
    for fid, entry in cset.by_id.items():
        test = f"{entry.data['test']}::test_{fid}"
        results[test] = {"test": test, "ids": [fid], "outcome": "passed", "level": "algorithm",
                         "metrics": {"cosine": 0.999}, "date": "2026-11-22"}
    t0 = time.perf_counter()
    # As in the plugin: contracts were loaded at session start, the write phase re-checks
    # them under the lock (stat, re-parse what changed), derives, rewrites and fsyncs.
    plan, written, problems = engine.write(cdir, lambda: load_dir(cdir, previous=cset), results, None,
                                           evidence.today())
    dt = time.perf_counter() - t0
    assert not problems, problems[:3]
    assert len(plan.transitions) == len(cset.by_id), "every status must change"
    return dt, len(written)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contracts", type=int, default=2000)
    ap.add_argument("--per-contract", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=2, help="pytest runs per variant (min is kept)")
    ap.add_argument("--fingerprint", choices=("auto", "off"), default="auto",
                    help="falsify_fingerprint for the plugin run (auto traces each bound test)")
    a = ap.parse_args()
    fp = ("-o", f"falsify_fingerprint={a.fingerprint}")
    with tempfile.TemporaryDirectory(prefix="falsify-bench-") as tmp:
        root = Path(tmp)
        n = generate(root, a.contracts, a.per_contract)
        compiled = compile_plugin()
        print(f"synthetic project: {a.contracts} contracts, {n} falsifiers, {n} bound tests "
              f"(python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
              f"bytecode cache {'off (PYTHONDONTWRITEBYTECODE)' if sys.flags.dont_write_bytecode else 'on'}"
              f"; {compiled})")
        timed_pytest(root, "-p", "no:falsify")  # warm-up: fill pytest's cache (and ours)
        timed_pytest(root, "--falsify=report", *fp)
        base, plug = [], []
        for _ in range(a.repeat):  # interleaved, so load drift hits both variants alike
            base.append(timed_pytest(root, "-p", "no:falsify"))
            plug.append(timed_pytest(root, "--falsify=report", *fp))
        b, p = min(base), min(plug)
        print(f"pytest -p no:falsify      : {b:7.2f} s (min of {a.repeat})")
        print(f"pytest --falsify=report   : {p:7.2f} s (min of {a.repeat}; "
              f"falsify_fingerprint = {a.fingerprint})")
        print(f"ratio report/no-plugin    : {p / b:7.3f}x   (target <= 1.05x)")
        dt, files = rewrite_all(root)
        print(f"rewrite of {files} files, every status changed: {dt:6.2f} s   (target < 5 s)")


if __name__ == "__main__":
    main()
